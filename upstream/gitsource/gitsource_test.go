package gitsource

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/mcpfed/mcpfed/upstream"
)

// TestRefKinds: each way of choosing the commit serves the right one,
// fetches it once (over HTTP; a local repository is read in place), and
// follows the ref when (and only when) it can move.
func TestRefKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts func(c1 plumbing.Hash) Options
		// follows: the selection moves with the main branch.
		follows bool
		lists   bool // whether loads list the remote's refs
	}{
		{"branch", func(plumbing.Hash) Options { return Options{Branch: "main"} }, true, true},
		{"full branch ref", func(plumbing.Hash) Options { return Options{Branch: "refs/heads/main"} }, true, true},
		{"default branch", func(plumbing.Hash) Options { return Options{} }, true, true},
		{"annotated tag", func(plumbing.Hash) Options { return Options{Tag: "v1"} }, false, true},
		{"lightweight tag", func(plumbing.Hash) Options { return Options{Tag: "v1-light"} }, false, true},
		{"pinned commit", func(c1 plumbing.Hash) Options { return Options{Commit: strings.ToUpper(c1.String())} }, false, false},
	}
	for _, tt := range tests {
		for _, via := range transports {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				t.Parallel()
				r := newTestRepo(t)
				c1 := r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
				r.tag("v1", c1, true)
				r.tag("v1-light", c1, false)
				c2 := r.write("registry.json", testdata(t, "catalog", "official-seed.json")).commit("second")
				r.allowSHA()
				o := tt.opts(c1)
				o.Repository, o.Path, o.CloneDir = r.at(t, via), "/registry.json", t.TempDir()
				s, _ := newSource(t, o)
				refKind(t, s, r, via, c1, c2, tt.follows, tt.lists)
			})
		}
	}
}

// refKind loads three times: first, unchanged, after main moved on.
func refKind(t *testing.T, s *Source, r *testRepo, via string, c1, c2 plumbing.Hash, follows, listsRefs bool) {
	t.Helper()
	first := []string{"com.acme/data-pipeline@1.0.0", "com.acme/ml-trainer@3.0.0"}
	second := []string{
		"io.github.domdomegg/airtable-mcp-server@1.7.2", "io.github.domdomegg/airtable-mcp-server@1.7.3",
		"io.github.domdomegg/time-mcp-nuget@1.0.8", "io.github.domdomegg/time-mcp-pypi@1.0.6",
	}
	wantNames, wantCommit := first, c1
	if follows {
		wantNames, wantCommit = second, c2
	}
	snap := mustLoad(t, s)
	if got := names(snap); !slices.Equal(got, wantNames) {
		t.Fatalf("first load served %v, want %v", got, wantNames)
	}
	if s.Commit() != wantCommit.String() || s.Status().Commit != wantCommit.String() {
		t.Fatalf("Commit() = %s, Status().Commit = %s, want %s", s.Commit(), s.Status().Commit, wantCommit)
	}
	lists := int64(0)
	if listsRefs {
		lists = 1
	}
	if got, want := s.counts(), local(via, counts{lists: lists, fetches: 1, clones: 1}); got != want {
		t.Fatalf("after the first load: %+v, want %+v", got, want)
	}

	// Nothing moved: nothing fetched, the same snapshot.
	if got := mustLoad(t, s); got != snap {
		t.Fatal("an unchanged ref replaced the snapshot")
	}
	if listsRefs {
		lists = 2
	}
	if got, want := s.counts(), local(via, counts{lists: lists, fetches: 1, clones: 1}); got != want {
		t.Fatalf("after an unchanged load: %+v, want %+v", got, want)
	}

	// main moves on: followed by the branches only.
	c3 := r.write("registry.json", []byte("["+string(serverJSON("com.example/new", "1.0.0"))+"]")).commit("third")
	next := mustLoad(t, s)
	if listsRefs {
		lists = 3
	}
	fetches := int64(1)
	if follows {
		wantNames, wantCommit, fetches = []string{"com.example/new@1.0.0"}, c3, 2
	}
	if got := names(next); !slices.Equal(got, wantNames) {
		t.Fatalf("after main moved: served %v, want %v", got, wantNames)
	}
	if s.Commit() != wantCommit.String() {
		t.Fatalf("after main moved: Commit() = %s, want %s", s.Commit(), wantCommit)
	}
	if got, want := s.counts(), local(via, counts{lists: lists, fetches: fetches, clones: 1}); got != want {
		t.Fatalf("after main moved: %+v, want %+v", got, want)
	}
}

// transports are the two ways to a repository: read in place, or fetched
// over smart HTTP into a clone.
var transports = []string{"local", "http"}

// at is the repository's address for a transport.
func (r *testRepo) at(t *testing.T, via string) string {
	if via == "http" {
		return r.httpURL(t)
	}
	return r.url()
}

