package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/kubetest"
)

// TestKubeServiceAccountTokens checks mcpfed against a real Kubernetes API
// server (MCPFED_TEST_K8S=1, `make test-k8s`), configured as the README
// says: the cluster is an OIDC issuer, its CA is caFile, and jwksTokenFile
// holds a token of a service account bound to
// system:service-account-issuer-discovery (the cluster serves its discovery
// document and keys only to authenticated callers).
func TestKubeServiceAccountTokens(t *testing.T) {
	c := kubetest.Start(t)
	began := time.Now()

	// mcpfed's own service account reads the issuer's keys, through its
	// own binding: the default one (every service account) is revoked, as
	// in a hardened cluster.
	jwksTokenFile := c.IssuerReader(t)
	raw, err := os.ReadFile(jwksTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	jwksToken := strings.TrimSpace(string(raw))

	c.CreateNamespace(t, "tools")
	c.CreateServiceAccount(t, "tools", "ci")
	c.CreateServiceAccount(t, "tools", "other")
	ci := c.Token(t, "tools", "ci", kubetest.Audience)
	other := c.Token(t, "tools", "other", kubetest.Audience)
	ciOtherAudience := c.Token(t, "tools", "ci", "other")
	// other's token rewritten to claim to be ci, signature kept.
	tampered := kubeRewritePayload(t, other, func(p map[string]any) {
		p["sub"] = "system:serviceaccount:tools:ci"
		k8s, _ := p["kubernetes.io"].(map[string]any)
		sa, _ := k8s["serviceaccount"].(map[string]any)
		if sa == nil {
			t.Fatalf("token payload has no kubernetes.io.serviceaccount: %v", p)
		}
		sa["name"] = "ci"
	})

	issuer := c.Issuer(t)
	if issuer != c.Server {
		t.Fatalf("cluster issuer = %q; want %q (kube-apiserver.sh sets --service-account-issuer to the server)", issuer, c.Server)
	}
	cfg := Config{OIDC: []OIDCConfig{{
		Name:          "cluster",
		Issuer:        issuer,
		Audience:      kubetest.Audience,
		CAFile:        c.CAFile,
		JWKSTokenFile: jwksTokenFile,
	}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs kubeLogBuffer
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Discover(ctx); err != nil {
		t.Fatalf("discovery of the cluster with jwksTokenFile: %v\napiserver log:\n%s", err, c.Log())
	}

	access := Access{Claims: map[string]any{
		"kubernetes.io.serviceaccount.name": []any{"ci"},
		"kubernetes.io.namespace":           "tools",
	}}
	if err := access.Validate(); err != nil {
		t.Fatal(err)
	}

	id, err := kubeAuthenticate(ctx, a, ci)
	if err != nil {
		t.Fatalf("ci's token: %v", err)
	}
	if id.Kind != KindOIDC || id.Provider != "cluster" || id.Issuer != issuer || id.Subject != "system:serviceaccount:tools:ci" {
		t.Errorf("ci's identity = %+v; want OIDC subject system:serviceaccount:tools:ci from %s", id, issuer)
	}
	if d := Decide(access, id); d.Result != ResultAllow {
		t.Errorf("Decide(ci) = %+v; want allow", d)
	}

	id, err = kubeAuthenticate(ctx, a, other)
	if err != nil {
		t.Fatalf("other's token: %v", err)
	}
	if id.Subject != "system:serviceaccount:tools:other" {
		t.Errorf("other's subject = %q", id.Subject)
	}
	if d := Decide(access, id); d.Result != ResultForbidden {
		t.Errorf("Decide(other) = %+v; want forbidden", d)
	}

	for _, tc := range []struct {
		name, token string
		cause       error
	}{
		{"audience other", ciOtherAudience, ErrAudience},
		{"tampered payload", tampered, ErrSignature},
		// The token mcpfed itself reads keys with is for the API server.
		{"API server audience", jwksToken, ErrAudience},
	} {
		id, err := kubeAuthenticate(ctx, a, tc.token)
		if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, tc.cause) {
			t.Errorf("%s: identity %+v, err %v; want invalid token (%v)", tc.name, id, err, tc.cause)
		}
	}

	// Without jwksTokenFile the cluster refuses discovery: its tokens fail,
	// never as anonymous.
	cfg.OIDC[0].JWKSTokenFile = ""
	anon, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(anon.Close)
	if err := anon.Discover(ctx); err == nil {
		t.Error("discovery of the cluster without jwksTokenFile succeeded; want it refused")
	}
	if _, err := kubeAuthenticate(ctx, anon, ci); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, ErrIssuerNotReady) {
		t.Errorf("ci's token without jwksTokenFile: err = %v; want invalid token (issuer not ready)", err)
	}

	for _, tok := range []string{ci, other, ciOtherAudience, tampered, jwksToken} {
		if strings.Contains(logs.String(), tok) {
			t.Fatal("a token appears in the log")
		}
	}
	t.Logf("test time after the cluster started: %s", time.Since(began).Round(time.Millisecond))
}

func kubeAuthenticate(ctx context.Context, a *Authenticator, tok string) (Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	r := httptest.NewRequest(http.MethodGet, "/registry/internal/v0.1/servers", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return a.Authenticate(ctx, r)
}

// kubeRewritePayload changes a JWS's payload and keeps its header and
// signature.
func kubeRewritePayload(t *testing.T, tok string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts; want a JWS", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	edit(p)
	if b, err = json.Marshal(p); err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}

// kubeLogBuffer is a log sink safe for concurrent writers.
type kubeLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *kubeLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *kubeLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
