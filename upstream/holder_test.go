package upstream

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// answersWithin fails the test unless f returns within d (the bound is
// generous for a loaded machine; before the fix these calls never returned
// while a load was running).
func answersWithin(t *testing.T, what string, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s blocked for more than %s while a load was running", what, d)
	}
}

// TestHolderStatusNeverWaitsForALoad: Status, Restore and a second attempt
// with an ending context all answer while a load is stuck.
func TestHolderStatusNeverWaitsForALoad(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	snap := mustSnapshot(t, "h", []*Entry{newTestEntry(t, "com.example/a", "1.0.0", mtime0)}, mtime0)
	if err := NewStateDirStore(stateDir, "h", "file", 0).Save(snap, mtime0); err != nil {
		t.Fatal(err)
	}
	h := NewHolder(HolderOptions{Name: "h", Kind: "file", StateDir: stateDir, Clock: func() time.Time { return mtime0 }})

	started, release, finished := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		finished <- h.Attempt(context.Background(), "stuck", func(context.Context, time.Time) error {
			close(started)
			<-release
			return errors.New("released")
		})
	}()
	<-started
	t.Cleanup(func() {
		close(release)
		<-finished
	})

	answersWithin(t, "Status", time.Second, func() {
		// A first attempt still running is pending, not "ok".
		if st := h.Status(); !st.LastAttempt.IsZero() || st.Loaded || !st.Loading || st.State() != "loading" {
			t.Errorf("status during the load: %+v (%s)", st, st.State())
		}
	})
	answersWithin(t, "Restore", time.Second, func() {
		if !h.Restore() {
			t.Error("nothing restored while the first load runs")
		}
	})
	answersWithin(t, "Status after Restore", time.Second, func() {
		if st := h.Status(); !st.Loaded || st.Entries != 1 {
			t.Errorf("status after restore: %+v", st)
		}
	})
	answersWithin(t, "a second attempt with a deadline", time.Second, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		err := h.Attempt(ctx, "second", func(context.Context, time.Time) error {
			t.Error("the second attempt ran beside the first")
			return nil
		})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "already running") {
			t.Errorf("second attempt: %v", err)
		}
	})
}

// TestFileSourceLoadTimeout: a load has a deadline of its own, whatever
// the caller's context: a URL that never answers fails the load after
// LoadTimeout, with the source's status readable meanwhile.
func TestFileSourceLoadTimeout(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	srv := newHangingServer(t, hang)
	src := mustFileSource(t, FileOptions{Name: "slow", Path: srv.URL + "/reg.json", HTTPClient: srv.Client(), LoadTimeout: 100 * time.Millisecond})
	answersWithin(t, "Load", 5*time.Second, func() {
		err := src.Load(context.Background())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Load of a URL that never answers: %v", err)
		}
	})
	if st := src.Status(); st.State() != "failed" {
		t.Errorf("state %q", st.State())
	}
}

// TestFileSourceContract: a file source is what the process runs, resyncs
// and reports on, with no type assertion.
func TestFileSourceContract(t *testing.T) {
	t.Parallel()
	var s interface {
		Name() string
		Load(context.Context) error
		Run(context.Context)
		Resync(context.Context) error
		Status() SourceStatus
	}
	path := filepath.Join(t.TempDir(), "seed.json")
	writeAt(t, path, readTestdata(t, "catalog", "official-seed.json"), mtime0)
	src := mustFileSource(t, FileOptions{Name: "seed", Path: path})
	s = src
	if err := s.Resync(context.Background()); err != nil || s.Status().State() != "ok" || s.Name() != "seed" {
		t.Errorf("Resync: %v, %+v", err, s.Status())
	}
}
