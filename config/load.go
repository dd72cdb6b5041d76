package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/mcpfed/mcpfed"
	"github.com/mcpfed/mcpfed/auth"
	"github.com/mcpfed/mcpfed/upstream"
)

// maxConfigBytes bounds the configuration file: it is a list of sources.
const maxConfigBytes = 4 << 20

// Flags are the command-line overrides; empty means not given.
type Flags struct {
	Config, Listen, StateDir, LogFormat, LogLevel string
}

// Register declares the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Config, "config", "", "configuration file (YAML or JSON); overrides "+EnvConfig)
	fs.StringVar(&f.Listen, "listen", "", "listen address; overrides MCPFED_LISTEN_ADDR (default "+DefaultListen+")")
	fs.StringVar(&f.StateDir, "state-dir", "", "state directory; overrides MCPFED_STATE_DIR")
	fs.StringVar(&f.LogFormat, "log-format", "", "json or text; overrides MCPFED_LOG_FORMAT")
	fs.StringVar(&f.LogLevel, "log-level", "", "debug, info, warn or error; overrides MCPFED_LOG_LEVEL")
}

// Load builds the configuration from defaults, the file (MCPFED_CONFIG or
// -config), the environment (env: every variable of the process) and
// flags, then validates it. The error lists every problem, each a
// *Problem, joined.
func Load(env map[string]string, flags Flags) (Config, error) {
	l := loader{kinds: Kinds(), where: map[string]position{}}
	cfg := Default()
	path := env[EnvConfig]
	if flags.Config != "" {
		path = flags.Config
	}
	if path != "" {
		l.file(path, &cfg)
	}
	l.probs = append(l.probs, applyEnv(&cfg, env, l.where)...)
	if s, ok := env[EnvSources]; ok && strings.TrimSpace(s) != "" {
		var sources []SourceConfig
		l.envBlock(EnvSources, s, "sources", &sources)
		cfg.Sources = sources
	}
	if s, ok := env[EnvAuth]; ok && strings.TrimSpace(s) != "" {
		var a auth.Config
		l.envBlock(EnvAuth, s, "auth", &a)
		cfg.Auth = a
	}
	if s, ok := env[EnvViews]; ok && strings.TrimSpace(s) != "" {
		var views []ViewConfig
		l.envBlock(EnvViews, s, "views", &views)
		cfg.Views = views
	}
	for _, b := range []struct {
		name, path string
		out        any
	}{
		{EnvStore, "store", &cfg.Store}, {EnvPublishing, "publishing", &cfg.Publishing}, {EnvCuration, "curation", &cfg.Curation},
	} {
		if s, ok := env[b.name]; ok && strings.TrimSpace(s) != "" {
			// Replaces the file's block: start from nothing.
			reflect.ValueOf(b.out).Elem().SetZero()
			l.envBlock(b.name, s, b.path, b.out)
		}
	}
	applyOIDCEnv(&cfg, env, l.where)
	applyStoreEnv(&cfg, env, l.where)
	for _, o := range []struct {
		val, path, flag string
		dst             *string
	}{
		{flags.Listen, "listen", "-listen", &cfg.Listen}, {flags.StateDir, "stateDir", "-state-dir", &cfg.StateDir},
		{flags.LogFormat, "logFormat", "-log-format", &cfg.LogFormat}, {flags.LogLevel, "logLevel", "-log-level", &cfg.LogLevel},
	} {
		if o.val != "" {
			*o.dst = o.val
			l.where[o.path] = position{name: o.flag}
		}
	}
	l.probs = append(l.probs, unknownEnv(env)...)
	if len(cfg.Sources) == 0 {
		cfg.Sources = l.builtinSources()
	}
	for _, s := range cfg.Sources {
		if s.Spec != nil {
			s.Spec.ApplyDefaults()
		}
	}
	applyStoreDefaults(&cfg.Store)
	cfg.Publishing.ApplyDefaults()
	// A view without an access block is anonymous, as views were before
	// access control (and the root is without a default view).
	for i := range cfg.Views {
		if _, written := l.where[fmt.Sprintf("views[%d].access", i)]; !written {
			cfg.Views[i].Access.Anonymous = true
		}
	}
	l.validate(cfg)
	l.thv.translate(l.probs)
	cfg.toolhive = l.thv
	cfg.where = l.where
	sortProblems(l.probs, path)
	return cfg, errors.Join(l.probs...)
}

// envBlock decodes the variable name (YAML or JSON) into out, replacing
// what the file wrote at path.
func (l *loader) envBlock(name, val, path string, out any) {
	for p := range l.where {
		if p == path || strings.HasPrefix(p, path+"[") || strings.HasPrefix(p, path+".") {
			delete(l.where, p)
		}
	}
	d := decoder{origin: name, kinds: l.kinds, where: l.where}
	d.parse([]byte(val), out, path)
	l.probs = append(l.probs, d.probs...)
}

type loader struct {
	kinds []Kind
	where map[string]position
	probs []error
	// thv is how a toolhive-registry-server file was read (toolhive.go).
	thv *ToolHiveMapping
}

func (l *loader) file(path string, cfg *Config) {
	data, err := readConfigFile(path)
	if err != nil {
		l.probs = append(l.probs, &Problem{Origin: path, Msg: err.Error()})
		return
	}
	if doc, ok := toolHiveDocument(data); ok {
		var probs []error
		l.thv, probs = readToolHive(path, doc, cfg, l.where)
		l.probs = append(l.probs, probs...)
		return
	}
	d := decoder{origin: path, kinds: l.kinds, where: l.where}
	d.parse(data, cfg, "")
	l.probs = append(l.probs, d.probs...)
}

// readConfigFile reads a regular file of bounded size, never waiting on
// a FIFO or reading a device (the one bounded reader of local files).
func readConfigFile(path string) ([]byte, error) {
	data, err := upstream.ReadRegular(context.Background(), path, maxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("cannot read the configuration file: %w", err)
	}
	return data, nil
}

// builtinSources is the configuration used when none is given: the
// embedded catalogue, one file source per file.
func (l *loader) builtinSources() []SourceConfig {
	kind, _ := findKind(l.kinds, "file")
	out := make([]SourceConfig, len(mcpfed.BuiltinSources))
	for i, name := range mcpfed.BuiltinSources {
		spec := kind.New()
		spec.(*upstream.FileSpec).Path = upstream.BuiltinPrefix + name
		out[i] = SourceConfig{Name: name, Kind: kind.Name, Spec: spec}
	}
	return out
}

// ParseLevel reads a log level as written in logLevel.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("%q is not debug, info, warn or error", s)
	}
	return l, nil
}

// sortProblems orders problems as the operator reads the input: the file
// by line, then MCPFED_SOURCES by line, then variables and flags.
func sortProblems(probs []error, file string) {
	rank := func(e error) (int, int) {
		var p *Problem
		if !errors.As(e, &p) {
			return 3, 0
		}
		switch {
		case p.Origin == "":
			return 2, 0
		case p.Origin == file:
			return 0, p.Line
		case p.Origin == EnvSources, p.Origin == EnvAuth, p.Origin == EnvViews,
			p.Origin == EnvStore, p.Origin == EnvPublishing, p.Origin == EnvCuration:
			return 1, p.Line
		}
		return 2, 0
	}
	slices.SortStableFunc(probs, func(a, b error) int {
		ra, la := rank(a)
		rb, lb := rank(b)
		if ra != rb {
			return ra - rb
		}
		return la - lb
	})
}
