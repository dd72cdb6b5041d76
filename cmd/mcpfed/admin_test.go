package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// adminGateway wires a file source, a live source and a mirror, with the
// extra environment given, and loads them once.
func adminGateway(t *testing.T, kv ...string) (*gateway, *upstreamtest.Registry) {
	t.Helper()
	up := upstreamtest.New(t)
	up.LoadFile("../../testdata/catalog/official-seed.json")
	env := vars(append([]string{"MCPFED_SOURCES", `[
	  {"name":"acme","kind":"file","path":"../../testdata/toolhive/data-registry.json"},
	  {"name":"live","kind":"api","url":"` + up.URL + `"},
	  {"name":"mirror","kind":"api","mode":"mirror","url":"` + up.URL + `","interval":"1h"}
	]`}, kv...)...)
	cfg, err := loadConfig(env, flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.loadAll(ctx)
	return g, up
}

func request(t *testing.T, g *gateway, method, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, req)
	return rec
}

func TestSourcesStatusEndpoint(t *testing.T) {
	t.Parallel()
	g, _ := adminGateway(t)
	rec := request(t, g, http.MethodGet, "/v0.1"+federate.ExtensionPath+"/sources", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var body struct{ Sources []federate.SourceReport }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Sources) != 3 {
		t.Fatalf("%d sources", len(body.Sources))
	}
	for i, want := range []struct{ name, kind, mode string }{{"acme", "file", ""}, {"live", "api", "live"}, {"mirror", "api", "mirror"}} {
		r := body.Sources[i]
		if r.Name != want.name || r.Kind != want.kind || r.Mode != want.mode || r.State != "ok" || r.LastSuccess == nil || r.LastAttempt == nil {
			t.Errorf("source %d = %+v", i, r)
		}
	}
	if body.Sources[1].Breaker != "closed" || body.Sources[2].Entries != 4 || body.Sources[0].Revision == "" {
		t.Errorf("details: %+v", body.Sources)
	}
	if rec := request(t, g, http.MethodPost, "/v0.1"+federate.ExtensionPath+"/sources/mirror/resync", ""); rec.Code != http.StatusForbidden {
		t.Errorf("resync while disabled: %d", rec.Code)
	}
}

func TestResyncEndpoint(t *testing.T) {
	t.Parallel()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte("let-me-in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g, up := adminGateway(t, "MCPFED_ADMIN_RESYNC", "true", "MCPFED_ADMIN_TOKEN_FILE", tokenFile)
	path := func(name string) string { return "/v0.1" + federate.ExtensionPath + "/sources/" + name + "/resync" }
	tests := []struct {
		name, path, method, token string
		want                      int
	}{
		{"no token", path("mirror"), http.MethodPost, "", http.StatusUnauthorized},
		{"wrong token", path("mirror"), http.MethodPost, "let-me-in-please", http.StatusUnauthorized},
		{"GET", path("mirror"), http.MethodGet, "let-me-in", http.StatusMethodNotAllowed},
		{"unknown source", path("nope"), http.MethodPost, "let-me-in", http.StatusNotFound},
		{"live source", path("live"), http.MethodPost, "let-me-in", http.StatusConflict},
		{"file source", path("acme"), http.MethodPost, "let-me-in", http.StatusOK},
	}
	for _, tc := range tests {
		if rec := request(t, g, tc.method, tc.path, tc.token); rec.Code != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, rec.Code, tc.want, rec.Body)
		}
	}
	up.Put(upstreamtest.ServerJSON("com.example/new", "1.0.0"), upstreamtest.Official{})
	up.Reset()
	rec := request(t, g, http.MethodPost, path("mirror"), "let-me-in")
	if rec.Code != http.StatusOK {
		t.Fatalf("resync: %d %s", rec.Code, rec.Body)
	}
	var r federate.SourceReport
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Entries != 5 || r.State != "ok" {
		t.Errorf("report after resync: %+v %v", r, err)
	}
	for _, q := range up.Log() {
		if q.URL.Query().Get("updated_since") != "" {
			t.Errorf("a manual resync must crawl in full, sent %s", q.URL)
		}
	}
}

// TestSourceErrorsNeedTheAdminToken: the token file alone (resync off)
// lets an operator read error texts; without it nobody sees them.
func TestSourceErrorsNeedTheAdminToken(t *testing.T) {
	t.Parallel()
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokenFile, []byte("let-me-in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "later.json")
	cfg, err := loadConfig(vars("MCPFED_ADMIN_TOKEN_FILE", tokenFile, "MCPFED_SOURCES", `[{"name":"later","kind":"file","path":"`+missing+`","optional":true}]`), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.loadAll(ctx)
	for _, tc := range []struct {
		token     string
		wantError bool
	}{{"", false}, {"wrong", false}, {"let-me-in", true}} {
		rec := request(t, g, http.MethodGet, "/v0.1"+federate.ExtensionPath+"/sources", tc.token)
		var body struct{ Sources []federate.SourceReport }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Sources) != 1 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if got := body.Sources[0].LastError != ""; got != tc.wantError || body.Sources[0].State != "failed" {
			t.Errorf("token %q: report %+v", tc.token, body.Sources[0])
		}
	}
}
