package auth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestAuthenticateTokens(t *testing.T) {
	t.Parallel()
	keys := genKeys(t)
	ti := newTestIssuer(t, keys.rsa, keys.ec)
	clock := newClock()
	now := clock.Now()
	iss := ti.srv.URL
	a := newTestAuthenticator(t, Config{OIDC: []OIDCConfig{{Name: "corp", Issuer: iss, Audience: "mcpfed", CAFile: ti.caFile(t)}}}, clock)
	good := claimsAt(iss, "mcpfed", now)
	valid := sign(t, keys.rsa, good)
	parts := strings.Split(valid, ".")

	pubDER, err := x509.MarshalPKIXPublicKey(keys.rsa.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: pubPEM, KeyID: "rsa-1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	confused, err := jwt.Signed(hs).Claims(good).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	tampered := parts[0] + "." + b64(`{"iss":"`+iss+`","aud":"mcpfed","sub":"root","exp":`+
		jsonInt(now.Add(time.Hour).Unix())+`,"groups":["admin"]}`) + "." + parts[2]

	tests := []struct {
		name    string
		token   string
		header  string // instead of token
		query   string
		wantErr error
		wantSub string
	}{
		{name: "valid RSA", token: valid, wantSub: "alice"},
		{name: "valid EC", token: sign(t, keys.ec, good), wantSub: "alice"},
		{name: "audience among several", token: sign(t, keys.rsa, with(good, "aud", []string{"other", "mcpfed"})), wantSub: "alice"},
		{name: "expired", token: sign(t, keys.rsa, with(good, "exp", now.Add(-time.Minute).Unix())), wantErr: ErrExpired},
		{name: "expired within leeway", token: sign(t, keys.rsa, with(good, "exp", now.Add(-10*time.Second).Unix())), wantSub: "alice"},
		{name: "no exp", token: sign(t, keys.rsa, with(good, "exp", nil)), wantErr: ErrExpired},
		{name: "not yet valid", token: sign(t, keys.rsa, with(good, "nbf", now.Add(2*time.Minute).Unix())), wantErr: ErrNotYetValid},
		{name: "nbf within leeway", token: sign(t, keys.rsa, with(good, "nbf", now.Add(10*time.Second).Unix())), wantSub: "alice"},
		{name: "iat in the future", token: sign(t, keys.rsa, with(good, "iat", now.Add(2*time.Minute).Unix())), wantErr: ErrIssuedInFuture},
		{name: "iat not a number", token: sign(t, keys.rsa, with(good, "iat", "soon")), wantErr: ErrInvalidToken},
		{name: "wrong issuer", token: sign(t, keys.rsa, with(good, "iss", "https://evil.example")), wantErr: ErrUnknownIssuer},
		{name: "no issuer", token: sign(t, keys.rsa, with(good, "iss", nil)), wantErr: ErrUnknownIssuer},
		{name: "wrong audience", token: sign(t, keys.rsa, with(good, "aud", "other")), wantErr: ErrAudience},
		{name: "no subject", token: sign(t, keys.rsa, with(good, "sub", nil)), wantErr: ErrMissingSubject},
		{name: "forged with another key under a known kid", token: sign(t, keys.attacker, good), wantErr: ErrSignature},
		{name: "alg none", token: b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", wantErr: ErrMalformedToken},
		{name: "HS256 signed with the RSA public key", token: confused, wantErr: ErrMalformedToken},
		{name: "tampered payload", token: tampered, wantErr: ErrSignature},
		{name: "malformed base64", token: parts[0] + ".pay+load/." + parts[2], wantErr: ErrMalformedToken},
		{name: "two segments", token: parts[0] + "." + parts[1], wantErr: ErrUnknownToken},
		{name: "nbf far in the future does not wrap", token: sign(t, keys.rsa, with(good, "nbf", 1e300)), wantErr: ErrNotYetValid},
		{name: "iat far in the future does not wrap", token: sign(t, keys.rsa, with(good, "iat", 1e19)), wantErr: ErrIssuedInFuture},
		{name: "over 8 KiB", token: strings.Repeat("a", MaxTokenBytes+1), wantErr: ErrTokenTooLarge},
		{name: "at 8 KiB, not a token", token: strings.Repeat("a", MaxTokenBytes), wantErr: ErrUnknownToken},
		{name: "token in the query string", query: "access_token=" + valid, wantErr: ErrTokenInQuery},
		{name: "token in the query string with a valid header", token: valid, query: "access_token=" + valid, wantErr: ErrTokenInQuery},
		{name: "basic scheme", header: "Basic YWxpY2U6cHc=", wantErr: ErrMalformedHeader},
		{name: "bearer without token", header: "Bearer ", wantErr: ErrMalformedHeader},
		{name: "scheme only", header: "Bearer", wantErr: ErrMalformedHeader},
		{name: "lower-case scheme", header: "bearer " + valid, wantSub: "alice"},
		{name: "no header: anonymous"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/v0.1/servers?"+tc.query, nil)
			switch {
			case tc.header != "":
				r.Header.Set("Authorization", tc.header)
			case tc.token != "":
				r.Header.Set("Authorization", "Bearer "+tc.token)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			id, err := a.Authenticate(ctx, r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("err = %v, want %v (and ErrInvalidToken)", err, tc.wantErr)
				}
				if tc.token != "" && len(tc.token) > 20 && strings.Contains(err.Error(), tc.token[len(tc.token)-20:]) {
					t.Errorf("error %q contains the token", err)
				}
				if id.Kind != KindAnonymous || id.Subject != "" {
					t.Errorf("identity %+v returned with an error", id)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if tc.wantSub == "" {
				if !id.Anonymous() {
					t.Fatalf("identity %+v, want anonymous", id)
				}
				return
			}
			if id.Kind != KindOIDC || id.Subject != tc.wantSub || id.Issuer != iss || id.Provider != "corp" {
				t.Fatalf("identity %+v", id)
			}
			if !MatchClaim(id.Claims, "realm_access.roles", "reader") || !MatchClaim(id.Claims, "groups", "engineering") {
				t.Errorf("claims %v", id.Claims)
			}
		})
	}
}

func jsonInt(n int64) string { return strconv.FormatInt(n, 10) }

func TestUnknownKidRotationRefetchesAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	keys := genKeys(t)
	ti := newTestIssuer(t, keys.rsa)
	clock := newClock()
	a := newTestAuthenticator(t, Config{OIDC: []OIDCConfig{{Name: "corp", Issuer: ti.srv.URL, Audience: "mcpfed", CAFile: ti.caFile(t)}}}, clock)
	claims := claimsAt(ti.srv.URL, "mcpfed", clock.Now())
	if _, err := authenticate(a, sign(t, keys.rsa, claims)); err != nil {
		t.Fatal(err)
	}
	if n := ti.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times for the first token, want 1", n)
	}
	rotated := sign(t, keys.rsa2, claims)
	// Unknown kid, many times within the interval: at most one refetch.
	for range 20 {
		if _, err := authenticate(a, rotated); !errors.Is(err, ErrSignature) {
			t.Fatalf("unknown kid: err = %v, want ErrSignature", err)
		}
	}
	if n := ti.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times within one interval, want 1 (refetch is rate limited)", n)
	}
	// The issuer rotates; after the interval, one refetch makes it valid.
	ti.setKeys(keys.rsa, keys.rsa2)
	clock.Add(time.Minute + time.Second)
	// go-oidc reports a fetch's result a moment before it forgets the
	// fetch, so the call right after a refused refetch may still see its
	// result: retry briefly (bounded).
	var id Identity
	var err error
	for range 100 {
		if id, err = authenticate(a, rotated); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("rotated key after the interval: %v", err)
	}
	if id.Subject != "alice" {
		t.Errorf("subject %q", id.Subject)
	}
	if n := ti.jwksHits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", n)
	}
	// Both keys verify from the cache; garbage kids do not refetch again.
	unknown := signingKey{"nope", keys.rsa.alg, keys.rsa.priv}
	for _, tok := range []string{sign(t, keys.rsa, claims), rotated, sign(t, unknown, claims), sign(t, unknown, claims)} {
		_, _ = authenticate(a, tok)
	}
	if _, err := authenticate(a, sign(t, keys.rsa, claims)); err != nil {
		t.Fatal(err)
	}
	if n := ti.jwksHits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want still 2", n)
	}
}

