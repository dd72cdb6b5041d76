package kubetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The API server's resources the tests need, over plain net/http.

// StatusError is a response the API server answered with an unexpected
// status.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, tail(e.Body, 1000))
}

// AdminToken is the admin's bearer (group system:masters). Never log it.
func (c *Cluster) AdminToken() string { return c.admin }

// Request sends one request to the API server with bearer (none when
// empty: an anonymous request) and a JSON body (none when nil), and returns
// the status and body. It is bounded by requestTimeout.
func (c *Cluster) Request(ctx context.Context, method, path, bearer string, body any) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	u, err := url.JoinPath(c.Server, path)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Accept", "application/json, */*")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	return resp.StatusCode, b, err
}

// call sends an admin request and decodes a 2xx answer into out (if not
// nil).
func (c *Cluster) call(method, path string, body, out any) error {
	status, b, err := c.Request(context.Background(), method, path, c.admin, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if status/100 != 2 {
		return &StatusError{Method: method, Path: path, Status: status, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// CreateNamespace creates a namespace.
func (c *Cluster) CreateNamespace(t testing.TB, name string) {
	t.Helper()
	body := map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}
	if err := c.call(http.MethodPost, "/api/v1/namespaces", body, nil); err != nil {
		t.Fatalf("kubetest: create namespace: %v", err)
	}
}

// CreateServiceAccount creates a service account in namespace ns.
func (c *Cluster) CreateServiceAccount(t testing.TB, ns, name string) {
	t.Helper()
	body := map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": name, "namespace": ns}}
	if err := c.call(http.MethodPost, "/api/v1/namespaces/"+url.PathEscape(ns)+"/serviceaccounts", body, nil); err != nil {
		t.Fatalf("kubetest: create service account: %v", err)
	}
}

// Token issues a token for service account ns/name through the
// TokenRequest API, valid for TokenExpiration, for the given audiences
// (none: the API server's own audience, so the token authenticates to the
// API server itself, e.g. as a jwksTokenFile).
func (c *Cluster) Token(t testing.TB, ns, name string, audiences ...string) string {
	t.Helper()
	tok, err := c.RequestToken(ns, name, audiences...)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return tok
}

// RequestToken is Token returning its error.
func (c *Cluster) RequestToken(ns, name string, audiences ...string) (string, error) {
	spec := map[string]any{"expirationSeconds": int64(TokenExpiration / time.Second)}
	if len(audiences) > 0 {
		spec["audiences"] = audiences
	}
	body := map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
	var out struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	path := "/api/v1/namespaces/" + url.PathEscape(ns) + "/serviceaccounts/" + url.PathEscape(name) + "/token"
	if err := c.call(http.MethodPost, path, body, &out); err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	if out.Status.Token == "" {
		return "", fmt.Errorf("token request for %s/%s: empty token", ns, name)
	}
	return out.Status.Token, nil
}

// Discovery is the issuer's OpenID discovery document (the fields mcpfed
// uses).
type Discovery struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// Discovery reads /.well-known/openid-configuration as the admin.
func (c *Cluster) Discovery(t testing.TB) Discovery {
	t.Helper()
	var d Discovery
	if err := c.call(http.MethodGet, "/.well-known/openid-configuration", nil, &d); err != nil {
		t.Fatalf("kubetest: discovery: %v", err)
	}
	if d.Issuer == "" || d.JWKSURI == "" {
		t.Fatalf("kubetest: discovery document without issuer or jwks_uri: %+v", d)
	}
	return d
}

// Issuer is the service-account token issuer the cluster announces.
func (c *Cluster) Issuer(t testing.TB) string {
	t.Helper()
	return c.Discovery(t).Issuer
}

// GrantIssuerDiscovery binds IssuerDiscoveryRole to service account
// ns/name (ClusterRoleBinding mcpfed-issuer-discovery-NS-NAME), so its
// token can fetch the issuer's discovery document and keys: what mcpfed's
// jwksTokenFile needs.
func (c *Cluster) GrantIssuerDiscovery(t testing.TB, ns, name string) {
	t.Helper()
	body := map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1",
		"kind":       "ClusterRoleBinding",
		"metadata":   map[string]any{"name": "mcpfed-issuer-discovery-" + ns + "-" + name},
		"roleRef":    map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": IssuerDiscoveryRole},
		"subjects":   []any{map[string]any{"kind": "ServiceAccount", "name": name, "namespace": ns}},
	}
	if err := c.call(http.MethodPost, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", body, nil); err != nil {
		t.Fatalf("kubetest: grant %s: %v", IssuerDiscoveryRole, err)
	}
}

// RevokeDefaultIssuerDiscovery deletes the ClusterRoleBinding through which
// a cluster, by default, lets every service account (group
// system:serviceaccounts) read the issuer's discovery document and keys, as
// hardened clusters do; then only GrantIssuerDiscovery's bindings do. It
// lasts until the API server restarts.
func (c *Cluster) RevokeDefaultIssuerDiscovery(t testing.TB) {
	t.Helper()
	path := "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/" + IssuerDiscoveryRole
	if err := c.call(http.MethodDelete, path, nil, nil); err != nil {
		t.Fatalf("kubetest: revoke the default %s binding: %v", IssuerDiscoveryRole, err)
	}
}

// WaitDiscoveryStatus polls the issuer's discovery document with bearer
// (none when empty) until it answers want, for at most rbacTimeout: RBAC
// changes reach the authorizer through a cache, a moment after they are
// written.
func (c *Cluster) WaitDiscoveryStatus(t testing.TB, bearer string, want int) {
	t.Helper()
	deadline := time.Now().Add(rbacTimeout)
	for {
		status, body, err := c.Request(context.Background(), http.MethodGet, "/.well-known/openid-configuration", bearer, nil)
		if err == nil && status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubetest: discovery answered %d (%v) after %s, want %d: %s", status, err, rbacTimeout, want, tail(string(body), 500))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// IssuerReader makes the service account mcpfed/mcpfed, allowed to read
// the issuer's discovery and keys through its own binding (the default
// binding for every service account is revoked first, as in a hardened
// cluster), and returns a file holding its token — what a `jwksTokenFile`
// is in mcpfed's configuration.
func (c *Cluster) IssuerReader(t testing.TB) (jwksTokenFile string) {
	t.Helper()
	c.RevokeDefaultIssuerDiscovery(t)
	c.CreateNamespace(t, "mcpfed")
	c.CreateServiceAccount(t, "mcpfed", "mcpfed")
	c.GrantIssuerDiscovery(t, "mcpfed", "mcpfed")
	tok := c.Token(t, "mcpfed", "mcpfed") // the API server's own audience
	c.WaitDiscoveryStatus(t, tok, http.StatusOK)
	jwksTokenFile = filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(jwksTokenFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return jwksTokenFile
}
