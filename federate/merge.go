package federate

import (
	"context"
	"errors"
	"fmt"
	"math"

	"golang.org/x/sync/errgroup"

	"github.com/mcpfed/mcpfed/upstream"
)

// stream is one source's entries in (name, version) order, starting after
// the cursor's position. Snapshot streams never fail; live streams read
// pages from an upstream registry and can, which is why peek takes a context.
type stream interface {
	source() string
	// peek returns the current entry, or nil at the end.
	peek(ctx context.Context) (*upstream.Entry, error)
	advance()
}

// snapshotStream walks a snapshot: every entry, or only each name's latest.
// With a search it jumps from match to match through the snapshot's search
// index instead of visiting every entry.
type snapshotStream struct {
	name   string
	snap   *upstream.Snapshot
	latest bool
	search string
	i      int
}

func newSnapshotStream(b bound, latest bool, search string, after upstream.Key) *snapshotStream {
	s := &snapshotStream{name: b.name, snap: b.snap, latest: latest, search: search}
	if latest {
		s.i = b.snap.SeekLatestAfter(after)
	} else {
		s.i = b.snap.SeekAfter(after)
	}
	return s
}

func (s *snapshotStream) source() string { return s.name }

func (s *snapshotStream) peek(context.Context) (*upstream.Entry, error) {
	if s.latest {
		if s.search != "" {
			s.i = s.snap.NextLatestMatch(s.i, s.search)
		}
		if s.i < s.snap.LatestCount() {
			return s.snap.LatestAt(s.i), nil
		}
		return nil, nil
	}
	if s.search != "" {
		s.i = s.snap.NextMatch(s.i, s.search)
	}
	if s.i < s.snap.Len() {
		return s.snap.At(s.i), nil
	}
	return nil, nil
}

func (s *snapshotStream) advance() { s.i++ }

// merge is a k-way merge of the members' streams by (name, version), keeping
// for each name only the entries of the name's owner (shadowing), dropping
// entries reserved by another source, and applying the query and view
// filters. Ties between sources are broken by priority, never by arrival.
type merge struct {
	engine  *Engine
	scope   *scope
	srcs    []bound
	q       Query
	view    *View
	after   cursor
	streams []stream
	// live holds the live streams by source name (nil entries for none).
	live map[string]*liveStream
	// failed marks streams taken out of this request.
	failed map[string]bool
	rep    *Report
	// owners caches each name's owner for this request.
	owners map[string]string
	// claim is the rank of the owner the cursor names for its last name
	// (noClaim: none usable); see ownerOf.
	claim int
	// popped is the last key taken from any stream, admitted or not, and
	// its source.
	popped    *upstream.Key
	poppedSrc string
	// bounded: a live stream reached its page bound; the page ends.
	bounded bool
	// indexFailed are live members whose list index could not be had:
	// logged once the merge has a context (see page).
	indexFailed []bound
}

func newMerge(e *Engine, sc *scope, srcs []bound, q Query, view *View, after cursor, rep *Report) *merge {
	m := &merge{engine: e, scope: sc, srcs: srcs, q: q, view: view, after: after, rep: rep,
		owners: map[string]string{}, live: map[string]*liveStream{}, failed: map[string]bool{}}
	m.claim = m.checkClaim(after)
	for _, b := range srcs {
		switch {
		case b.indexErr != nil:
			m.failed[b.name] = true
			rep.fail(b.name)
			m.indexFailed = append(m.indexFailed, b)
		case b.forwarded():
			ls := newLiveStream(e, b, q, after)
			m.live[b.name] = ls
			m.streams = append(m.streams, ls)
		default:
			m.streams = append(m.streams, newSnapshotStream(b, q.Version == LatestVersion, q.Search, after.key()))
		}
	}
	return m
}

// page returns up to limit merged entries, and the cursor of the next page
// when there is one (never for an empty trailing page).
func (m *merge) page(ctx context.Context, limit int) ([]*upstream.Entry, *cursor, error) {
	for _, b := range m.indexFailed {
		m.engine.logSkip(ctx, b.name, b.indexErr)
	}
	if err := m.prefetch(ctx); err != nil {
		return nil, nil, err
	}
	out := make([]*upstream.Entry, 0, min(limit, 128))
	for len(out) < limit {
		e, err := m.next(ctx)
		if err != nil {
			return nil, nil, err
		}
		if e == nil {
			if m.bounded {
				return out, m.boundCursor(), m.finish(ctx)
			}
			return out, nil, m.finish(ctx)
		}
		out = append(out, e)
	}
	// The position after the last entry served, taken before looking ahead.
	last := out[len(out)-1]
	next := &cursor{Name: last.Name, Version: last.Version, Owner: last.Source, Live: m.liveState()}
	more, err := m.next(ctx)
	if err != nil {
		return nil, nil, err
	}
	if more == nil && !m.bounded {
		next = nil
	}
	return out, next, m.finish(ctx)
}

// boundCursor continues a page that a live source's page bound cut short:
// after the last key taken from any stream (every stream has been read up
// to it), or where the request started if none was.
func (m *merge) boundCursor() *cursor {
	k, owner := m.after.key(), m.after.Owner
	if m.popped != nil {
		k, owner = *m.popped, m.poppedSrc
	}
	// A name no source may serve (reserved elsewhere) has no owner; any
	// non-empty claim does then, since the next request checks it again.
	if o := m.ownerOf(k.Name); o != "" {
		owner = o
	}
	return &cursor{Name: k.Name, Version: k.Version, Owner: owner, Live: m.liveState()}
}

