package auth

import (
	"encoding/json"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := OIDCConfig{Name: "corp", Issuer: "https://idp.example.com", Audience: "mcpfed"}
	tests := []struct {
		name string
		cfg  Config
		want []string // each a line of the error; none: valid
	}{
		{name: "empty", cfg: Config{}},
		{name: "full", cfg: Config{
			ResourceURL:    "https://registry.example.com",
			OIDC:           []OIDCConfig{ok, {Name: "dev", Issuer: "http://127.0.0.1:8080/realms/x", Audience: "a", CAFile: "/ca.pem", JWKSTokenFile: "/t"}},
			Tokens:         []TokenConfig{{Name: "ci-bot", TokenFile: "/run/secrets/ci", Claims: map[string]any{"groups": []any{"platform"}, "n": 1, "o": map[string]any{"a": true}}}},
			RateLimit:      RateLimitConfig{PerMinute: 600, Burst: 60},
			TrustedProxies: []string{"10.0.0.0/8", "192.168.1.1", "fd00::/8"},
			Audit:          AuditConfig{Enabled: true, Path: "/var/log/audit.jsonl"},
		}},
		{name: "audience required", cfg: Config{OIDC: []OIDCConfig{{Name: "corp", Issuer: "https://idp"}}},
			want: []string{"auth.oidc[0].audience: required"}},
		{name: "issuer and name", cfg: Config{OIDC: []OIDCConfig{ok, {Name: "Corp!", Issuer: "http://idp.example.com", Audience: "x"}, {Audience: "x"}}},
			want: []string{
				`auth.oidc[1].name: "Corp!" must be a slug`,
				`auth.oidc[1].issuer: "http://idp.example.com" must be an https URL (http only on a loopback host)`,
				"auth.oidc[2].name: required", "auth.oidc[2].issuer: required",
			}},
		{name: "duplicate issuer name", cfg: Config{OIDC: []OIDCConfig{ok, ok}}, want: []string{`auth.oidc[1].name: "corp" is used by another issuer`}},
		{name: "issuer with query", cfg: Config{OIDC: []OIDCConfig{{Name: "a", Issuer: "https://idp/?x=1", Audience: "a"}}},
			want: []string{"auth.oidc[0].issuer:"}},
		{name: "tokens", cfg: Config{Tokens: []TokenConfig{{Name: "a"}, {Name: "a", TokenFile: "/x"}, {TokenFile: "/y"}, {Name: "b", TokenFile: "/z", Claims: map[string]any{"f": func() {}}}}},
			want: []string{"auth.tokens[0].tokenFile: required", `auth.tokens[1].name: "a" is used by another token`, "auth.tokens[2].name: required", "auth.tokens[3].claims.f: a func() is not a claim value"}},
		{name: "rate limit", cfg: Config{RateLimit: RateLimitConfig{PerMinute: -1, Burst: -2}},
			want: []string{"auth.rateLimit.perMinute: must not be negative", "auth.rateLimit.burst: must not be negative"}},
		{name: "burst without rate", cfg: Config{RateLimit: RateLimitConfig{Burst: 5}}, want: []string{"auth.rateLimit.burst: needs rateLimit.perMinute"}},
		{name: "proxies", cfg: Config{TrustedProxies: []string{"10.0.0.0/33", "nope"}},
			want: []string{`auth.trustedProxies[0]: "10.0.0.0/33" is not a CIDR`, `auth.trustedProxies[1]: "nope" is not an address or CIDR`}},
		{name: "resource URL", cfg: Config{ResourceURL: "registry.example.com"}, want: []string{"auth.resourceURL: "}},
		{name: "resource URL with query", cfg: Config{ResourceURL: "https://r.example.com/?a=b"}, want: []string{"auth.resourceURL: "}},
		{name: "audit path without enabled", cfg: Config{Audit: AuditConfig{Path: "/x"}}, want: []string{"auth.audit.path: is set but audit.enabled is false"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || strings.HasPrefix(l, w)
				}
				if !found {
					t.Errorf("no problem %q in:\n%s", w, err)
				}
			}
		})
	}
}

func TestAccessValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		access Access
		want   string
	}{
		{"anonymous", Access{Anonymous: true}, ""},
		{"claims", Access{Claims: map[string]any{"groups": []any{"a", "b"}, "realm_access.roles": "x", "n": 3, "b": true}}, ""},
		{"claims on an anonymous view", Access{Anonymous: true, Claims: map[string]any{"g": "a"}}, "access.claims: does not apply when access.anonymous is true"},
		{"Go string slice", Access{Claims: map[string]any{"groups": []string{"a"}}}, ""},
		{"empty list", Access{Claims: map[string]any{"groups": []any{}}}, "access.claims.groups: an empty list matches nothing"},
		{"object value", Access{Claims: map[string]any{"groups": map[string]any{"a": 1}}}, "access.claims.groups: must be a string, number, boolean or a list of them"},
		{"nested list", Access{Claims: map[string]any{"groups": []any{[]any{"a"}}}}, "access.claims.groups: [0]: must be a string, number or boolean"},
		{"null value", Access{Claims: map[string]any{"groups": nil}}, "access.claims.groups: must be"},
		{"empty segment", Access{Claims: map[string]any{"a..b": "x"}}, `access.claims: "a..b" has an empty segment`},
		{"empty key", Access{Claims: map[string]any{"": "x"}}, `access.claims: "" is not a claim name`},
		{"too deep", Access{Claims: map[string]any{strings.Repeat("a.", 16) + "a": "x"}}, "has more than 16 segments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.access.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestConfigYAML decodes the example with the field names fixed
// there (unknown fields refused), and validates it.
func TestConfigYAML(t *testing.T) {
	t.Parallel()
	const doc = `
auth:
  resourceURL: https://registry.example.com
  oidc:
    - name: corp
      issuer: https://idp.example.com
      audience: mcpfed
      caFile: /etc/ssl/private-ca.pem
      jwksTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
  tokens:
    - name: ci-bot
      tokenFile: /run/secrets/ci-bot
      claims: {groups: [platform]}
  rateLimit: {perMinute: 600, burst: 60}
  trustedProxies: [10.0.0.0/8]
  audit: {enabled: true, path: ""}
access:
  anonymous: false
  claims: {groups: [engineering, platform], realm_access.roles: admin, level: 3}
`
	var got struct {
		Auth   Config `yaml:"auth"`
		Access Access `yaml:"access"`
	}
	d := yaml.NewDecoder(strings.NewReader(doc))
	d.KnownFields(true)
	if err := d.Decode(&got); err != nil {
		t.Fatal(err)
	}
	c := got.Auth
	if c.ResourceURL != "https://registry.example.com" || len(c.OIDC) != 1 || c.OIDC[0].JWKSTokenFile == "" ||
		c.OIDC[0].CAFile != "/etc/ssl/private-ca.pem" || c.OIDC[0].Audience != "mcpfed" || len(c.Tokens) != 1 ||
		c.Tokens[0].TokenFile != "/run/secrets/ci-bot" || c.RateLimit != (RateLimitConfig{600, 60}) ||
		len(c.TrustedProxies) != 1 || !c.Audit.Enabled {
		t.Fatalf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := got.Access.Validate(); err != nil {
		t.Fatal(err)
	}
	id := Identity{Kind: KindOIDC, Subject: "a", Claims: map[string]any{
		"groups": []any{"platform"}, "realm_access": map[string]any{"roles": []any{"admin"}}, "level": json.Number("3"),
	}}
	if d := Decide(got.Access, id); !d.Allowed() {
		t.Fatalf("Decide = %+v", d)
	}
}
