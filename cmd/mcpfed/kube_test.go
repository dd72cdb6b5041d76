package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/kubetest"
)

// TestKubeServiceAccountsOnAView: service-account tokens issued by a real
// Kubernetes API server (make test-k8s) are accepted on a view whose
// claims name that service account, through the whole request path; another
// account is forbidden, no token is unauthenticated, and the anonymous root
// stays open. The cluster is configured as an OIDC issuer the way the
// README shows it: caFile, and a jwksTokenFile of an account allowed to
// read the issuer's discovery and keys.
func TestKubeServiceAccountsOnAView(t *testing.T) {
	c := kubetest.Start(t)
	jwksTokenFile := c.IssuerReader(t)

	c.CreateNamespace(t, "tools")
	c.CreateServiceAccount(t, "tools", "ci")
	c.CreateServiceAccount(t, "tools", "other")
	ci := c.Token(t, "tools", "ci", kubetest.Audience)
	other := c.Token(t, "tools", "other", kubetest.Audience)

	cfg, err := loadConfig(vars(
		"MCPFED_SOURCES", `[{"name":"seed","kind":"file","path":"builtin:official-seed"}]`,
		"MCPFED_AUTH_OIDC_ISSUER", c.Issuer(t),
		"MCPFED_AUTH_OIDC_AUDIENCE", kubetest.Audience,
		"MCPFED_AUTH_OIDC_CA_FILE", c.CAFile,
		"MCPFED_AUTH_OIDC_JWKS_TOKEN_FILE", jwksTokenFile,
		"MCPFED_VIEWS", `[{"name":"internal","access":{"claims":{"kubernetes.io.namespace":"tools","kubernetes.io.serviceaccount.name":["ci"]}}}]`,
	), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g.loadAll(ctx)
	g.access.discover(ctx)

	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"ci on the view that names it", "/registry/internal/v0.1/servers", ci, http.StatusOK},
		{"another account", "/registry/internal/v0.1/servers", other, http.StatusForbidden},
		{"no token", "/registry/internal/v0.1/servers", "", http.StatusUnauthorized},
		{"the anonymous root", "/v0.1/servers", "", http.StatusOK},
		{"ci on the root", "/v0.1/servers", ci, http.StatusOK},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		rec := httptest.NewRecorder()
		g.handler.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, rec.Code, tc.want, rec.Body)
		}
	}
}