func TestIssuerDownAfterStart(t *testing.T) {
	t.Parallel()
	keys := genKeys(t)
	ti := newTestIssuer(t, keys.rsa, keys.ec)
	clock := newClock()
	a := newTestAuthenticator(t, Config{OIDC: []OIDCConfig{{Name: "corp", Issuer: ti.srv.URL, Audience: "mcpfed", CAFile: ti.caFile(t)}}}, clock)
	claims := claimsAt(ti.srv.URL, "mcpfed", clock.Now())
	if _, err := authenticate(a, sign(t, keys.rsa, claims)); err != nil {
		t.Fatal(err)
	}
	ti.down.Store(true)
	clock.Add(5 * time.Minute)
	claims = claimsAt(ti.srv.URL, "mcpfed", clock.Now())
	for _, k := range []signingKey{keys.rsa, keys.ec} {
		if _, err := authenticate(a, sign(t, k, claims)); err != nil {
			t.Fatalf("cached key %s while the issuer is down: %v", k.kid, err)
		}
	}
	if _, err := authenticate(a, sign(t, keys.rsa2, claims)); !errors.Is(err, ErrSignature) {
		t.Fatalf("unknown kid while down: err = %v, want ErrSignature", err)
	}
}

func TestIssuerDownAtStart(t *testing.T) {
	t.Parallel()
	keys := genKeys(t)
	ti := newTestIssuer(t, keys.rsa)
	ti.down.Store(true)
	clock := newClock()
	a := newTestAuthenticator(t, Config{OIDC: []OIDCConfig{{Name: "corp", Issuer: ti.srv.URL, Audience: "mcpfed", CAFile: ti.caFile(t)}}}, clock)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Discover(ctx); !errors.Is(err, ErrIssuerNotReady) {
		t.Fatalf("Discover = %v, want ErrIssuerNotReady", err)
	}
	tok := sign(t, keys.rsa, claimsAt(ti.srv.URL, "mcpfed", clock.Now().Add(10*time.Second)))
	// Within the backoff, no new discovery request is sent.
	for range 5 {
		if _, err := authenticate(a, tok); !errors.Is(err, ErrIssuerNotReady) || !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("err = %v, want ErrIssuerNotReady", err)
		}
	}
	if n := ti.discoveryHits.Load(); n != 1 {
		t.Fatalf("discovery requested %d times within the backoff, want 1", n)
	}
	clock.Add(time.Second)
	if _, err := authenticate(a, tok); !errors.Is(err, ErrIssuerNotReady) {
		t.Fatalf("err = %v, want ErrIssuerNotReady", err)
	}
	if n := ti.discoveryHits.Load(); n != 2 {
		t.Fatalf("discovery requested %d times, want 2", n)
	}
	// The backoff doubled: 1s later is too early, 2s later is not.
	ti.down.Store(false)
	clock.Add(time.Second)
	if _, err := authenticate(a, tok); !errors.Is(err, ErrIssuerNotReady) {
		t.Fatalf("err = %v, want ErrIssuerNotReady within the doubled backoff", err)
	}
	clock.Add(time.Second)
	if _, err := authenticate(a, tok); err != nil {
		t.Fatalf("after the issuer came up: %v", err)
	}
	if got := a.Issuers(); len(got) != 1 || got[0] != ti.srv.URL {
		t.Errorf("Issuers = %v", got)
	}
}

