package federate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mcpfed/mcpfed/upstream"
)

// Errors that end a live walk because of what the upstream sent.
var (
	// ErrCursorLoop is an upstream that hands back a cursor it already
	// gave in the same walk: following it would never end.
	ErrCursorLoop = errors.New("upstream repeated a cursor")
	// ErrNoProgress is an upstream page that hands a next cursor but holds
	// no entry past the last one seen in the walk: following it could go
	// on for ever without yielding anything.
	ErrNoProgress = errors.New("upstream page makes no forward progress")
	// ErrUpstreamCursor is a next cursor mcpfed cannot carry in its own
	// (over maxUpstreamCursor bytes, or with control characters): issuing
	// it would hand the client a cursor that mcpfed then refuses.
	ErrUpstreamCursor = errors.New("upstream handed a cursor mcpfed cannot carry")
)

// maxUpstreamCursor bounds one upstream's cursor inside mcpfed's (the
// official registry's are a name and a version: far shorter).
const maxUpstreamCursor = 1024

// errPageBound is a live stream that has read its per-request page budget
// and has more to read: the page being built ends there (see liveStream).
var errPageBound = errors.New("per-request upstream page bound reached")

// Warnings about misbehaving upstreams, logged once per source and interval.
const (
	warnOutOfOrder = "upstream sent entries out of order; dropped"
	warnPageBound  = "upstream page bound reached; answer ends early with a cursor"
	warnNoProgress = "upstream walk stopped"
)

// sourceFailure is a required source that could not answer. Its message
// (the log's) carries the cause; clients are told only the source's name
// (see writeError): causes hold upstream URLs and dial errors.
type sourceFailure struct {
	source string
	err    error
}

func (e *sourceFailure) Error() string {
	return fmt.Sprintf("%v: source %q: %v", ErrRequiredSourceFailed, e.source, e.err)
}

func (e *sourceFailure) Unwrap() []error { return []error{ErrRequiredSourceFailed, e.err} }

func requiredFailed(source string, err error) error {
	return &sourceFailure{source: source, err: err}
}

// liveStream reads a live source page by page with the query forwarded.
// Its position is the upstream cursor of the current page and how many of
// the page's entries were consumed; that pair goes into mcpfed's cursor.
//
// One client request reads at most MaxPagesPerRequest pages of the source.
// When the stream needs one more, it stops with errPageBound and the merge
// ends the page there: the client gets the entries merged so far (maybe
// fewer than its limit, maybe none) and a cursor that continues at the
// next upstream page. The answer is correct and complete for its range, so
// a walk still sees everything; each request's work is bounded. A page
// without forward progress, or a repeated cursor, is an upstream fault: it
// fails the stream and is reported to the source's breaker.
type liveStream struct {
	engine   *Engine
	name     string
	src      LiveSource
	admit    func(*upstream.Entry) bool // the source's own filter
	required bool
	q        Query
	after    upstream.Key

	pageCursor string // upstream cursor of the current page ("" = first)
	resumed    bool   // pageCursor came from the client's cursor
	skip       int    // entries of the page consumed by earlier requests
	behind     bool   // the walk went on without the source: it has not caught up with the cursor's key yet (liveCursor.Behind)
	// fresh: the current page was reached by following a next cursor, in
	// this request or (resumed at its start) an earlier one. In byte order
	// no entry of such a page is before the cursor's key; one that is is
	// out of order.
	fresh   bool
	fetched bool
	page    []*upstream.Entry
	i       int
	next    string // upstream cursor of the page after this one
	done    bool
	err     error
	stale   bool

	pages        int          // pages fetched in this request
	maxPages     int          // the source's per-request bound
	seen         upstream.Key // highest key fetched in this request
	hasSeen      bool
	fetchedPages [][]*upstream.Entry // this request's pages, for the progress check of an upstream out of order

	cursors map[string]bool // upstream cursors followed in this walk
	names   map[string]bool // names yielded in this request
	last    *upstream.Entry // last entry yielded, for the order check

	// What this request's answer lacks from the source (see account).
	prevLast     *upstream.Entry // last entry of the page before this one, in this request
	pageDisorder bool            // the current page is out of byte order
	disorder     bool            // some page of this request was
	orderDrops   int             // entries passed over because they came out of order
	lost         int             // records the upstream sent that are not in its pages (Response.Dropped)
	lostReason   string
	overBound    int // entries past maxUpstreamPage in one page
}

func newLiveStream(e *Engine, b bound, q Query, after cursor) *liveStream {
	s := &liveStream{engine: e, name: b.name, src: b.live, admit: b.admit, required: b.required, q: q, after: after.key(),
		maxPages: max(b.live.MaxPagesPerRequest(), 1), cursors: map[string]bool{}, names: map[string]bool{}}
	if lc, ok := after.liveFor(b.name); ok {
		s.pageCursor, s.skip, s.done, s.behind = lc.Upstream, lc.Used, lc.Done, lc.Behind
		s.resumed = lc.Upstream != ""
		// Nothing of the page was consumed: the walk reached it by a next
		// cursor, or stopped before its first entry. Either way the cursor's
		// key is before all of it, unless the walk went on without the source.
		s.fresh = lc.Used == 0 && !lc.Behind
	}
	s.cursors[s.pageCursor] = true
	return s
}

