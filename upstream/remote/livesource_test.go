package remote

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

const fresh, stale = time.Minute, time.Hour

// newLive builds a live source over r on an injected clock; its Close runs
// before r's (cleanups run last-in first-out), so background refreshes end
// while the registry still answers.
func newLive(t *testing.T, r *upstreamtest.Registry, clock *upstreamtest.ManualClock, mod func(*LiveOptions)) *Live {
	t.Helper()
	o := LiveOptions{
		Client:    ClientOptions{Source: "live", BaseURL: r.URL, Transport: r.Client().Transport, Timeout: 5 * time.Second},
		Breaker:   BreakerOptions{Failures: 5, OpenFor: time.Minute},
		PageCache: PageCacheOptions{MaxEntries: 100, Fresh: fresh, Stale: stale, FlightTimeout: 5 * time.Second},
		Clock:     clock.Now,
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

func newClock() *upstreamtest.ManualClock { return upstreamtest.NewManualClock(t0) }

func TestNewLive(t *testing.T) {
	t.Parallel()
	if _, err := NewLive(LiveOptions{Client: ClientOptions{BaseURL: "not a url"}}); err == nil {
		t.Error("NewLive accepted an invalid client configuration")
	}
	// Zero options are usable: every part has defaults.
	r := newRegistry(t)
	l, err := NewLive(LiveOptions{Client: ClientOptions{Source: "zero", BaseURL: r.URL, Transport: r.Client().Transport}})
	if err != nil {
		t.Fatalf("NewLive: %v", err)
	}
	defer l.Close()
	if l.Name() != "zero" || l.PageSize() != 100 || l.Breaker().State() != gobreaker.StateClosed || l.Served() {
		t.Errorf("new Live: name %q, page size %d, breaker %s, served %v", l.Name(), l.PageSize(), l.Breaker().State(), l.Served())
	}
	resp, err := l.Fetch(ctxTimeout(t, 5*time.Second), listReq())
	if err != nil || len(resp.Entries) != 4 || resp.Entries[0].Source != "zero" {
		t.Fatalf("Fetch = %v, %v", entryKeys(resp), err)
	}
	if !l.Served() {
		t.Error("Served() is false after an answer")
	}
}

func TestLiveServesFreshPagesFromCache(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t), newClock()
	l := newLive(t, r, clock, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	first, err := l.Fetch(ctx, listReq())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		resp, err := l.Fetch(ctx, listReq())
		if err != nil || resp.Stale || !slices.Equal(entryKeys(resp), entryKeys(first)) {
			t.Fatalf("cached Fetch = %v (stale %v), %v", entryKeys(resp), resp != nil && resp.Stale, err)
		}
	}
	if n := r.Requests(); n != 1 {
		t.Errorf("21 identical Fetches made %d upstream requests, want 1", n)
	}
	// Another request is another page.
	if _, err := l.Fetch(ctx, upstream.Request{Op: upstream.OpList, Limit: 2}); err != nil {
		t.Fatal(err)
	}
	if n := r.Requests(); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
	clock.Advance(fresh - time.Second)
	if _, err := l.Fetch(ctx, listReq()); err != nil || r.Requests() != 2 {
		t.Errorf("within Fresh: err %v, requests %d, want 2", err, r.Requests())
	}
	clock.Advance(time.Second)
	resp, err := l.Fetch(ctx, listReq())
	if err != nil || resp.Stale || r.Requests() != 3 {
		t.Errorf("after Fresh: err %v, stale %v, requests %d, want a new fetch", err, resp != nil && resp.Stale, r.Requests())
	}
}

func TestLiveCoalescesConcurrentColdFetches(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t), newClock()
	// A slow answer keeps the flight open while the callers pile up.
	r.Inject(upstreamtest.Fault{Latency: 100 * time.Millisecond})
	var shared atomic.Int32
	l := newLive(t, r, clock, func(o *LiveOptions) { o.CacheObserver = &recordingObserver{shared: &shared} })
	ctx := ctxTimeout(t, 10*time.Second)
	const callers = 200
	start := make(chan struct{})
	results := make(chan []string, callers)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			<-start
			resp, err := l.Fetch(ctx, listReq())
			if err != nil {
				errs <- err
				return
			}
			results <- entryKeys(resp)
		})
	}
	close(start)
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Errorf("Fetch: %v", err)
	}
	for got := range results {
		if len(got) != 4 {
			t.Errorf("a caller got %v", got)
		}
	}
	if n := r.Requests(); n != 1 {
		t.Errorf("%d concurrent cold Fetches made %d upstream requests, want 1", callers, n)
	}
	if shared.Load() == 0 {
		t.Error("no caller was reported as sharing the flight")
	}
}