// local adjusts what a test expects of fetching for a local repository,
// which is read in place: nothing fetched or cloned.
func local(via string, c counts) counts {
	if via == "local" {
		c.fetches, c.clones = 0, 0
	}
	return c
}

// TestDirectoryLifecycle: a directory of server.json files (hidden
// directories skipped), a new commit, a broken commit that keeps the last
// good snapshot without being fetched or parsed again, the ref moving back,
// and a fix.
func TestDirectoryLifecycle(t *testing.T) {
	t.Parallel()
	for _, via := range transports {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			directoryLifecycle(t, via)
		})
	}
}

func directoryLifecycle(t *testing.T, via string) {
	r := newTestRepo(t)
	r.write("servers/a/server.json", serverJSON("com.example/a", "1.0.0")).
		write("servers/b/server.json", serverJSON("com.example/b", "1.0.0")).
		write("servers/.drafts/x/server.json", serverJSON("com.example/draft", "0.1.0")).
		write("servers/README.md", []byte("not a server")).
		write("registry.json", testdata(t, "toolhive", "data-registry.json")). // outside the path
		commit("two servers")
	s, clk := newSource(t, Options{Repository: r.at(t, via), Branch: "main", Path: "servers", CloneDir: t.TempDir()})
	step := func(what string, want counts, wantNames ...string) {
		t.Helper()
		if got := names(s.Snapshot()); !slices.Equal(got, wantNames) {
			t.Fatalf("%s: served %v, want %v", what, got, wantNames)
		}
		if got, want := s.counts(), local(via, want); got != want {
			t.Fatalf("%s: %+v, want %+v", what, got, want)
		}
	}

	mustLoad(t, s)
	step("first load", counts{1, 1, 1}, "com.example/a@1.0.0", "com.example/b@1.0.0")

	good := r.write("servers/c/server.json", serverJSON("com.example/c", "2.0.0")).commit("a third")
	clk.Advance(time.Minute)
	mustLoad(t, s)
	step("new commit", counts{2, 2, 1}, "com.example/a@1.0.0", "com.example/b@1.0.0", "com.example/c@2.0.0")
	goodSnap := s.Snapshot()

	broken := r.write("servers/b/server.json", []byte(`{"name": "com.example/b",`)).commit("broken")
	clk.Advance(time.Minute)
	err := s.Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), "servers/b/server.json") || !strings.Contains(err.Error(), broken.String()[:12]) {
		t.Fatalf("a broken commit: error %v, want one naming servers/b/server.json and the commit", err)
	}
	st := s.Status()
	if st.State() != "stale" || s.Snapshot() != goodSnap || s.Commit() != good.String() {
		t.Fatalf("a broken commit: state %q, commit %s; want stale and still serving %s", st.State(), s.Commit(), good)
	}
	step("broken commit", counts{3, 3, 1}, "com.example/a@1.0.0", "com.example/b@1.0.0", "com.example/c@2.0.0")

	// Unchanged and still broken: the same error, nothing fetched.
	clk.Advance(time.Minute)
	if err2 := s.Load(context.Background()); errString(err2) != st.LastError {
		t.Fatalf("an unchanged broken ref: error %v, want %q", err2, st.LastError)
	}
	if s.Status().State() != "stale" {
		t.Fatalf("an unchanged broken ref: state %q", s.Status().State())
	}
	step("broken again", counts{4, 3, 1}, "com.example/a@1.0.0", "com.example/b@1.0.0", "com.example/c@2.0.0")

	// The branch is reset to the good commit: fine again, nothing fetched.
	r.setBranch("main", good)
	clk.Advance(time.Minute)
	mustLoad(t, s)
	if s.Snapshot() != goodSnap {
		t.Fatal("the ref back at the installed commit replaced the snapshot")
	}
	step("reset to good", counts{5, 3, 1}, "com.example/a@1.0.0", "com.example/b@1.0.0", "com.example/c@2.0.0")

	fixed := r.write("servers/b/server.json", serverJSON("com.example/b", "1.1.0")).commit("fixed")
	clk.Advance(time.Minute)
	mustLoad(t, s)
	step("fixed", counts{6, 4, 1}, "com.example/a@1.0.0", "com.example/b@1.1.0", "com.example/c@2.0.0")
	if s.Commit() != fixed.String() {
		t.Fatalf("Commit() = %s, want %s", s.Commit(), fixed)
	}

	// Back to a commit already in the clone: read again, not fetched.
	r.setBranch("main", good)
	mustLoad(t, s)
	step("back to an older commit", counts{7, 4, 1}, "com.example/a@1.0.0", "com.example/b@1.0.0", "com.example/c@2.0.0")
}