func (s *liveStream) source() string { return s.name }

// peek returns the next entry of the source, fetching pages as needed.
// Entries at or before the cursor's key are skipped (a page re-read after a
// resume); entries that go backwards are out of order: counted and dropped,
// as are entries before the key on a page that cannot hold them (a fresh
// page, or one out of order itself).
func (s *liveStream) peek(ctx context.Context) (*upstream.Entry, error) {
	for {
		if s.err != nil {
			return nil, s.err
		}
		if s.done {
			return nil, nil
		}
		if !s.fetched {
			if err := s.fetch(ctx); err != nil {
				s.err = err
				return nil, err
			}
		}
		for ; s.i < len(s.page); s.i++ {
			e := s.page[s.i]
			if s.after.Name != "" && !s.after.Less(e.Key()) {
				// Equal to the key is fine anywhere: another source served
				// the same key (ties go to priority), this one was next.
				if (s.fresh || s.pageDisorder) && e.Key().Less(s.after) {
					s.orderDrops++
				}
				continue
			}
			if s.last != nil && !s.last.Key().Less(e.Key()) {
				s.orderDrops++
				continue
			}
			s.behind = false // caught up with the walk
			return e, nil
		}
		if s.next == "" {
			s.done = true
			return nil, nil
		}
		if s.cursors[s.next] {
			s.err = s.fault(ctx, fmt.Errorf("%w %q: stopping the walk", ErrCursorLoop, s.next))
			return nil, s.err
		}
		if s.pages >= s.maxPages {
			// Not sticky: position() still says where the next request
			// starts (the page after this one).
			s.engine.warnings.warn(ctx, s.name, warnPageBound, 1, "pages", s.maxPages)
			return nil, errPageBound
		}
		s.cursors[s.next] = true
		s.pageCursor, s.skip, s.fetched, s.resumed, s.fresh = s.next, 0, false, false, !s.behind
	}
}

// fault ends the walk for an upstream fault: the breaker counts it.
func (s *liveStream) fault(ctx context.Context, err error) error {
	s.src.ReportFault(err)
	s.engine.warnings.warn(ctx, s.name, warnNoProgress, 1, "error", err)
	return err
}

// account reports what the answer lacks from the source. Entries out of
// byte order make it incomplete even when none was passed over in this
// request: a walk over such an upstream misses entries on other pages.
// The source is told (with order auto, it answers from its index next).
func (s *liveStream) account(ctx context.Context, rep *Report) {
	e := s.engine
	if s.disorder || s.orderDrops > 0 {
		s.src.ReportDisorder()
		e.warnings.warn(ctx, s.name, warnOutOfOrder, max(s.orderDrops, 1))
		rep.drop(s.name)
		e.noteDropped(rep, s.name, DropOutOfOrder, s.orderDrops)
		if e.outOfOrder != nil && s.orderDrops > 0 {
			e.outOfOrder(s.name, s.orderDrops)
		}
	}
	e.noteDropped(rep, s.name, dropReason(s.lostReason), s.lost)
	e.noteDropped(rep, s.name, DropOverBound, s.overBound)
}

