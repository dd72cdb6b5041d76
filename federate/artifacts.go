package federate

import (
	"context"
	"errors"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/mcpfed/mcpfed/upstream"
)

// Artifacts returns the view's merged skills or plugins (every version),
// ordered by (namespace/name, version). The merge follows the servers'
// rules: an artifact's namespace/name is its name for reservations and
// filters; the highest-priority source of the view that holds a name owns
// all of its versions (shadowing), reservations and a live source's own
// filter decided before ownership, the view's filter after. Artifact lists
// are small (hundreds, not the servers' hundred thousand), so a request
// merges whole lists; live sources keep theirs cached.
func (e *Engine) Artifacts(ctx context.Context, kind upstream.ArtifactKind, view *View) ([]*upstream.Artifact, Report, error) {
	sc, srcs, rep, err := e.bindView(view)
	if err != nil {
		return nil, rep, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()

	lists := make([][]*upstream.Artifact, len(srcs))
	errs := make([]error, len(srcs))
	stale := make([]bool, len(srcs))
	g, gctx := errgroup.WithContext(ctx)
	for i, b := range srcs {
		if b.live == nil {
			lists[i] = b.snap.Artifacts(kind).All()
			continue
		}
		g.Go(func() error {
			got, err := b.live.Artifacts(gctx, kind)
			lists[i], errs[i], stale[i] = got.All(), err, got.Stale()
			if err != nil && b.required {
				return requiredFailed(b.name, err) // abort: cancels the others
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, rep, err
	}

	owner := map[string]int{} // namespace/name → rank of the source that owns it
	var out []*upstream.Artifact
	for i, b := range srcs {
		if errs[i] != nil {
			if !errors.Is(errs[i], context.Canceled) || ctx.Err() == nil {
				e.logSkip(ctx, b.name, errs[i])
			}
			rep.fail(b.name)
			continue
		}
		if stale[i] {
			rep.stale(b.name)
		}
		for _, a := range lists[i] {
			id := a.ID()
			if !sc.res.Admits(b.name, id) {
				continue
			}
			if r, held := owner[id]; held && r != b.rank {
				continue // shadowed by a higher-priority source
			}
			fe := a.FilterEntry()
			if b.admit != nil && !b.admit(fe) {
				continue // the source's own filter: not held here
			}
			owner[id] = b.rank
			if view.admits(fe) {
				out = append(out, a)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *upstream.Artifact) int { return a.Key().Compare(b.Key()) })
	// A live upstream may list one version twice; the first (in priority
	// and arrival order, which the stable sort keeps) is served.
	out = slices.CompactFunc(out, func(a, b *upstream.Artifact) bool { return a.Key() == b.Key() })
	return out, rep, nil
}

// latestArtifacts keeps each name's latest version of a merged, sorted
// list, by the official rules for isLatest (semantic versions above
// others, then the higher version).
func latestArtifacts(all []*upstream.Artifact) []*upstream.Artifact {
	var out []*upstream.Artifact
	for i := 0; i < len(all); {
		j, best := i+1, all[i]
		for ; j < len(all) && all[j].ID() == all[i].ID(); j++ {
			if compareArtifactVersions(all[j], best) > 0 {
				best = all[j]
			}
		}
		out = append(out, best)
		i = j
	}
	return out
}

// compareArtifactVersions orders two versions of one artifact as the
// official rules order server versions (artifacts carry no publication time).
func compareArtifactVersions(a, b *upstream.Artifact) int {
	return upstream.CompareVersions(&upstream.Entry{Version: a.Version}, &upstream.Entry{Version: b.Version})
}

// artifactVersions returns the versions of one artifact in a merged,
// sorted list, highest version first.
func artifactVersions(all []*upstream.Artifact, id string) []*upstream.Artifact {
	lo, _ := slices.BinarySearchFunc(all, id, func(a *upstream.Artifact, id string) int {
		return strings.Compare(a.ID(), id)
	})
	hi := lo
	for hi < len(all) && all[hi].ID() == id {
		hi++
	}
	out := slices.Clone(all[lo:hi])
	slices.SortStableFunc(out, func(a, b *upstream.Artifact) int { return compareArtifactVersions(b, a) })
	return out
}