// prefetch asks every live source for its first page at once, so a cold
// request costs the slowest upstream, not their sum. A required source that
// fails aborts the request and cancels the others; any other failure only
// takes that source out.
func (m *merge) prefetch(ctx context.Context) error {
	if len(m.live) == 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, ls := range m.live {
		g.Go(func() error {
			_, err := ls.peek(gctx)
			switch {
			case err == nil, errors.Is(err, errPageBound):
				return nil // the merge meets the bound in order
			case errors.Is(err, ErrBadRequest):
				return err
			case ls.required:
				return requiredFailed(ls.name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// next returns the next admitted entry, or nil when every stream is done.
func (m *merge) next(ctx context.Context) (*upstream.Entry, error) {
	for {
		var (
			best  stream
			bestE *upstream.Entry
		)
		for _, s := range m.streams { // k is small (a handful of sources): a scan beats a heap
			if m.failed[s.source()] {
				continue
			}
			e, err := s.peek(ctx)
			if errors.Is(err, errPageBound) {
				if m.popped != nil || m.after.Name != "" {
					m.bounded = true
					return nil, nil
				}
				// Nothing to continue after: a first page with nothing in it.
				err = fmt.Errorf("%w before any entry", err)
			}
			if err != nil {
				if err := m.fail(ctx, s, err); err != nil {
					return nil, err
				}
				continue
			}
			if e != nil && (bestE == nil || e.Key().Less(bestE.Key())) {
				best, bestE = s, e
			}
		}
		if best == nil {
			return nil, nil
		}
		best.advance()
		k := bestE.Key()
		m.popped, m.poppedSrc = &k, best.source()
		if m.admit(best.source(), bestE) {
			return bestE, nil
		}
	}
}

// fail takes a stream out of the request: an error for a required source,
// and for a cursor the source refuses (the client's to fix).
func (m *merge) fail(ctx context.Context, s stream, err error) error {
	if errors.Is(err, ErrBadRequest) {
		return err
	}
	if ls, ok := s.(*liveStream); ok && ls.required {
		return requiredFailed(ls.name, err)
	}
	m.failed[s.source()] = true
	m.rep.fail(s.source())
	m.engine.logSkip(ctx, s.source(), err)
	return nil
}

// finish reports the live sources that answered from stale cache, and
// those whose answer lacks entries (out of order, invalid records, over a
// bound): such an answer is incomplete, and a source seen out of byte
// order is told so (with order auto it then answers from its index).
func (m *merge) finish(ctx context.Context) error {
	for _, b := range m.srcs { // in priority order: hooks and logs are deterministic
		ls, ok := m.live[b.name]
		if !ok {
			continue
		}
		if ls.stale && !m.failed[b.name] {
			m.rep.stale(b.name)
		}
		ls.account(ctx, m.rep)
	}
	return nil
}

// liveState records where each live source stands for the next page. A
// source that failed keeps the position it came with.
func (m *merge) liveState() []liveCursor {
	var out []liveCursor
	for _, b := range m.srcs {
		if b.live == nil || b.indexed {
			continue // an index is sought by key: no position to keep
		}
		if m.failed[b.name] {
			// The walk moves on without the source: its position is kept,
			// marked as behind the cursor's key, so that entries it meets
			// up to that key later are not taken for disorder.
			if prev, ok := m.after.liveFor(b.name); ok {
				prev.Behind = !prev.Done
				out = append(out, prev)
			}
			continue
		}
		out = append(out, m.live[b.name].position())
	}
	return out
}

// admit applies the filters, the reservations and shadowing to an entry.
// Reservations are checked for every entry, whatever a cursor claims.
func (m *merge) admit(src string, e *upstream.Entry) bool {
	if !m.q.matches(e) || !m.view.admits(e) || !m.scope.res.Admits(src, e.Name) {
		return false
	}
	return m.ownerOf(e.Name) == src
}

// ownerOf is the highest-priority source holding name. A live source holds
// a name when its stream yields it in this request: the merge has read every
// stream up to name before asking, so that is known by now.
//
// The cursor's last name keeps the owner the cursor names when that owner
// ranks above the one found now, so a name never changes hands mid-walk
// (its owner may have no versions left after the cursor, and a
// lower-priority copy must not appear). A claim never wins over a
// higher-priority holder: a cursor cannot hide a source's entries.
func (m *merge) ownerOf(name string) string {
	if o, ok := m.owners[name]; ok {
		return o
	}
	owner, at := "", noClaim
	for _, b := range m.srcs {
		if m.failed[b.name] || !m.scope.res.Admits(b.name, name) {
			continue
		}
		if b.snap != nil && b.snap.Has(name) || b.forwarded() && m.live[b.name].holds(name) {
			owner, at = b.name, b.rank
			break
		}
	}
	if name == m.after.Name && m.claim < at {
		owner = m.after.Owner
	}
	m.owners[name] = owner
	return owner
}

// noClaim ranks below every member.
const noClaim = math.MaxInt

// checkClaim returns the rank (in the view) of the cursor's owner, or
// noClaim when the claim cannot hold: a source that is not one of the
// view's, one the view's reservations bar from the name, or a snapshot
// source that does not hold the name.
// A member that has no data in this request keeps its claim (the answer
// is partial; another source must not take the name over mid-walk).
// Cursors are authenticated; this is defence in depth, and covers a
// source reloaded between two pages.
func (m *merge) checkClaim(after cursor) int {
	if after.Name == "" {
		return noClaim
	}
	for i, mi := range m.scope.members {
		if m.engine.members[mi].Name() != after.Owner {
			continue
		}
		if !m.scope.res.Admits(after.Owner, after.Name) {
			return noClaim
		}
		for _, b := range m.srcs {
			if b.rank == i && b.snap != nil && !b.snap.Has(after.Name) {
				return noClaim
			}
		}
		return i
	}
	return noClaim
}
