package publish

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/officialtest"
)

func decodeToken(t *testing.T, w *httptest.ResponseRecorder) TokenResponse {
	t.Helper()
	var keys map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &keys); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys["registry_token"] == nil || keys["expires_at"] == nil {
		t.Errorf("token answer %s: want exactly registry_token and expires_at", w.Body)
	}
	var tr TokenResponse
	if err := json.Unmarshal(w.Body.Bytes(), &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestExchangeNone(t *testing.T) {
	t.Parallel()
	off := newEnv(t, Config{})
	if w := off.do("POST", "/v0/auth/none", "", nil); w.Code != http.StatusNotFound {
		t.Fatalf("anonymous off: %d %s", w.Code, w.Body)
	}
	e := newEnv(t, Config{Anonymous: true, Publishers: []Publisher{{Namespaces: []string{"com.acme/*"}}}})
	w := e.do("POST", "/v0/auth/none", "", nil)
	if w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	tr := decodeToken(t, w)
	if tr.ExpiresAt != e.clock.Now().Add(TokenLifetime).Unix() {
		t.Errorf("expires_at %d, want now+5m", tr.ExpiresAt)
	}
	anon := "io.modelcontextprotocol.anonymous/test"
	if w := e.do("POST", "/v0/publish", tr.RegistryToken, serverJSON(anon, "1.0.0")); w.Code != http.StatusOK {
		t.Errorf("anonymous namespace: %d %s", w.Code, w.Body)
	}
	// The publishers rules do not widen an anonymous token.
	if w := e.do("POST", "/v0/publish", tr.RegistryToken, serverJSON(acme, "1.0.0")); w.Code != http.StatusForbidden {
		t.Errorf("outside the anonymous namespace: %d %s", w.Code, w.Body)
	}
	if w := e.do("PATCH", "/v0/servers/"+strings.ReplaceAll(anon, "/", "%2F")+"/status", tr.RegistryToken, []byte(`{"status":"deprecated"}`)); w.Code != http.StatusOK {
		t.Errorf("status in the anonymous namespace: %d %s", w.Code, w.Body)
	}
}

func TestExchangeGitHubOIDC(t *testing.T) {
	t.Parallel()
	gh := officialtest.StartActions(t, "acme", "servers")
	other := officialtest.StartActions(t, "acme", "servers")
	const aud = "https://mcp.example.com"
	ownerRule := Publisher{Claims: map[string]any{"repository_owner": "acme"}, Namespaces: []string{"io.github.acme/*"}}
	tests := []struct {
		name  string
		rules []Publisher
		token func() string
		body  string // instead of {"oidc_token": token}
		want  int
		// for 200: names the token may publish, and may not
		may, mayNot []string
	}{
		{name: "owner rule", rules: []Publisher{ownerRule}, token: func() string { return gh.Token(t, map[string]any{"aud": aud}) },
			want: 200, may: []string{"io.github.acme/weather", "io.github.acme/other"}, mayNot: []string{"io.github.evil/x", "com.acme/x"}},
		{name: "a wider rule gives the proven namespace only", rules: []Publisher{{Namespaces: []string{"io.github.*"}}},
			token: func() string { return gh.Token(t, map[string]any{"aud": aud}) },
			want:  200, may: []string{"io.github.acme/weather"}, mayNot: []string{"io.github.evil/x"}},
		{name: "a narrower rule narrows", rules: []Publisher{{Namespaces: []string{"io.github.acme/weather"}}},
			token: func() string { return gh.Token(t, map[string]any{"aud": aud}) },
			want:  200, may: []string{"io.github.acme/weather"}, mayNot: []string{"io.github.acme/other"}},
		{name: "a rule for other claims", rules: []Publisher{{Claims: map[string]any{"repository_owner": "globex"}, Namespaces: []string{"*"}}},
			token: func() string { return gh.Token(t, map[string]any{"aud": aud}) }, want: 403},
		{name: "no rules", token: func() string { return gh.Token(t, map[string]any{"aud": aud}) }, want: 403},
		{name: "wrong audience", rules: []Publisher{ownerRule}, token: func() string { return gh.Token(t, map[string]any{"aud": "https://registry.modelcontextprotocol.io"}) }, want: 401},
		{name: "expired", rules: []Publisher{ownerRule}, token: func() string {
			return gh.Token(t, map[string]any{"aud": aud, "exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix()})
		}, want: 401},
		{name: "another issuer", rules: []Publisher{ownerRule}, token: func() string { return other.Token(t, map[string]any{"aud": aud}) }, want: 401},
		{name: "forged: our issuer, another key", rules: []Publisher{ownerRule}, token: func() string { return other.Token(t, map[string]any{"aud": aud, "iss": gh.Issuer}) }, want: 401},
		{name: "no repository_owner", rules: []Publisher{{Namespaces: []string{"*"}}}, token: func() string { return gh.Token(t, map[string]any{"aud": aud, "repository_owner": nil}) }, want: 401},
		{name: "owner is not a GitHub name", rules: []Publisher{{Namespaces: []string{"*"}}}, token: func() string {
			return gh.Token(t, map[string]any{"aud": aud, "repository_owner": "acme/../evil"})
		}, want: 401},
		{name: "no oidc_token", rules: []Publisher{ownerRule}, body: `{"token":"x"}`, want: 422},
		{name: "not JSON", rules: []Publisher{ownerRule}, body: `oidc_token=x`, want: 400},
		{name: "garbage token", rules: []Publisher{ownerRule}, body: `{"oidc_token":"x.y.z"}`, want: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Config{Publishers: tt.rules, GitHubOIDC: GitHubOIDC{Issuer: gh.Issuer, Audience: aud}}, func(o *Options) { o.Clock = time.Now })
			body := tt.body
			if body == "" {
				body = string(mustJSON(map[string]string{"oidc_token": tt.token()}))
			}
			w := e.do("POST", "/v0/auth/github-oidc", "", []byte(body))
			if w.Code != tt.want {
				t.Fatalf("%d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want != 200 {
				problem(t, w)
				return
			}
			tr := decodeToken(t, w)
			for i, name := range slices.Concat(tt.may, tt.mayNot) {
				want := http.StatusOK
				if i >= len(tt.may) {
					want = http.StatusForbidden
				}
				if w := e.do("POST", "/v0.1/publish", tr.RegistryToken, serverJSON(name, "1.0.0")); w.Code != want {
					t.Errorf("publish %s: %d, want %d: %s", name, w.Code, want, w.Body)
				}
			}
		})
	}
}

func TestExchangeGitHubOIDCOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	w := e.do("POST", "/v0/auth/github-oidc", "", []byte(`{"oidc_token":"x"}`))
	if w.Code != http.StatusUnauthorized || !strings.Contains(problem(t, w)["detail"].(string), "githubOIDC") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestExchangeGitHubIssuerDown(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	e := newEnv(t, Config{GitHubOIDC: GitHubOIDC{Issuer: dead.URL, Audience: "x"}, Publishers: []Publisher{{Namespaces: []string{"*"}}}})
	for range 2 { // the second is answered from the remembered failure
		w := e.do("POST", "/v0/auth/github-oidc", "", []byte(`{"oidc_token":"a.b.c"}`))
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

type countingTransport struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestExchangeForgedTokensDoNotHammerTheIssuer: go-oidc fetches the key set
// again for every signature its cached keys do not verify; the exchange
// is open to anyone, so such fetches are limited.
func TestExchangeForgedTokensDoNotHammerTheIssuer(t *testing.T) {
	t.Parallel()
	gh := officialtest.StartActions(t, "acme", "servers")
	forger := officialtest.StartActions(t, "acme", "servers")
	const aud = "https://mcp.example.com"
	ct := &countingTransport{n: map[string]int{}}
	e := newEnv(t, Config{GitHubOIDC: GitHubOIDC{Issuer: gh.Issuer, Audience: aud}, Publishers: []Publisher{{Namespaces: []string{"*"}}}},
		func(o *Options) { o.Clock = time.Now; o.HTTPClient = &http.Client{Transport: ct} })
	for i := range 5 {
		// The first is refused on the fetched keys; the key set cannot be
		// fetched again for the others, which may be signed by a key the
		// issuer rotated in: the issuer is unavailable to them.
		want := http.StatusServiceUnavailable
		if i == 0 {
			want = http.StatusUnauthorized
		}
		forged := forger.Token(t, map[string]any{"aud": aud, "iss": gh.Issuer})
		if w := e.do("POST", "/v0/auth/github-oidc", "", mustJSON(map[string]string{"oidc_token": forged})); w.Code != want {
			t.Fatalf("forged %d: %d, want %d: %s", i, w.Code, want, w.Body)
		}
	}
	if w := e.do("POST", "/v0/auth/github-oidc", "", mustJSON(map[string]string{"oidc_token": gh.Token(t, map[string]any{"aud": aud})})); w.Code != http.StatusOK {
		t.Fatalf("genuine token after forged ones: %d %s", w.Code, w.Body)
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.n["/.well-known/jwks"] != 1 || ct.n["/.well-known/openid-configuration"] != 1 {
		t.Errorf("issuer requests %v, want one discovery and one key set", ct.n)
	}
}

// TestExchangeGitHubKeyRefetchLimited: a token whose key is not in the
// cached key set, when the key set was fetched less than oidcRefetch ago,
// may be signed by a key GitHub has just rotated in; it is answered 503
// with Retry-After, as for an unreachable issuer, not 401.
func TestExchangeGitHubKeyRefetchLimited(t *testing.T) {
	t.Parallel()
	gh := officialtest.StartActions(t, "acme", "servers")
	rotated := officialtest.StartActions(t, "acme", "servers") // a key gh does not serve (yet)
	const aud = "https://mcp.example.com"
	e := newEnv(t, Config{GitHubOIDC: GitHubOIDC{Issuer: gh.Issuer, Audience: aud}, Publishers: []Publisher{{Namespaces: []string{"*"}}}})
	exchange := func(tok string) *httptest.ResponseRecorder {
		return e.do("POST", "/v0/auth/github-oidc", "", mustJSON(map[string]string{"oidc_token": tok}))
	}
	if w := exchange(gh.Token(t, map[string]any{"aud": aud})); w.Code != http.StatusOK {
		t.Fatalf("genuine token: %d %s", w.Code, w.Body)
	}
	newKey := rotated.Token(t, map[string]any{"aud": aud, "iss": gh.Issuer})
	w := exchange(newKey)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("key set refetch refused: %d (Retry-After %q), want 503 with Retry-After: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	problem(t, w)
	e.mu.Lock()
	if ev := e.events[len(e.events)-1]; ev.Status != http.StatusServiceUnavailable {
		t.Errorf("audit %+v, want 503", ev)
	}
	e.mu.Unlock()
	// Once the key set may be fetched again, a key it does not hold is
	// a token that does not verify.
	e.clock.Add(oidcRefetch + time.Second)
	if w := exchange(newKey); w.Code != http.StatusUnauthorized {
		t.Fatalf("after the refetch interval: %d %s", w.Code, w.Body)
	}
}
