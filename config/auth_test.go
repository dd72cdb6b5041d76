package config

import (
	"errors"
	"strings"
	"testing"
)

const twoSources = `[{"name":"a","kind":"file","path":"/a.json"},{"name":"b","kind":"file","path":"/b.json"}]`

// TestAccessMessages: problems of auth:, views[].sources, views[].access
// and admin.claims are placed where the operator wrote them.
func TestAccessMessages(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "auth.yaml", `sources:
  - {name: a, kind: file, path: /a.json}
auth:
  oidc:
    - name: corp
      issuer: http://idp.example.com
  rateLimit: {burst: 5}
views:
  - name: internal
    sources: [a, x, a]
    access: {anonymous: true, claims: {groups: [eng]}}
  - name: empty
    sources: []
admin:
  claims: {"roles..x": admin}
`)
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"file", env(EnvConfig, file), []string{
			file + `:6: auth.oidc[0].issuer: "http://idp.example.com" must be an https URL`,
			file + `:5: auth.oidc[0].audience: required`,
			file + `:7: auth.rateLimit.burst: needs rateLimit.perMinute`,
			file + `:10: views[0].sources[1]: no source named "x"`,
			file + `:10: views[0].sources[2]: "a" is listed twice`,
			file + `:11: views[0].access.claims: does not apply when access.anonymous is true`,
			file + `:13: views[1].sources: an empty list selects nothing`,
			file + `:15: admin.claims: "roles..x" has an empty segment`,
		}},
		{"views variable with lines", env(EnvSources, twoSources, EnvViews, "- name: internal\n  sources: [b, c]\n  access: {claims: {g: x}}\n"), []string{
			`MCPFED_VIEWS:2: views[0].sources[1]: no source named "c"`,
			`MCPFED_VIEWS:3: views[0].access: needs a token, but auth: configures no issuer`,
		}},
		{"views variable JSON", env(EnvSources, twoSources, EnvViews, `[{"name":"i","sources":["b","z"]}]`), []string{
			`MCPFED_VIEWS:1: views[0].sources[1]: no source named "z"`,
		}},
		{"auth variable", env(EnvAuth, "tokens:\n  - name: Bot\n    tokenFile: \"\"\n"), []string{
			`MCPFED_AUTH:2: auth.tokens[0].name: "Bot" must be a slug`,
			`MCPFED_AUTH:3: auth.tokens[0].tokenFile: required`,
		}},
		{"auth not a mapping", env(EnvAuth, "[1]"), []string{`MCPFED_AUTH:1: auth: expects fields`}},
		{"single issuer without audience", env(EnvAuthOIDCIssuer, "https://idp.example.com"), []string{`MCPFED_AUTH_OIDC_ISSUER: auth.oidc[0].audience: required`}},
		{"single issuer bad URL", env(EnvAuthOIDCIssuer, "ftp://idp", EnvAuthOIDCAudience, "mcpfed"), []string{`MCPFED_AUTH_OIDC_ISSUER: "ftp://idp" must be an https URL`}},
		{"misspelt auth variable", env("MCPFED_AUTH_OIDC_ISUER", "https://idp"), []string{`MCPFED_AUTH_OIDC_ISUER: is not a variable mcpfed reads; did you mean MCPFED_AUTH_OIDC_ISSUER?`}},
		{"admin claims without auth", env(EnvConfig, writeFile(t, "adm.yaml", "admin:\n  claims: {groups: [ops]}\n")), []string{`adm.yaml:2: admin.claims: needs auth.oidc or auth.tokens`}},
		{"claim value not scalar", env(EnvSources, twoSources, EnvAuthOIDCIssuer, "https://idp.example.com", EnvAuthOIDCAudience, "m",
			EnvViews, `[{"name":"i","access":{"claims":{"groups":{"x":1}}}}]`), []string{`MCPFED_VIEWS:1: views[0].access.claims.groups: must be a string, number, boolean or a list of them`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tc.env, Flags{})
			if err == nil {
				t.Fatal("accepted")
			}
			got := strings.Join(Errors(err), "\n")
			for _, want := range tc.want {
				if !strings.Contains(got, want) {
					t.Errorf("no problem says\n  %s\ngot:\n%s", want, got)
				}
			}
			for _, e := range flatten(err) {
				var p *Problem
				if !errors.As(e, &p) {
					t.Errorf("not a *Problem: %v", e)
				}
			}
		})
	}
}