// TestLimits: the file and byte limits, and bad paths, fail the load with
// an error naming what was too much.
func TestLimits(t *testing.T) {
	t.Parallel()
	registry := testdata(t, "toolhive", "data-registry.json")
	tests := []struct {
		name     string
		path     string
		maxFiles int
		maxBytes int64
		wantErr  string // empty: loads
	}{
		{"files at the limit", "servers", 3, 0, ""},
		{"too many files", "servers", 2, 0, "servers: more than 2 server.json files"},
		{"bytes at the limit", "servers", 0, 3 * int64(len(serverJSON("com.example/s0", "1.0.0"))), ""},
		{"too many bytes in a directory", "servers", 0, 100, "servers: server.json files exceed the limit of 100 bytes"},
		{"file at the limit", "registry.json", 0, int64(len(registry)), ""},
		{"file too big", "registry.json", 0, 1000, "registry.json: 1515 bytes exceeds the limit of 1000"},
		{"missing path", "nope.json", 0, 0, "nope.json: file does not exist"},
		{"not a registry", "notes.txt", 0, 0, "notes.txt:"},
		{"a version twice", "dups", 0, 0, `server "com.example/dup" version "1.0.0" appears more than once`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newTestRepo(t)
			for i := range 3 {
				name := "com.example/s" + string(rune('0'+i))
				r.write("servers/"+name[len("com.example/"):]+"/server.json", serverJSON(name, "1.0.0"))
			}
			r.write("registry.json", registry).write("notes.txt", []byte("hello")).
				write("dups/x/server.json", serverJSON("com.example/dup", "1.0.0")).
				write("dups/y/server.json", serverJSON("com.example/dup", "1.0.0")).
				commit("data")
			s, _ := newSource(t, Options{Repository: r.url(), Path: tt.path, MaxFiles: tt.maxFiles, MaxBytes: tt.maxBytes})
			err := s.Load(context.Background())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load: %v, want an error containing %q", err, tt.wantErr)
			}
			if st := s.Status(); st.State() != "failed" || s.Snapshot() != nil {
				t.Fatalf("state %q with a snapshot %v, want failed with none", st.State(), s.Snapshot() != nil)
			}
		})
	}
}

// TestRestart: a new source on the same clone and state directories serves
// the persisted snapshot before loading, reuses the clone, and fetches only
// what moved while it was down.
func TestRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		move    bool // main moves while the source is down
		want    counts
		pinned  bool
		changed bool
	}{
		{name: "branch unchanged", opts: Options{Branch: "main"}, want: counts{lists: 1}},
		{name: "branch moved", opts: Options{Branch: "main"}, move: true, want: counts{lists: 1, fetches: 1}, changed: true},
		{name: "pinned commit", pinned: true, move: true, want: counts{}},
	}
	for _, tt := range tests {
		for _, via := range transports {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				t.Parallel()
				restart(t, via, tt.opts, tt.pinned, tt.move, tt.changed, local(via, tt.want))
			})
		}
	}
}

// restart loads, stops, optionally moves main, and starts a second source
// on the same directories. A fetched clone must be reused, not replaced.
func restart(t *testing.T, via string, o Options, pinned, move, changed bool, want counts) {
	t.Helper()
	r := newTestRepo(t)
	c1 := r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
	r.allowSHA()
	if pinned {
		o.Commit = c1.String()
	}
	o.Repository, o.Path, o.CloneDir, o.StateDir = r.at(t, via), "registry.json", t.TempDir(), t.TempDir()
	s1, _ := newSource(t, o)
	first := mustLoad(t, s1)
	marker := filepath.Join(o.CloneDir, "objects", "keep-me")
	if via == "http" {
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if move {
		r.write("registry.json", testdata(t, "catalog", "official-seed.json")).commit("second")
	}

	s2, _ := newSource(t, o)
	if !s2.Restore() {
		t.Fatal("nothing restored")
	}
	st := s2.Status()
	if st.State() != "restored" || s2.Snapshot().Revision != first.Revision || st.Entries != 2 {
		t.Fatalf("restored: state %q, %d entries, revision %s; want restored, 2, %s", st.State(), st.Entries, s2.Snapshot().Revision, first.Revision)
	}
	snap := mustLoad(t, s2)
	if got := s2.counts(); got != want {
		t.Fatalf("after the restart: %+v, want %+v (no clone)", got, want)
	}
	if via == "http" {
		if _, err := os.Stat(marker); err != nil {
			t.Fatalf("the clone was replaced: %v", err)
		}
	}
	if got := snap.Revision != first.Revision; got != changed {
		t.Fatalf("snapshot changed %v, want %v", got, changed)
	}
	if s2.Commit() == "" {
		t.Fatal("no commit after the first load")
	}
}

// TestCloneDir: the clone directory is created, reset when it holds this
// source's clone of another repository, and never taken over otherwise.
func TestCloneDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantErr string
	}{
		{name: "missing", setup: func(t *testing.T, dir string) { _ = os.Remove(dir) }},
		{name: "empty", setup: func(*testing.T, string) {}},
		{name: "a clone of another repository", setup: func(t *testing.T, dir string) {
			other := newTestRepo(t)
			other.write("registry.json", testdata(t, "catalog", "official-seed.json")).commit("other")
			s, _ := newSource(t, Options{Repository: other.httpURL(t), CloneDir: dir, Path: "registry.json"})
			mustLoad(t, s)
		}},
		{name: "someone else's files", setup: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantErr: "is not empty and is not a clone made by mcpfed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newTestRepo(t)
			r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
			dir := filepath.Join(t.TempDir(), "clone")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			s, _ := newSource(t, Options{Repository: r.httpURL(t), CloneDir: dir, Path: "registry.json"})
			err := s.Load(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load: %v, want %q", err, tt.wantErr)
				}
				if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
					t.Fatalf("files in the directory were touched: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := names(s.Snapshot()); len(got) != 2 || s.counts().clones != 1 {
				t.Fatalf("served %v after %d clones", got, s.counts().clones)
			}
		})
	}
}

