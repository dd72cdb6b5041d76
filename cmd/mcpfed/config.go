package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"go.yaml.in/yaml/v3"

	"github.com/mcpfed/mcpfed"
	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
)

// Config is mcpfed's configuration. Precedence: defaults < file
// (MCPFED_CONFIG or -config) < environment (MCPFED_*) < flags.
type Config struct {
	Listen    string `yaml:"listen" env:"LISTEN_ADDR"`
	StateDir  string `yaml:"stateDir" env:"STATE_DIR"`
	LogFormat string `yaml:"logFormat" env:"LOG_FORMAT"`
	LogLevel  string `yaml:"logLevel" env:"LOG_LEVEL"`
	// AccessLog logs one line per request.
	AccessLog       bool          `yaml:"accessLog" env:"ACCESS_LOG"`
	CacheMaxAge     time.Duration `yaml:"cacheMaxAge" env:"CACHE_MAX_AGE"`
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout" env:"SHUTDOWN_TIMEOUT"`
	// RequestTimeout bounds the fan-out of one request to live sources.
	RequestTimeout time.Duration `yaml:"requestTimeout" env:"REQUEST_TIMEOUT"`
	// ResponseCache keeps encoded answers for identical requests.
	ResponseCache ResponseCacheConfig `yaml:"responseCache" envPrefix:"RESPONSE_CACHE_"`
	// Sources in priority order (first wins). Empty: the built-in catalogue.
	Sources []SourceConfig `yaml:"sources"`
	// Views are named filtered views served under /registry/{name}/v0.1.
	Views []ViewConfig `yaml:"views"`
	// Admin enables operator endpoints.
	Admin AdminConfig `yaml:"admin" envPrefix:"ADMIN_"`
}

// AdminConfig enables the manual resync endpoint
// (POST /v0.1/x/io.github.mcpfed/sources/{name}/resync).
type AdminConfig struct {
	Resync bool `yaml:"resync" env:"RESYNC"`
	// TokenFile holds the bearer token the endpoint demands.
	TokenFile string `yaml:"tokenFile" env:"TOKEN_FILE"`
}

// SourceConfig is one source. Field names are fixed by DESIGN.md.
type SourceConfig struct {
	Name       string        `yaml:"name"`
	Kind       string        `yaml:"kind"`
	Path       string        `yaml:"path"`
	URL        string        `yaml:"url"`
	Namespaces []string      `yaml:"namespaces"`
	Required   bool          `yaml:"required"`
	Interval   time.Duration `yaml:"interval"`
	// MaxBytes bounds what one load reads (file, directory or URL body).
	MaxBytes int64       `yaml:"maxBytes"`
	Filter   filter.Spec `yaml:"filter"`

	// api sources.
	Mode         string            `yaml:"mode"` // live or mirror
	APIVersion   string            `yaml:"apiVersion"`
	Timeout      time.Duration     `yaml:"timeout"`
	PageSize     int               `yaml:"pageSize"`
	TokenFile    string            `yaml:"tokenFile"`
	UsernameFile string            `yaml:"usernameFile"`
	PasswordFile string            `yaml:"passwordFile"`
	Headers      map[string]string `yaml:"headers"`
	RateLimit    RateLimitConfig   `yaml:"rateLimit"`
	Breaker      BreakerConfig     `yaml:"breaker"`
	Cache        PageCacheConfig   `yaml:"cache"`
	// mirror mode
	ResyncEvery time.Duration `yaml:"resyncEvery"`
	Overlap     time.Duration `yaml:"overlap"`
	Crawl       CrawlConfig   `yaml:"crawl"`

	// git sources (path, interval, maxBytes, usernameFile, passwordFile and
	// tokenFile apply too).
	Repository string `yaml:"repository"`
	Branch     string `yaml:"branch"`
	Tag        string `yaml:"tag"`
	Commit     string `yaml:"commit"`
	MaxFiles   int    `yaml:"maxFiles"`
}

