package remote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

func TestLiveOrderOptions(t *testing.T) {
	t.Parallel()
	base := func(order string) LiveOptions {
		return LiveOptions{Client: ClientOptions{BaseURL: "http://127.0.0.1:1"}, Order: order}
	}
	tests := []struct {
		name string
		o    LiveOptions
		want string // "" for valid
	}{
		{"default", base(""), ""},
		{"auto", base(OrderAuto), ""},
		{"bytes", base(OrderBytes), ""},
		{"upstream", base(OrderUpstream), ""},
		{"unknown", base("collation"), `order "collation" is not auto, bytes or upstream`},
		{"negative crawl bound", func() LiveOptions { o := base(""); o.Crawl.MaxEntries = -1; return o }(), "crawl.maxEntries must not be negative"},
		{"negative crawl timeout", func() LiveOptions { o := base(""); o.Crawl.Timeout = -1; return o }(), "crawl.timeout must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.o.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	o := base("")
	o.withDefaults()
	if o.Order != OrderAuto || o.Crawl != (CrawlBounds{DefaultCrawlMaxPages, DefaultCrawlMaxEntries, DefaultCrawlMaxBytes, DefaultCrawlTimeout}) {
		t.Errorf("defaults: order %q, crawl %+v", o.Order, o.Crawl)
	}
}

// TestLiveIndexListsEveryEntryInByteOrder: an upstream that lists in a
// language-aware collation, crawled at several page sizes, is indexed
// whole, in byte order, with the upstream's isLatest; forwarded, the same
// upstream's pages are not in byte order (what the index is for).
func TestLiveIndexListsEveryEntryInByteOrder(t *testing.T) {
	t.Parallel()
	vs := collDataset(30)
	want := byteOrder(vs)
	for _, pageSize := range []int{1, 7, 30, 100} {
		t.Run(fmt.Sprint("pageSize=", pageSize), func(t *testing.T) {
			t.Parallel()
			u := newCollUpstream(t, vs)
			l := newOrderedLive(t, u, newClock(), nil, func(o *LiveOptions) { o.PageSize = pageSize })
			if got := l.OrderMode(); got != OrderModeIndex {
				t.Fatalf("OrderMode() = %q, want %q", got, OrderModeIndex)
			}
			if upstreamOrder := u.coll.Load().Order(); slices.Equal(upstreamOrder, want) {
				t.Fatal("the upstream lists in byte order: the test would test nothing")
			}
			snap, err := l.ListIndex(ctxTimeout(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if got := snapKeys(snap); !slices.Equal(got, want) {
				t.Errorf("index\n  %q\nwant\n  %q", got, want)
			}
			if n, want := u.lists.Load(), pagesFor(len(vs), pageSize); n != want {
				t.Errorf("crawl made %d list requests, want %d", n, want)
			}
			for _, v := range vs {
				e := snap.Get(v.name, v.version)
				if e == nil || e.IsLatest != v.latest || e.Source != "coll" || (e.Status == "deleted") != v.deleted {
					t.Errorf("%s@%s: %+v, want latest %v, deleted %v", v.name, v.version, e, v.latest, v.deleted)
				}
			}
			if !l.Served() {
				t.Error("Served() is false after the index was built")
			}
		})
	}
}

// TestLiveAutoIndexesOnlyAfterDisorder: order auto forwards list queries
// (no index, no crawl) until disorder is reported, by the engine or by a
// page the source fetched; then it builds the index and keeps it.
func TestLiveAutoIndexesOnlyAfterDisorder(t *testing.T) {
	t.Parallel()
	vs := collDataset(12)
	tests := []struct {
		name   string
		report func(t *testing.T, l *Live)
	}{
		{"engine reports", func(t *testing.T, l *Live) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(l.ReportDisorder)
			}
			wg.Wait()
		}},
		{"page out of order", func(t *testing.T, l *Live) {
			resp, err := l.Fetch(ctxTimeout(t, 5*time.Second), l.FirstPage())
			if err != nil || inByteOrder(resp.Entries) {
				t.Fatalf("first page: %v, %v; want entries out of byte order", entryKeys(resp), err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, logs := newCollUpstream(t, vs), &lockedBuffer{}
			l := newOrderedLive(t, u, newClock(), logs, func(o *LiveOptions) { o.Order = "" })
			ctx := ctxTimeout(t, 10*time.Second)
			snap, err := l.ListIndex(ctx)
			if snap != nil || err != nil || l.OrderMode() != OrderModeBytes || u.lists.Load() != 0 {
				t.Fatalf("before disorder: ListIndex = %v, %v; mode %q; %d list requests", snap, err, l.OrderMode(), u.lists.Load())
			}
			tt.report(t, l)
			if got := l.OrderMode(); got != OrderModeIndex {
				t.Fatalf("after disorder: OrderMode() = %q", got)
			}
			snap, err = l.ListIndex(ctx)
			if err != nil || !slices.Equal(snapKeys(snap), byteOrder(vs)) {
				t.Fatalf("after disorder: ListIndex = %v, %v", snapKeys(snap), err)
			}
			l.ReportDisorder()
			if n := logs.count("upstream lists out of byte order"); n != 1 {
				t.Errorf("the switch was logged %d times, want once", n)
			}
			if st := l.IndexStatus(); st.Order != OrderAuto || st.Mode != OrderModeIndex || st.Entries != len(vs) || st.Building {
				t.Errorf("IndexStatus() = %+v", st)
			}
		})
	}
}

// TestLiveByteOrderedUpstreamStaysForwarded: pages in byte order never
// switch an auto source; order bytes never indexes, even when told of
// disorder (it logs that the configuration is wrong, once).
func TestLiveByteOrderedUpstreamStaysForwarded(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t), newClock()
	l := newLive(t, r, clock, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := l.Fetch(ctx, upstream.Request{Op: upstream.OpList, Limit: 2}); err != nil {
		t.Fatal(err)
	}
	if snap, err := l.ListIndex(ctx); snap != nil || err != nil || l.OrderMode() != OrderModeBytes {
		t.Errorf("auto over a byte-ordered upstream: ListIndex = %v, %v; mode %q", snap, err, l.OrderMode())
	}

	u, logs := newCollUpstream(t, collDataset(12)), &lockedBuffer{}
	lb := newOrderedLive(t, u, newClock(), logs, func(o *LiveOptions) { o.Order = OrderBytes })
	if _, err := lb.Fetch(ctx, lb.FirstPage()); err != nil {
		t.Fatal(err)
	}
	lb.ReportDisorder()
	if snap, err := lb.ListIndex(ctx); snap != nil || err != nil || lb.OrderMode() != OrderModeBytes {
		t.Errorf("order bytes: ListIndex = %v, %v; mode %q", snap, err, lb.OrderMode())
	}
	if n := logs.count("configured with order: bytes"); n != 1 {
		t.Errorf("order bytes with disorder logged %d times, want once", n)
	}
	if n := u.lists.Load(); n != 1 {
		t.Errorf("order bytes made %d list requests, want the one page asked", n)
	}
}

// TestLiveIndexRefresh: fresh, the index is served without a request;
// older, it is served at once while one background crawl refreshes it; a
// failed refresh keeps it (Stale) until cache.stale has passed, is not
// retried before cache.fresh, and then the error is returned.
func TestLiveIndexRefresh(t *testing.T) {
	t.Parallel()
	vs := collDataset(12)
	u, clock := newCollUpstream(t, vs), newClock()
	l := newOrderedLive(t, u, clock, nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	first, err := l.ListIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	crawl := u.lists.Load()

	clock.Advance(fresh - time.Second)
	if snap, err := l.ListIndex(ctx); snap != first || err != nil || u.lists.Load() != crawl {
		t.Fatalf("within cache.fresh: %v, %v, %d requests (want none)", snap == first, err, u.lists.Load()-crawl)
	}

	// Past fresh: the old index comes back at once while the refresh is held.
	grown := append(slices.Clone(vs), collVersion{name: "io.github.acme/A_new", version: "1.0.0", latest: true})
	u.set(t, grown)
	release := u.hold()
	clock.Advance(time.Second)
	for range 3 {
		idx, err := l.Index(ctx)
		if err != nil || idx.Snapshot != first || idx.Stale {
			t.Fatalf("while refreshing: same index %v, stale %v, %v", idx != nil && idx.Snapshot == first, idx != nil && idx.Stale, err)
		}
	}
	<-u.arrived
	if !l.IndexStatus().Building {
		t.Error("IndexStatus().Building is false during the refresh")
	}
	release()
	l.index.idle()
	second, err := l.ListIndex(ctx)
	if err != nil || !slices.Equal(snapKeys(second), byteOrder(grown)) {
		t.Fatalf("after the refresh: %v, %v", snapKeys(second), err)
	}
	if n, want := u.lists.Load()-crawl, pagesFor(len(grown), 7); n != want {
		t.Errorf("one refresh made %d list requests, want %d (one crawl)", n, want)
	}

	// A failed refresh keeps the index, marked stale, without a retry storm.
	u.fail.Store(true)
	clock.Advance(fresh)
	if snap, err := l.ListIndex(ctx); snap != second || err != nil {
		t.Fatalf("failing refresh: %v, %v", snap == second, err)
	}
	l.index.idle()
	before := u.lists.Load()
	for range 5 {
		idx, err := l.Index(ctx)
		if err != nil || idx.Snapshot != second || !idx.Stale {
			t.Fatalf("after a failed refresh: same %v, stale %v, %v", idx != nil && idx.Snapshot == second, idx != nil && idx.Stale, err)
		}
	}
	l.index.idle()
	if n := u.lists.Load() - before; n != 0 {
		t.Errorf("a failed refresh was retried %d times within cache.fresh", n)
	}
	if st := l.IndexStatus(); !strings.Contains(st.LastError, "500") || st.FailedAt.IsZero() {
		t.Errorf("IndexStatus() = %+v, want the failure", st)
	}

	clock.Advance(stale)
	if snap, err := l.ListIndex(ctx); snap != nil || err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("past cache.stale: %v, %v; want the build's error", snap, err)
	}
	// The upstream is back: the next call past the retry delay builds again.
	u.fail.Store(false)
	clock.Advance(fresh)
	if snap, err := l.ListIndex(ctx); err != nil || snap.Len() != len(grown) {
		t.Fatalf("upstream back: %v, %v", snap.Len(), err)
	}
}

// TestLiveIndexBounds: an upstream grown past the index's bounds fails the
// refresh with ErrCrawlTooLarge; the previous index is kept until
// cache.stale, then the error is returned. A first build past the bound
// is the error at once.
func TestLiveIndexBounds(t *testing.T) {
	t.Parallel()
	vs := collDataset(12)
	// What the small dataset's crawl reads, so that the byte bound fits it exactly.
	probe := newOrderedLive(t, newCollUpstream(t, vs), newClock(), nil, nil)
	if _, err := probe.ListIndex(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	size := probe.IndexStatus().Crawl.Bytes
	tests := []struct {
		name   string
		bounds CrawlBounds
		want   string
	}{
		{"entries", CrawlBounds{MaxEntries: len(vs)}, fmt.Sprintf("more than %d entries", len(vs))},
		{"pages", CrawlBounds{MaxPages: int(pagesFor(len(vs), 7))}, fmt.Sprintf("more than %d pages", pagesFor(len(vs), 7))},
		{"bytes", CrawlBounds{MaxBytes: size}, fmt.Sprintf("more than %d bytes", size)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, clock := newCollUpstream(t, vs), newClock()
			var big []collVersion
			for i := range 40 {
				big = append(big, collVersion{name: fmt.Sprintf("io.github.big/n-%02d", i), version: "1.0.0", latest: true})
			}
			l := newOrderedLive(t, u, clock, nil, func(o *LiveOptions) {
				o.Crawl = tt.bounds
				o.Crawl.Timeout = 10 * time.Second
			})
			ctx := ctxTimeout(t, 10*time.Second)
			first, err := l.ListIndex(ctx)
			if err != nil {
				t.Fatal(err)
			}
			u.set(t, append(slices.Clone(vs), big...))
			clock.Advance(fresh)
			if snap, err := l.ListIndex(ctx); snap != first || err != nil {
				t.Fatalf("refresh started: %v, %v", snap == first, err)
			}
			l.index.idle()
			idx, err := l.Index(ctx)
			if err != nil || idx.Snapshot != first || !idx.Stale {
				t.Fatalf("after the refresh past the bound: kept %v, stale %v, %v", idx != nil && idx.Snapshot == first, idx != nil && idx.Stale, err)
			}
			clock.Advance(stale)
			if _, err := l.ListIndex(ctx); !errors.Is(err, ErrCrawlTooLarge) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("past cache.stale: %v, want ErrCrawlTooLarge (%s)", err, tt.want)
			}

			// A new source over the big upstream never serves a partial index.
			l2 := newOrderedLive(t, u, newClock(), nil, func(o *LiveOptions) { o.Crawl = tt.bounds })
			if snap, err := l2.ListIndex(ctx); snap != nil || !errors.Is(err, ErrCrawlTooLarge) {
				t.Errorf("first build past the bound: %v, %v", snap, err)
			}
		})
	}
}

// TestLiveIndexFirstBuildIsShared: concurrent first callers share one
// crawl; one that gives up gets its context's error while the crawl goes
// on for the others.
func TestLiveIndexFirstBuildIsShared(t *testing.T) {
	t.Parallel()
	vs := collDataset(12)
	u := newCollUpstream(t, vs)
	l := newOrderedLive(t, u, newClock(), nil, nil)
	release := u.hold()
	impatient, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := l.ListIndex(impatient)
		gaveUp <- err
	}()
	<-u.arrived
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Errorf("a caller that gave up got %v, want context.Canceled", err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	const callers = 20
	snaps := make(chan *upstream.Snapshot, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			snap, err := l.ListIndex(ctx)
			if err != nil {
				t.Error(err)
			}
			snaps <- snap
		})
	}
	release()
	wg.Wait()
	close(snaps)
	var first *upstream.Snapshot
	for s := range snaps {
		if first == nil {
			first = s
		}
		if s != first || s.Len() != len(vs) {
			t.Fatalf("callers got different or partial indexes")
		}
	}
	if n, pages := u.lists.Load(), pagesFor(len(vs), 7); n != pages {
		t.Errorf("%d callers made %d list requests, want one crawl of %d", callers+1, n, pages)
	}
}

// TestLiveIndexGoesThroughBreakerAndRateLimit: the crawl spends the
// source's rate-limit budget (a budget too small for it fails the build
// without exceeding it) and stops at once while the breaker is open.
func TestLiveIndexGoesThroughBreakerAndRateLimit(t *testing.T) {
	t.Parallel()
	vs := collDataset(12)
	t.Run("rate limit", func(t *testing.T) {
		t.Parallel()
		u := newCollUpstream(t, vs)
		l := newOrderedLive(t, u, newClock(), nil, func(o *LiveOptions) {
			o.RateLimit = RateLimitOptions{PerMinute: 1, Burst: 2}
			o.Crawl.Timeout = 2 * time.Second // the third page would wait a minute
		})
		_, err := l.ListIndex(ctxTimeout(t, 10*time.Second))
		if !errors.Is(err, ErrRateLimited) {
			t.Errorf("ListIndex = %v, want ErrRateLimited", err)
		}
		if n := u.lists.Load(); n != 2 {
			t.Errorf("the crawl made %d requests with a burst of 2", n)
		}
	})
	t.Run("breaker", func(t *testing.T) {
		t.Parallel()
		u := newCollUpstream(t, vs)
		l := newOrderedLive(t, u, newClock(), nil, func(o *LiveOptions) { o.Breaker.Failures = 1 })
		l.ReportFault(errors.New("test fault"))
		_, err := l.ListIndex(ctxTimeout(t, 10*time.Second))
		if !errors.Is(err, upstream.ErrBreakerOpen) || u.lists.Load() != 0 {
			t.Errorf("breaker open: ListIndex = %v with %d requests, want ErrBreakerOpen and none", err, u.lists.Load())
		}
	})
}

// TestLiveIndexCloseStopsTheCrawl: Close ends a crawl held upstream, its
// waiters get an error, and nothing is left running (goleak).
func TestLiveIndexCloseStopsTheCrawl(t *testing.T) {
	t.Parallel()
	u := newCollUpstream(t, collDataset(12))
	l := newOrderedLive(t, u, newClock(), nil, nil)
	u.hold() // never released: only Close ends the crawl
	done := make(chan error, 1)
	go func() {
		_, err := l.ListIndex(ctxTimeout(t, 10*time.Second))
		done <- err
	}()
	<-u.arrived
	l.Close()
	if err := <-done; err == nil {
		t.Error("a waiter got an index from a crawl stopped by Close")
	}
	if _, err := l.ListIndex(ctxTimeout(t, time.Second)); !errors.Is(err, errIndexClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// TestLiveIndexWarmAndFilter: Warm builds the index of an order-upstream
// source (which is then ready), and the source's filter applies to it.
func TestLiveIndexWarmAndFilter(t *testing.T) {
	t.Parallel()
	vs := collDataset(12)
	u := newCollUpstream(t, vs)
	l := newOrderedLive(t, u, newClock(), nil, func(o *LiveOptions) {
		o.Admit = func(e *upstream.Entry) bool { return strings.Contains(e.Name, "/a") }
	})
	l.Warm(ctxTimeout(t, 10*time.Second), 10*time.Millisecond)
	if st := l.IndexStatus(); st.BuiltAt.IsZero() || !l.Served() {
		t.Fatalf("after Warm: %+v, served %v", st, l.Served())
	}
	snap, err := l.ListIndex(ctxTimeout(t, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range byteOrder(vs) {
		if strings.Contains(k, "/a") {
			want = append(want, k)
		}
	}
	if got := snapKeys(snap); !slices.Equal(got, want) {
		t.Errorf("filtered index %q, want %q", got, want)
	}
}

// TestDroppedRecordsAreCounted: a record that fails validation is skipped
// and counted in the answer, which the page cache keeps as it is, and in
// the index built from it.
func TestDroppedRecordsAreCounted(t *testing.T) {
	t.Parallel()
	page := `{"servers":[` +
		`{"server":` + string(upstreamtest.ServerJSON("io.github.acme/good", "1.0.0")) + `},` +
		`{"server":{"name":"not a valid name","version":"1.0.0"}},` +
		`{"server":{"name":"io.github.acme/noversion"}}` +
		`],"metadata":{}}`
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(page))
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	l := newOrderedLive(t, h, newClock(), nil, func(o *LiveOptions) { o.Order = OrderAuto })
	ctx := ctxTimeout(t, 10*time.Second)

	// A mirror's crawl counts them too (the crawl code is shared).
	m, err := NewMirror(MirrorOptions{Client: ClientOptions{Source: "m", BaseURL: srv.URL, Transport: srv.Client().Transport}, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(ctx); err != nil || m.LastCrawl().Dropped != 2 || m.Snapshot().Len() != 1 {
		t.Errorf("mirror: %v, %+v", err, m.LastCrawl())
	}

	for i := range 2 { // the second answer is the cached one
		resp, err := l.Fetch(ctx, l.FirstPage())
		if err != nil || len(resp.Entries) != 1 || resp.Dropped != 2 || resp.DropReason != upstream.DropInvalid {
			t.Fatalf("fetch %d: %v, dropped %d (%q), %v", i, entryKeys(resp), resp.Dropped, resp.DropReason, err)
		}
	}
	l.ReportDisorder()
	idx, err := l.Index(ctx)
	if err != nil || idx.Snapshot.Len() != 1 || idx.Dropped != 2 || idx.DropReason != upstream.DropInvalid {
		t.Fatalf("index: %+v, %v", idx, err)
	}
	if st := l.IndexStatus(); st.Dropped != 2 {
		t.Errorf("IndexStatus().Dropped = %d", st.Dropped)
	}
}

// TestLiveResync: a resync rebuilds the index at once, whatever its age;
// a forwarded source has nothing to resync.
func TestLiveResync(t *testing.T) {
	t.Parallel()
	vs := collDataset(6)
	u := newCollUpstream(t, vs)
	l := newOrderedLive(t, u, newClock(), nil, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := l.ListIndex(ctx); err != nil {
		t.Fatal(err)
	}
	grown := append(slices.Clone(vs), collVersion{name: "io.github.acme/a_new", version: "1.0.0", latest: true})
	u.set(t, grown)
	if snap, _ := l.ListIndex(ctx); snap.Len() != len(vs) {
		t.Fatalf("a fresh index changed without a resync: %d entries", snap.Len())
	}
	if err := l.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	if snap, err := l.ListIndex(ctx); err != nil || !slices.Equal(snapKeys(snap), byteOrder(grown)) {
		t.Errorf("after Resync: %v, %v", snapKeys(snap), err)
	}

	fwd := newOrderedLive(t, u, newClock(), nil, func(o *LiveOptions) { o.Order = OrderBytes })
	if err := fwd.Resync(ctx); !errors.Is(err, upstream.ErrNotResyncable) {
		t.Errorf("order bytes: Resync = %v, want ErrNotResyncable", err)
	}
}
