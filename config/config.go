// Package config is mcpfed's configuration: the shape the operator writes
// (a YAML or JSON file, MCPFED_* environment variables, flags), loading with
// precedence defaults < file < environment < flags, and validation that
// lists every problem under the names the operator wrote. Each source kind
// declares its own fields, defaults and validation beside its component
// (see Kind); this package only adds the sources[i] path to their messages.
package config

import (
	"os"
	"path/filepath"
	"time"

	"github.com/mcpfed/mcpfed/auth"
	"github.com/mcpfed/mcpfed/curation"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/publish"
	"github.com/mcpfed/mcpfed/store"
)

// Config is mcpfed's configuration.
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
	// CursorKeyFile holds the keys that authenticate cursors, one per line
	// (at least 32 bytes each): the first signs, all verify (rotation).
	// Empty: see CursorKeys (derived without live sources, else kept in stateDir).
	CursorKeyFile string `yaml:"cursorKeyFile" env:"CURSOR_KEY_FILE"`
	// ResponseCache keeps encoded answers for identical requests.
	ResponseCache ResponseCacheConfig `yaml:"responseCache" envPrefix:"RESPONSE_CACHE_"`
	// HTTP bounds the server's connections; zero fields take the server's
	// defaults.
	HTTP HTTPConfig `yaml:"http" envPrefix:"HTTP_"`
	// Sources in priority order (first wins). Empty: the built-in catalogue.
	Sources []SourceConfig `yaml:"sources"`
	// Views are named views served under /registry/{name}/v0.1; the view
	// named default configures the root (/v0.1, /v0).
	Views []ViewConfig `yaml:"views"`
	// Admin enables operator endpoints.
	Admin AdminConfig `yaml:"admin" envPrefix:"ADMIN_"`
	// Auth is inbound authentication: issuers, static tokens, the
	// per-client rate limit, trusted proxies and the audit stream.
	Auth auth.Config `yaml:"auth"`
	// Store keeps what mcpfed owns: published servers, curation decisions
	// and their history. SQLite in stateDir unless written otherwise; it
	// is opened only when something needs it (NeedsStore).
	Store store.Config `yaml:"store"`
	// Publishing says who may publish which names, and the token
	// exchanges mcp-publisher uses.
	Publishing publish.Config `yaml:"publishing"`
	// Curation says who reviews: decisions are managed by tokens with
	// reviewerClaims.
	Curation curation.Config `yaml:"curation"`

	// where remembers where each field was written, for the messages of
	// problems found after Load (SourceProblems).
	where map[string]position
	// toolhive is how a toolhive-registry-server file was read (nil for
	// mcpfed's own shape): see ToolHive and Warnings.
	toolhive *ToolHiveMapping
}

// AdminConfig enables the manual resync endpoint
// (POST /v0.1/x/io.github.mcpfed/sources/{name}/resync).
type AdminConfig struct {
	Resync bool `yaml:"resync" env:"RESYNC"`
	// TokenFile holds the bearer token the endpoint demands.
	TokenFile string `yaml:"tokenFile" env:"TOKEN_FILE"`
	// AllowUnauthenticated lets resync run without a token (a warning is
	// logged at start); without it, resync without tokenFile is an error.
	AllowUnauthenticated bool `yaml:"allowUnauthenticated" env:"ALLOW_UNAUTHENTICATED"`
	// Claims make a verified token (auth:) an admin token: every key must
	// match, as in a view's access.claims.
	Claims map[string]any `yaml:"claims"`
}

// ResponseCacheConfig bounds the response cache.
type ResponseCacheConfig struct {
	MaxEntries int           `yaml:"maxEntries" env:"MAX_ENTRIES"`
	MaxBytes   int64         `yaml:"maxBytes" env:"MAX_BYTES"`
	TTL        time.Duration `yaml:"ttl" env:"TTL"`
}

// HTTPConfig bounds the HTTP server. Zero means the server's default.
type HTTPConfig struct {
	ReadTimeout       time.Duration `yaml:"readTimeout" env:"READ_TIMEOUT"`
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout" env:"READ_HEADER_TIMEOUT"`
	WriteTimeout      time.Duration `yaml:"writeTimeout" env:"WRITE_TIMEOUT"`
	IdleTimeout       time.Duration `yaml:"idleTimeout" env:"IDLE_TIMEOUT"`
	MaxHeaderBytes    int           `yaml:"maxHeaderBytes" env:"MAX_HEADER_BYTES"`
	// MaxInFlight caps concurrent requests; beyond it, 503 with Retry-After.
	MaxInFlight int `yaml:"maxInFlight" env:"MAX_IN_FLIGHT"`
}

// DefaultView is the name of the view that configures the root (/v0.1,
// /v0); without it the root is every source, anonymous.
const DefaultView = "default"

// ViewConfig is a named view: an ordered subset of the sources, then a
// filter, behind an access rule.
type ViewConfig struct {
	Name string `yaml:"name"`
	// Sources are the source names the view merges, in priority order
	// (first wins). Empty: every source in configured order.
	Sources []string    `yaml:"sources"`
	Filter  filter.Spec `yaml:"filter"`
	// Access decides who may read the view. Not written: anonymous;
	// written without anonymous: true, a valid token is required (and its
	// claims, if any).
	Access auth.Access `yaml:"access"`
	// Curation approved-only shows only the versions a decision approves
	// (curation.ApprovedOnly); empty shows every version.
	Curation string `yaml:"curation"`
}

// Private reports whether the view's answers depend on the caller: it is
// not anonymous, so they are Cache-Control private, Vary: Authorization.
func (v ViewConfig) Private() bool { return !v.Access.Anonymous }

// RootView is the configuration of the root view: the view named
// default, else every source, anonymous.
func (c Config) RootView() ViewConfig {
	for _, v := range c.Views {
		if v.Name == DefaultView {
			return v
		}
	}
	return ViewConfig{Name: DefaultView, Access: auth.Access{Anonymous: true}}
}

// Defaults of the settings this package owns; each source kind owns its own.
const (
	DefaultListen          = ":8080"
	DefaultCacheMaxAge     = 30 * time.Second
	DefaultShutdownTimeout = 15 * time.Second
	DefaultRequestTimeout  = federate.DefaultRequestTimeout
	DefaultResponseEntries = 10000
	DefaultResponseBytes   = 64 << 20
	DefaultResponseTTL     = 5 * time.Second
)

// Default is the configuration before any file, variable or flag.
func Default() Config {
	return Config{
		Listen:          DefaultListen,
		StateDir:        DefaultStateDir(),
		LogFormat:       "json",
		LogLevel:        "info",
		AccessLog:       true,
		CacheMaxAge:     DefaultCacheMaxAge,
		ShutdownTimeout: DefaultShutdownTimeout,
		RequestTimeout:  DefaultRequestTimeout,
		ResponseCache: ResponseCacheConfig{
			MaxEntries: DefaultResponseEntries, MaxBytes: DefaultResponseBytes, TTL: DefaultResponseTTL,
		},
	}
}

// DefaultStateDir is the user's cache directory, or one under the
// temporary directory when there is none.
func DefaultStateDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "mcpfed")
	}
	return filepath.Join(dir, "mcpfed")
}
