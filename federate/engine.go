package federate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
)

// SnapshotSource is what the engine needs from a source that holds its data
// in memory (file, git, mirror): its current snapshot, nil until the first
// good load.
type SnapshotSource interface {
	Name() string
	Snapshot() *upstream.Snapshot
}

// Member is a source as the engine sees it: the source and how it takes part.
type Member struct {
	Source SnapshotSource
	// Required sources fail the request (502) instead of being skipped.
	Required bool
}

// View is a named selection of the merged catalogue, served under
// /registry/{view}/v0.1. The unnamed default view has a nil filter.
type View struct {
	Name   string
	Filter *filter.Filter
}

// Engine answers registry queries over its members in priority order
// (first wins).
type Engine struct {
	members      []Member
	reservations *filter.Reservations
	// observeMerge records how long a merge took (metrics); may be nil.
	observeMerge func(time.Duration)
	clock        func() time.Time
}

// EngineOptions configure an engine.
type EngineOptions struct {
	Members      []Member
	Reservations *filter.Reservations
	ObserveMerge func(time.Duration)
	Clock        func() time.Time
}

// NewEngine builds an engine over members in priority order.
func NewEngine(o EngineOptions) *Engine {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Engine{members: o.Members, reservations: o.Reservations, observeMerge: o.ObserveMerge, clock: o.Clock}
}

// Report says which sources could not take part in an answer.
type Report struct {
	Failed []string
}

// Complete reports whether every source took part.
func (r Report) Complete() bool { return len(r.Failed) == 0 }

// Page is one page of a list answer.
type Page struct {
	Entries    []*upstream.Entry
	NextCursor string
	Report
}

// bound is a member with the snapshot it answers from for one request, so a
// request sees each source at one revision even if it reloads meanwhile.
type bound struct {
	name string
	snap *upstream.Snapshot
}

// bind takes each member's snapshot once. A member without one has failed:
// a required one fails the request, others are reported.
func (e *Engine) bind() ([]bound, Report, error) {
	var rep Report
	out := make([]bound, 0, len(e.members))
	for _, m := range e.members {
		snap := m.Source.Snapshot()
		if snap == nil {
			if m.Required {
				return nil, rep, fmt.Errorf("%w: source %q has no data to serve", ErrRequiredSourceFailed, m.Source.Name())
			}
			rep.Failed = append(rep.Failed, m.Source.Name())
			continue
		}
		out = append(out, bound{name: m.Source.Name(), snap: snap})
	}
	return out, rep, nil
}

// owner returns the highest-priority source that holds name and may serve
// it (reservations), or "".
func (e *Engine) owner(srcs []bound, name string) (bound, bool) {
	for _, b := range srcs {
		if b.snap.Has(name) && e.reservations.Admits(b.name, name) {
			return b, true
		}
	}
	return bound{}, false
}

// List answers the list endpoint for a view.
func (e *Engine) List(ctx context.Context, q Query, view *View) (*Page, error) {
	start := e.clock()
	defer func() {
		if e.observeMerge != nil {
			e.observeMerge(e.clock().Sub(start))
		}
	}()
	fp := q.fingerprint(view.name())
	var after cursor
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor, fp)
		if err != nil {
			return nil, err
		}
		after = c
	}
	srcs, rep, err := e.bind()
	if err != nil {
		return nil, err
	}
	m := newMerge(e, srcs, q, view, after)
	entries, err := m.take(ctx, q.Limit+1)
	if err != nil {
		return nil, err
	}
	page := &Page{Entries: entries, Report: rep}
	if len(entries) > q.Limit {
		page.Entries = entries[:q.Limit]
		last := page.Entries[q.Limit-1]
		page.NextCursor = encodeCursor(cursor{Q: fp, Name: last.Name, Version: last.Version, Owner: last.Source})
	}
	return page, nil
}

// Versions returns every version of name held by its owner, newest
// publication first.
func (e *Engine) Versions(_ context.Context, name string, includeDeleted bool, view *View) ([]*upstream.Entry, Report, error) {
	srcs, rep, err := e.bind()
	if err != nil {
		return nil, rep, err
	}
	own, ok := e.owner(srcs, name)
	if !ok {
		return nil, rep, fmt.Errorf("%w: server %q", ErrNotFound, name)
	}
	var out []*upstream.Entry
	for _, en := range own.snap.Versions(name) {
		if visible(en, includeDeleted) && view.admits(en) {
			out = append(out, en)
		}
	}
	if len(out) == 0 {
		return nil, rep, fmt.Errorf("%w: server %q", ErrNotFound, name)
	}
	return out, rep, nil
}

// Version returns one version of name (or its latest) from the name's owner.
func (e *Engine) Version(_ context.Context, name, version string, includeDeleted bool, view *View) (*upstream.Entry, Report, error) {
	srcs, rep, err := e.bind()
	if err != nil {
		return nil, rep, err
	}
	own, ok := e.owner(srcs, name)
	if !ok {
		return nil, rep, fmt.Errorf("%w: server %q", ErrNotFound, name)
	}
	var en *upstream.Entry
	if version == LatestVersion {
		en = own.snap.Latest(name)
	} else {
		en = own.snap.Get(name, version)
	}
	if en == nil || !visible(en, includeDeleted) || !view.admits(en) {
		return nil, rep, fmt.Errorf("%w: server %q version %q", ErrNotFound, name, version)
	}
	return en, rep, nil
}

// Ready reports whether every required source has data to serve and every
// other source has made its first attempt; it names those that have not.
func (e *Engine) Ready(attempted func(name string) bool) (bool, []string) {
	var waiting []string
	for _, m := range e.members {
		if m.Source.Snapshot() != nil {
			continue
		}
		if m.Required || !attempted(m.Source.Name()) {
			waiting = append(waiting, m.Source.Name())
		}
	}
	return len(waiting) == 0, waiting
}

func visible(e *upstream.Entry, includeDeleted bool) bool {
	return includeDeleted || e.Status != "deleted"
}

func (v *View) name() string {
	if v == nil {
		return ""
	}
	return v.Name
}

func (v *View) admits(e *upstream.Entry) bool {
	return v == nil || v.Filter.Match(e)
}

// matches applies the query's entry filters.
func (q Query) matches(e *upstream.Entry) bool {
	if !visible(e, q.IncludeDeleted) {
		return false
	}
	if q.Version != "" && q.Version != LatestVersion && e.Version != q.Version {
		return false
	}
	if !q.UpdatedSince.IsZero() && !e.UpdatedAt.After(q.UpdatedSince) {
		return false
	}
	return q.Search == "" || e.MatchesSearch(q.Search)
}

// SourceNames lists the members in priority order.
func (e *Engine) SourceNames() []string {
	names := make([]string, len(e.members))
	for i, m := range e.members {
		names[i] = m.Source.Name()
	}
	return names
}

// FailedHeader formats the failed sources for the response header.
func (r Report) FailedHeader() string {
	return strings.Join(slices.Sorted(slices.Values(r.Failed)), ",")
}