func TestIssuerTLSAndJWKSToken(t *testing.T) {
	t.Parallel()
	keys := genKeys(t)
	dir := t.TempDir()
	saToken := filepath.Join(dir, "token")
	if err := os.WriteFile(saToken, []byte("sa-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		ca        bool
		tokenFile string
		bearer    string
		wantErr   error
	}{
		{name: "CA and service-account token", ca: true, tokenFile: saToken, bearer: "sa-secret"},
		{name: "no CA: the issuer's certificate is not trusted", tokenFile: saToken, bearer: "sa-secret", wantErr: ErrIssuerNotReady},
		{name: "issuer demands a token none is configured", ca: true, bearer: "sa-secret", wantErr: ErrIssuerNotReady},
		{name: "token file missing", ca: true, tokenFile: filepath.Join(dir, "missing"), bearer: "sa-secret", wantErr: ErrIssuerNotReady},
		{name: "no token needed none sent", ca: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ti := newTestIssuer(t, keys.rsa)
			ti.bearer = tc.bearer
			clock := newClock()
			cfg := OIDCConfig{Name: "cluster", Issuer: ti.srv.URL, Audience: "mcpfed", JWKSTokenFile: tc.tokenFile}
			if tc.ca {
				cfg.CAFile = ti.caFile(t)
			}
			a := newTestAuthenticator(t, Config{OIDC: []OIDCConfig{cfg}}, clock)
			_, err := authenticate(a, sign(t, keys.rsa, claimsAt(ti.srv.URL, "mcpfed", clock.Now())))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ti.mu.Lock()
			defer ti.mu.Unlock()
			for _, h := range ti.authSeen {
				want := ""
				if tc.tokenFile != "" {
					want = "Bearer sa-secret"
				}
				if h != want {
					t.Errorf("issuer saw Authorization %q, want %q", h, want)
				}
			}
		})
	}
}