// CrawlConfig bounds one mirror crawl.
type CrawlConfig struct {
	MaxPages   int   `yaml:"maxPages"`
	MaxEntries int   `yaml:"maxEntries"`
	MaxBytes   int64 `yaml:"maxBytes"`
}

// ResponseCacheConfig bounds the response cache.
type ResponseCacheConfig struct {
	MaxEntries int           `yaml:"maxEntries" env:"MAX_ENTRIES"`
	MaxBytes   int64         `yaml:"maxBytes" env:"MAX_BYTES"`
	TTL        time.Duration `yaml:"ttl" env:"TTL"`
}

// RateLimitConfig is a source's outbound budget.
type RateLimitConfig struct {
	PerMinute float64 `yaml:"perMinute"`
	Burst     int     `yaml:"burst"`
	Retries   *int    `yaml:"retries"`
}

// BreakerConfig tunes a source's circuit breaker.
type BreakerConfig struct {
	Failures         uint32        `yaml:"failures"`
	OpenFor          time.Duration `yaml:"openFor"`
	HalfOpenRequests uint32        `yaml:"halfOpenRequests"`
}

// PageCacheConfig bounds and times a live source's page cache.
type PageCacheConfig struct {
	MaxEntries int           `yaml:"maxEntries"`
	MaxBytes   int64         `yaml:"maxBytes"`
	Fresh      time.Duration `yaml:"fresh"`
	Stale      time.Duration `yaml:"stale"`
}

// ViewConfig is a named view: a filter over the merged catalogue.
type ViewConfig struct {
	Name   string      `yaml:"name"`
	Filter filter.Spec `yaml:"filter"`
}

// envConfig holds the variables that are not plain fields of Config.
type envConfig struct {
	ConfigFile string `env:"CONFIG"`
	Sources    string `env:"SOURCES"`
}

// Defaults.
const (
	defaultListen          = ":8080"
	defaultCacheMaxAge     = 30 * time.Second
	defaultShutdownTimeout = 15 * time.Second
	defaultFileInterval    = 30 * time.Second
	defaultURLInterval     = 5 * time.Minute
	defaultMaxBytes        = 256 << 20
	defaultRequestTimeout  = 10 * time.Second
	// api sources
	defaultAPIMaxBytes   = 16 << 20
	defaultAPITimeout    = 15 * time.Second
	defaultPageSize      = 100
	defaultRetries       = 1
	defaultPageFresh     = time.Minute
	defaultPageStale     = time.Hour
	defaultPageEntries   = 2000
	defaultPageCacheSize = 128 << 20
	// the response cache
	defaultResponseEntries = 10000
	defaultResponseBytes   = 256 << 20
	defaultResponseTTL     = 5 * time.Second
	// mirror mode
	defaultMirrorInterval = 5 * time.Minute
	defaultResyncEvery    = 24 * time.Hour
	defaultOverlap        = time.Minute
	defaultCrawlPages     = 10000
	defaultCrawlEntries   = 1_000_000
	defaultCrawlBytes     = 1 << 30
	// git sources
	defaultGitInterval = 5 * time.Minute
	defaultGitMaxFiles = 10000
)

func defaultConfig() Config {
	return Config{
		Listen:          defaultListen,
		StateDir:        defaultStateDir(),
		LogFormat:       "json",
		LogLevel:        "info",
		AccessLog:       true,
		CacheMaxAge:     defaultCacheMaxAge,
		ShutdownTimeout: defaultShutdownTimeout,
		RequestTimeout:  defaultRequestTimeout,
		ResponseCache: ResponseCacheConfig{
			MaxEntries: defaultResponseEntries, MaxBytes: defaultResponseBytes, TTL: defaultResponseTTL,
		},
	}
}

func defaultStateDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "mcpfed")
	}
	return filepath.Join(dir, "mcpfed")
}

// flagValues are the command-line overrides; empty means not given.
type flagValues struct {
	config, listen, stateDir, logFormat, logLevel string
}

