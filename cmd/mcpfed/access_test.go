package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpfed/mcpfed/federate"
)

// Static tokens of the access tests: each a file the gateway reads.
const (
	platformToken = "platform-token-0123456789abcdef"
	otherToken    = "other-token-0123456789abcdef"
	opsToken      = "ops-token-0123456789abcdef"
	adminFileTok  = "admin-file-token-0123456789abcdef"
)

// oidcIssuer is an OIDC issuer on loopback TLS: discovery and one RSA key.
type oidcIssuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
	ca  string
}

func newOIDCIssuer(t *testing.T) *oidcIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	oi := &oidcIssuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": oi.srv.URL, "jwks_uri": oi.srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: key.Public(), KeyID: "k1", Algorithm: string(jose.RS256), Use: "sig"}}})
	})
	oi.srv = httptest.NewUnstartedServer(mux)
	oi.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	oi.srv.StartTLS()
	t.Cleanup(oi.srv.Close)
	oi.ca = writeTestFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: oi.srv.Certificate().Raw})))
	return oi
}

// token is a JWT for audience mcpfed with extra claims, valid for an hour.
func (oi *oidcIssuer) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	c := map[string]any{"iss": oi.srv.URL, "aud": "mcpfed", "sub": "alice", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: oi.key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func writeTestFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// accessGateway is a gateway with an anonymous root, a private view
// (claims) and a private view any token may read, static tokens, one OIDC
// issuer, admin claims and an audit file; logs go to the returned buffer.
type accessGateway struct {
	g      *gateway
	issuer *oidcIssuer
	audit  string
	logs   *syncBuffer
}

func newAccessGateway(t *testing.T, rateLimit string) *accessGateway {
	t.Helper()
	oi := newOIDCIssuer(t)
	dir := t.TempDir()
	audit := filepath.Join(dir, "audit.log")
	authBlock := `{
	  "oidc": [{"name": "corp", "issuer": "` + oi.srv.URL + `", "audience": "mcpfed", "caFile": "` + oi.ca + `"}],
	  "tokens": [
	    {"name": "platform-bot", "tokenFile": "` + writeTestFile(t, "platform", platformToken+"\n") + `", "claims": {"groups": ["platform"]}},
	    {"name": "other-bot", "tokenFile": "` + writeTestFile(t, "other", otherToken+"\n") + `", "claims": {"groups": ["sales"]}},
	    {"name": "ops-bot", "tokenFile": "` + writeTestFile(t, "ops", opsToken+"\n") + `", "claims": {"groups": ["ops"]}}
	  ],
	  ` + rateLimit + `
	  "audit": {"enabled": true, "path": "` + audit + `"}
	}`
	env := vars(
		"MCPFED_SOURCES", `[{"name":"acme","kind":"file","path":"../../testdata/toolhive/data-registry.json"},
		  {"name":"seed","kind":"file","path":"../../testdata/catalog/official-seed.json"}]`,
		"MCPFED_AUTH", authBlock,
		"MCPFED_VIEWS", `[
		  {"name": "default", "sources": ["seed"]},
		  {"name": "internal", "sources": ["acme", "seed"], "access": {"claims": {"groups": ["platform", "engineering"]}}},
		  {"name": "members", "access": {"anonymous": false}}
		]`,
		"MCPFED_ADMIN_RESYNC", "true",
		"MCPFED_ADMIN_TOKEN_FILE", writeTestFile(t, "admin", adminFileTok+"\n"),
	)
	envMap := env()
	envMap["MCPFED_CONFIG"] = writeTestFile(t, "admin.yaml", "admin:\n  claims: {groups: [ops]}\n")
	cfg, err := loadConfig(func() map[string]string { return envMap }, flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	g, err := wire(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.loadAll(ctx)
	g.access.discover(ctx)
	return &accessGateway{g: g, issuer: oi, audit: audit, logs: logs}
}

func (ag *accessGateway) auditLines(t *testing.T) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(ag.audit)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestAccessControl: the decisions of the wired gateway, over HTTP.
func TestAccessControl(t *testing.T) {
	t.Parallel()
	ag := newAccessGateway(t, "")
	jwtPlatform := ag.issuer.token(t, map[string]any{"groups": []string{"engineering"}})
	jwtSales := ag.issuer.token(t, map[string]any{"groups": []string{"sales"}})
	jwtOtherAudience := ag.issuer.token(t, map[string]any{"aud": "someone-else", "groups": []string{"engineering"}})
	tampered := jwtSales[:strings.Index(jwtSales, ".")+1] + strings.Split(jwtPlatform, ".")[1] + jwtSales[strings.LastIndex(jwtSales, "."):]
	const internal, members, root = "/registry/internal/v0.1/servers", "/registry/members/v0.1/servers", "/v0.1/servers"
	tests := []struct {
		name, path, token string
		status            int
		challenge         string // in WWW-Authenticate
		private           bool
	}{
		{"anonymous root is public", root, "", 200, "", false},
		{"anonymous root on v0", "/v0/servers", "", 200, "", false},
		{"valid token on the root", root, platformToken, 200, "", false},
		{"invalid token on the anonymous root", root, "not-a-known-token", 401, `error="invalid_token"`, false},
		{"no token on a private view", internal, "", 401, `resource_metadata="http://example.com/.well-known/oauth-protected-resource/registry/internal"`, false},
		{"invalid token on a private view", internal, "nope-nope", 401, `error="invalid_token"`, false},
		{"static token without the claims", internal, otherToken, 403, "", false},
		{"static token with the claims", internal, platformToken, 200, "", true},
		{"JWT with the claims", internal, jwtPlatform, 200, "", true},
		{"JWT without the claims", internal, jwtSales, 403, "", false},
		{"JWT for another audience", internal, jwtOtherAudience, 401, `error="invalid_token"`, false},
		{"tampered JWT", internal, tampered, 401, `error="invalid_token"`, false},
		{"any token on a view without claims", members, jwtSales, 200, "", true},
		{"no token on a view without claims", members, "", 401, `realm="mcpfed"`, false},
		{"token in the query", internal + "?access_token=" + platformToken, "", 401, `error="invalid_token"`, false},
		{"token in the query on the root", root + "?access_token=" + platformToken, "", 401, `error="invalid_token"`, false},
		{"health of a private view", "/registry/internal/v0.1/health", "", 401, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := request(t, ag.g, http.MethodGet, tc.path, tc.token)
			if rec.Code != tc.status {
				t.Fatalf("%s: %d, want %d: %s", tc.path, rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); !strings.Contains(got, tc.challenge) || (tc.status == 401) != (got != "") {
				t.Errorf("WWW-Authenticate %q, want it to contain %q", got, tc.challenge)
			}
			if tc.status >= 400 {
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q", ct)
				}
				if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
					t.Errorf("a refusal is cacheable: %q", cc)
				}
				return
			}
			cc, vary := rec.Header().Get("Cache-Control"), strings.Join(rec.Header().Values("Vary"), ", ")
			if tc.private != strings.HasPrefix(cc, "private") || tc.private != strings.Contains(vary, "Authorization") {
				t.Errorf("private=%v but Cache-Control %q, Vary %q", tc.private, cc, vary)
			}
			if !tc.private && !strings.HasPrefix(cc, "public") {
				t.Errorf("an anonymous view's answer is not public: %q", cc)
			}
		})
	}
}

// TestPrivateAnswersAreNeverServedFromTheCacheWithoutAToken: a request
// with a token fills the response cache; the same request without one is
// still refused.
func TestPrivateAnswersAreNeverServedFromTheCacheWithoutAToken(t *testing.T) {
	t.Parallel()
	ag := newAccessGateway(t, "")
	for _, path := range []string{"/registry/internal/v0.1/servers", "/registry/internal/v0.1/servers?limit=1"} {
		if rec := request(t, ag.g, http.MethodGet, path, platformToken); rec.Code != 200 {
			t.Fatalf("with a token: %d %s", rec.Code, rec.Body)
		}
		if rec := request(t, ag.g, http.MethodGet, path, ""); rec.Code != 401 || strings.Contains(rec.Body.String(), `"servers"`) {
			t.Fatalf("without a token after a cached answer: %d %s", rec.Code, rec.Body)
		}
		if rec := request(t, ag.g, http.MethodGet, path, otherToken); rec.Code != 403 {
			t.Fatalf("with a token lacking the claims after a cached answer: %d", rec.Code)
		}
	}
	// The view's answer is not the root's: the root does not have acme.
	a := request(t, ag.g, http.MethodGet, "/registry/internal/v0.1/servers", platformToken).Body.String()
	b := request(t, ag.g, http.MethodGet, "/v0.1/servers", platformToken).Body.String()
	if a == b {
		t.Error("the private view and the root answer the same")
	}
}

// TestProtectedResourceMetadata: RFC 9728 documents for the root and each
// view; unknown views are 404.
func TestProtectedResourceMetadata(t *testing.T) {
	t.Parallel()
	ag := newAccessGateway(t, "")
	tests := []struct {
		path     string
		status   int
		resource string
	}{
		{"/.well-known/oauth-protected-resource", 200, "http://example.com"},
		{"/.well-known/oauth-protected-resource/registry/internal", 200, "http://example.com/registry/internal"},
		{"/.well-known/oauth-protected-resource/registry/members", 200, "http://example.com/registry/members"},
		{"/.well-known/oauth-protected-resource/registry/nope", 404, ""},
		{"/.well-known/oauth-protected-resource/registry/", 404, ""},
		{"/.well-known/oauth-protected-resource/other", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			rec := request(t, ag.g, http.MethodGet, tc.path, "")
			if rec.Code != tc.status {
				t.Fatalf("%d, want %d", rec.Code, tc.status)
			}
			if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
				t.Error("no CORS")
			}
			if tc.status != 200 {
				return
			}
			var doc struct {
				Resource             string   `json:"resource"`
				AuthorizationServers []string `json:"authorization_servers"`
				BearerMethods        []string `json:"bearer_methods_supported"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Resource != tc.resource || len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != ag.issuer.srv.URL ||
				len(doc.BearerMethods) != 1 || doc.BearerMethods[0] != "header" {
				t.Errorf("document %+v", doc)
			}
		})
	}
	// The challenge points where the document is served.
	rec := request(t, ag.g, http.MethodGet, "/registry/internal/v0.1/servers", "")
	if !strings.Contains(rec.Header().Get("WWW-Authenticate"), `resource_metadata="http://example.com/.well-known/oauth-protected-resource/registry/internal"`) {
		t.Errorf("challenge %q", rec.Header().Get("WWW-Authenticate"))
	}
}

// TestRateLimit: over the per-client limit, 429 with Retry-After, per
// client (another token still passes), audited.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	ag := newAccessGateway(t, `"rateLimit": {"perMinute": 1, "burst": 2},`)
	for i := range 2 {
		if rec := request(t, ag.g, http.MethodGet, "/registry/internal/v0.1/servers", platformToken); rec.Code != 200 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	rec := request(t, ag.g, http.MethodGet, "/registry/internal/v0.1/servers", platformToken)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("over the limit: %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := request(t, ag.g, http.MethodGet, "/registry/members/v0.1/servers", ag.issuer.token(t, nil)); rec.Code != 200 {
		t.Errorf("another client is limited too: %d", rec.Code)
	}
	lines := ag.auditLines(t)
	last := lines[len(lines)-2]
	if last["decision"] != "rate_limited" || last["status"] != float64(429) || last["subject"] != "platform-bot" {
		t.Errorf("audit of the refusal: %v", last)
	}
	m := scrape(t, ag.g)
	if !strings.Contains(m, `mcpfed_auth_decisions_total{result="rate_limited",view="internal"} 1`) ||
		!strings.Contains(m, `mcpfed_auth_decisions_total{result="allow",view="internal"} 2`) {
		t.Errorf("decision metrics:\n%s", grepLines(m, "mcpfed_auth_decisions_total"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAuditAndNoTokenInLogs: one audit line per request to a protected
// view, per denial and per admin request, with its fields; no token value
// appears in any audit or log line.
func TestAuditAndNoTokenInLogs(t *testing.T) {
	t.Parallel()
	ag := newAccessGateway(t, "")
	jwtOK := ag.issuer.token(t, map[string]any{"groups": []string{"platform"}, "sub": "bob"})
	steps := []struct {
		method, path, token string
		status              int
		decision, subject   string
	}{
		{"GET", "/v0.1/servers", "", 200, "", ""}, // public and allowed: no line
		{"GET", "/registry/internal/v0.1/servers", jwtOK, 200, "allow", "bob"},
		{"GET", "/registry/internal/v0.1/servers", "", 401, "unauthenticated", ""},
		{"GET", "/v0.1/servers", "bogus-token-value", 401, "invalid_token", ""},
		{"GET", "/registry/internal/v0.1/servers", otherToken, 403, "forbidden", "other-bot"},
		{"POST", "/v0.1" + federate.ExtensionPath + "/sources/acme/resync", platformToken, 401, "unauthenticated", "platform-bot"},
		{"POST", "/v0.1" + federate.ExtensionPath + "/sources/acme/resync", opsToken, 200, "allow", "ops-bot"},
		{"POST", "/v0.1" + federate.ExtensionPath + "/sources/seed/resync", adminFileTok, 200, "allow", ""},
	}
	for _, s := range steps {
		rec := request(t, ag.g, s.method, s.path, s.token)
		if rec.Code != s.status {
			t.Fatalf("%s %s: %d, want %d: %s", s.method, s.path, rec.Code, s.status, rec.Body)
		}
	}
	lines := ag.auditLines(t)
	var want []int
	for i, s := range steps {
		if s.decision != "" {
			want = append(want, i)
		}
	}
	if len(lines) != len(want) {
		t.Fatalf("%d audit lines, want %d: %v", len(lines), len(want), lines)
	}
	for j, i := range want {
		s, l := steps[i], lines[j]
		if l["decision"] != s.decision || l["status"] != float64(s.status) || l["subject"] != s.subject || l["method"] != s.method {
			t.Errorf("line %d for %s %s: %v", j, s.method, s.path, l)
		}
		for _, k := range []string{"time", "request_id", "view", "route", "client"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %d has no %s: %v", j, k, l)
			}
		}
	}
	if lines[0]["issuer"] != ag.issuer.srv.URL || lines[0]["view"] != "internal" {
		t.Errorf("issuer or view of a JWT's line: %v", lines[0])
	}
	raw, err := os.ReadFile(ag.audit)
	if err != nil {
		t.Fatal(err)
	}
	all := string(raw) + ag.logs.String()
	for _, tok := range []string{jwtOK, otherToken, platformToken, opsToken, adminFileTok, "bogus-token-value"} {
		if strings.Contains(all, tok) {
			t.Errorf("a token appears in the audit or the log")
		}
		// Nor any large part of a JWT (its signature).
		if i := strings.LastIndex(tok, "."); i > 0 && strings.Contains(all, tok[i+1:]) {
			t.Errorf("a JWT signature appears in the audit or the log")
		}
	}
}

// TestWithoutAuthNothingChanges: without auth:, an Authorization header
// on the registry API is not looked at (clients that send one keep
// working), answers stay public, and the RFC 9728 document names no
// authorization server.
func TestWithoutAuthNothingChanges(t *testing.T) {
	t.Parallel()
	g, _ := adminGateway(t)
	for _, tok := range []string{"", "anything-at-all"} {
		rec := request(t, g, http.MethodGet, "/v0.1/servers", tok)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Cache-Control"), "public") || rec.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("token %q: %d %q", tok, rec.Code, rec.Header().Get("Cache-Control"))
		}
	}
	rec := request(t, g, http.MethodGet, "/.well-known/oauth-protected-resource", "")
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "authorization_servers") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}
