package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/mcpfed/mcpfed/auth"
	"github.com/mcpfed/mcpfed/filter"
)

var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$`)

// problem records msg about the field at path, located where it was
// written (or, failing that, where its nearest parent was).
func (l *loader) problem(path, format string, args ...any) {
	l.problemAt(path, path, fmt.Sprintf(format, args...))
}

// problemAt records msg about path, located where the field at locate was
// written.
func (l *loader) problemAt(path, locate, msg string) {
	p := &Problem{Path: path, Msg: msg}
	for q := locate; q != ""; q = parent(q) {
		pos, ok := l.where[q]
		if !ok {
			continue
		}
		switch {
		case pos.name == "":
			p.Origin, p.Line = pos.origin, pos.line
		case q == path:
			p.Path = pos.name // a variable or flag: its own name says where
		case q == locate:
			p.Origin = pos.name
		default:
			// A parent written by a variable (auth.oidc[i] by the
			// MCPFED_AUTH_OIDC_* variables): the variable says where.
			p.Origin = pos.name
		}
		break
	}
	l.probs = append(l.probs, p)
}

// parent is the path one level up: sources[2].rateLimit.burst →
// sources[2].rateLimit → sources[2] → sources.
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i > 0 {
		return path[:i]
	}
	return ""
}

// validate lists every problem in the configuration.
func (l *loader) validate(c Config) {
	if c.Listen == "" {
		l.problem("listen", "must not be empty")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		l.problem("logFormat", "%q is not json or text", c.LogFormat)
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		l.problem("logLevel", "%v", err)
	}
	if c.StateDir == "" {
		l.problem("stateDir", "must not be empty")
	}
	l.notNegative(reflect.ValueOf(c.CacheMaxAge), "cacheMaxAge")
	if c.ShutdownTimeout <= 0 {
		l.problem("shutdownTimeout", "must be positive")
	}
	if c.RequestTimeout <= 0 {
		l.problem("requestTimeout", "must be positive")
	}
	l.notNegative(reflect.ValueOf(c.ResponseCache), "responseCache")
	// The http: block is the HTTP server's to check (cmd/mcpfed), with
	// Problems placing its messages.
	if c.Admin.Resync && c.Admin.TokenFile == "" && len(c.Admin.Claims) == 0 && !c.Admin.AllowUnauthenticated {
		l.problem("admin.resync", "the resync endpoint needs admin.tokenFile (MCPFED_ADMIN_TOKEN_FILE) or admin.claims; "+
			"to run it without a token, set admin.allowUnauthenticated: true")
	}
	if c.CursorKeyFile != "" {
		if _, err := readCursorKeys(c.CursorKeyFile); err != nil {
			l.problem("cursorKeyFile", "%v", err)
		}
	}
	l.validateSources(c.Sources)
	views := map[string]bool{}
	for i, v := range c.Views {
		path := fmt.Sprintf("views[%d]", i)
		if !slugPattern.MatchString(v.Name) || views[v.Name] {
			l.problem(path+".name", "%q must be a unique slug", v.Name)
		}
		views[v.Name] = true
		listed := map[string]bool{}
		for j, name := range v.Sources {
			at := fmt.Sprintf("%s.sources[%d]", path, j)
			switch {
			case !slices.ContainsFunc(c.Sources, func(s SourceConfig) bool { return s.Name == name }):
				l.problem(at, "no source named %q", name)
			case listed[name]:
				l.problem(at, "%q is listed twice", name)
			}
			listed[name] = true
		}
		if v.Sources != nil && len(v.Sources) == 0 {
			l.problem(path+".sources", "an empty list selects nothing; leave it out for every source")
		}
		if _, err := filter.New(v.Filter); err != nil {
			l.fieldErrors(path+".filter", reflect.TypeFor[filter.Spec](), err)
		}
		if err := v.Access.Validate(); err != nil {
			l.fieldErrors(path, reflect.TypeFor[ViewConfig](), err)
		}
		if !v.Access.Anonymous && len(c.Auth.OIDC) == 0 && len(c.Auth.Tokens) == 0 {
			l.problem(path+".access", "needs a token, but auth: configures no issuer (auth.oidc) and no token (auth.tokens); "+
				"set access.anonymous: true or configure auth")
		}
	}
	if err := c.Auth.Validate(); err != nil {
		l.fieldErrors("", reflect.TypeFor[Config](), err)
	}
	l.validateStore(c.Store)
	l.validateCuration(c)
	if len(c.Admin.Claims) > 0 {
		if err := (auth.Access{Claims: c.Admin.Claims}).Validate(); err != nil {
			var rest []error
			for _, e := range flatten(err) {
				rest = append(rest, errors.New(strings.TrimPrefix(e.Error(), "access.")))
			}
			l.fieldErrors("admin", reflect.TypeFor[AdminConfig](), errors.Join(rest...))
		}
		if len(c.Auth.OIDC) == 0 && len(c.Auth.Tokens) == 0 {
			l.problem("admin.claims", "needs auth.oidc or auth.tokens: no token can carry claims without them")
		}
	}
}

func (l *loader) validateSources(sources []SourceConfig) {
	seen := map[string]bool{}
	reserved := map[string][]string{}
	var order []string
	for i, s := range sources {
		path := fmt.Sprintf("sources[%d]", i)
		switch {
		case !slugPattern.MatchString(s.Name):
			l.problem(path+".name", "%q must be a slug: lower-case letters, digits, '-' and '_', at most 63 characters", s.Name)
		case seen[s.Name]:
			l.problem(path+".name", "%q is used by another source", s.Name)
		}
		seen[s.Name] = true
		_, known := findKind(l.kinds, s.Kind)
		switch {
		case s.Kind == "":
			l.problem(path, "kind is missing (%s)", kindNames(l.kinds))
		case !known:
			l.problem(path+".kind", "%q is not %s", s.Kind, kindNames(l.kinds))
		case s.Spec != nil:
			if err := s.Spec.Validate(); err != nil {
				l.fieldErrors(path, reflect.TypeOf(s.Spec).Elem(), err)
			}
		}
		if _, err := filter.New(s.Filter); err != nil {
			l.fieldErrors(path+".filter", reflect.TypeFor[filter.Spec](), err)
		}
		reserved[s.Name] = s.Namespaces
		order = append(order, s.Name)
	}
	if _, err := filter.NewReservations(reserved, order); err != nil {
		for _, e := range flatten(err) {
			// Placed at the source it names: `source "b": namespace ...`.
			at, msg := "sources", e.Error()
			for i := len(sources) - 1; i >= 0; i-- {
				if rest, ok := strings.CutPrefix(msg, fmt.Sprintf("source %q: ", sources[i].Name)); ok {
					at, msg = fmt.Sprintf("sources[%d].namespaces", i), strings.TrimPrefix(rest, "namespaces: ")
					break
				}
			}
			l.problem(at, "%s", msg)
		}
	}
}

// fieldErrors adds a component's errors under path. A message naming one
// of t's fields first ("interval: ...", "rateLimit.maxWait must ...",
// "url \"x\" is ...") is placed at that field.
func (l *loader) fieldErrors(path string, t reflect.Type, err error) {
	names := fieldNames(t)
	for _, e := range flatten(err) {
		msg := e.Error()
		word := msg
		if i := strings.IndexAny(msg, " :"); i >= 0 {
			word = msg[:i]
		}
		first, _, _ := strings.Cut(word, ".")
		first, _, _ = strings.Cut(first, "[")
		if word == "" || !slices.Contains(names, first) {
			l.problemAt(path, path, msg)
			continue
		}
		field, rest := join(path, word), msg[len(word):]
		switch {
		case strings.HasPrefix(rest, ":"):
			l.problemAt(field, field, strings.TrimSpace(rest[1:]))
		case startsWithAny(rest, " must ", " is ", " has ", " needs ", " applies ", " \""):
			l.problemAt(field, field, strings.TrimSpace(rest))
		default:
			l.problemAt(path, field, msg) // a sentence about several fields
		}
	}
}

func startsWithAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// flatten lists the errors joined in err (recursively).
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// notNegative reports every negative number in v (a struct or a number).
func (l *loader) notNegative(v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Struct:
		for _, f := range structFields(v.Type()) {
			l.notNegative(v.FieldByIndex(f.index), path+"."+f.name)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() < 0 {
			l.problem(path, "must not be negative")
		}
	case reflect.Float32, reflect.Float64:
		if v.Float() < 0 {
			l.problem(path, "must not be negative")
		}
	}
}

// Errors lists the problems of a Load error, one per line.
func Errors(err error) []string {
	var out []string
	for _, e := range flatten(err) {
		if e != nil {
			out = append(out, e.Error())
		}
	}
	return out
}

// Problems places errors about the top-level fields found outside Load
// (the HTTP server checks its http: block): "http.writeTimeout ..." is
// shown at the variable or line that set it.
func (c Config) Problems(err error) []error {
	if err == nil {
		return nil
	}
	l := loader{where: c.where}
	l.fieldErrors("", reflect.TypeFor[Config](), err)
	return l.probs
}

// SourceProblems places an error found while building sources[i] (a
// missing path, a repository that is not there) the way Load places its
// own: at the field it names, with the line it was written on.
func (c Config) SourceProblems(i int, err error) []error {
	l := loader{where: c.where}
	var t reflect.Type
	if i < len(c.Sources) && c.Sources[i].Spec != nil {
		t = reflect.TypeOf(c.Sources[i].Spec).Elem()
	} else {
		t = sourceType
	}
	l.fieldErrors(fmt.Sprintf("sources[%d]", i), t, err)
	return l.probs
}

// InvalidSources are the indexes of the sources a Load error finds a
// problem in: the others can still be built to look for more.
func InvalidSources(err error) map[int]bool {
	out := map[int]bool{}
	for _, e := range flatten(err) {
		var p *Problem
		if !errors.As(e, &p) {
			continue
		}
		var i int
		if _, err := fmt.Sscanf(p.Path, "sources[%d]", &i); err == nil {
			out[i] = true
		}
	}
	return out
}
