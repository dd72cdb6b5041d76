package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

// The orders a live source's upstream may list in (LiveOptions.Order, the
// configuration's `order`).
const (
	// OrderAuto serves list queries forwarded, as OrderBytes, until the
	// engine (or a page seen by the source) reports entries out of byte
	// order (ReportDisorder); from then on, for the life of the process, as
	// OrderUpstream. The default.
	OrderAuto = "auto"
	// OrderBytes trusts the upstream to list in byte order of (name,
	// version), as mcpfed does: list queries are forwarded page by page.
	OrderBytes = "bytes"
	// OrderUpstream says the upstream lists in another order (a database
	// with a language-aware collation): list queries are answered from a
	// local index of the upstream's full list, in byte order.
	OrderUpstream = "upstream"
)

// How a live source's list queries are being served (OrderMode).
const (
	// OrderModeBytes: forwarded to the upstream, page by page.
	OrderModeBytes = "bytes"
	// OrderModeIndex: from the list index (Index, ListIndex).
	OrderModeIndex = "index"
)

// IndexStatus describes a live source's ordering and list index for the
// sources endpoint and logs. It never waits for a crawl.
type IndexStatus struct {
	// Order is the configured order (auto, bytes, upstream); Mode is
	// OrderMode().
	Order, Mode string
	// Building reports a crawl in progress.
	Building bool
	// BuiltAt, Entries, Dropped and Crawl describe the index being served
	// (zero without one).
	BuiltAt time.Time
	Entries int
	Dropped int
	Crawl   CrawlStats
	// LastError is the last failed build since the last good one, at FailedAt.
	LastError string
	FailedAt  time.Time
}

// errIndexClosed is an index asked for after the source was closed.
var errIndexClosed = errors.New("live source closed")

// OrderMode says how list queries are served now: OrderModeBytes
// (forwarded) or OrderModeIndex (from the list index).
func (l *Live) OrderMode() string {
	if l.order == OrderUpstream || (l.order == OrderAuto && l.disorder.Load()) {
		return OrderModeIndex
	}
	return OrderModeBytes
}

// ReportDisorder tells the source its upstream listed entries out of byte
// order. With order auto, the source switches to its list index for the
// life of the process (no re-probe: an upstream's collation does not
// change while it runs, and switching back and forth would make cursors
// handed out in one mode meaningless in the other) and starts building it
// in the background. With order bytes, it logs that the configuration is
// wrong; with order upstream, nothing. Idempotent, safe for concurrent use,
// logs once.
func (l *Live) ReportDisorder() {
	if !l.disorder.CompareAndSwap(false, true) {
		return
	}
	switch l.order {
	case OrderAuto:
		l.logger.Warn("upstream lists out of byte order; list queries are answered from a local index of its full list from now on",
			"source", l.name, "order", l.order)
		l.index.prefetch()
	case OrderBytes:
		l.logger.Warn("upstream lists out of byte order, but the source is configured with order: bytes; answers that meet entries out of order are incomplete: set order to auto or upstream",
			"source", l.name)
	}
}

// Index returns the list index, or nil, nil while list queries are
// forwarded (OrderModeBytes). The first build blocks its callers (each for
// as long as its ctx allows; concurrent callers share one crawl, which goes
// on if they give up). Later, an index older than cache.fresh is served
// while one background crawl refreshes it; when that crawl fails, the old
// index is served (Stale) until cache.stale has passed too, then the
// build's error is returned. A failed build is not retried before
// cache.fresh has passed, whatever asks (a crawl that fails at a bound
// costs as much as a good one).
func (l *Live) Index(ctx context.Context) (*upstream.Index, error) {
	if l.OrderMode() != OrderModeIndex {
		return nil, nil
	}
	return l.index.get(ctx)
}

// ListIndex is Index's snapshot: nil, nil while list queries are forwarded.
func (l *Live) ListIndex(ctx context.Context) (*upstream.Snapshot, error) {
	idx, err := l.Index(ctx)
	if idx == nil || err != nil {
		return nil, err
	}
	return idx.Snapshot, nil
}

