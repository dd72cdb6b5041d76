package auth

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
)

// Config is the `auth:` block of mcpfed's configuration.
type Config struct {
	// ResourceURL is the RFC 9728 resource identifier of the gateway's
	// root. Empty: derived from each request's scheme and host.
	ResourceURL string `yaml:"resourceURL" json:"resourceURL"`
	// OIDC lists the token issuers mcpfed trusts.
	OIDC []OIDCConfig `yaml:"oidc" json:"oidc"`
	// Tokens are static bearer tokens for machines.
	Tokens []TokenConfig `yaml:"tokens" json:"tokens"`
	// RateLimit is per client (token subject, else client address).
	RateLimit RateLimitConfig `yaml:"rateLimit" json:"rateLimit"`
	// TrustedProxies lists the CIDRs (or single addresses) whose
	// X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trustedProxies" json:"trustedProxies"`
	// Audit configures the audit stream.
	Audit AuditConfig `yaml:"audit" json:"audit"`
}

// OIDCConfig is one trusted issuer.
type OIDCConfig struct {
	// Name identifies the issuer in logs and metrics (a slug).
	Name string `yaml:"name" json:"name"`
	// Issuer is the issuer URL; discovery is at
	// {issuer}/.well-known/openid-configuration.
	Issuer string `yaml:"issuer" json:"issuer"`
	// Audience must be one of the token's `aud` values. Required.
	Audience string `yaml:"audience" json:"audience"`
	// CAFile is a PEM bundle trusted for the issuer, in addition to the
	// system roots (e.g. a cluster's CA).
	CAFile string `yaml:"caFile" json:"caFile"`
	// JWKSTokenFile holds a bearer token sent with discovery and JWKS
	// fetches to the issuer (and to the JWKS host it names) over https
	// only: Kubernetes serves both only to authenticated callers.
	JWKSTokenFile string `yaml:"jwksTokenFile" json:"jwksTokenFile"`
}

// TokenConfig is one static bearer token.
type TokenConfig struct {
	// Name is the token's subject in logs and audit.
	Name string `yaml:"name" json:"name"`
	// TokenFile holds the token; it is re-read when it changes.
	TokenFile string `yaml:"tokenFile" json:"tokenFile"`
	// Claims are the claims the token carries (matched as a JWT's would be).
	Claims map[string]any `yaml:"claims" json:"claims"`
}

// RateLimitConfig is a per-client token bucket. PerMinute 0 disables it.
type RateLimitConfig struct {
	PerMinute int `yaml:"perMinute" json:"perMinute"`
	// Burst is the bucket size; 0 means PerMinute/10 (at least 1).
	Burst int `yaml:"burst" json:"burst"`
}

// AuditConfig configures the audit stream.
type AuditConfig struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Path is a file the audit lines are appended to; "" is a stream of
	// its own on stderr.
	Path string `yaml:"path" json:"path"`
}

// Access is a view's `access:` block.
type Access struct {
	// Anonymous lets requests without a token see the view.
	Anonymous bool `yaml:"anonymous" json:"anonymous"`
	// Claims every authenticated caller must carry: every key must match;
	// a list value means any of these values. Keys may be dotted paths
	// (realm_access.roles). Only for views that are not anonymous.
	Claims map[string]any `yaml:"claims" json:"claims"`
}

// Bounds of the configuration.
const (
	maxClaimPathSegments = 16
	maxNameLength        = 63
)