func TestLiveCallerGivingUpDoesNotCancelTheFetch(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t), newClock()
	r.Inject(upstreamtest.Fault{Latency: 200 * time.Millisecond, Times: 1})
	l := newLive(t, r, clock, nil)
	if _, err := l.Fetch(ctxTimeout(t, 20*time.Millisecond), listReq()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient Fetch = %v, want its own deadline", err)
	}
	// The flight runs on: the next caller joins it or finds its result cached.
	if resp, err := l.Fetch(ctxTimeout(t, 5*time.Second), listReq()); err != nil || len(resp.Entries) != 4 {
		t.Fatalf("Fetch = %v, %v", entryKeys(resp), err)
	}
	if n := r.Requests(); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
	if l.Breaker().State() != gobreaker.StateClosed {
		t.Errorf("breaker %s after a caller gave up", l.Breaker().State())
	}
}

func TestLiveServesStaleOnError(t *testing.T) {
	t.Parallel()
	t.Run("5xx", func(t *testing.T) {
		t.Parallel()
		r, clock := newRegistry(t), newClock()
		l := newLive(t, r, clock, nil)
		ctx := ctxTimeout(t, 10*time.Second)
		first, err := l.Fetch(ctx, listReq())
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(fresh)
		r.Inject(upstreamtest.Fault{Status: 500})
		resp, err := l.Fetch(ctx, listReq())
		if err != nil || !resp.Stale || !slices.Equal(entryKeys(resp), entryKeys(first)) {
			t.Fatalf("Fetch with a failing upstream = %v (stale %v), %v; want the old page, stale", entryKeys(resp), resp != nil && resp.Stale, err)
		}
		if first.Stale {
			t.Error("marking the answer stale changed the cached page")
		}
		// Close waits for the one background refresh the failure started.
		l.Close()
		if n := r.Requests(); n != 3 {
			t.Errorf("requests = %d, want 3 (the page, the failed fetch, one refresh)", n)
		}
		// Past the stale window there is nothing to fall back on.
		clock.Advance(stale)
		if _, err := l.Fetch(ctx, listReq()); !statusIs(500)(err) {
			t.Errorf("Fetch past the stale window = %v, want the 500", err)
		}
	})

	t.Run("breaker open", func(t *testing.T) {
		t.Parallel()
		r, clock := newRegistry(t), newClock()
		l := newLive(t, r, clock, func(o *LiveOptions) { o.Breaker.Failures = 1 })
		ctx := ctxTimeout(t, 10*time.Second)
		first, err := l.Fetch(ctx, listReq())
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(fresh)
		// Another page fails and opens the breaker.
		r.Inject(upstreamtest.Fault{Status: 500, Times: 1})
		other := upstream.Request{Op: upstream.OpList, Limit: 2}
		if _, err := l.Fetch(ctx, other); !statusIs(500)(err) {
			t.Fatalf("Fetch = %v, want the 500", err)
		}
		if l.Breaker().State() != gobreaker.StateOpen {
			t.Fatalf("breaker %s, want open", l.Breaker().State())
		}
		// The upstream is healthy again but the breaker does not know yet,
		// and a slow upstream must not be waited for.
		r.Inject(upstreamtest.Fault{Latency: 2 * time.Second})
		start := time.Now()
		resp, err := l.Fetch(ctx, listReq())
		if err != nil || !resp.Stale || !slices.Equal(entryKeys(resp), entryKeys(first)) {
			t.Fatalf("Fetch with the breaker open = %v (stale %v), %v; want the old page, stale", entryKeys(resp), resp != nil && resp.Stale, err)
		}
		if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
			t.Errorf("stale answer took %s", elapsed)
		}
		if _, err := l.Fetch(ctx, other); !errors.Is(err, upstream.ErrBreakerOpen) {
			t.Errorf("Fetch without stale data = %v, want ErrBreakerOpen", err)
		}
		l.Close()
		if n := r.Requests(); n != 2 {
			t.Errorf("requests = %d, want 2: nothing passes an open breaker, refreshes included", n)
		}
	})
}

func TestLiveCachesNotFound(t *testing.T) {
	t.Parallel()
	for _, req := range []upstream.Request{
		{Op: upstream.OpVersions, Name: "io.github.acme/missing"},
		{Op: upstream.OpVersion, Name: "io.github.acme/missing", Version: "latest"},
		{Op: upstream.OpVersion, Name: nameAlpha, Version: "9.9.9"},
	} {
		t.Run(string(req.Op)+" "+req.Version, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			l := newLive(t, r, newClock(), nil)
			for i := range 3 {
				if _, err := l.Fetch(ctxTimeout(t, 5*time.Second), req); !errors.Is(err, upstream.ErrNotFound) {
					t.Fatalf("Fetch %d = %v, want ErrNotFound", i, err)
				}
			}
			if n := r.Requests(); n != 1 {
				t.Errorf("3 lookups made %d upstream requests, want 1", n)
			}
			// A 404 is an answer: the upstream is up.
			if !l.Served() {
				t.Error("Served() is false after a 404")
			}
		})
	}
}