// Resync rebuilds the list index now and waits for it (within ctx), for
// the admin resync: while list queries are forwarded there is nothing to
// resync (upstream.ErrNotResyncable).
func (l *Live) Resync(ctx context.Context) error {
	if l.OrderMode() != OrderModeIndex {
		return upstream.ErrNotResyncable
	}
	_, err := l.index.refresh(ctx)
	return err
}

// IndexStatus describes the ordering and the index; it never blocks on a crawl.
func (l *Live) IndexStatus() IndexStatus {
	st := IndexStatus{Order: l.order, Mode: l.OrderMode()}
	if l.index != nil {
		l.index.status(&st)
	}
	return st
}

// buildIndex crawls the upstream's full list below the page cache (through
// the breaker and the rate limit, so the crawl spends the source's budget
// and stops when the upstream fails) and indexes it.
func (l *Live) buildIndex(ctx context.Context) (*upstream.Index, CrawlStats, error) {
	req := upstream.Request{Op: upstream.OpList, Limit: l.pageSize, IncludeDeleted: true}
	got, st, err := crawl(ctx, l.below, req, l.bounds)
	if err != nil {
		return nil, st, err
	}
	entries := make([]*upstream.Entry, 0, len(got))
	for _, e := range got {
		if l.admit == nil || l.admit(e) {
			entries = append(entries, e)
		}
	}
	// isLatest stays the upstream's (unlike a mirror, which recomputes
	// because its polls cannot see a version lose the flag): the index is
	// always a full crawl, and the per-server endpoints, still forwarded,
	// show the upstream's flags; recomputing could make the two disagree.
	snap, err := upstream.BuildSnapshot(l.name, entries, l.clock(), upstream.SnapshotOptions{})
	if err != nil {
		return nil, st, fmt.Errorf("index %d entries: %w", len(entries), err)
	}
	if l.indexBuilt != nil {
		l.indexBuilt(entries)
	}
	l.served.Store(true)
	return &upstream.Index{Snapshot: snap, Dropped: st.Dropped, DropReason: st.DropReason}, st, nil
}

// listIndex keeps a live source's list index: built on demand, refreshed
// in the background, one crawl at a time.
type listIndex struct {
	source       string
	build        func(context.Context) (*upstream.Index, CrawlStats, error)
	clock        func() time.Time
	fresh, stale time.Duration
	timeout      time.Duration
	logger       *slog.Logger

	base   context.Context // ends with Close: stops a running crawl
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	cur      *upstream.Index
	curCrawl CrawlStats // what cur's crawl cost
	running  *indexBuild
	lastErr  error // the last build's, nil after a good one
	failedAt time.Time
	closed   bool
}

// indexBuild is one crawl; its result goes to whoever waited on it.
type indexBuild struct {
	done chan struct{}
	idx  *upstream.Index
	err  error
}

func newListIndex(source string, build func(context.Context) (*upstream.Index, CrawlStats, error), clock func() time.Time,
	cache PageCacheOptions, timeout time.Duration, logger *slog.Logger) *listIndex {
	ctx, cancel := context.WithCancel(context.Background())
	return &listIndex{source: source, build: build, clock: clock, fresh: cache.Fresh, stale: cache.Stale,
		timeout: timeout, logger: logger, base: ctx, cancel: cancel}
}

func (x *listIndex) get(ctx context.Context) (*upstream.Index, error) {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil, errIndexClosed
	}
	now := x.clock()
	if cur := x.cur; cur != nil {
		age := now.Sub(cur.BuiltAt)
		if age < x.fresh {
			x.mu.Unlock()
			return cur, nil
		}
		if age < x.fresh+x.stale {
			if x.mayStart(now) {
				x.start()
			}
			v := *cur
			v.Stale = x.lastErr != nil
			x.mu.Unlock()
			return &v, nil
		}
	}
	b := x.running
	if b == nil {
		if !x.mayStart(now) {
			err := x.lastErr
			x.mu.Unlock()
			return nil, fmt.Errorf("%w (not retried before %s)", err, x.failedAt.Add(x.fresh).UTC().Format(time.RFC3339))
		}
		b = x.start()
	}
	x.mu.Unlock()
	return x.wait(ctx, b)
}

