package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/credential"
	"github.com/mcpfed/mcpfed/upstream"
)

// TestLoadTimeout: a remote that never answers, when listing refs or when
// sending the pack, ends the load at LoadTimeout, and Status answers at
// once meanwhile.
func TestLoadTimeout(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"list", "fetch"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			r := newTestRepo(t)
			r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
			backend := gitHTTPServer(t, r, "", "")
			stuck, quit := make(chan struct{}, 10), make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if stage == "list" || req.Method == http.MethodPost {
					_, _ = io.Copy(io.Discard, req.Body)
					stuck <- struct{}{}
					select { // never answers; the client gives up
					case <-req.Context().Done():
					case <-quit:
					}
					return
				}
				backend.Config.Handler.ServeHTTP(w, req)
			}))
			srv.Config.SetKeepAlivesEnabled(false)
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(quit) }) // first: handlers end, then the server closes

			s, _ := newSource(t, Options{Repository: srv.URL + "/" + filepath.Base(r.dir), Path: "registry.json", LoadTimeout: 300 * time.Millisecond})
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- s.Load(context.Background()) }()
			<-stuck
			statusStart := time.Now()
			if st := s.Status(); st.Loaded {
				t.Errorf("status %+v during the first load", st)
			}
			if d := time.Since(statusStart); d > 100*time.Millisecond {
				t.Errorf("Status took %v during a load", d)
			}
			select {
			case err := <-done:
				if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") {
					t.Fatalf("Load: %v, want the deadline", err)
				}
				t.Logf("ended after %v: %v", time.Since(start), err)
			case <-time.After(10 * time.Second):
				t.Fatal("the load outlived its timeout")
			}
		})
	}
}

// TestLoadWaitsOnContext: a load waiting for another one to finish gives
// up when its context ends.
func TestLoadWaitsOnContext(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t)
	r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
	release := make(chan struct{})
	stuck := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		stuck <- struct{}{}
		select {
		case <-release:
		case <-req.Context().Done():
		}
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	srv.Config.SetKeepAlivesEnabled(false)
	t.Cleanup(srv.Close)
	s, _ := newSource(t, Options{Repository: srv.URL + "/r.git", Path: "registry.json"})
	first := make(chan error, 1)
	go func() { first <- s.Load(context.Background()) }()
	<-stuck
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Resync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Resync behind a running load: %v, want the deadline", err)
	}
	close(release)
	if err := <-first; err == nil {
		t.Fatal("the first load succeeded against a 503")
	}
}

// TestCommitDate: entries that carry no date are dated by the commit, so
// two sources (two replicas, or a restart) on different clocks serve the
// same bytes.
func TestCommitDate(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t)
	undated := "[" + string(serverJSON("com.example/a", "1.0.0")) + "," + string(serverJSON("com.example/b", "1.0.0")) + "]"
	r.write("registry.json", []byte(undated)).commit("first")
	commitTime := r.when
	a, clkA := newSource(t, Options{Repository: r.url(), Path: "registry.json"})
	b, clkB := newSource(t, Options{Repository: r.url(), Path: "registry.json"})
	clkB.Advance(72 * time.Hour)
	snapA, snapB := mustLoad(t, a), mustLoad(t, b)
	for _, e := range snapA.Entries() {
		if !e.PublishedAt.Equal(commitTime) || !e.UpdatedAt.Equal(commitTime) {
			t.Fatalf("%s dated %v / %v, want the commit time %v", e.Name, e.PublishedAt, e.UpdatedAt, commitTime)
		}
	}
	if snapA.Revision != snapB.Revision {
		t.Fatalf("revisions %s and %s differ on different clocks", snapA.Revision, snapB.Revision)
	}
	// A later load of the same commit on a later clock changes nothing.
	clkA.Advance(time.Hour)
	if err := a.Resync(context.Background()); err != nil || a.Snapshot() != snapA {
		t.Fatalf("Resync: %v, snapshot replaced %v", err, a.Snapshot() != snapA)
	}
}