func (f *flagValues) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "configuration file (YAML or JSON); overrides MCPFED_CONFIG")
	fs.StringVar(&f.listen, "listen", "", "listen address; overrides MCPFED_LISTEN_ADDR (default "+defaultListen+")")
	fs.StringVar(&f.stateDir, "state-dir", "", "state directory; overrides MCPFED_STATE_DIR")
	fs.StringVar(&f.logFormat, "log-format", "", "json or text; overrides MCPFED_LOG_FORMAT")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error; overrides MCPFED_LOG_LEVEL")
}

// loadConfig builds the configuration from defaults, the file, the
// environment (lookup) and flags, then validates it, listing every problem.
func loadConfig(lookup func() map[string]string, flags flagValues) (Config, error) {
	cfg := defaultConfig()
	vars := lookup()
	var ec envConfig
	if err := env.ParseWithOptions(&ec, env.Options{Prefix: "MCPFED_", Environment: vars}); err != nil {
		return cfg, fmt.Errorf("environment: %w", err)
	}
	path := ec.ConfigFile
	if flags.config != "" {
		path = flags.config
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read configuration: %w", err)
		}
		if err := decodeStrict(data, &cfg); err != nil {
			return cfg, fmt.Errorf("configuration file %s: %w", path, err)
		}
	}
	if err := env.ParseWithOptions(&cfg, env.Options{Prefix: "MCPFED_", Environment: vars}); err != nil {
		return cfg, fmt.Errorf("environment: %w", err)
	}
	if strings.TrimSpace(ec.Sources) != "" {
		var sources []SourceConfig
		if err := decodeStrict([]byte(ec.Sources), &sources); err != nil {
			return cfg, fmt.Errorf("MCPFED_SOURCES: %w", err)
		}
		cfg.Sources = sources
	}
	for _, o := range []struct {
		val string
		dst *string
	}{{flags.listen, &cfg.Listen}, {flags.stateDir, &cfg.StateDir}, {flags.logFormat, &cfg.LogFormat}, {flags.logLevel, &cfg.LogLevel}} {
		if o.val != "" {
			*o.dst = o.val
		}
	}
	if len(cfg.Sources) == 0 {
		cfg.Sources = builtinSources()
	}
	cfg.applySourceDefaults()
	return cfg, cfg.validate()
}

// builtinSources is the configuration used when none is given.
func builtinSources() []SourceConfig {
	out := make([]SourceConfig, len(mcpfed.BuiltinSources))
	for i, name := range mcpfed.BuiltinSources {
		out[i] = SourceConfig{Name: name, Kind: "file", Path: upstream.BuiltinPrefix + name}
	}
	return out
}

// decodeStrict reads YAML (and so JSON), rejecting unknown fields.
func decodeStrict(data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return err
	}
	return nil
}

func (c *Config) applySourceDefaults() {
	for i := range c.Sources {
		s := &c.Sources[i]
		switch s.Kind {
		case "api":
			s.applyAPIDefaults()
			continue
		case "git":
			setDefault(&s.Interval, defaultGitInterval)
			setDefault(&s.MaxFiles, defaultGitMaxFiles)
			setDefault(&s.MaxBytes, defaultMaxBytes)
			continue
		}
		if s.MaxBytes == 0 {
			s.MaxBytes = defaultMaxBytes
		}
		if s.Interval == 0 && s.Kind == "file" && !strings.HasPrefix(s.location(), upstream.BuiltinPrefix) {
			s.Interval = defaultFileInterval
			if s.URL != "" {
				s.Interval = defaultURLInterval
			}
		}
	}
}

