package kubetest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartSkipsUnlessOptedIn(t *testing.T) {
	t.Setenv(EnvGate, "")
	skipped, returned := false, false
	t.Run("gated", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Start(t)
		returned = true
	})
	if !skipped || returned {
		t.Fatalf("Start without %s=1: skipped=%v, returned=%v; want a skip", EnvGate, skipped, returned)
	}
}

func TestFindScriptOverride(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kas.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvScript, p)
	got, err := FindScript()
	if err != nil || got != p {
		t.Fatalf("FindScript() = %q, %v; want %q", got, err, p)
	}
	t.Setenv(EnvScript, filepath.Join(t.TempDir(), "missing.sh"))
	if _, err := FindScript(); err == nil || !strings.Contains(err.Error(), EnvScript) {
		t.Fatalf("FindScript() with a missing override: err = %v; want one naming %s", err, EnvScript)
	}
	t.Setenv(EnvScript, t.TempDir())
	if _, err := FindScript(); err == nil {
		t.Fatal("FindScript() with a directory as override: no error")
	}
}

func TestFindScriptFromModuleRoot(t *testing.T) {
	t.Setenv(EnvScript, "")
	root := t.TempDir()
	mod := filepath.Join(root, "main")
	pkg := filepath.Join(mod, "a", "b")
	script := filepath.Join(root, "shared", "tools", "kube-apiserver.sh")
	for _, d := range []string{pkg, filepath.Dir(script)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(pkg)
	if _, err := FindScript(); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("FindScript() without the script: err = %v; want not found", err)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := FindScript()
	if err != nil {
		t.Fatal(err)
	}
	if real, _ := filepath.EvalSymlinks(got); real != mustEval(t, script) {
		t.Fatalf("FindScript() = %q; want %q", got, script)
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFreePorts(t *testing.T) {
	first, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	for p := first; p < first+3; p++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d of %d..%d is not free: %v", p, first, first+2, err)
		}
		_ = ln.Close()
	}
}

func TestReadEnvAndAdminToken(t *testing.T) {
	dir := t.TempDir()
	env := "export KUBECONFIG=/d/kubeconfig\nexport K8S_SERVER=https://127.0.0.1:1234\nexport K8S_CA=/d/certs/apiserver.crt\n"
	if err := os.WriteFile(filepath.Join(dir, "env"), []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readEnv(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatal(err)
	}
	if got["K8S_SERVER"] != "https://127.0.0.1:1234" || got["K8S_CA"] != "/d/certs/apiserver.crt" || got["KUBECONFIG"] != "/d/kubeconfig" {
		t.Fatalf("readEnv = %v", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "env"), []byte("export K8S_SERVER=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readEnv(filepath.Join(dir, "env")); err == nil {
		t.Fatal("readEnv of an incomplete file: no error")
	}

	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(`users: [{name: admin, user: {token: "fromkubeconfig"}}]`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := adminToken(dir, kc); err != nil || tok != "fromkubeconfig" {
		t.Fatalf("adminToken without tokens.csv = %q, %v; want the kubeconfig's", tok, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte("fromcsv,admin,admin,system:masters\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := adminToken(dir, kc); err != nil || tok != "fromcsv" {
		t.Fatalf("adminToken = %q, %v; want tokens.csv's", tok, err)
	}
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "kubeconfig"), []byte("users: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := adminToken(empty, filepath.Join(empty, "kubeconfig")); err == nil {
		t.Fatal("adminToken with no token anywhere: no error")
	}
}

// TestKubeCluster runs the real thing (MCPFED_TEST_K8S=1): an API server
// that issues service-account tokens for a chosen audience, with the
// cluster as their issuer, and serves its discovery document only to
// authenticated callers.
func TestKubeCluster(t *testing.T) {
	c := Start(t)
	if want := "https://127.0.0.1:" + strconv.Itoa(c.Port); c.Server != want {
		t.Fatalf("Server = %q; want %q", c.Server, want)
	}
	d := c.Discovery(t)
	if d.Issuer != c.Server {
		t.Errorf("issuer = %q; want the server %q", d.Issuer, c.Server)
	}
	if u, err := url.Parse(d.JWKSURI); err != nil || u.Scheme != "https" || u.Host != "127.0.0.1:"+strconv.Itoa(c.Port) {
		t.Errorf("jwks_uri = %q; want https on the API server", d.JWKSURI)
	}

	c.CreateNamespace(t, "tools")
	c.CreateServiceAccount(t, "tools", "ci")
	tok := c.Token(t, "tools", "ci", Audience)
	claims := payload(t, tok)
	if claims["sub"] != "system:serviceaccount:tools:ci" || claims["iss"] != c.Server {
		t.Errorf("token claims sub=%v iss=%v; want system:serviceaccount:tools:ci from %s", claims["sub"], claims["iss"], c.Server)
	}
	if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != Audience {
		t.Errorf("token aud = %v; want [%s]", claims["aud"], Audience)
	}

	var se *StatusError
	if _, err := c.RequestToken("tools", "nobody"); !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Errorf("token for a missing service account: err = %v; want HTTP 404", err)
	}

	// Discovery: refused to anonymous callers, served to a service account
	// holding the discovery role, through a token for the API server's own
	// audience (what jwksTokenFile holds).
	ctx := context.Background()
	for _, p := range []string{"/.well-known/openid-configuration", "/openid/v1/jwks"} {
		if status, _, err := c.Request(ctx, http.MethodGet, p, "", nil); err != nil || (status != http.StatusUnauthorized && status != http.StatusForbidden) {
			t.Errorf("anonymous GET %s: %d, %v; want 401 or 403", p, status, err)
		}
	}
	// By default every service account may read them; revoked, only a
	// granted one may.
	ciAPI := c.Token(t, "tools", "ci")
	c.WaitDiscoveryStatus(t, ciAPI, http.StatusOK)
	c.RevokeDefaultIssuerDiscovery(t)
	c.WaitDiscoveryStatus(t, ciAPI, http.StatusForbidden)
	c.CreateServiceAccount(t, "tools", "reader")
	c.GrantIssuerDiscovery(t, "tools", "reader")
	reader := c.Token(t, "tools", "reader")
	c.WaitDiscoveryStatus(t, reader, http.StatusOK)
	for _, p := range []string{"/.well-known/openid-configuration", "/openid/v1/jwks"} {
		status, body, err := c.Request(ctx, http.MethodGet, p, reader, nil)
		if err != nil || status != http.StatusOK {
			t.Errorf("GET %s with the reader's token: %d, %v: %s", p, status, err, body)
		}
	}
	// A token for the mcpfed audience does not authenticate to the API
	// server: it is for mcpfed only.
	if status, _, err := c.Request(ctx, http.MethodGet, "/openid/v1/jwks", tok, nil); err != nil || status != http.StatusUnauthorized {
		t.Errorf("GET /openid/v1/jwks with an mcpfed-audience token: %d, %v; want 401", status, err)
	}
}

func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts; want a JWS", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