// isSlug reports whether s is lower-case letters, digits, '-' and '_',
// starting and ending with a letter or digit, at most 63 characters.
func isSlug(s string) bool {
	if s == "" || len(s) > maxNameLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := ('a' <= c && c <= 'z') || ('0' <= c && c <= '9')
		if !alnum && ((c != '-' && c != '_') || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

// Validate lists every problem in c, each naming its field by its YAML
// path (auth.oidc[0].audience: required). It reads no file: files are
// read by New.
func (c Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("auth.%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if c.ResourceURL != "" {
		if err := checkResourceURL(c.ResourceURL); err != nil {
			add("resourceURL", "%v", err)
		}
	}
	names := map[string]bool{}
	for i, o := range c.OIDC {
		p := fmt.Sprintf("oidc[%d]", i)
		if msg := nameProblem(o.Name, names, "issuer"); msg != "" {
			add(p+".name", "%s", msg)
		}
		if o.Issuer == "" {
			add(p+".issuer", "required")
		} else if err := checkIssuer(o.Issuer); err != nil {
			add(p+".issuer", "%v", err)
		}
		if strings.TrimSpace(o.Audience) == "" {
			add(p+".audience", "required")
		}
		if o.CAFile != "" && strings.TrimSpace(o.CAFile) == "" {
			add(p+".caFile", "must not be blank")
		}
		if o.JWKSTokenFile != "" && strings.TrimSpace(o.JWKSTokenFile) == "" {
			add(p+".jwksTokenFile", "must not be blank")
		}
	}
	tokens := map[string]bool{}
	for i, t := range c.Tokens {
		p := fmt.Sprintf("tokens[%d]", i)
		if msg := nameProblem(t.Name, tokens, "token"); msg != "" {
			add(p+".name", "%s", msg)
		}
		if strings.TrimSpace(t.TokenFile) == "" {
			add(p+".tokenFile", "required")
		}
		for k, v := range t.Claims {
			if k == "" {
				add(p+".claims", "a claim name must not be empty")
				continue
			}
			if err := checkClaimValue(v, 0); err != nil {
				add(fmt.Sprintf("%s.claims.%s", p, k), "%v", err)
			}
		}
	}
	if c.RateLimit.PerMinute < 0 {
		add("rateLimit.perMinute", "must not be negative")
	}
	if c.RateLimit.Burst < 0 {
		add("rateLimit.burst", "must not be negative")
	}
	if c.RateLimit.Burst > 0 && c.RateLimit.PerMinute == 0 {
		add("rateLimit.burst", "needs rateLimit.perMinute (0 disables the limit)")
	}
	for i, s := range c.TrustedProxies {
		if _, err := parsePrefix(s); err != nil {
			add(fmt.Sprintf("trustedProxies[%d]", i), "%v", err)
		}
	}
	if !c.Audit.Enabled && c.Audit.Path != "" {
		add("audit.path", "is set but audit.enabled is false")
	}
	return errors.Join(errs...)
}

// Validate lists every problem in a view's access block, each naming its
// field relative to the view (access.claims.groups: ...), for the caller
// to prefix with views[i].
func (a Access) Validate() error {
	var errs []error
	if a.Anonymous && len(a.Claims) > 0 {
		errs = append(errs, errors.New("access.claims: does not apply when access.anonymous is true (everyone may see the view)"))
	}
	for k, v := range a.Claims {
		if _, err := splitClaimPath(k); err != nil {
			errs = append(errs, fmt.Errorf("access.claims: %q %w", k, err))
			continue
		}
		if err := checkWanted(v); err != nil {
			errs = append(errs, fmt.Errorf("access.claims.%s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

func splitClaimPath(k string) ([]string, error) {
	if k == "" {
		return nil, errors.New("is not a claim name: it is empty")
	}
	segs := strings.Split(k, ".")
	if len(segs) > maxClaimPathSegments {
		return nil, fmt.Errorf("has more than %d segments", maxClaimPathSegments)
	}
	for _, s := range segs {
		if s == "" {
			return nil, errors.New("has an empty segment")
		}
	}
	return segs, nil
}

// checkWanted accepts a scalar or a non-empty list of scalars.
func checkWanted(v any) error {
	if l, ok := asList(v); ok {
		if len(l) == 0 {
			return errors.New("an empty list matches nothing")
		}
		for i, e := range l {
			if !isScalar(e) {
				return fmt.Errorf("[%d]: must be a string, number or boolean", i)
			}
		}
		return nil
	}
	if !isScalar(v) {
		return errors.New("must be a string, number, boolean or a list of them")
	}
	return nil
}

// checkClaimValue accepts what JSON can carry, nested at most 8 deep.
func checkClaimValue(v any, depth int) error {
	if depth > 8 {
		return errors.New("is nested too deeply")
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if err := checkClaimValue(e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		for _, e := range x {
			if err := checkClaimValue(e, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if v != nil && !isScalar(v) {
		return fmt.Errorf("a %T is not a claim value", v)
	}
	return nil
}

// asList returns v's elements when v is a slice or array (of any element
// type: []any from YAML or JSON, []string when built in Go).
func asList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool:
		return true
	}
	_, ok := number(v)
	return ok
}

// number reports whether v is numeric, as its canonical text.
func number(v any) (string, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return fmt.Sprint(v), true
	}
	return "", false
}

func checkResourceURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q must be an absolute http(s) URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not have a query, fragment or user", s)
	}
	return nil
}

// checkIssuer accepts https URLs, and http only on a loopback host (a
// local development identity provider).
func checkIssuer(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must be an absolute https URL without query, fragment or user", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("%q must be an https URL (http only on a loopback host)", s)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// parsePrefix reads a CIDR or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// nameProblem checks the name of an issuer or token (what: "issuer",
// "token"): required, a slug, unique among seen, which it joins.
func nameProblem(name string, seen map[string]bool, what string) string {
	defer func() { seen[name] = true }()
	switch {
	case name == "":
		return "required"
	case !isSlug(name):
		return fmt.Sprintf("%q must be a slug: lower-case letters, digits, '-' and '_', at most %d characters", name, maxNameLength)
	case seen[name]:
		return fmt.Sprintf("%q is used by another %s", name, what)
	}
	return ""
}
