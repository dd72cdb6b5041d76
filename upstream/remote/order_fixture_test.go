package remote

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// collVersion is one version of the collation dataset.
type collVersion struct {
	name, version   string
	deleted, latest bool
}

// collDataset has names with upper case, _, -, . and digits, which a
// language-aware collation orders unlike bytes ("a_b" before "a-b", "Zeta"
// after lower case), n names in all. Its last name's highest version is
// deleted yet keeps isLatest, as the official registry leaves it.
func collDataset(n int) []collVersion {
	stems := []string{"a_b", "a-b", "a.b", "a10", "a9", "alpha", "Zeta", "zeta", "B-2", "b_1", "Tool.x", "tool-x"}
	var out []collVersion
	for i := range n {
		name := fmt.Sprintf("io.github.acme/%s", stems[i%len(stems)])
		if i >= len(stems) {
			name = fmt.Sprintf("io.github.acme%d/%s", i/len(stems), stems[i%len(stems)])
		}
		switch i % 3 {
		case 0:
			out = append(out, collVersion{name: name, version: "1.0.0", latest: true})
		case 1:
			out = append(out, collVersion{name: name, version: "1.9.0"}, collVersion{name: name, version: "1.10.0", latest: true})
		default:
			out = append(out, collVersion{name: name, version: "0.1.0"}, collVersion{name: name, version: "2.0.0-rc.1", latest: true})
		}
	}
	last := &out[len(out)-1]
	out = append(out, collVersion{name: last.name, version: "3.0.0", deleted: true, latest: true})
	last.latest = false
	return out
}

func collEntries(vs []collVersion) []json.RawMessage {
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	out := make([]json.RawMessage, len(vs))
	for i, v := range vs {
		o := upstreamtest.Official{PublishedAt: base.Add(time.Duration(i) * time.Minute), UpdatedAt: base.Add(time.Duration(i) * time.Minute), IsLatest: v.latest}
		if v.deleted {
			o.Status = upstreamtest.StatusDeleted
		}
		out[i] = upstreamtest.CollatedEntry(v.name, v.version, o)
	}
	return out
}

// byteOrder is the dataset's name@version keys in mcpfed's order.
func byteOrder(vs []collVersion) []string {
	keys := make([]upstream.Key, len(vs))
	for i, v := range vs {
		keys[i] = upstream.Key{Name: v.name, Version: v.version}
	}
	slices.SortFunc(keys, upstream.Key.Compare)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Name + "@" + k.Version
	}
	return out
}

// collUpstream serves a collation-ordered registry (upstreamtest.Collated)
// whose content a test may replace, fail or hold, and counts list requests.
type collUpstream struct {
	coll    atomic.Pointer[upstreamtest.Collated]
	lists   atomic.Int64
	fail    atomic.Bool
	gate    atomic.Pointer[chan struct{}] // when set, list requests wait for it to close
	arrived chan struct{}                 // a held request has arrived
}

func newCollUpstream(t *testing.T, vs []collVersion) *collUpstream {
	t.Helper()
	u := &collUpstream{arrived: make(chan struct{}, 64)}
	u.set(t, vs)
	return u
}

func (u *collUpstream) set(t *testing.T, vs []collVersion) {
	t.Helper()
	c, err := upstreamtest.NewCollated(collEntries(vs))
	if err != nil {
		t.Fatal(err)
	}
	u.coll.Store(c)
}

// hold makes list requests wait until the returned function is called.
func (u *collUpstream) hold() (release func()) {
	ch := make(chan struct{})
	u.gate.Store(&ch)
	var once sync.Once
	return func() { once.Do(func() { u.gate.Store(nil); close(ch) }) }
}

func (u *collUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/servers") {
		u.lists.Add(1)
		if g := u.gate.Load(); g != nil {
			select {
			case u.arrived <- struct{}{}:
			default:
			}
			select {
			case <-*g:
			case <-r.Context().Done():
				return
			}
		}
	}
	if u.fail.Load() {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	u.coll.Load().ServeHTTP(w, r)
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// newOrderedLive builds a live source over u (order upstream, page size 7,
// unless mod says otherwise) on an injected clock; it closes before u's
// server does.
func newOrderedLive(t *testing.T, u http.Handler, clock *upstreamtest.ManualClock, logs *lockedBuffer, mod func(*LiveOptions)) *Live {
	t.Helper()
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	o := LiveOptions{
		Client:    ClientOptions{Source: "coll", BaseURL: srv.URL, Transport: srv.Client().Transport, Timeout: 5 * time.Second},
		Breaker:   BreakerOptions{Failures: 5, OpenFor: time.Minute},
		PageCache: PageCacheOptions{MaxEntries: 100, Fresh: fresh, Stale: stale, FlightTimeout: 5 * time.Second},
		PageSize:  7,
		Order:     OrderUpstream,
		Crawl:     CrawlBounds{Timeout: 10 * time.Second},
		Clock:     clock.Now,
	}
	if logs != nil {
		o.Client.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mod != nil {
		mod(&o)
	}
	l, err := NewLive(o)
	if err != nil {
		t.Fatalf("NewLive: %v", err)
	}
	t.Cleanup(l.Close)
	return l
}

// pagesFor is how many list pages n entries take at size (the fake's
// last page has no next cursor).
func pagesFor(n, size int) int64 { return int64((n + size - 1) / size) }

func snapKeys(s *upstream.Snapshot) []string {
	out := make([]string, s.Len())
	for i, e := range s.Entries() {
		out[i] = e.Name + "@" + e.Version
	}
	return out
}
