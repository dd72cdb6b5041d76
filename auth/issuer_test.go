package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// signingKey is a private key and the kid it publishes under.
type signingKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func (k signingKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// testKeys are generated once per test binary run (RSA generation is slow).
type testKeys struct {
	rsa, rsa2, ec, attacker signingKey
}

func genKeys(t testing.TB) testKeys {
	t.Helper()
	rsa1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsa2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	att, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKeys{
		rsa:      signingKey{"rsa-1", jose.RS256, rsa1},
		rsa2:     signingKey{"rsa-2", jose.RS256, rsa2},
		ec:       signingKey{"ec-1", jose.ES256, ec},
		attacker: signingKey{"rsa-1", jose.RS256, att}, // claims the real key's kid
	}
}

// testIssuer is an OIDC issuer on loopback: discovery and a JWKS whose
// keys the test changes (rotation), which can go down, and which can
// demand a bearer token (as a Kubernetes API server does).
type testIssuer struct {
	srv       *httptest.Server
	mu        sync.Mutex
	published []jose.JSONWebKey
	bearer    string
	authSeen  []string
	jwksURI   string // when set, the jwks_uri discovery announces

	down          atomic.Bool
	jwksHits      atomic.Int32
	discoveryHits atomic.Int32
}

func newTestIssuer(t *testing.T, keys ...signingKey) *testIssuer {
	t.Helper()
	ti := &testIssuer{}
	ti.setKeys(keys...)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		ti.discoveryHits.Add(1)
		if !ti.serve(w, r) {
			return
		}
		ti.mu.Lock()
		jwks := ti.jwksURI
		ti.mu.Unlock()
		if jwks == "" {
			jwks = ti.srv.URL + "/keys"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                ti.srv.URL,
			"jwks_uri":                              jwks,
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		ti.jwksHits.Add(1)
		if !ti.serve(w, r) {
			return
		}
		ti.mu.Lock()
		set := jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), ti.published...)}
		ti.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	})
	ti.srv = httptest.NewUnstartedServer(mux)
	// Handshakes refused by a client without the CA are expected.
	ti.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	ti.srv.StartTLS()
	t.Cleanup(ti.srv.Close)
	return ti
}

// serve answers 503 when down and 401 without the demanded bearer.
func (ti *testIssuer) serve(w http.ResponseWriter, r *http.Request) bool {
	ti.mu.Lock()
	ti.authSeen = append(ti.authSeen, r.Header.Get("Authorization"))
	bearer := ti.bearer
	ti.mu.Unlock()
	if ti.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return false
	}
	if bearer != "" && r.Header.Get("Authorization") != "Bearer "+bearer {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	}
	return true
}

func (ti *testIssuer) setKeys(keys ...signingKey) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.published = nil
	for _, k := range keys {
		ti.published = append(ti.published, k.public())
	}
}

// caFile writes the server's certificate as a PEM file.
func (ti *testIssuer) caFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ti.srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sign makes a JWT with claims, signed by k.
func sign(t testing.TB, k signingKey, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claimsAt are valid claims for iss/aud at now.
func claimsAt(iss, aud string, now time.Time) map[string]any {
	return map[string]any{
		"iss": iss, "aud": aud, "sub": "alice",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"groups":       []string{"engineering"},
		"realm_access": map[string]any{"roles": []string{"reader"}},
	}
}

func with(c map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func bearerRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/registry/internal/v0.1/servers", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return r
}

func newTestAuthenticator(t *testing.T, cfg Config, clock *fakeClock) *Authenticator {
	t.Helper()
	a, err := New(cfg, Options{Now: clock.Now, JWKSRefetchInterval: time.Minute, DiscoveryBackoff: time.Second, DiscoveryBackoffMax: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func authenticate(a *Authenticator, tok string) (Identity, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.Authenticate(ctx, bearerRequest(tok))
}