func (s *SourceConfig) applyAPIDefaults() {
	setDefault(&s.Mode, "live")
	setDefault(&s.APIVersion, "v0.1")
	setDefault(&s.Timeout, defaultAPITimeout)
	setDefault(&s.MaxBytes, defaultAPIMaxBytes)
	setDefault(&s.PageSize, defaultPageSize)
	if s.RateLimit.Retries == nil {
		r := defaultRetries
		s.RateLimit.Retries = &r
	}
	setDefault(&s.Cache.Fresh, defaultPageFresh)
	setDefault(&s.Cache.Stale, defaultPageStale)
	setDefault(&s.Cache.MaxEntries, defaultPageEntries)
	setDefault(&s.Cache.MaxBytes, defaultPageCacheSize)
	if s.Mode == "mirror" {
		setDefault(&s.Interval, defaultMirrorInterval)
		setDefault(&s.ResyncEvery, defaultResyncEvery)
		setDefault(&s.Overlap, defaultOverlap)
		setDefault(&s.Crawl.MaxPages, defaultCrawlPages)
		setDefault(&s.Crawl.MaxEntries, defaultCrawlEntries)
		setDefault(&s.Crawl.MaxBytes, defaultCrawlBytes)
	}
}

func setDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

// location is where a file source reads from: its path or its url.
func (s SourceConfig) location() string {
	if s.URL != "" {
		return s.URL
	}
	return s.Path
}