// TestPinnedCommit: a pinned commit is fetched by hash, or, from a server
// that does not allow that, with every branch and tag; a commit the remote
// (or the local repository) does not have fails the load.
func TestPinnedCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		via         string
		allowSHA    bool
		missing     bool
		wantFetches int64
		wantErr     string
	}{
		{name: "by hash", via: "http", allowSHA: true, wantFetches: 1},
		{name: "server without fetch by hash", via: "http", wantFetches: 2},
		{name: "unknown commit", via: "http", allowSHA: true, missing: true, wantFetches: 1, wantErr: "fetch:"},
		{name: "unknown commit, server without fetch by hash", via: "http", missing: true, wantFetches: 2, wantErr: "not found on the remote"},
		{name: "local", via: "local"},
		{name: "unknown commit, local", via: "local", missing: true, wantErr: "not found in the repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newTestRepo(t)
			c1 := r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
			r.write("registry.json", testdata(t, "catalog", "official-seed.json")).commit("second")
			if tt.allowSHA {
				r.allowSHA()
			}
			if tt.missing {
				c1 = plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")
			}
			s, _ := newSource(t, Options{Repository: r.at(t, tt.via), Commit: c1.String(), Path: "registry.json", CloneDir: t.TempDir()})
			err := s.Load(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load: %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := s.counts(); got.fetches != tt.wantFetches || got.lists != 0 {
				t.Fatalf("%+v, want %d fetches and no listing", got, tt.wantFetches)
			}
			if tt.wantErr != "" {
				return
			}
			if got := names(s.Snapshot()); len(got) != 2 || s.Commit() != c1.String() {
				t.Fatalf("served %v at %s, want the first commit's 2 servers", got, s.Commit())
			}
			mustLoad(t, s)
			if got := s.counts(); got.fetches != tt.wantFetches || got.lists != 0 {
				t.Fatalf("second load: %+v, want nothing more", got)
			}
		})
	}
}

// TestAdmit: the source's filter applies to what is installed.
func TestAdmit(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t)
	r.write("registry.json", testdata(t, "catalog", "official-seed.json")).commit("seed")
	s, _ := newSource(t, Options{
		Repository: r.url(), Path: "registry.json",
		Admit: func(e *upstream.Entry) bool { return strings.HasSuffix(e.Name, "-pypi") },
	})
	if got := names(mustLoad(t, s)); !slices.Equal(got, []string{"io.github.domdomegg/time-mcp-pypi@1.0.6"}) {
		t.Fatalf("served %v", got)
	}
}

// TestRun: Run loads at once, follows the branch every Interval and stops
// with its context.
func TestRun(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t)
	r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
	s, err := New(Options{Name: "run", Repository: r.url(), Path: "registry.json", Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (status %+v)", what, s.Status())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("the first load", func() bool { return s.Snapshot() != nil })
	c2 := r.write("registry.json", testdata(t, "catalog", "official-seed.json")).commit("second")
	waitFor("the second commit", func() bool { return s.Commit() == c2.String() && s.Snapshot().Len() == 4 })
}

// TestRunStops: Run ends with its context, whatever its interval.
func TestRunStops(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t)
	r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
	s, _ := newSource(t, Options{Repository: r.dir, Path: "registry.json", Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.Snapshot() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no load: %+v", s.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if s.Snapshot().Len() != 2 {
		t.Fatalf("served %d entries", s.Snapshot().Len())
	}
}
