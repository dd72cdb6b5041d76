package federate

import (
	"context"
	"errors"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/mcpfed/mcpfed/upstream"
)

// versionsOf finds the owner of name in the view — the highest-priority of
// the view's sources that has it, reservations decided among them — and
// returns all of its versions, newest publication first. Live sources
// ahead of the first snapshot source holding the name are asked at once
// (fan-out by name); the others cannot own it and are not asked.
func (e *Engine) versionsOf(ctx context.Context, name string, view *View) ([]*upstream.Entry, Report, error) {
	sc, srcs, rep, err := e.bindView(view)
	if err != nil {
		return nil, rep, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()

	// Candidates in priority order, up to and including the first snapshot
	// source that holds the name.
	var cands []bound
	for _, b := range srcs {
		if !sc.res.Admits(b.name, name) {
			continue
		}
		if b.snap != nil {
			if b.snap.Has(name) {
				cands = append(cands, b)
				break
			}
			continue
		}
		cands = append(cands, b)
	}
	answers := make([]*upstream.Response, len(cands))
	errs := make([]error, len(cands))
	g, gctx := errgroup.WithContext(ctx)
	for i, b := range cands {
		if b.live == nil {
			continue
		}
		g.Go(func() error {
			// All versions, deleted included: a name whose versions are all
			// deleted is still held by its source.
			resp, err := b.live.Fetch(gctx, upstream.Request{Op: upstream.OpVersions, Name: name, IncludeDeleted: true})
			answers[i], errs[i] = resp, err
			if err != nil && !errors.Is(err, upstream.ErrNotFound) && b.required {
				return requiredFailed(b.name, err) // abort: cancels the others
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, rep, err
	}
	for i, b := range cands {
		if b.snap != nil {
			return b.snap.Versions(name), rep, nil
		}
		switch {
		case errs[i] == nil && len(answers[i].Entries) > 0:
			if answers[i].Stale {
				rep.stale(b.name)
			}
			e.noteDropped(&rep, b.name, dropReason(answers[i].DropReason), answers[i].Dropped)
			held := admitted(answers[i].Entries, b.admit)
			if len(held) == 0 {
				continue // the source's filter drops every version: not held here
			}
			return newestFirst(held), rep, nil
		case errs[i] == nil || errors.Is(errs[i], upstream.ErrNotFound):
			// Not held here: the next source may own it.
		default:
			e.logSkip(ctx, b.name, errs[i])
			rep.fail(b.name)
		}
	}
	return nil, rep, notFound("server %q", name)
}

// bindView resolves the view's scope and binds its members (see bind).
func (e *Engine) bindView(view *View) (*scope, []bound, Report, error) {
	sc, err := e.scopeOf(view)
	if err != nil {
		return nil, nil, Report{}, err
	}
	srcs, rep, err := e.bind(sc)
	return sc, srcs, rep, err
}

// newestFirst puts a live source's versions in the order the API promises
// whatever order the upstream sent them in: newest publication first, as a
// snapshot orders them (equal times: higher version first, then version
// bytes), so the answer never depends on the upstream's order. The entries
// are shared with the page cache, so a copy is sorted.
func newestFirst(entries []*upstream.Entry) []*upstream.Entry {
	if slices.IsSortedFunc(entries, byRecency) {
		return entries
	}
	out := slices.Clone(entries)
	slices.SortFunc(out, byRecency)
	return out
}

// byRecency is the /versions order: a total order over one name's versions.
func byRecency(a, b *upstream.Entry) int {
	if c := b.PublishedAt.Compare(a.PublishedAt); c != 0 {
		return c
	}
	if c := upstream.CompareVersions(b, a); c != 0 {
		return c
	}
	return strings.Compare(a.Version, b.Version)
}

// Versions returns every version of name held by its owner, newest
// publication first.
func (e *Engine) Versions(ctx context.Context, name string, includeDeleted bool, view *View) ([]*upstream.Entry, Report, error) {
	all, rep, err := e.versionsOf(ctx, name, view)
	if err != nil {
		return nil, rep, err
	}
	var out []*upstream.Entry
	for _, en := range all {
		if visible(en, includeDeleted) && view.admits(en) {
			out = append(out, en)
		}
	}
	if len(out) == 0 {
		return nil, rep, notFound("server %q", name)
	}
	return out, rep, nil
}

// Version returns one version of name (or its latest) from the name's owner.
func (e *Engine) Version(ctx context.Context, name, version string, includeDeleted bool, view *View) (*upstream.Entry, Report, error) {
	all, rep, err := e.versionsOf(ctx, name, view)
	if err != nil {
		return nil, rep, err
	}
	var en *upstream.Entry
	if version == LatestVersion && view.curated() {
		// The latest the view admits, not the source's latest: a newer
		// version not approved yet must not hide the approved one.
		var admitted []*upstream.Entry
		for _, v := range all {
			if view.admits(v) {
				admitted = append(admitted, v)
			}
		}
		en = upstream.LatestOf(admitted)
	}
	for _, v := range all {
		if en != nil {
			break
		}
		if version == LatestVersion && v.IsLatest || v.Version == version {
			en = v
		}
	}
	if en == nil || !visible(en, includeDeleted) || !view.admits(en) {
		return nil, rep, notFound("server %q version %q", name, version)
	}
	return en, rep, nil
}