// TestAccessConfig: what is accepted, and what it means.
func TestAccessConfig(t *testing.T) {
	t.Parallel()
	tok := writeFile(t, "tok", "secret-token-value\n")
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{"no views: root is every source, anonymous", env(EnvSources, twoSources), func(t *testing.T, c Config) {
			r := c.RootView()
			if r.Sources != nil || !r.Access.Anonymous || r.Private() {
				t.Errorf("root %+v", r)
			}
		}},
		{"default view without access stays anonymous", env(EnvSources, twoSources, EnvViews, `[{"name":"default","sources":["b"]},{"name":"old"}]`), func(t *testing.T, c Config) {
			r := c.RootView()
			if len(r.Sources) != 1 || r.Sources[0] != "b" || !r.Access.Anonymous {
				t.Errorf("root %+v", r)
			}
			if !c.Views[1].Access.Anonymous {
				t.Errorf("a view without access is no longer anonymous: %+v", c.Views[1])
			}
		}},
		{"private view with claims", env(EnvSources, twoSources,
			EnvAuth, `{"tokens":[{"name":"ci","tokenFile":"`+tok+`","claims":{"groups":["platform"],"level":3}}]}`,
			EnvViews, "- name: internal\n  sources: [b, a]\n  access:\n    claims: {groups: [platform, eng], level: 3}\n"), func(t *testing.T, c Config) {
			v := c.Views[0]
			if !v.Private() || v.Sources[0] != "b" || v.Access.Claims["level"] != 3 {
				t.Errorf("view %+v", v)
			}
			if g, ok := c.Auth.Tokens[0].Claims["groups"].([]any); !ok || g[0] != "platform" {
				t.Errorf("token claims %#v", c.Auth.Tokens[0].Claims)
			}
		}},
		{"single issuer variables add the default issuer", env(EnvAuth, `{"oidc":[{"name":"corp","issuer":"https://a.example.com","audience":"x"}]}`,
			EnvAuthOIDCIssuer, " https://b.example.com ", EnvAuthOIDCAudience, "mcpfed", EnvAuthOIDCCAFile, "/ca.pem", EnvAuthOIDCJWKSTokenFile, "/tok"), func(t *testing.T, c Config) {
			if len(c.Auth.OIDC) != 2 || c.Auth.OIDC[1].Name != DefaultIssuer || c.Auth.OIDC[1].Issuer != "https://b.example.com" ||
				c.Auth.OIDC[1].CAFile != "/ca.pem" || c.Auth.OIDC[1].JWKSTokenFile != "/tok" || c.Auth.OIDC[1].Audience != "mcpfed" {
				t.Errorf("oidc %+v", c.Auth.OIDC)
			}
		}},
		{"single issuer variables override the default issuer", env(EnvAuth, `{"oidc":[{"name":"default","issuer":"https://a.example.com","audience":"x"}]}`,
			EnvAuthOIDCAudience, "mcpfed"), func(t *testing.T, c Config) {
			if len(c.Auth.OIDC) != 1 || c.Auth.OIDC[0].Issuer != "https://a.example.com" || c.Auth.OIDC[0].Audience != "mcpfed" {
				t.Errorf("oidc %+v", c.Auth.OIDC)
			}
		}},
		{"admin claims", env(EnvAuthOIDCIssuer, "https://b.example.com", EnvAuthOIDCAudience, "mcpfed", EnvConfig, writeFile(t, "a.yaml", "admin:\n  claims: {realm_access.roles: [mcpfed-admin]}\n")), func(t *testing.T, c Config) {
			if l, ok := c.Admin.Claims["realm_access.roles"].([]any); !ok || l[0] != "mcpfed-admin" {
				t.Errorf("admin claims %#v", c.Admin.Claims)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tc.env, Flags{})
			if err != nil {
				t.Fatal(strings.Join(Errors(err), "\n"))
			}
			tc.check(t, c)
		})
	}
}