// TestReadOnly: a read-only source (mcpfed check) restores the persisted
// snapshot, loads without touching the state or clone directories (or the
// repository), and Close removes its temporary clone; a local repository
// needs none.
func TestReadOnly(t *testing.T) {
	t.Parallel()
	for _, via := range transports {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			r := newTestRepo(t)
			r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
			o := Options{Repository: r.at(t, via), Path: "registry.json", CloneDir: t.TempDir(), StateDir: t.TempDir()}
			server, _ := newSource(t, o)
			persisted := mustLoad(t, server)
			r.write("registry.json", testdata(t, "catalog", "official-seed.json")).commit("second")
			before := listTree(t, o.StateDir, o.CloneDir, r.dir)

			o.ReadOnly = true
			check, _ := newSource(t, o)
			if !check.Restore() || check.Snapshot().Revision != persisted.Revision || check.Status().State() != "restored" {
				t.Fatalf("the persisted snapshot was not restored: %+v", check.Status())
			}
			if got := mustLoad(t, check); got.Len() != 4 {
				t.Fatalf("served %d entries, want the new commit's 4", got.Len())
			}
			if after := listTree(t, o.StateDir, o.CloneDir, r.dir); !slices.Equal(after, before) {
				t.Fatalf("a read-only load wrote:\nbefore %v\nafter  %v", before, after)
			}
			temp := check.tempDir
			if (temp != "") != (via == "http") {
				t.Fatalf("temporary clone %q for a %s repository", temp, via)
			}
			if err := check.Close(); err != nil {
				t.Fatal(err)
			}
			if temp != "" {
				if _, err := os.Stat(temp); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("the temporary clone outlived Close: %v", err)
				}
			}
			if err := check.Load(context.Background()); !errors.Is(err, ErrClosed) {
				t.Fatalf("Load after Close: %v", err)
			}
		})
	}
}

// listTree lists every file under the directories with its size and
// modification time.
func listTree(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, dir := range dirs {
		err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			out = append(out, fmt.Sprintf("%s %v %d", p, info.ModTime(), info.Size()))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestNoTemporaryCloneLeft: without a CloneDir, the clone is temporary and
// Close removes it.
func TestNoTemporaryCloneLeft(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t)
	r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
	s, _ := newSource(t, Options{Repository: r.httpURL(t), Path: "registry.json"})
	mustLoad(t, s)
	temp := s.tempDir
	if _, err := os.Stat(filepath.Join(temp, markerFile)); err != nil {
		t.Fatalf("no temporary clone: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(temp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary clone outlived Close: %v", err)
	}
}

// TestRedacted: a token in the repository URL's query is dialled but
// appears in no error, status or log line.
func TestRedacted(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Error(w, "nope: "+req.URL.String(), http.StatusNotFound)
	}))
	srv.Config.SetKeepAlivesEnabled(false)
	t.Cleanup(srv.Close)
	s, _ := newSource(t, Options{
		Repository: srv.URL + "/r.git?private_token=hunter2", Path: "registry.json",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	err := s.Load(context.Background())
	if err == nil {
		t.Fatal("Load succeeded against a 404")
	}
	for _, text := range []string{err.Error(), s.Status().LastError, logs.String()} {
		if strings.Contains(text, "hunter2") {
			t.Fatalf("the token leaked into %q", text)
		}
	}
	if !strings.Contains(err.Error(), srv.URL+"/r.git") {
		t.Fatalf("error %q does not say where", err)
	}
}

// TestEmptyCredentialFile: an empty secret file is an error of its own,
// found before anything is sent.
func TestEmptyCredentialFile(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := newSource(t, Options{Repository: "https://127.0.0.1:1/r.git", TokenFile: empty})
	if err := s.Load(context.Background()); !errors.Is(err, credential.ErrEmpty) {
		t.Fatalf("Load: %v, want credential.ErrEmpty", err)
	}
	if st := s.Status(); st.State() != "failed" || st.Kind != Kind {
		t.Fatalf("status %+v", st)
	}
	var _ upstream.SourceStatus = s.Status()
}

// TestInterruptedLoadRetried: a load cut short by its context does not
// mark the commit as broken: the next load reads it.
func TestInterruptedLoadRetried(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t)
	r.write("servers/a/server.json", serverJSON("com.example/a", "1.0.0")).commit("first")
	s, _ := newSource(t, Options{Repository: r.url(), Path: "servers"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// The attempt itself starts (Attempt could give up first on an ended
	// context); the load inside it finds the context ended.
	err := s.Attempt(context.Background(), s.where, func(_ context.Context, now time.Time) error { return s.load(ctx, now) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a load with an ended context: %v", err)
	}
	if got := names(mustLoad(t, s)); !slices.Equal(got, []string{"com.example/a@1.0.0"}) {
		t.Fatalf("served %v", got)
	}
}
