package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// gitRepo makes a local repository holding file at path, committed once.
func gitRepo(t *testing.T, path string, data []byte) string {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, path), data, 0o644); err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add(path); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := wt.Commit("catalogue", &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
	return "file://" + filepath.ToSlash(dir)
}

// TestMirrorAndGitSourcesSurviveRestart wires a mirror of a registry and a
// git catalogue from configuration, then restarts with the registry down
// and the repository gone: both are served from the state directory.
func TestMirrorAndGitSourcesSurviveRestart(t *testing.T) {
	t.Parallel()
	up := upstreamtest.New(t)
	up.LoadFile("../../testdata/catalog/official-seed.json")
	seed, err := os.ReadFile("../../testdata/toolhive/data-registry.json")
	if err != nil {
		t.Fatal(err)
	}
	repo := gitRepo(t, "registry/catalog.json", seed)
	stateDir := t.TempDir()
	env := plainVars("MCPFED_STATE_DIR", stateDir, "MCPFED_SOURCES", `[
	  {"name":"catalog","kind":"git","repository":"`+repo+`","branch":"main","path":"registry/catalog.json","optional":true},
	  {"name":"official","kind":"api","mode":"mirror","url":"`+up.URL+`","interval":"1h"}
	]`)
	serveOnce := func(wantState string) string {
		t.Helper()
		cfg, err := loadConfig(env, flagValues{})
		if err != nil {
			t.Fatal(err)
		}
		g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		defer g.close()
		for _, s := range g.sources {
			s.Restore()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, st := range g.loadAll(ctx) {
			if st.State() != wantState {
				t.Errorf("%s: state %s (%s), want %s", st.Name, st.State(), st.LastError, wantState)
			}
		}
		rec := httptest.NewRecorder()
		g.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v0.1/servers?limit=100", nil))
		if rec.Code != http.StatusOK || rec.Header().Get("X-Federation-Complete") != "true" {
			t.Fatalf("list: %d %v", rec.Code, rec.Header())
		}
		return rec.Body.String()
	}
	first := serveOnce("ok")
	for _, want := range []string{`"com.acme/data-pipeline"`, `"source":"catalog"`, `"io.github.domdomegg/time-mcp-pypi"`, `"source":"official"`} {
		if !strings.Contains(first, want) {
			t.Errorf("first run lacks %s", want)
		}
	}

	// Restart: the registry is down and the repository has gone away.
	up.Inject(upstreamtest.Fault{Status: 503})
	if err := os.RemoveAll(strings.TrimPrefix(repo, "file://")); err != nil {
		t.Fatal(err)
	}
	if second := serveOnce("stale"); second != first {
		t.Error("after a restart with every source down, the answer is not the persisted one")
	}
}

// tree describes every file under dir: content hash, size and time.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sum := ""
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(data))
		}
		out[p] = fmt.Sprintf("%s %d %s %s", info.Mode(), info.Size(), info.ModTime().Format(time.RFC3339Nano), sum)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCheckIsReadOnly: check writes nothing to the state directory, and
// counts what a server persisted there as the server would (restored
// first): with every source down, each is stale with its persisted entries.
func TestCheckIsReadOnly(t *testing.T) {
	t.Parallel()
	up := upstreamtest.New(t)
	up.LoadFile("../../testdata/catalog/official-seed.json")
	seed, err := os.ReadFile("../../testdata/toolhive/data-registry.json")
	if err != nil {
		t.Fatal(err)
	}
	repo := gitRepo(t, "catalog.json", seed)
	file := filepath.Join(t.TempDir(), "acme.json")
	if err := os.WriteFile(file, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	env := plainVars("MCPFED_STATE_DIR", stateDir, "MCPFED_LOG_LEVEL", "error", "MCPFED_SOURCES", `[
	  {"name":"acme","kind":"file","path":"`+file+`","optional":true},
	  {"name":"catalog","kind":"git","repository":"`+repo+`","path":"catalog.json","optional":true},
	  {"name":"official","kind":"api","mode":"mirror","url":"`+up.URL+`","interval":"1h"}
	]`)
	if code, out, errOut := runCmd(t, env, "check"); code != exitOK {
		t.Fatalf("check: %d\n%s%s", code, out, errOut)
	}
	if got := tree(t, stateDir); len(got) != 1 {
		t.Errorf("check wrote to the state directory: %v", got)
	}

	// A server run persists every source.
	cfg, err := loadConfig(env, flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g.loadAll(ctx)
	g.close()
	before := tree(t, stateDir)

	// Every source down: check reports what the server would serve.
	up.Inject(upstreamtest.Fault{Status: 503})
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(strings.TrimPrefix(repo, "file://")); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, env, "check")
	if code != exitFailure {
		t.Errorf("check with every source down: exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, want := range []string{"acme file 2 stale", "catalog git 2 stale", "official api/mirror 4 stale"} {
		if i+1 >= len(lines) || !strings.HasPrefix(strings.Join(strings.Fields(lines[i+1]), " "), want) {
			t.Errorf("row %d: want %q in\n%s", i+1, want, out)
		}
	}
	if after := tree(t, stateDir); !maps.Equal(before, after) {
		t.Errorf("check changed the state directory:\nbefore %v\nafter  %v", before, after)
	}
}
