package publish

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream/managed"
)

// TestOverSQLite runs the handlers over the real store (SQLite) with the
// managed source reloaded after each write: what is published is served
// at once, status changes are too, a re-publish is refused, and of
// concurrent publishes of one version exactly one wins.
func TestOverSQLite(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), store.Config{Driver: store.DriverSQLite}, store.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	src, err := managed.New(managed.Options{Name: "internal", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Store: st, AfterWrite: func(ctx context.Context) { _ = src.Load(ctx) }})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h, clock: newClock()}
	tok := e.token(Permission{ActionPublish, "com.acme/*"})

	if w := e.do("POST", "/v0/publish", tok, serverJSON(acme, "1.0.0")); w.Code != http.StatusOK {
		t.Fatalf("publish: %d %s", w.Code, w.Body)
	}
	if got := src.Snapshot().Get(acme, "1.0.0"); got == nil || !got.IsLatest {
		t.Fatalf("not served after the publish: %+v", got)
	}
	if w := e.do("POST", "/v0/publish", tok, serverJSON(acme, "1.0.0")); w.Code != http.StatusBadRequest {
		t.Fatalf("re-publish: %d %s", w.Code, w.Body)
	}
	if w := e.do("PATCH", "/v0/servers/com.acme%2Fweather/versions/1.0.0/status", tok, []byte(`{"status":"deprecated","statusMessage":"old"}`)); w.Code != http.StatusOK {
		t.Fatalf("status: %d %s", w.Code, w.Body)
	}
	if got := src.Snapshot().Get(acme, "1.0.0"); got.Status != "deprecated" || got.StatusMessage != "old" {
		t.Fatalf("status not served: %+v", got)
	}
	if w := e.do("PATCH", "/v0/servers/com.acme%2Fweather/status", tok, []byte(`{"status":"deprecated","statusMessage":"old"}`)); w.Code != http.StatusBadRequest {
		t.Fatalf("status without change: %d %s", w.Code, w.Body)
	}

	var ok, dup atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			switch w := e.do("POST", "/v0.1/publish", tok, serverJSON(acme, "2.0.0")); w.Code {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusBadRequest:
				dup.Add(1)
			default:
				t.Errorf("concurrent publish: %d %s", w.Code, w.Body)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || dup.Load() != 19 {
		t.Errorf("%d published, %d refused; want 1 and 19", ok.Load(), dup.Load())
	}
	changes, err := st.Changes(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 {
		t.Errorf("%d changes, want 3 (publish, status, publish): %+v", len(changes), changes)
	}
	if latest := src.Snapshot().Latest(acme); latest == nil || latest.Version != "2.0.0" {
		t.Errorf("latest %+v", latest)
	}
}