func TestLiveWarm(t *testing.T) {
	t.Parallel()
	t.Run("retries until served", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t)
		r.Inject(upstreamtest.Fault{Status: 503, Times: 2})
		l := newLive(t, r, newClock(), nil)
		if l.Served() {
			t.Fatal("Served() before any answer")
		}
		l.Warm(ctxTimeout(t, 5*time.Second), 10*time.Millisecond)
		if !l.Served() {
			t.Fatal("Served() is false after Warm")
		}
		if n := r.Requests(); n != 3 {
			t.Errorf("Warm made %d requests, want 3 (two failures, one success)", n)
		}
		// The first page a client asks for is now cached.
		if _, err := l.Fetch(ctxTimeout(t, 5*time.Second), l.FirstPage()); err != nil {
			t.Fatal(err)
		}
		if n := r.Requests(); n != 3 {
			t.Errorf("the warmed page was fetched again (%d requests)", n)
		}
	})

	t.Run("stops when the context ends", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t)
		r.Inject(upstreamtest.Fault{Status: 503})
		l := newLive(t, r, newClock(), nil)
		start := time.Now()
		l.Warm(ctxTimeout(t, 150*time.Millisecond), 20*time.Millisecond)
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("Warm returned %s after its context ended", elapsed)
		}
		if l.Served() {
			t.Error("Served() without an answer")
		}
	})

	for _, tt := range []struct {
		pageSize, want int
	}{{0, 100}, {25, 25}, {100, 100}} { // want: the page size, which the engine asks of every page
		t.Run("page size "+strconv.Itoa(tt.pageSize), func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			l := newLive(t, r, newClock(), func(o *LiveOptions) { o.PageSize = tt.pageSize })
			l.Warm(ctxTimeout(t, 5*time.Second), 10*time.Millisecond)
			log := r.Log()
			if len(log) != 1 || log[0].URL.Query().Get("limit") != strconv.Itoa(tt.want) || log[0].URL.Query().Get("include_deleted") != "true" || l.PageSize() != tt.want {
				t.Errorf("PageSize %d: Warm sent %v, PageSize() %d; want limit=%d", tt.pageSize, log, l.PageSize(), tt.want)
			}
		})
	}
}

// The limiter's Retry-After hold runs on real timers: the clock injected for
// the page cache must not stretch or cancel it.
func TestLiveRateLimitWithInjectedClock(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	r.Inject(upstreamtest.Fault{Status: 429, RetryAfter: "1", Times: 1})
	var cnt limiterCounts
	l := newLive(t, r, newClock(), func(o *LiveOptions) { o.RateLimit = cnt.options(RateLimitOptions{Retries: 1}) })
	if _, err := l.Fetch(ctxTimeout(t, 5*time.Second), listReq()); err != nil {
		t.Fatalf("Fetch after a 429 with a 5s deadline: %v (want one retry after Retry-After)", err)
	}
	if n := r.Requests(); n != 2 {
		t.Errorf("requests = %d, want the 429 and its retry", n)
	}
	// The hold is over: the next page goes at once.
	start := time.Now()
	if _, err := l.Fetch(ctxTimeout(t, 5*time.Second), upstream.Request{Op: upstream.OpList, Limit: 2}); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Errorf("the next page waited %s after Retry-After had passed", elapsed)
	}
	if l.Breaker().State() != gobreaker.StateClosed {
		t.Errorf("a 429 moved the breaker to %s", l.Breaker().State())
	}
	if cnt.limited.Load() != 1 || cnt.retried.Load() != 1 {
		t.Errorf("OnLimited × %d, OnRetry × %d, want 1, 1", cnt.limited.Load(), cnt.retried.Load())
	}
}

func TestLiveInstrumentAndObserver(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	var calls atomic.Int32
	var instrumented string
	obs := &recordingObserver{}
	l := newLive(t, r, newClock(), func(o *LiveOptions) {
		o.Instrument = func(source string, next upstream.Fetcher) upstream.Fetcher {
			instrumented = source
			return fetcherFunc(func(ctx context.Context, req upstream.Request) (*upstream.Response, error) {
				calls.Add(1)
				return next.Fetch(ctx, req)
			})
		}
		o.CacheObserver = obs
	})
	ctx := ctxTimeout(t, 5*time.Second)
	for range 3 {
		if _, err := l.Fetch(ctx, listReq()); err != nil {
			t.Fatal(err)
		}
	}
	if instrumented != "live" || calls.Load() != 1 {
		t.Errorf("Instrument for %q saw %d calls, want live and 1 (below the cache)", instrumented, calls.Load())
	}
	if got, want := obs.results(), []string{"miss", "hit_fresh", "hit_fresh"}; !slices.Equal(got, want) {
		t.Errorf("cache observer saw %v, want %v", got, want)
	}
}

type fetcherFunc func(context.Context, upstream.Request) (*upstream.Response, error)

func (f fetcherFunc) Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	return f(ctx, r)
}

// recordingObserver records page cache events.
type recordingObserver struct {
	mu     sync.Mutex
	reqs   []string
	shared *atomic.Int32
}

func (o *recordingObserver) Request(cache, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reqs = append(o.reqs, result)
}

func (o *recordingObserver) results() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.reqs)
}

func (o *recordingObserver) Size(string, int, int64) {}
func (o *recordingObserver) Evicted(string)          {}
func (o *recordingObserver) Shared(string) {
	if o.shared != nil {
		o.shared.Add(1)
	}
}