var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$`)

// validate lists every problem in the configuration.
func (c Config) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Listen == "" {
		add("listen: must not be empty")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		add("logFormat: %q is not json or text", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		add("logLevel: %v", err)
	}
	if c.CacheMaxAge < 0 {
		add("cacheMaxAge: must not be negative")
	}
	if c.ShutdownTimeout <= 0 {
		add("shutdownTimeout: must be positive")
	}
	if c.RequestTimeout <= 0 {
		add("requestTimeout: must be positive")
	}
	if c.ResponseCache.MaxEntries < 0 || c.ResponseCache.MaxBytes < 0 || c.ResponseCache.TTL < 0 {
		add("responseCache: maxEntries, maxBytes and ttl must not be negative")
	}
	seen := map[string]bool{}
	reserved := map[string][]string{}
	var order []string
	for i, s := range c.Sources {
		where := fmt.Sprintf("sources[%d]", i)
		if s.Name != "" {
			where = fmt.Sprintf("sources[%d] (%s)", i, s.Name)
		}
		switch {
		case !slugPattern.MatchString(s.Name):
			add("%s: name %q must be a slug: lower-case letters, digits, '-' and '_', at most 63 characters", where, s.Name)
		case seen[s.Name]:
			add("%s: name %q is used by another source", where, s.Name)
		}
		seen[s.Name] = true
		errs = append(errs, s.validate(where)...)
		if _, err := filter.New(s.Filter); err != nil {
			add("%s: filter: %w", where, err)
		}
		reserved[s.Name] = s.Namespaces
		order = append(order, s.Name)
	}
	if _, err := filter.NewReservations(reserved, order); err != nil {
		errs = append(errs, err)
	}
	views := map[string]bool{}
	for i, v := range c.Views {
		if !slugPattern.MatchString(v.Name) || views[v.Name] {
			add("views[%d]: name %q must be a unique slug", i, v.Name)
		}
		views[v.Name] = true
		if _, err := filter.New(v.Filter); err != nil {
			add("views[%d] (%s): filter: %w", i, v.Name, err)
		}
	}
	return errors.Join(errs...)
}

func (s SourceConfig) validate(where string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(where+": "+format, args...)) }
	switch s.Kind {
	case "file":
		switch {
		case s.Path == "" && s.URL == "":
			add("a file source needs path (a file or directory) or url")
		case s.Path != "" && s.URL != "":
			add("give path or url, not both")
		case s.URL != "" && !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://"):
			add("url %q must be http:// or https://", s.URL)
		}
		for _, f := range []struct{ name, val string }{
			{"repository", s.Repository}, {"branch", s.Branch}, {"tag", s.Tag}, {"commit", s.Commit}, {"mode", s.Mode},
			{"tokenFile", s.TokenFile}, {"usernameFile", s.UsernameFile}, {"passwordFile", s.PasswordFile},
			{"apiVersion", s.APIVersion},
		} {
			if f.val != "" {
				add("%s does not apply to a file source", f.name)
			}
		}
	case "api":
		errs = append(errs, s.validateAPI(where)...)
	case "git":
		errs = append(errs, s.validateGit(where)...)
	case "":
		add("kind is missing (file, git or api)")
	default:
		add("kind %q is not file, git or api", s.Kind)
	}
	if s.Interval < 0 {
		add("interval must not be negative")
	}
	if s.MaxBytes < 0 {
		add("maxBytes must not be negative")
	}
	return errs
}

func (s SourceConfig) validateAPI(where string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(where+": "+format, args...)) }
	switch {
	case s.URL == "":
		add("an api source needs url (the registry's base URL)")
	case !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://"):
		add("url %q must be http:// or https://", s.URL)
	}
	if s.Path != "" {
		add("path does not apply to an api source (use url)")
	}
	switch s.Mode {
	case "live", "mirror":
	default:
		add("mode %q is not live or mirror", s.Mode)
	}
	if s.APIVersion != "v0.1" && s.APIVersion != "v0" {
		add("apiVersion %q is not v0.1 or v0", s.APIVersion)
	}
	if (s.UsernameFile == "") != (s.PasswordFile == "") {
		add("usernameFile and passwordFile go together")
	}
	if s.TokenFile != "" && s.UsernameFile != "" {
		add("give tokenFile or usernameFile/passwordFile, not both")
	}
	if s.PageSize < 1 || s.PageSize > 100 {
		add("pageSize must be from 1 to 100")
	}
	if s.RateLimit.PerMinute < 0 || s.RateLimit.Burst < 0 || (s.RateLimit.Retries != nil && *s.RateLimit.Retries < 0) {
		add("rateLimit: perMinute, burst and retries must not be negative")
	}
	if s.Breaker.OpenFor < 0 {
		add("breaker.openFor must not be negative")
	}
	if s.Cache.Fresh < 0 || s.Cache.Stale < 0 || s.Cache.MaxEntries < 0 || s.Cache.MaxBytes < 0 {
		add("cache: fresh, stale, maxEntries and maxBytes must not be negative")
	}
	if s.Timeout < 0 {
		add("timeout must not be negative")
	}
	for _, f := range []struct{ name, val string }{{"repository", s.Repository}, {"branch", s.Branch}, {"tag", s.Tag}, {"commit", s.Commit}} {
		if f.val != "" {
			add("%s does not apply to an api source", f.name)
		}
	}
	if s.Mode == "live" && (s.ResyncEvery != 0 || s.Overlap != 0 || s.Crawl != (CrawlConfig{})) {
		add("resyncEvery, overlap and crawl apply to mode mirror only")
	}
	if s.ResyncEvery < 0 || s.Overlap < 0 || s.Crawl.MaxPages < 0 || s.Crawl.MaxEntries < 0 || s.Crawl.MaxBytes < 0 {
		add("resyncEvery, overlap and crawl bounds must not be negative")
	}
	return errs
}

func (s SourceConfig) validateGit(where string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(where+": "+format, args...)) }
	if s.Repository == "" {
		add("a git source needs repository (an https:// or file:// URL, or a local path)")
	}
	set := 0
	for _, v := range []string{s.Branch, s.Tag, s.Commit} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		add("give at most one of branch, tag and commit")
	}
	if s.URL != "" {
		add("url does not apply to a git source (use repository)")
	}
	if s.PasswordFile != "" && s.TokenFile != "" {
		add("give passwordFile or tokenFile, not both")
	}
	for _, f := range []struct{ name, val string }{{"mode", s.Mode}, {"apiVersion", s.APIVersion}} {
		if f.val != "" {
			add("%s does not apply to a git source", f.name)
		}
	}
	if s.Interval < 0 || s.MaxFiles < 0 || s.MaxBytes < 0 {
		add("interval, maxFiles and maxBytes must not be negative")
	}
	return errs
}
