package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/ui"
)

// uiGet sends a GET with the given Accept and token to h.
func uiGet(h http.Handler, path, accept, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// TestUIDoesNotChangeTheAPI: with the web catalogue mounted, every request
// that does not ask for HTML — and every API path, whatever it asks for —
// gets exactly the answer the gateway gave without it.
func TestUIDoesNotChangeTheAPI(t *testing.T) {
	t.Parallel()
	ag := newAccessGateway(t, "")
	g := ag.g
	before := g.metrics.Middleware(g.access.wellKnown(g.access.adminAudit(g.api.Handler())))
	paths := []string{
		"/", "/servers/io.github.github%2Fgithub-mcp-server", "/servers/a/b", "/sources", "/registry/internal/",
		"/registry/internal/servers/x%2Fy", "/registry/internal/sources", "/registry/nope/", "/registry/members",
		"/v0.1/servers", "/v0/servers?limit=2", "/v0.1/servers/io.github.github%2Fgithub-mcp-server/versions",
		"/registry/internal/v0.1/servers", "/registry/members/v0.1/servers", "/registry/default/v0.1/servers",
		"/v0.1/health", "/v0.1/version", "/healthz", "/readyz", "/openapi.yaml",
		"/.well-known/oauth-protected-resource/registry/internal", "/v0.1" + federate.ExtensionPath + "/sources",
		"//servers/x", "/favicon.ico",
	}
	for _, path := range paths {
		for _, accept := range []string{"", "*/*", "application/json", "application/json, text/html;q=0.5", browserAccept} {
			isAPI := strings.Contains(path, "/v0") || strings.Contains(path, "well-known") || strings.HasSuffix(path, "z") ||
				path == "/openapi.yaml" || path == "//servers/x" || path == "/favicon.ico"
			if accept == browserAccept && !isAPI {
				continue // the UI's
			}
			for _, tok := range []string{"", platformToken} {
				got, want := uiGet(g.handler, path, accept, tok), uiGet(before, path, accept, tok)
				if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
					t.Errorf("%s (Accept %q, token %t): %d %s, want %d %s", path, accept, tok != "", got.Code, got.Body, want.Code, want.Body)
					continue
				}
				for _, k := range []string{"Content-Type", "Cache-Control", "ETag", "Vary", "WWW-Authenticate", federate.HeaderComplete} {
					if got.Header().Get(k) != want.Header().Get(k) {
						t.Errorf("%s (Accept %q): %s %q, want %q", path, accept, k, got.Header().Get(k), want.Header().Get(k))
					}
				}
			}
		}
	}
}

// TestUIPages: the wired gateway serves the catalogue to browsers, per
// view and through the access rules, with the UI's headers.
func TestUIPages(t *testing.T) {
	t.Parallel()
	ag := newAccessGateway(t, "")
	tests := []struct {
		path, token string
		status      int
		contains    string
	}{
		{"/", "", 200, `id="results"`},
		{"/?q=github", "", 200, "github"},
		{"/sources", "", 200, `data-source="seed"`},
		{"/ui/assets/app.css", "", 200, "prefers-color-scheme"},
		{"/registry/internal/", "", 401, "bearer token"},
		{"/registry/internal/", otherToken, 403, "claims"},
		{"/registry/internal/", platformToken, 200, `data-name=`},
		{"/registry/internal/sources", platformToken, 200, `data-source="acme"`},
		{"/registry/members/", "", 401, "bearer token"},
		{"/registry/nope/", "", 404, "no view"},
		{"/", "not-a-valid-token", 401, "bearer token"},
	}
	for _, tc := range tests {
		t.Run(tc.path+" "+tc.token, func(t *testing.T) {
			t.Parallel()
			rec := uiGet(ag.g.handler, tc.path, browserAccept, tc.token)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.contains) {
				t.Fatalf("%d, want %d with %q: %s", rec.Code, tc.status, tc.contains, rec.Body)
			}
			if rec.Header().Get("Content-Security-Policy") != ui.CSP || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v", rec.Header())
			}
			if tc.status == 401 && !strings.Contains(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
	// The view's catalogue is the view's: acme's servers are not the root's.
	root := uiGet(ag.g.handler, "/?source=acme", browserAccept, "")
	if root.Code != http.StatusBadRequest {
		t.Errorf("the root offers a source it does not have: %d", root.Code)
	}
	view := uiGet(ag.g.handler, "/registry/internal/?source=acme", browserAccept, platformToken)
	if view.Code != 200 || !strings.Contains(view.Body.String(), `class="server"`) {
		t.Errorf("the view's own source: %d", view.Code)
	}
}

// TestUISourcesErrorsForAdminsOnly: the sources page shows error texts
// only to a request the operator endpoints take for an admin's.
func TestUISourcesErrorsForAdminsOnly(t *testing.T) {
	t.Parallel()
	ag := newAccessGateway(t, "")
	for _, tc := range []struct {
		token string
		admin bool
	}{{"", false}, {platformToken, false}, {adminFileTok, true}, {opsToken, true}} {
		rec := uiGet(ag.g.handler, "/sources", browserAccept, tc.token)
		if rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if got := strings.Contains(rec.Body.String(), "Last error"); got != tc.admin {
			t.Errorf("token %q: error column %t, want %t", tc.token, got, tc.admin)
		}
	}
}
