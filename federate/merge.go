package federate

import (
	"context"

	"github.com/mcpfed/mcpfed/upstream"
)

// stream is one source's entries in (name, version) order, starting after
// the cursor's key. Snapshot streams never fail; live streams (pages read
// from an upstream registry) can, which is why peek takes a context.
type stream interface {
	source() string
	// peek returns the current entry, or nil at the end.
	peek(ctx context.Context) (*upstream.Entry, error)
	advance()
}

// snapshotStream walks a snapshot: every entry, or only each name's latest.
type snapshotStream struct {
	name   string
	snap   *upstream.Snapshot
	latest bool
	i      int
}

func newSnapshotStream(b bound, latest bool, after upstream.Key) *snapshotStream {
	s := &snapshotStream{name: b.name, snap: b.snap, latest: latest}
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
		if s.i < s.snap.LatestCount() {
			return s.snap.LatestAt(s.i), nil
		}
		return nil, nil
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
	srcs    []bound
	q       Query
	view    *View
	streams []stream
	// owners caches each name's owner for this request; the cursor's owner
	// of its last name is kept so that a name never changes hands mid-walk.
	owners map[string]string
}

func newMerge(e *Engine, srcs []bound, q Query, view *View, after cursor) *merge {
	m := &merge{engine: e, srcs: srcs, q: q, view: view, owners: map[string]string{}}
	if after.Name != "" {
		m.owners[after.Name] = after.Owner
	}
	for _, b := range srcs {
		m.streams = append(m.streams, newSnapshotStream(b, q.Version == LatestVersion, after.key()))
	}
	return m
}

// take returns up to n merged entries.
func (m *merge) take(ctx context.Context, n int) ([]*upstream.Entry, error) {
	out := make([]*upstream.Entry, 0, min(n, 128))
	for len(out) < n {
		var (
			best  stream
			bestE *upstream.Entry
		)
		for _, s := range m.streams { // k is small (a handful of sources): a scan beats a heap
			e, err := s.peek(ctx)
			if err != nil {
				return nil, err
			}
			if e != nil && (bestE == nil || e.Key().Less(bestE.Key())) {
				best, bestE = s, e
			}
		}
		if best == nil {
			break
		}
		best.advance()
		if m.admit(best.source(), bestE) {
			out = append(out, bestE)
		}
	}
	return out, nil
}

func (m *merge) admit(src string, e *upstream.Entry) bool {
	if !m.q.matches(e) || !m.view.admits(e) {
		return false
	}
	return m.ownerOf(e.Name) == src
}

func (m *merge) ownerOf(name string) string {
	if o, ok := m.owners[name]; ok {
		return o
	}
	own, _ := m.engine.owner(m.srcs, name)
	m.owners[name] = own.name
	return own.name
}
