package publish

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpfed/mcpfed/store"
)

const acme = "com.acme/weather"

// foreignToken signs a registry-shaped token with another key.
func foreignToken(t *testing.T, now time.Time, perms []Permission) string {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := newTokens(key, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tk.issue("test", "mallory", perms)
	if err != nil {
		t.Fatal(err)
	}
	return resp.RegistryToken
}

// tokenWith signs, with the handler's own key, a token whose registered
// claims are std.
func tokenWith(t *testing.T, e *env, std jwt.Claims, perms []Permission) string {
	t.Helper()
	raw, err := jwt.Signed(e.h.tokens.signer).Claims(std).Claims(registryClaims{"test", "x", perms}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestPublish(t *testing.T) {
	t.Parallel()
	acmePerms := []Permission{{ActionPublish, "com.acme/*"}}
	good := serverJSON(acme, "1.0.0")
	type tc struct {
		name     string
		token    func(e *env) string
		body     []byte
		setup    func(e *env)
		want     int
		detail   string // a substring of the problem's detail
		identify Identify
	}
	valid := func(e *env) string { return e.token(acmePerms...) }
	tests := []tc{
		{name: "published", token: valid, body: good, want: http.StatusOK},
		{name: "no token", token: func(*env) string { return "" }, body: good, want: http.StatusUnauthorized, detail: "missing Authorization"},
		{name: "garbage token", token: func(*env) string { return "not-a-jwt" }, body: good, want: http.StatusUnauthorized, detail: "Invalid or expired"},
		{name: "token of another key", token: func(e *env) string { return foreignToken(t, e.clock.Now(), acmePerms) }, body: good, want: http.StatusUnauthorized},
		{name: "expired token", token: func(e *env) string {
			tok := e.token(acmePerms...)
			e.clock.Add(TokenLifetime + time.Minute)
			return tok
		}, body: good, want: http.StatusUnauthorized},
		{name: "token without expiry", token: func(e *env) string {
			return tokenWith(t, e, jwt.Claims{Issuer: tokenIssuer, Audience: jwt.Audience{tokenAudience}}, acmePerms)
		}, body: good, want: http.StatusUnauthorized},
		{name: "token of another issuer", token: func(e *env) string {
			return tokenWith(t, e, jwt.Claims{Issuer: "someone", Audience: jwt.Audience{tokenAudience}, Expiry: jwt.NewNumericDate(e.clock.Now().Add(time.Minute))}, acmePerms)
		}, body: good, want: http.StatusUnauthorized},
		{name: "token for another audience", token: func(e *env) string {
			return tokenWith(t, e, jwt.Claims{Issuer: tokenIssuer, Audience: jwt.Audience{"other"}, Expiry: jwt.NewNumericDate(e.clock.Now().Add(time.Minute))}, acmePerms)
		}, body: good, want: http.StatusUnauthorized},
		{name: "HS256 with the public key", token: func(e *env) string {
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(e.h.tokens.key.Public().(ed25519.PublicKey))}, nil)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := jwt.Signed(s).Claims(jwt.Claims{Issuer: tokenIssuer, Audience: jwt.Audience{tokenAudience}, Expiry: jwt.NewNumericDate(e.clock.Now().Add(time.Minute))}).
				Claims(registryClaims{"x", "x", acmePerms}).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}, body: good, want: http.StatusUnauthorized},
		{name: "wrong namespace", token: valid, body: serverJSON("com.other/weather", "1.0.0"), want: http.StatusForbidden, detail: "You have permission to publish: com.acme/*"},
		{name: "edit permission only", token: func(e *env) string { return e.token(Permission{ActionEdit, "com.acme/*"}) }, body: good, want: http.StatusForbidden},
		{name: "schema-invalid: no description", token: valid, body: with(good, "description", nil), want: http.StatusUnprocessableEntity, detail: "description"},
		{name: "schema-invalid: name pattern", token: func(e *env) string { return e.token(Permission{ActionPublish, "*"}) }, body: serverJSON("com.acme/we ather", "1.0.0"), want: http.StatusUnprocessableEntity},
		{name: "no name", token: valid, body: with(good, "name", nil), want: http.StatusUnprocessableEntity},
		{name: "no $schema", token: valid, body: with(good, "$schema", nil), want: http.StatusUnprocessableEntity, detail: "$schema"},
		{name: "unknown $schema", token: valid, body: with(good, "$schema", "https://example.com/server.schema.json"), want: http.StatusUnprocessableEntity},
		{name: "version latest", token: valid, body: serverJSON(acme, "latest"), want: http.StatusUnprocessableEntity, detail: "reserved"},
		{name: "version range", token: valid, body: serverJSON(acme, "^1.2.3"), want: http.StatusUnprocessableEntity, detail: "range"},
		{name: "version wildcard", token: valid, body: serverJSON(acme, "1.x"), want: http.StatusUnprocessableEntity},
		{name: "publisher meta too large", token: valid, body: with(good, "_meta", map[string]any{
			"io.modelcontextprotocol.registry/publisher-provided": map[string]any{"blob": strings.Repeat("x", 5000)},
		}), want: http.StatusUnprocessableEntity, detail: "publisher-provided"},
		{name: "not JSON", token: valid, body: []byte(`{"name":`), want: http.StatusBadRequest},
		{name: "not an object", token: valid, body: []byte(`[1,2]`), want: http.StatusBadRequest},
		{name: "oversize", token: valid, body: with(good, "websiteUrl", "https://example.com/"+strings.Repeat("a", DefaultMaxBodyBytes)), want: http.StatusRequestEntityTooLarge},
		{name: "re-publish", token: valid, body: good, setup: func(e *env) {
			if w := e.do("POST", "/v0/publish", e.token(acmePerms...), good); w.Code != http.StatusOK {
				t.Fatalf("first publish: %d %s", w.Code, w.Body)
			}
		}, want: http.StatusBadRequest, detail: "duplicate version"},
		{name: "store unavailable", token: valid, body: good, setup: func(e *env) { e.st.setFail(fmt.Errorf("dial: %w", store.ErrUnavailable)) }, want: http.StatusServiceUnavailable},
		{name: "store error", token: valid, body: good, setup: func(e *env) { e.st.setFail(fmt.Errorf("disk on fire")) }, want: http.StatusInternalServerError},
		{name: "mcpfed token, admin", token: func(*env) string { return "org-token" }, body: serverJSON("org.anything/x", "1.0.0"), want: http.StatusOK,
			identify: func(*http.Request) (string, map[string]any, bool, bool) { return "root", nil, true, true }},
		{name: "mcpfed token, rule grants", token: func(*env) string { return "org-token" }, body: serverJSON("com.acme.team-a/x", "1.0.0"), want: http.StatusOK,
			identify: func(*http.Request) (string, map[string]any, bool, bool) {
				return "alice", map[string]any{"groups": []any{"team-a"}}, false, true
			}},
		{name: "mcpfed token, outside the rule", token: func(*env) string { return "org-token" }, body: serverJSON("com.acme.team-b/x", "1.0.0"), want: http.StatusForbidden,
			identify: func(*http.Request) (string, map[string]any, bool, bool) {
				return "alice", map[string]any{"groups": []any{"team-a"}}, false, true
			}},
		{name: "mcpfed token, no rule matches", token: func(*env) string { return "org-token" }, body: serverJSON("com.acme.team-a/x", "1.0.0"), want: http.StatusForbidden,
			detail: "do not have any publish permissions",
			identify: func(*http.Request) (string, map[string]any, bool, bool) {
				return "bob", map[string]any{"groups": []any{"sales"}}, false, true
			}},
		{name: "mcpfed token, not valid", token: func(*env) string { return "org-token" }, body: good, want: http.StatusUnauthorized,
			identify: func(*http.Request) (string, map[string]any, bool, bool) { return "", nil, false, false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Publishers: []Publisher{{Claims: map[string]any{"groups": "team-a"}, Namespaces: []string{"com.acme.team-a/*"}}}}
			e := newEnv(t, cfg, func(o *Options) { o.Identify = tt.identify })
			if tt.setup != nil {
				tt.setup(e)
			}
			before := e.st.writes()
			for _, prefix := range []string{"/v0.1", "/v0"} {
				if tt.want == http.StatusOK && prefix == "/v0" {
					continue // a second publish of the same version is another case
				}
				w := e.do("POST", prefix+"/publish", tt.token(e), tt.body)
				if w.Code != tt.want {
					t.Fatalf("%s: status %d, want %d: %s", prefix, w.Code, tt.want, w.Body)
				}
				if tt.want != http.StatusOK {
					p := problem(t, w)
					if d, _ := p["detail"].(string); !strings.Contains(d, tt.detail) {
						t.Errorf("detail %q does not mention %q", d, tt.detail)
					}
					if n := e.st.writes(); n != before {
						t.Errorf("%d writes on a refused publish", n-before)
					}
					continue
				}
				var resp struct {
					Server json.RawMessage `json:"server"`
					Meta   map[string]struct {
						Status      string    `json:"status"`
						IsLatest    bool      `json:"isLatest"`
						PublishedAt time.Time `json:"publishedAt"`
					} `json:"_meta"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
					t.Fatal(err)
				}
				off := resp.Meta["io.modelcontextprotocol.registry/official"]
				if off.Status != "active" || !off.IsLatest || !off.PublishedAt.Equal(e.clock.Now()) {
					t.Errorf("official meta %+v", off)
				}
				if e.st.writes() != before+1 {
					t.Errorf("writes %d, want 1", e.st.writes()-before)
				}
			}
		})
	}
}

// TestPublishKeepsTheDocument: the stored server.json is the published
// one, compacted, unknown fields included.
func TestPublishKeepsTheDocument(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	body := with(serverJSON(acme, "2.0.0"), "x-extra", map[string]any{"kept": true})
	pretty := append([]byte("  \n"), body...)
	w := e.do("POST", "/v0.1/publish", e.token(Permission{ActionPublish, "com.acme/*"}), pretty)
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	got, _ := e.st.Servers(t.Context())
	if len(got) != 1 || string(got[0].Server) != string(body) || got[0].Publisher != "test:tester" {
		t.Fatalf("stored %+v", got)
	}
	changes, _ := e.st.Changes(t.Context(), 0, 10)
	if len(changes) != 1 || changes[0].Who != "test:tester" || changes[0].Kind != store.ChangePublish {
		t.Errorf("history %+v", changes)
	}
	if len(e.events) == 0 || e.events[len(e.events)-1].Status != http.StatusOK || e.events[len(e.events)-1].Subject != "test:tester" {
		t.Errorf("audit %+v", e.events)
	}
}

func TestPublishAfterWrite(t *testing.T) {
	t.Parallel()
	var called atomic.Int32
	e := newEnv(t, Config{}, func(o *Options) { o.AfterWrite = func(context.Context) { called.Add(1) } })
	tok := e.token(Permission{ActionPublish, "com.acme/*"})
	for _, want := range []int{http.StatusOK, http.StatusBadRequest} {
		if w := e.do("POST", "/v0.1/publish", tok, serverJSON(acme, "1.0.0")); w.Code != want {
			t.Fatalf("%d, want %d: %s", w.Code, want, w.Body)
		}
	}
	if n := called.Load(); n != 1 {
		t.Errorf("AfterWrite ran %d times, want once (after the write, not after the refusal)", n)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	good := serverJSON(acme, "1.0.0")
	tests := []struct {
		name      string
		body      []byte
		want      int
		valid     bool
		path, ref string
	}{
		{name: "valid", body: good, want: http.StatusOK, valid: true},
		{name: "older schema: a warning", body: with(good, "$schema", "https://static.modelcontextprotocol.io/schemas/2025-10-17/server.schema.json"),
			want: http.StatusOK, valid: true, path: "schema", ref: refSchemaDeprecated},
		{name: "no $schema", body: with(good, "$schema", nil), want: http.StatusOK, path: "schema", ref: refSchemaRequired},
		{name: "package without transport", body: with(good, "packages", []any{map[string]any{"registryType": "npm", "identifier": "x"}}),
			want: http.StatusOK, path: "packages[0]"},
		{name: "wrong type", body: with(good, "title", 42), want: http.StatusOK, path: "title"},
		{name: "description too long", body: with(good, "description", strings.Repeat("d", 101)), want: http.StatusOK, path: "description"},
		{name: "bad namespace", body: serverJSON("-acme/x", "1.0.0"), want: http.StatusOK, path: "name"},
		{name: "not an object", body: []byte(`"x"`), want: http.StatusBadRequest},
		{name: "not JSON", body: []byte(`{`), want: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := e.do("POST", "/v0/validate", "", tt.body)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want != http.StatusOK {
				problem(t, w)
				return
			}
			var res ValidationResult
			if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
				t.Fatal(err)
			}
			if res.Valid != tt.valid {
				t.Errorf("valid %t, want %t: %+v", res.Valid, tt.valid, res.Issues)
			}
			if tt.path == "" {
				return
			}
			found := false
			for _, is := range res.Issues {
				if strings.HasPrefix(is.Path, tt.path) && (tt.ref == "" || is.Reference == tt.ref) {
					found = true
				}
			}
			if !found {
				t.Errorf("no issue at %s (reference %q): %+v", tt.path, tt.ref, res.Issues)
			}
		})
	}
	if e.st.writes() != 0 {
		t.Error("validate wrote")
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v0/publish", http.StatusMethodNotAllowed},
		{"PUT", "/v0.1/servers/a%2Fb/status", http.StatusMethodNotAllowed},
		{"POST", "/v0.1/elsewhere", http.StatusNotFound},
		{"POST", "/v2/publish", http.StatusNotFound},
		{"PATCH", "/v0.1/servers/a/b/c/d/e/status", http.StatusBadRequest},
	} {
		w := e.do(c.method, c.path, "", nil)
		if w.Code != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, w.Code, c.want)
		}
		problem(t, w)
	}
	if got := len(e.h.Patterns()); got != 10 {
		t.Errorf("%d patterns", got)
	}
}