func TestIssuerTransportSendsTokenOnlyToIssuerHosts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("sa-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 1)
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Authorization")
	}))
	defer other.Close()
	ti := newTestIssuer(t)
	is, err := newIssuer(OIDCConfig{Name: "x", Issuer: ti.srv.URL, Audience: "a", CAFile: ti.caFile(t), JWKSTokenFile: tokenFile},
		nopLogger(), time.Now, Options{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	defer is.close()
	resp, err := is.client.Get(other.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := <-seen; h != "" {
		t.Fatalf("another host received Authorization %q", h)
	}
}

func TestIssuerResponseBounded(t *testing.T) {
	t.Parallel()
	big := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"issuer":"` + strings.Repeat("x", maxIssuerResponse) + `"}`))
	}))
	defer big.Close()
	ti := newTestIssuer(t)
	clock := newClock()
	a := newTestAuthenticator(t, Config{OIDC: []OIDCConfig{{Name: "big", Issuer: big.URL, Audience: "a", CAFile: ti.caFile(t)}}}, clock)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.Discover(ctx)
	// go-oidc wraps the read error with %v: its text is what remains.
	if !errors.Is(err, ErrIssuerNotReady) || !strings.Contains(err.Error(), errResponseTooLong.Error()) {
		t.Fatalf("Discover = %v, want errResponseTooLong", err)
	}
}

// TestJWKSOnAnotherHost is the Kubernetes shape: the discovery document
// names a JWKS on the API server's own address, which also demands the
// service-account token.
func TestJWKSOnAnotherHost(t *testing.T) {
	t.Parallel()
	keys := genKeys(t)
	dir := t.TempDir()
	saToken := filepath.Join(dir, "token")
	if err := os.WriteFile(saToken, []byte("sa-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	apiserver := newTestIssuer(t, keys.rsa) // serves /keys
	apiserver.bearer = "sa-secret"
	ti := newTestIssuer(t)
	ti.bearer = "sa-secret"
	ti.jwksURI = apiserver.srv.URL + "/keys"
	clock := newClock()
	a := newTestAuthenticator(t, Config{OIDC: []OIDCConfig{{Name: "cluster", Issuer: ti.srv.URL, Audience: "mcpfed",
		CAFile: ti.caFile(t), JWKSTokenFile: saToken}}}, clock)
	id, err := authenticate(a, sign(t, keys.rsa, with(claimsAt(ti.srv.URL, "mcpfed", clock.Now()),
		"sub", "system:serviceaccount:tools:ci",
		"kubernetes.io", map[string]any{"namespace": "tools", "serviceaccount": map[string]any{"name": "ci"}})))
	if err != nil {
		t.Fatal(err)
	}
	if apiserver.jwksHits.Load() != 1 {
		t.Fatalf("JWKS host hit %d times", apiserver.jwksHits.Load())
	}
	if d := Decide(Access{Claims: map[string]any{"kubernetes.io.serviceaccount.name": "ci", "kubernetes.io.namespace": "tools"}}, id); !d.Allowed() {
		t.Fatalf("service account not allowed: %+v", d)
	}
}

// TestConcurrentFirstUse: requests arriving together on a fresh
// authenticator wait for the one discovery instead of failing.
func TestConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	keys := genKeys(t)
	ti := newTestIssuer(t, keys.rsa)
	clock := newClock()
	a := newTestAuthenticator(t, Config{OIDC: []OIDCConfig{{Name: "corp", Issuer: ti.srv.URL, Audience: "mcpfed", CAFile: ti.caFile(t)}}}, clock)
	tok := sign(t, keys.rsa, claimsAt(ti.srv.URL, "mcpfed", clock.Now()))
	errs := make(chan error, 20)
	for range 20 {
		go func() {
			_, err := authenticate(a, tok)
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := ti.discoveryHits.Load(); n != 1 {
		t.Fatalf("discovery requested %d times, want 1", n)
	}
	if n := ti.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS requested %d times, want 1", n)
	}
}

func TestNewRejectsBadCAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"not PEM", notPEM, "auth.oidc[0].caFile: "},
		{"missing", filepath.Join(dir, "missing.pem"), "auth.oidc[0].caFile: "},
		{"directory", dir, "auth.oidc[0].caFile: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{OIDC: []OIDCConfig{{Name: "x", Issuer: "https://idp.example", Audience: "a", CAFile: tc.path}}}, Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("New = %v, want %q…", err, tc.want)
			}
		})
	}
	if _, err := New(Config{OIDC: []OIDCConfig{{Name: "x", Issuer: "https://idp.example"}}}, Options{}); err == nil ||
		!strings.Contains(err.Error(), "auth.oidc[0].audience: required") {
		t.Fatalf("New with an invalid config = %v", err)
	}
}
