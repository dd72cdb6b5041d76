package federate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mcpfed/mcpfed/upstream"
)

// ErrCursorLoop is an upstream that hands back a cursor it already gave in
// the same walk: following it would never end.
var ErrCursorLoop = errors.New("upstream repeated a cursor")

func requiredFailed(source string, err error) error {
	return fmt.Errorf("%w: source %q: %w", ErrRequiredSourceFailed, source, err)
}

// liveStream reads a live source page by page with the query forwarded.
// Its position is the upstream cursor of the current page and how many of
// the page's entries were consumed; that pair goes into mcpfed's cursor.
type liveStream struct {
	engine   *Engine
	name     string
	src      LiveSource
	required bool
	q        Query
	after    upstream.Key

	pageCursor string // upstream cursor of the current page ("" = first)
	skip       int    // entries of the page consumed by earlier requests
	fetched    bool
	page       []*upstream.Entry
	i          int
	next       string // upstream cursor of the page after this one
	done       bool
	err        error
	stale      bool

	cursors map[string]bool // upstream cursors followed in this walk
	names   map[string]bool // names yielded in this request
	last    *upstream.Entry // last entry yielded, for the order check
}

func newLiveStream(e *Engine, b bound, q Query, after cursor) *liveStream {
	s := &liveStream{engine: e, name: b.name, src: b.live, required: b.required, q: q, after: after.key(),
		cursors: map[string]bool{}, names: map[string]bool{}}
	if lc, ok := after.liveFor(b.name); ok {
		s.pageCursor, s.skip, s.done = lc.Upstream, lc.Used, lc.Done
	}
	s.cursors[s.pageCursor] = true
	return s
}

func (s *liveStream) source() string { return s.name }

// peek returns the next entry of the source, fetching pages as needed.
// Entries at or before the cursor's key are skipped (a page re-read after a
// resume); entries that go backwards are out of order: counted and dropped.
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
		dropped := 0
		for ; s.i < len(s.page); s.i++ {
			e := s.page[s.i]
			if s.after.Name != "" && !s.after.Less(e.Key()) {
				continue
			}
			if s.last != nil && !s.last.Key().Less(e.Key()) {
				dropped++
				continue
			}
			s.reportOutOfOrder(dropped)
			return e, nil
		}
		s.reportOutOfOrder(dropped)
		if s.next == "" {
			s.done = true
			return nil, nil
		}
		if s.cursors[s.next] {
			s.err = fmt.Errorf("%w %q: stopping the walk", ErrCursorLoop, s.next)
			return nil, s.err
		}
		s.cursors[s.next] = true
		s.pageCursor, s.skip, s.fetched = s.next, 0, false
	}
}

func (s *liveStream) reportOutOfOrder(n int) {
	if n == 0 {
		return
	}
	s.engine.logger.Warn("upstream sent entries out of order; dropped", "source", s.name, "entries", n)
	if s.engine.outOfOrder != nil {
		s.engine.outOfOrder(s.name, n)
	}
}

func (s *liveStream) fetch(ctx context.Context) error {
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
		return fmt.Errorf("fetch page from %s: %w", s.name, err)
	}
	s.fetched, s.page, s.next = true, resp.Entries, resp.NextCursor
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
	lc := liveCursor{Source: s.name, Upstream: s.pageCursor, Used: s.i}
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
