package managed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/registry/pkg/model"
	"go.uber.org/goleak"

	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeStore is the part of store.Store a managed source reads, in memory:
// put adds a version and notifies the watchers; fail makes reads fail.
type fakeStore struct {
	mu      sync.Mutex
	servers []store.Server
	rev     int64
	fail    error
	reads   int
	notify  store.Notifier
}

func (f *fakeStore) put(s ...store.Server) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.servers = append(f.servers, s...)
	f.rev++
	f.notify.Signal()
}

func (f *fakeStore) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeStore) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *fakeStore) Servers(context.Context) ([]store.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	f.reads++
	return slices.Clone(f.servers), nil
}

func (f *fakeStore) Revision(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	return f.rev, nil
}

func (f *fakeStore) Watch(ctx context.Context) <-chan struct{} { return f.notify.Watch(ctx) }

func (f *fakeStore) Publish(context.Context, store.Server, string) (store.Server, error) {
	return store.Server{}, errors.New("not used")
}
func (f *fakeStore) SetStatus(context.Context, store.StatusChange, string) ([]store.Server, error) {
	return nil, errors.New("not used")
}
func (f *fakeStore) PutDecision(context.Context, store.Decision) error { return nil }
func (f *fakeStore) DeleteDecision(context.Context, string, string, string) error {
	return nil
}
func (f *fakeStore) Decisions(context.Context) ([]store.Decision, error) { return nil, nil }
func (f *fakeStore) Changes(context.Context, int64, int) ([]store.Change, error) {
	return nil, nil
}
func (f *fakeStore) Close() error { return nil }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func version(name, v string, latest bool, status string) store.Server {
	body, _ := json.Marshal(map[string]any{
		"$schema": model.CurrentSchemaURL, "name": name, "version": v, "description": "test server",
		"x-unknown": map[string]any{"kept": true},
	})
	return store.Server{
		Name: name, Version: v, Server: body, Status: status, IsLatest: latest,
		PublishedAt: t0, UpdatedAt: t0.Add(time.Hour), StatusChangedAt: t0.Add(time.Hour),
		Publisher: "github-oidc:repo:acme/x",
	}
}

