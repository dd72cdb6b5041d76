package config

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/mcpfed/mcpfed/auth"
)

// EnvPrefix starts every variable mcpfed reads.
const EnvPrefix = "MCPFED_"

// The variables that are not fields of Config.
const (
	// EnvConfig names the configuration file.
	EnvConfig = EnvPrefix + "CONFIG"
	// EnvSources is the sources list, YAML or JSON, replacing the file's.
	EnvSources = EnvPrefix + "SOURCES"
	// EnvAuth is the auth: block, YAML or JSON, replacing the file's.
	EnvAuth = EnvPrefix + "AUTH"
	// EnvViews is the views list, YAML or JSON, replacing the file's.
	EnvViews = EnvPrefix + "VIEWS"
	// EnvStore, EnvPublishing and EnvCuration are the store:, publishing:
	// and curation: blocks, YAML or JSON, replacing the file's.
	EnvStore      = EnvPrefix + "STORE"
	EnvPublishing = EnvPrefix + "PUBLISHING"
	EnvCuration   = EnvPrefix + "CURATION"
	// EnvDatabaseURL and EnvDatabasePasswordFile set store.url and
	// store.passwordFile, after MCPFED_STORE (a URL alone means driver
	// postgres).
	EnvDatabaseURL          = EnvPrefix + "DATABASE_URL"
	EnvDatabasePasswordFile = EnvPrefix + "DATABASE_PASSWORD_FILE"
	// The single-issuer case: they set (adding it if needed) the entry of
	// auth.oidc named default, after MCPFED_AUTH.
	EnvAuthOIDCIssuer        = EnvPrefix + "AUTH_OIDC_ISSUER"
	EnvAuthOIDCAudience      = EnvPrefix + "AUTH_OIDC_AUDIENCE"
	EnvAuthOIDCCAFile        = EnvPrefix + "AUTH_OIDC_CA_FILE"
	EnvAuthOIDCJWKSTokenFile = EnvPrefix + "AUTH_OIDC_JWKS_TOKEN_FILE"
)

// DefaultIssuer names the auth.oidc entry the MCPFED_AUTH_OIDC_*
// variables set.
const DefaultIssuer = "default"

// oidcEnv maps each single-issuer variable to its field.
func oidcEnv(o *auth.OIDCConfig) []struct {
	name, field string
	dst         *string
} {
	return []struct {
		name, field string
		dst         *string
	}{
		{EnvAuthOIDCIssuer, "issuer", &o.Issuer},
		{EnvAuthOIDCAudience, "audience", &o.Audience},
		{EnvAuthOIDCCAFile, "caFile", &o.CAFile},
		{EnvAuthOIDCJWKSTokenFile, "jwksTokenFile", &o.JWKSTokenFile},
	}
}

// applyOIDCEnv sets the issuer named default from the single-issuer
// variables, adding it after the others when there is none.
func applyOIDCEnv(cfg *Config, vars map[string]string, where map[string]position) {
	var o auth.OIDCConfig
	set := false
	for _, e := range oidcEnv(&o) {
		if _, ok := vars[e.name]; ok {
			set = true
		}
	}
	if !set {
		return
	}
	i := slices.IndexFunc(cfg.Auth.OIDC, func(o auth.OIDCConfig) bool { return o.Name == DefaultIssuer })
	if i < 0 {
		cfg.Auth.OIDC = append(cfg.Auth.OIDC, auth.OIDCConfig{Name: DefaultIssuer})
		i = len(cfg.Auth.OIDC) - 1
	}
	entry := &cfg.Auth.OIDC[i]
	path := fmt.Sprintf("auth.oidc[%d]", i)
	for _, e := range oidcEnv(entry) {
		if v, ok := vars[e.name]; ok {
			*e.dst = strings.TrimSpace(v)
			where[path+"."+e.field] = position{name: e.name}
			if _, ok := where[path]; !ok {
				where[path] = position{name: e.name}
			}
		}
	}
}

// applyStoreEnv sets store.url and store.passwordFile from their
// variables (the names deployments use for a database, not
// MCPFED_STORE_*).
func applyStoreEnv(cfg *Config, vars map[string]string, where map[string]position) {
	for _, e := range []struct {
		name, path string
		dst        *string
	}{
		{EnvDatabaseURL, "store.url", &cfg.Store.URL},
		{EnvDatabasePasswordFile, "store.passwordFile", &cfg.Store.PasswordFile},
	} {
		if v, ok := vars[e.name]; ok {
			*e.dst = strings.TrimSpace(v)
			where[e.path] = position{name: e.name}
		}
	}
}

// envField is a Config field set by a variable.
type envField struct {
	name  string // MCPFED_CACHE_MAX_AGE
	path  string // cacheMaxAge
	index []int
}

// envFields lists the variables of t's fields, from their env and
// envPrefix tags.
func envFields(t reflect.Type, prefix, path string, index []int) []envField {
	var out []envField
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		idx := append(slices.Clone(index), i)
		if key := f.Tag.Get("env"); key != "" {
			out = append(out, envField{prefix + key, join(path, name), idx})
		}
		if p, ok := f.Tag.Lookup("envPrefix"); ok && f.Type.Kind() == reflect.Struct {
			out = append(out, envFields(f.Type, prefix+p, join(path, name), idx)...)
		}
	}
	return out
}

// EnvNames are every variable mcpfed reads, sorted.
func EnvNames() []string {
	names := []string{EnvConfig, EnvSources, EnvAuth, EnvViews, EnvStore, EnvPublishing, EnvCuration,
		EnvAuthOIDCIssuer, EnvAuthOIDCAudience, EnvAuthOIDCCAFile, EnvAuthOIDCJWKSTokenFile,
		EnvDatabaseURL, EnvDatabasePasswordFile}
	for _, f := range envFields(reflect.TypeFor[Config](), EnvPrefix, "", nil) {
		names = append(names, f.name)
	}
	slices.Sort(names)
	return names
}

// applyEnv sets cfg's fields from vars, naming the variable in problems.
func applyEnv(cfg *Config, vars map[string]string, where map[string]position) []error {
	var errs []error
	v := reflect.ValueOf(cfg).Elem()
	for _, f := range envFields(v.Type(), EnvPrefix, "", nil) {
		val, ok := vars[f.name]
		if !ok {
			continue
		}
		if err := setScalar(v.FieldByIndex(f.index), val); err != nil {
			errs = append(errs, &Problem{Path: f.name, Msg: err.Error()})
			continue
		}
		where[f.path] = position{name: f.name}
	}
	return errs
}

// kubernetesServiceLink matches the variables Kubernetes sets for a Service
// whose name starts with mcpfed (MCPFED_SERVICE_HOST, MCPFED_PORT_8080_TCP,
// ...): they are not mcpfed's, and a Service named mcpfed is what a
// deployment has.
var kubernetesServiceLink = regexp.MustCompile(`^MCPFED(_[A-Z0-9_]+)?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$`)

// unknownEnv reports the MCPFED_* variables mcpfed does not read, with the
// closest known name: a misspelt variable must not be silently ignored.
func unknownEnv(vars map[string]string) []error {
	known := EnvNames()
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if !strings.HasPrefix(name, EnvPrefix) || slices.Contains(known, name) || kubernetesServiceLink.MatchString(name) {
			continue
		}
		msg := "is not a variable mcpfed reads"
		if s := closest(name, known); s != "" {
			msg += fmt.Sprintf("; did you mean %s?", s)
		} else {
			msg += " (see README.md, Configuration)"
		}
		errs = append(errs, &Problem{Path: name, Msg: msg})
	}
	return errs
}