func (s *liveStream) fetch(ctx context.Context) error {
	s.pages++
	resp, err := s.src.Fetch(ctx, upstream.Request{
		Op:           upstream.OpList,
		Cursor:       s.pageCursor,
		Limit:        s.src.PageSize(),
		Search:       upstreamSearch(s.q.Search),
		UpdatedSince: s.q.UpdatedSince,
		Version:      s.q.Version,
		// Deleted versions are always asked for and hidden by the merge
		// (Query.matches): a source holds a name whose versions are all
		// deleted, as a snapshot source does, so a lower-priority copy of
		// it must stay shadowed.
		IncludeDeleted: true,
	})
	if err != nil {
		if s.resumed && refused(err) {
			// The upstream refuses the position the client's cursor
			// holds (expired, or never valid): the client must start
			// again; the upstream is not failing.
			return badRequest("the cursor's position in source %q is no longer accepted by that registry: start the listing again without a cursor", s.name)
		}
		return fmt.Errorf("fetch page from %s: %w", s.name, err)
	}
	if len(resp.NextCursor) > maxUpstreamCursor || strings.ContainsFunc(resp.NextCursor, isControl) {
		return s.fault(ctx, fmt.Errorf("%w: %s sent a next cursor of %d bytes", ErrUpstreamCursor, s.name, len(resp.NextCursor)))
	}
	if resp.NextCursor != "" && s.pages > 1 && !s.progresses(resp.Entries) {
		return s.fault(ctx, fmt.Errorf("%w: %s handed a next cursor with a page of %d entries, none after %s %s",
			ErrNoProgress, s.name, len(resp.Entries), s.seen.Name, s.seen.Version))
	}
	entries := resp.Entries
	if len(entries) > maxUpstreamPage {
		// A position past it could not go into a cursor (decode refuses it).
		s.overBound += len(entries) - maxUpstreamPage
		entries = entries[:maxUpstreamPage]
	}
	if resp.Dropped > 0 {
		s.lost += resp.Dropped
		s.lostReason = resp.DropReason
	}
	s.pageDisorder = !inByteOrder(entries) ||
		s.prevLast != nil && len(entries) > 0 && !s.prevLast.Key().Less(entries[0].Key())
	s.disorder = s.disorder || s.pageDisorder
	if len(entries) > 0 {
		s.prevLast = entries[len(entries)-1]
	}
	for _, e := range entries {
		if !s.hasSeen || s.seen.Less(e.Key()) {
			s.seen, s.hasSeen = e.Key(), true
		}
	}
	s.fetchedPages = append(s.fetchedPages, entries)
	s.fetched, s.page, s.next = true, admitted(entries, s.admit), resp.NextCursor
	s.i = min(s.skip, len(s.page))
	// The page may have changed since the count was taken (a record removed
	// upstream, a page cache refill): never skip an entry past the last key
	// served; the key check in peek drops the ones already passed.
	for s.i > 0 && s.after.Name != "" && s.after.Less(s.page[s.i-1].Key()) {
		s.i--
	}
	s.stale = s.stale || resp.Stale
	return nil
}

// progresses reports whether a page holds an entry past every entry this
// request has fetched from the source or (an upstream that lists out of
// byte order) any entry this request has not fetched yet.
func (s *liveStream) progresses(entries []*upstream.Entry) bool {
	for _, e := range entries {
		if !s.hasSeen || s.seen.Less(e.Key()) {
			return true
		}
	}
	// Out of order, or stuck: the slow check, bounded by the request's pages.
	seen := map[upstream.Key]bool{}
	for _, p := range s.fetchedPages {
		for _, e := range p {
			seen[e.Key()] = true
		}
	}
	for _, e := range entries {
		if !seen[e.Key()] {
			return true
		}
	}
	return false
}

// inByteOrder reports whether entries ascend strictly by (name, version)
// bytes, as mcpfed lists them.
func inByteOrder(entries []*upstream.Entry) bool {
	for i := 1; i < len(entries); i++ {
		if !entries[i-1].Key().Less(entries[i].Key()) {
			return false
		}
	}
	return true
}

// refused reports an upstream answer that refuses the request itself (a
// 4xx other than 429, or a 404 for a list page).
func refused(err error) bool {
	var se *upstream.StatusError
	return errors.As(err, &se) && se.ClientFault() || errors.Is(err, upstream.ErrNotFound)
}

// minUpstreamSearch is the shortest search the official registry accepts
// (in runes, after trimming); a shorter one is a 422 there.
const minUpstreamSearch = 3

// upstreamSearch is the search to forward: mcpfed accepts any length, so a
// search the upstream would refuse is not sent, and the merge applies it
// to what the upstream lists (Query.matches) instead.
func upstreamSearch(search string) string {
	if utf8.RuneCountInString(strings.TrimSpace(search)) < minUpstreamSearch {
		return ""
	}
	return search
}

func (s *liveStream) advance() {
	e := s.page[s.i]
	s.names[e.Name] = true
	s.last = e
	s.i++
}

// holds reports whether the stream has yielded name in this request or is
// positioned on it.
func (s *liveStream) holds(name string) bool {
	if s.names[name] {
		return true
	}
	return s.err == nil && s.fetched && s.i < len(s.page) && s.page[s.i].Name == name
}

// position is where the next request continues.
func (s *liveStream) position() liveCursor {
	lc := liveCursor{Source: s.name, Upstream: s.pageCursor, Used: s.i, Behind: s.behind}
	switch {
	case s.done:
		lc = liveCursor{Source: s.name, Done: true}
	case !s.fetched:
		lc.Used = s.skip
	case s.i >= len(s.page) && s.next != "":
		lc.Upstream, lc.Used = s.next, 0
	case s.i >= len(s.page):
		lc = liveCursor{Source: s.name, Done: true}
	}
	return lc
}

// admitted is entries without those the source's own filter drops (a
// fresh slice: pages may be shared through the page cache).
func admitted(entries []*upstream.Entry, admit func(*upstream.Entry) bool) []*upstream.Entry {
	if admit == nil {
		return entries
	}
	kept := make([]*upstream.Entry, 0, len(entries))
	for _, e := range entries {
		if admit(e) {
			kept = append(kept, e)
		}
	}
	return kept
}
