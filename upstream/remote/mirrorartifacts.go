package remote

import (
	"bytes"
	"context"
	"slices"

	"github.com/mcpfed/mcpfed/upstream"
)

// walkArtifacts reads every kind of artifact, every version of each (a
// mirror walks on full crawls only, so reading each artifact's versions
// costs one request per artifact per resync). A kind whose walk fails
// keeps its last good artifacts and the error is reported (the next sync
// walks again); one whose versions could not all be read takes what was
// read (the listed versions stand in) and is walked again too. The servers
// are not held back by either: skills and plugins are an extension.
func (m *Mirror) walkArtifacts(ctx context.Context) (map[upstream.ArtifactKind][]*upstream.Artifact, MirrorArtifactStats) {
	st := MirrorArtifactStats{Walked: true}
	out := make(map[upstream.ArtifactKind][]*upstream.Artifact, len(upstream.ArtifactKinds))
	for _, kind := range upstream.ArtifactKinds {
		w := artifactWalk{fetch: m.fetch, kind: kind, pageSize: m.o.PageSize, bounds: m.o.bounds(), versions: true}
		got, err := w.run(ctx)
		if got != nil {
			st.Requests += got.stats.Requests
			st.Bytes += got.stats.Bytes
		}
		switch {
		case err != nil:
			if st.Error == "" {
				st.Error = err.Error()
			}
			m.logger.Warn("artifact walk failed; keeping the last good ones", "source", m.o.Client.Source, "kind", kind, "error", err)
			out[kind] = m.artifacts[kind]
		case got.stats.VersionErrors > 0:
			if st.Error == "" {
				st.Error = got.stats.FirstVersionError
			}
			m.logger.Warn("could not read the versions of some artifacts; their listed versions are served until the next walk",
				"source", m.o.Client.Source, "kind", kind, "artifacts", got.stats.VersionErrors, "first", got.stats.FirstVersionError)
			out[kind] = got.items
		default:
			out[kind] = got.items
		}
		st.Versions += len(out[kind])
	}
	st.Changed = !sameArtifacts(m.artifacts, out)
	return out, st
}

// sameArtifacts reports whether two sets of artifacts hold the same
// versions with the same bytes.
func sameArtifacts(a, b map[upstream.ArtifactKind][]*upstream.Artifact) bool {
	for _, kind := range upstream.ArtifactKinds {
		x, y := sortedArtifacts(a[kind]), sortedArtifacts(b[kind])
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i].Key() != y[i].Key() || !bytes.Equal(x[i].Raw, y[i].Raw) {
				return false
			}
		}
	}
	return true
}

func sortedArtifacts(items []*upstream.Artifact) []*upstream.Artifact {
	if slices.IsSortedFunc(items, func(a, b *upstream.Artifact) int { return a.Key().Compare(b.Key()) }) {
		return items
	}
	out := slices.Clone(items)
	slices.SortFunc(out, func(a, b *upstream.Artifact) int { return a.Key().Compare(b.Key()) })
	return out
}
