package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

// TestReplicasServeIdenticalBytes: two processes with the same
// configuration — started at different times, each with its own state
// directory — serve byte-identical answers and ETags, and so does a
// restart that serves only what it persisted. Undated entries (a bare
// server.json array) take their dates from the data, never from when a
// process first saw them.
func TestReplicasServeIdenticalBytes(t *testing.T) {
	t.Parallel()
	seed, err := filepath.Abs("../../testdata/catalog/official-seed.json")
	if err != nil {
		t.Fatal(err)
	}
	sources := `[{"name":"seed","kind":"file","path":"` + seed + `"},{"name":"toolhive","kind":"file","path":"builtin:toolhive"}]`
	start := func(stateDir string, at time.Time, load bool) *gateway {
		cfg, err := loadConfig(plainVars("MCPFED_STATE_DIR", stateDir, "MCPFED_SOURCES", sources), flagValues{})
		if err != nil {
			t.Fatal(err)
		}
		clock := func() time.Time { return at }
		g, err := wire(cfg, slog.New(slog.DiscardHandler), clock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.close)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, s := range g.sources {
			if !s.Restore() || load {
				if err := s.Load(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		return g
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dirA := t.TempDir()
	a := start(dirA, t0, true)
	b := start(t.TempDir(), t0.Add(7*time.Hour), true)
	restarted := start(dirA, t0.Add(30*24*time.Hour), false)

	// Every page of a walk, plus per-server answers.
	paths := []string{
		"/v0.1/servers/" + url.PathEscape("io.github.domdomegg/airtable-mcp-server") + "/versions",
		"/v0.1/servers/" + url.PathEscape("io.github.domdomegg/airtable-mcp-server") + "/versions/latest",
		"/v0.1/servers?version=latest&limit=100",
		"/v0.1/servers?updated_since=2020-01-01T00:00:00Z&limit=100",
	}
	next := "/v0.1/servers?limit=25"
	for next != "" {
		paths = append(paths, next)
		rec := serveOnce(a, next)
		var page struct {
			Metadata struct{ NextCursor string } `json:"metadata"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		next = ""
		if page.Metadata.NextCursor != "" {
			next = "/v0.1/servers?limit=25&cursor=" + page.Metadata.NextCursor
		}
	}
	for _, p := range paths {
		want := serveOnce(a, p)
		if want.Code != http.StatusOK || want.Header().Get("ETag") == "" {
			t.Fatalf("%s: %d %v", p, want.Code, want.Header())
		}
		for name, g := range map[string]*gateway{"another replica": b, "a restart": restarted} {
			got := serveOnce(g, p)
			if got.Body.String() != want.Body.String() || got.Header().Get("ETag") != want.Header().Get("ETag") {
				t.Errorf("%s: %s serves other bytes (ETag %s, want %s)", p, name, got.Header().Get("ETag"), want.Header().Get("ETag"))
			}
		}
	}
}

func serveOnce(g *gateway, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}
