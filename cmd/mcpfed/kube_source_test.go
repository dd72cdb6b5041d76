package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream/kube"
)

// unreachableKubeconfig writes a kubeconfig naming an API server nothing
// listens on.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	const cfg = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: not-a-secret}
contexts:
- name: test
  context: {cluster: c, user: u}
current-context: test
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKubeSourceWired checks kind kubernetes builds a kube.Source that
// serves as a snapshot source and lists deployed instances, and that a
// cluster out of reach fails its load, not the process.
func TestKubeSourceWired(t *testing.T) {
	t.Parallel()
	kc := unreachableKubeconfig(t)
	cfg, err := loadConfig(vars(
		"MCPFED_STATE_DIR", t.TempDir(),
		"MCPFED_SOURCES", `[{"name":"cluster","kind":"kubernetes","kubeconfig":"`+kc+`","context":"test","watchNamespaces":["tools"],"loadTimeout":"5s"}]`,
	), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.close)
	if len(g.sources) != 1 {
		t.Fatalf("%d sources", len(g.sources))
	}
	if _, ok := g.sources[0].(*kube.Source); !ok {
		t.Fatalf("source %T", g.sources[0])
	}
	deployed := g.deployed()
	if deployed == nil || len(deployed()) != 0 {
		t.Fatal("no deployed instances from the kubernetes source")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := g.loadAll(ctx)[0]
	if st.Kind != kube.Kind || st.State() != "failed" || !strings.Contains(st.LastError, "127.0.0.1:1") {
		t.Errorf("status %+v", st)
	}
}

// TestKubeSourceConfigProblems checks a kubeconfig that cannot be read is
// a configuration problem found at start, named by its source.
func TestKubeSourceConfigProblems(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(vars(
		"MCPFED_SOURCES", `[{"name":"cluster","kind":"kubernetes","kubeconfig":"/nonexistent/kubeconfig"}]`,
	), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/kubeconfig") || !strings.Contains(err.Error(), "cluster") {
		t.Errorf("wire: %v", err)
	}
}
