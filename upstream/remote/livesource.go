package remote

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/mcpfed/mcpfed/cache"
	"github.com/mcpfed/mcpfed/upstream"
)

// PageCacheOptions bound and time a source's page cache.
type PageCacheOptions struct {
	// MaxEntries and MaxBytes bound the cached pages (defaults
	// DefaultPageCacheMaxEntries, DefaultPageCacheMaxBytes).
	MaxEntries int
	MaxBytes   int64
	// Fresh is how long an upstream answer is served without asking again
	// (default DefaultPageFresh).
	Fresh time.Duration
	// Stale is how long after that it may still be served when the upstream
	// fails or its breaker is open (default DefaultPageStale).
	Stale time.Duration
	// FlightTimeout bounds one upstream fetch shared by concurrent callers
	// (a live source's default: its client timeout).
	FlightTimeout time.Duration
}

// Cached is the page cache decorator: a fresh answer is served from memory;
// otherwise one fetch per key is shared by every concurrent caller (and runs
// on even if the caller that started it gives up); when the upstream fails,
// a stale answer is served and one background refresh is started.
type Cached struct {
	next   upstream.Fetcher
	loader *cache.Loader[*upstream.Response]
	// ready, when set, says whether the upstream can be asked right now
	// (breaker not open, a rate-limit slot free). When it cannot and a
	// stale answer exists, the stale answer is served at once rather than
	// making every caller wait for a slot.
	ready func() bool
	// open, when set, says whether the breaker is open: with nothing
	// cached, the answer is then known without starting a flight.
	open func() bool
}

// NewCached wraps next with a page cache; zero options take the defaults.
func NewCached(next upstream.Fetcher, o PageCacheOptions, clock func() time.Time, obs cache.Observer) *Cached {
	o.withDefaults()
	c := cache.New(cache.Options[*upstream.Response]{
		Name:       "page",
		MaxEntries: o.MaxEntries,
		MaxBytes:   o.MaxBytes,
		Size:       pageCost,
		Fresh:      o.Fresh,
		Stale:      o.Stale,
		Clock:      clock,
		Observer:   obs,
	})
	return &Cached{next: next, loader: cache.NewLoader(c, cache.LoaderOptions{Group: "page", Timeout: o.FlightTimeout, Observer: obs})}
}

// pageEntryCost is what an entry costs in memory beyond its bytes on the
// wire: the indexed fields, strings and slices of upstream.Entry (measured
// at about 760 bytes per entry on synthetic pages, rounded up).
const pageEntryCost = 1024

// pageCost is what a cached page holds in memory, so that the page cache's
// byte bound bounds the heap, not only the bodies it was built from.
func pageCost(r *upstream.Response) int64 {
	return r.Size + 256 + int64(len(r.Entries))*pageEntryCost
}

// Fetch answers from the cache or through one shared upstream fetch. A 404
// is cached like an answer (a name lookup fans out to every source).
func (c *Cached) Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	key := r.Key()
	load := func(ctx context.Context) (*upstream.Response, bool, error) {
		resp, err := c.next.Fetch(ctx, r)
		if errors.Is(err, upstream.ErrNotFound) {
			return &upstream.Response{NotFound: true}, true, nil
		}
		return resp, err == nil, err
	}
	if c.ready != nil && !c.ready() {
		switch _, st := c.loader.Cache().Peek(key); {
		case st == cache.Stale:
			load = func(context.Context) (*upstream.Response, bool, error) { return nil, false, errNotReady }
		case st == cache.Miss && c.open != nil && c.open():
			// The breaker answers at once (and is measured): no flight needed.
			return c.next.Fetch(ctx, r)
		}
	}
	resp, stale, err := c.loader.Load(ctx, key, load)
	if err != nil {
		return nil, err
	}
	if resp.NotFound {
		return nil, upstream.ErrNotFound
	}
	if stale {
		cp := *resp
		cp.Stale = true
		return &cp, nil
	}
	return resp, nil
}

// Close waits for background refreshes.
func (c *Cached) Close() { c.loader.Close() }

// errNotReady stands for a refresh not attempted because the upstream
// cannot be asked now; the stale answer is served instead.
var errNotReady = errors.New("upstream not ready: breaker open or no rate-limit slot free")

// LiveOptions configure a live source: a registry queried on demand.
type LiveOptions struct {
	Client    ClientOptions
	Breaker   BreakerOptions
	RateLimit RateLimitOptions
	PageCache PageCacheOptions
	// PageSize is the limit asked of the upstream for list pages (default
	// 100, the API's maximum): large pages mean fewer requests, and client
	// page sizes all share the same cached upstream pages.
	PageSize int
	// MaxPagesPerRequest bounds how many upstream list pages one client
	// request may read from this source (default 10): an upstream whose
	// pages make no progress, or a local filter that keeps nothing, must not
	// turn one request into an unbounded walk.
	MaxPagesPerRequest int
	// Order is the order the upstream lists in: OrderAuto (default),
	// OrderBytes or OrderUpstream (see there and Index).
	Order string
	// Crawl bounds one crawl of the list index (order upstream, or auto
	// once disorder is reported); zero values take the crawl defaults.
	Crawl CrawlBounds
	// Admit, when set, keeps only the entries the source's filter admits
	// in the list index (the forwarded answers are filtered by the caller).
	Admit func(*upstream.Entry) bool
	// Clock ages the page cache and the list index (default time.Now).
	Clock func() time.Time
	// Instrument wraps the upstream calls with metrics (may be nil).
	Instrument func(source string, next upstream.Fetcher) upstream.Fetcher
	// CacheObserver receives page cache events (may be nil).
	CacheObserver cache.Observer
}