func newSource(t *testing.T, st store.Store, mods ...func(*Options)) *Source {
	t.Helper()
	o := Options{Name: "internal", Store: st, Retry: 5 * time.Millisecond, Clock: func() time.Time { return t0.Add(24 * time.Hour) }}
	for _, m := range mods {
		m(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoad(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	dep := version("com.acme/weather", "1.0.0", false, "deprecated")
	dep.StatusMessage = "use 2.0.0"
	st.put(dep, version("com.acme/weather", "2.0.0", true, "active"), version("com.acme/gone", "0.1.0", true, "deleted"))
	s := newSource(t, st)
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	if snap.Len() != 3 {
		t.Fatalf("%d entries", snap.Len())
	}
	e := snap.Get("com.acme/weather", "1.0.0")
	if e.Status != model.StatusDeprecated || e.StatusMessage != "use 2.0.0" || e.IsLatest || !e.PublishedAt.Equal(t0) || !e.UpdatedAt.Equal(t0.Add(time.Hour)) || e.Source != "internal" {
		t.Errorf("entry %+v", e)
	}
	if l := snap.Latest("com.acme/weather"); l == nil || l.Version != "2.0.0" {
		t.Errorf("latest %+v", l)
	}
	if !strings.Contains(string(e.Encoded), `"x-unknown":{"kept":true}`) || !strings.Contains(string(e.Encoded), `"statusMessage":"use 2.0.0"`) {
		t.Errorf("encoded %s", e.Encoded)
	}
	st0 := s.Status()
	if st0.Kind != Kind || st0.Entries != 3 || st0.State() != "ok" {
		t.Errorf("status %+v", st0)
	}
	// Unchanged revision: no read, same snapshot.
	reads := st.readCount()
	if err := s.Load(t.Context()); err != nil || s.Snapshot() != snap || st.readCount() != reads {
		t.Errorf("unchanged load: err %v, rebuilt %t, reads %d", err, s.Snapshot() != snap, st.readCount()-reads)
	}
	// Resync reads whatever the revision.
	if err := s.Resync(t.Context()); err != nil || st.readCount() != reads+1 {
		t.Errorf("resync: err %v, reads %d", err, st.readCount()-reads)
	}
}

// TestBadRowSkipped: a stored version mcpfed cannot index does not hide
// the others.
func TestBadRowSkipped(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	bad := version("com.acme/weather", "1.0.0", true, "active")
	bad.Name = "com.acme/other" // the server.json says com.acme/weather
	broken := version("com.acme/broken", "1.0.0", true, "active")
	broken.Server = json.RawMessage(`{"name":"com.acme/broken"}`)
	st.put(bad, broken, version("com.acme/fine", "1.0.0", true, "active"))
	s := newSource(t, st)
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if snap := s.Snapshot(); snap.Len() != 1 || snap.Get("com.acme/fine", "1.0.0") == nil {
		t.Fatalf("%d entries", snap.Len())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRun: a write shows up after the store's notification; while the
// store fails, the last snapshot is served and the status says stale;
// when the store is back the source catches up without another
// notification.
func TestRun(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	st.put(version("com.acme/weather", "1.0.0", true, "active"))
	s := newSource(t, st)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	has := func(v string) func() bool {
		return func() bool { snap := s.Snapshot(); return snap != nil && snap.Get("com.acme/weather", v) != nil }
	}
	waitFor(t, "the first load", has("1.0.0"))
	st.put(version("com.acme/weather", "2.0.0", true, "active"))
	waitFor(t, "the write", has("2.0.0"))

	st.setFail(fmt.Errorf("connection refused: %w", store.ErrUnavailable))
	before := s.Snapshot()
	st.mu.Lock()
	st.rev++ // a write elsewhere, notified while reads fail
	st.servers = append(st.servers, version("com.acme/weather", "3.0.0", true, "active"))
	st.notify.Signal()
	st.mu.Unlock()
	waitFor(t, "the failed load", func() bool { return s.Status().State() == "stale" })
	if s.Snapshot() != before {
		t.Fatal("the snapshot changed while the store failed")
	}
	if !strings.Contains(s.Status().LastError, "store unavailable") {
		t.Errorf("last error %q", s.Status().LastError)
	}
	st.setFail(nil)
	waitFor(t, "recovery without a notification", has("3.0.0"))
	if s.Status().State() != "ok" {
		t.Errorf("status %+v", s.Status())
	}
}

// TestRestore: after a restart with the store down, the persisted snapshot
// is served.
func TestRestore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := &fakeStore{}
	st.put(version("com.acme/weather", "1.0.0", true, "active"))
	first := newSource(t, st, func(o *Options) { o.StateDir = dir })
	if err := first.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	down := &fakeStore{fail: store.ErrUnavailable}
	second := newSource(t, down, func(o *Options) { o.StateDir = dir })
	if !second.Restore() {
		t.Fatal("nothing restored")
	}
	if err := second.Load(t.Context()); err == nil {
		t.Fatal("load from a failing store succeeded")
	}
	if snap := second.Snapshot(); snap == nil || snap.Get("com.acme/weather", "1.0.0") == nil {
		t.Fatal("the restored snapshot is not served")
	}
	// A read-only source (mcpfed check) restores and never saves.
	ro := newSource(t, st, func(o *Options) { o.StateDir = t.TempDir(); o.ReadOnly = true })
	if err := ro.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ro.Restore() {
		t.Error("a read-only source saved its snapshot")
	}
}

func TestAdmit(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	st.put(version("com.acme/weather", "1.0.0", true, "active"), version("org.other/x", "1.0.0", true, "active"))
	s := newSource(t, st, func(o *Options) {
		o.Admit = func(e *upstream.Entry) bool { return strings.HasPrefix(e.Name, "com.acme/") }
	})
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if snap := s.Snapshot(); snap.Len() != 1 {
		t.Errorf("%d entries", snap.Len())
	}
}

func TestMeta(t *testing.T) {
	t.Parallel()
	s := version("com.acme/weather", "1.0.0", true, "active")
	s.UpdatedAt, s.StatusChangedAt = time.Time{}, time.Time{}
	b, err := Meta(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"io.modelcontextprotocol.registry/official":{"status":"active","statusChangedAt":"2026-03-01T12:00:00Z","publishedAt":"2026-03-01T12:00:00Z","updatedAt":"2026-03-01T12:00:00Z","isLatest":true}}`
	if string(b) != want {
		t.Errorf("meta\n got %s\nwant %s", b, want)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{Store: &fakeStore{}}); err == nil {
		t.Error("no name accepted")
	}
	if _, err := New(Options{Name: "x"}); err == nil {
		t.Error("no store accepted")
	}
}

// TestRunOverSQLite: with the real store, a write is served through Watch
// alone.
func TestRunOverSQLite(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), store.Config{Driver: store.DriverSQLite}, store.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := newSource(t, st, func(o *Options) { o.Clock = time.Now })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "the first load", func() bool { return s.Snapshot() != nil })
	v := version("com.acme/weather", "1.0.0", false, "active")
	if _, err := st.Publish(t.Context(), v, "tester"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the published version", func() bool {
		e := s.Snapshot().Get("com.acme/weather", "1.0.0")
		return e != nil && e.IsLatest
	})
}
