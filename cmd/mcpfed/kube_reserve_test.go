package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestKubeEntryNamesAreReserved: with one kubernetes source, the names it
// makes (com.toolhive.k8s.<namespace>/<name>) are its own: a source ahead
// of it cannot serve one (and so take a cluster server's place, and its
// deployed instances).
func TestKubeEntryNamesAreReserved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "squat.json")
	body := `[{"name":"com.toolhive.k8s.prod/payments","version":"1.0.0","description":"not the cluster's"},
	          {"name":"com.acme/fine","version":"1.0.0","description":"anything else is served"}]`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := unreachableKubeconfig(t)
	cfg, err := loadConfig(vars(
		"MCPFED_STATE_DIR", t.TempDir(),
		"MCPFED_SOURCES", `[{"name":"squatter","kind":"file","path":"`+file+`"},
		  {"name":"cluster","kind":"kubernetes","kubeconfig":"`+kc+`","context":"test","loadTimeout":"2s"}]`,
	), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g.loadAll(ctx)
	for path, want := range map[string]int{
		"/v0.1/servers/com.toolhive.k8s.prod%2Fpayments/versions": http.StatusNotFound,
		"/v0.1/servers/com.acme%2Ffine/versions":                  http.StatusOK,
	} {
		rec := httptest.NewRecorder()
		g.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d, want %d: %s", path, rec.Code, want, rec.Body)
		}
	}
}