// Live is an `api` source in live mode: every query is forwarded, through
// page cache ▶ singleflight ▶ metrics ▶ breaker ▶ rate limit ▶ HTTP.
type Live struct {
	name     string
	pageSize int
	maxPages int
	fetch    upstream.Fetcher
	cached   *Cached
	breaker  *Breaker
	served   atomic.Bool
	logger   *slog.Logger
	clock    func() time.Time

	// Ordering (order.go): the configured order, whether disorder was
	// reported, and the list index with what builds it: the chain below the
	// page cache (metrics ▶ breaker ▶ rate limit ▶ HTTP), the crawl bounds
	// and the source's filter.
	order    string
	disorder atomic.Bool
	index    *listIndex
	below    upstream.Fetcher
	bounds   CrawlBounds
	admit    func(*upstream.Entry) bool
	// artifacts caches the upstream's skills and plugins (liveartifacts.go).
	artifacts *liveArtifacts
	// indexBuilt, a test hook (nil in production), sees a build's crawled
	// entries while the new index and the old one are both held: its peak.
	indexBuilt func(crawled []*upstream.Entry)
}

// NewLive validates the options (every problem, see Validate), applies the
// defaults and builds the decorated chain.
func NewLive(o LiveOptions) (*Live, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.withDefaults()
	client, err := NewClient(o.Client)
	if err != nil {
		return nil, err
	}
	// o.Clock is not the limiter's: its Retry-After holds run on real
	// timers, which an injected clock would stretch without end.
	rl := NewRateLimiter(client, o.RateLimit)
	o.Breaker.Source = o.Client.Source
	br := NewBreaker(rl, o.Breaker)
	var f upstream.Fetcher = br
	if o.Instrument != nil {
		f = o.Instrument(o.Client.Source, f)
	}
	cached := NewCached(f, o.PageCache, o.Clock, o.CacheObserver)
	cached.open = func() bool { return br.State() == gobreaker.StateOpen }
	cached.ready = func() bool { return !cached.open() && rl.Ready() }
	logger := o.Client.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Live{name: o.Client.Source, pageSize: o.PageSize, maxPages: o.MaxPagesPerRequest, fetch: cached, cached: cached, breaker: br,
		logger: logger, clock: o.Clock, order: o.Order, below: f, bounds: o.Crawl, admit: o.Admit, artifacts: newLiveArtifacts(o)}
	if o.Order != OrderBytes {
		l.index = newListIndex(l.name, l.buildIndex, o.Clock, o.PageCache, o.Crawl.Timeout, logger)
	}
	return l, nil
}

// Name is the source's slug.
func (l *Live) Name() string { return l.name }

// PageSize is the upstream page size to ask for.
func (l *Live) PageSize() int { return l.pageSize }

// DefaultMaxPagesPerRequest is how many upstream pages one client request
// may read from a live source unless configured otherwise.
const DefaultMaxPagesPerRequest = 10

// MaxPagesPerRequest bounds the upstream pages one client request reads.
func (l *Live) MaxPagesPerRequest() int { return l.maxPages }

// ReportFault records a fault the caller found in an answer the upstream
// gave (pages that make no forward progress, for example): it counts as a
// failure for the breaker, as an upstream error would.
func (l *Live) ReportFault(err error) { l.breaker.Fault(err) }

// Fetch answers a request through the decorated chain.
func (l *Live) Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	resp, err := l.fetch.Fetch(ctx, r)
	if err == nil || errors.Is(err, upstream.ErrNotFound) {
		l.served.Store(true)
	}
	// Disorder inside one page is seen here; across pages, the engine
	// reports it.
	if err == nil && r.Op == upstream.OpList && l.order != OrderUpstream && !l.disorder.Load() && !inByteOrder(resp.Entries) {
		l.ReportDisorder()
	}
	return resp, err
}

// inByteOrder reports whether entries ascend strictly by (name, version)
// bytes, as an upstream listing in mcpfed's order sends them.
func inByteOrder(entries []*upstream.Entry) bool {
	for i := 1; i < len(entries); i++ {
		if !entries[i-1].Key().Less(entries[i].Key()) {
			return false
		}
	}
	return true
}

// FirstPage is the request the engine makes for an unfiltered listing's
// first page: every page it reads asks for PageSize entries (deleted
// versions included: the merge hides them itself), whatever the client's
// limit. Warming it warms what the first client asks for.
func (l *Live) FirstPage() upstream.Request {
	return upstream.Request{Op: upstream.OpList, Limit: l.pageSize, IncludeDeleted: true}
}

// Served reports whether the upstream has answered at least once.
func (l *Live) Served() bool { return l.served.Load() }

// Breaker exposes the breaker's state (status, metrics).
func (l *Live) Breaker() *Breaker { return l.breaker }

// Warm fetches the first list page (or, while list queries are answered
// from the list index, builds the index) until it succeeds or ctx ends, so
// a required source becomes ready and the first client finds a warm cache.
func (l *Live) Warm(ctx context.Context, retry time.Duration) {
	for {
		var err error
		if l.OrderMode() == OrderModeIndex {
			_, err = l.Index(ctx)
		} else {
			_, err = l.Fetch(ctx, l.FirstPage())
		}
		if err == nil {
			return
		}
		t := time.NewTimer(retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Close stops a running index crawl and waits for background refreshes
// (of pages and artifacts).
func (l *Live) Close() {
	if l.index != nil {
		l.index.close()
	}
	l.cached.Close()
	l.artifacts.close()
}