// refresh builds the index now, whatever its age or the last failure (a
// build already running stands for it), and waits for it.
func (x *listIndex) refresh(ctx context.Context) (*upstream.Index, error) {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil, errIndexClosed
	}
	b := x.running
	if b == nil {
		b = x.start()
	}
	x.mu.Unlock()
	return x.wait(ctx, b)
}

// wait returns b's result, or ctx's error if ctx ends first (the build
// goes on for whoever asks next).
func (x *listIndex) wait(ctx context.Context, b *indexBuild) (*upstream.Index, error) {
	select {
	case <-b.done:
		return b.idx, b.err
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the list index of %q: %w", x.source, context.Cause(ctx))
	}
}

// mayStart reports whether a crawl may start now: none running, and the
// last failure (if any) at least cache.fresh ago. Called with mu held.
func (x *listIndex) mayStart(now time.Time) bool {
	return x.running == nil && (x.lastErr == nil || now.Sub(x.failedAt) >= x.fresh)
}

// start runs one crawl in the background. Called with mu held, not closed.
func (x *listIndex) start() *indexBuild {
	b := &indexBuild{done: make(chan struct{})}
	x.running = b
	x.wg.Add(1)
	go x.run(b)
	return b
}

func (x *listIndex) run(b *indexBuild) {
	defer x.wg.Done()
	began := time.Now()
	ctx, cancel := context.WithTimeoutCause(x.base, x.timeout, fmt.Errorf("%w: crawl.timeout %s passed", ErrCrawlTimeout, x.timeout))
	idx, crawled, err := x.build(ctx)
	cancel()
	x.mu.Lock()
	now := x.clock()
	first := x.cur == nil
	if err == nil {
		idx.BuiltAt = now
		x.cur, x.curCrawl, x.lastErr, x.failedAt = idx, crawled, nil, time.Time{}
	} else {
		err = fmt.Errorf("build the list index of %q: %w", x.source, err)
		x.lastErr, x.failedAt = err, now
	}
	b.idx, b.err = idx, err
	x.running = nil
	close(b.done)
	x.mu.Unlock()
	took := time.Since(began).Round(time.Millisecond)
	switch {
	case err != nil:
		x.logger.Warn("list index build failed", "source", x.source, "error", err, "requests", crawled.Requests, "took", took)
	case first:
		x.logger.Info("list index built", "source", x.source, "entries", idx.Snapshot.Len(),
			"requests", crawled.Requests, "bytes", crawled.Bytes, "dropped", idx.Dropped, "took", took)
	default:
		x.logger.Debug("list index refreshed", "source", x.source, "entries", idx.Snapshot.Len(),
			"requests", crawled.Requests, "bytes", crawled.Bytes, "dropped", idx.Dropped, "took", took)
	}
}

// prefetch starts the first build if nothing has started one yet.
func (x *listIndex) prefetch() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.closed && x.cur == nil && x.mayStart(x.clock()) {
		x.start()
	}
}

func (x *listIndex) status(st *IndexStatus) {
	x.mu.Lock()
	defer x.mu.Unlock()
	st.Building = x.running != nil
	if x.cur != nil {
		st.BuiltAt, st.Entries, st.Dropped, st.Crawl = x.cur.BuiltAt, x.cur.Snapshot.Len(), x.cur.Dropped, x.curCrawl
	}
	if x.lastErr != nil {
		st.LastError, st.FailedAt = x.lastErr.Error(), x.failedAt
	}
}

// idle waits for the running crawl, if any, to end (tests, Close).
func (x *listIndex) idle() {
	x.mu.Lock()
	b := x.running
	x.mu.Unlock()
	if b != nil {
		<-b.done
	}
}

// close stops a running crawl and waits for it.
func (x *listIndex) close() {
	x.mu.Lock()
	x.closed = true
	x.mu.Unlock()
	x.cancel()
	x.wg.Wait()
}
