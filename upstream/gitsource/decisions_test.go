package gitsource

import (
	"context"
	"testing"

	"github.com/mcpfed/mcpfed/curation"
	"github.com/mcpfed/mcpfed/upstream"
)

// TestDecisionsFromGit: with Read set to curation.TreeReader, a git
// repository of decisions feeds the rule; a broken commit keeps the last
// good decisions; the kept copy applies at the next start.
func TestDecisionsFromGit(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t)
	r.write("decisions.yaml", []byte("decisions:\n  - {serverName: io.github.acme/a, versions: '*', decision: approved}\n"))
	r.commit("approve a")
	set := curation.NewSet(curation.SetOptions{Documents: []string{"reviews"}})
	state := t.TempDir()
	src, err := New(Options{Name: "reviews", Repository: r.url(), Path: "decisions.yaml", CloneDir: t.TempDir(),
		Read: curation.TreeReader(set, "reviews", state, nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := &upstream.Entry{Name: "io.github.acme/a", Version: "1.0.0"}
	if !set.Admit(a) || src.Status().State() != "ok" || src.Snapshot().Len() != 0 {
		t.Fatalf("not applied: %+v", src.Status())
	}
	r.write("decisions.yaml", []byte("decisions:\n  - {serverName: io.github.acme/a, versions: '>=', decision: denied}\n"))
	r.commit("broken")
	if err := src.Load(context.Background()); err == nil {
		t.Fatal("a broken document loaded")
	}
	if !set.Admit(a) || src.Status().State() != "stale" {
		t.Fatalf("last good not kept: %+v", src.Status())
	}
	r.write("decisions.yaml", []byte("decisions:\n  - {serverName: io.github.acme/a, versions: '1.0.0', decision: denied}\n  - {serverName: io.github.acme/a, versions: '*', decision: approved}\n"))
	r.commit("deny 1.0.0")
	if err := src.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if set.Admit(a) {
		t.Fatal("the denial is not applied")
	}
	next := curation.NewSet(curation.SetOptions{Documents: []string{"reviews"}})
	if !curation.RestoreKept(next, "reviews", state, nil) || next.Admit(a) || !next.Admit(&upstream.Entry{Name: "io.github.acme/a", Version: "1.0.1"}) {
		t.Fatal("kept copy")
	}
}
