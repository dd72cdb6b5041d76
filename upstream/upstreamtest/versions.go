package upstreamtest

import (
	"strings"

	"golang.org/x/mod/semver"
)

// recalcLatest flags the name's latest version the way the official
// registry does after a publish or status change: the highest non-deleted
// version, else the highest deleted one (so include_deleted lookups still
// find the server). updatedAt is deliberately left alone, as upstream.
func (d *dataset) recalcLatest(name string) {
	versions := d.byName[name]
	var best *record
	for _, v := range versions {
		if v.off.Status != StatusDeleted && (best == nil || compareVersions(v, best) > 0) {
			best = v
		}
	}
	if best == nil {
		for _, v := range versions {
			if best == nil || compareVersions(v, best) > 0 {
				best = v
			}
		}
	}
	for _, v := range versions {
		v.off.IsLatest = v == best
		v.encode()
	}
}

// compareVersions orders two versions of one server by the official rules:
// semver precedence when both are semver, a semver version above a non-semver
// one, else publication time. Ties fall back to publication time and then the
// version string, so the choice never depends on insertion order.
func compareVersions(a, b *record) int {
	if c := compareSemverFirst(a.version, b.version); c != 0 {
		return c
	}
	if c := a.off.PublishedAt.Compare(b.off.PublishedAt); c != 0 {
		return c
	}
	return strings.Compare(a.version, b.version)
}

// compareSemverFirst orders two versions by semver precedence when both
// are semver and puts a semver version above a non-semver one; 0 leaves
// the order to the caller's tie-break.
func compareSemverFirst(a, b string) int {
	as, bs := isSemver(a), isSemver(b)
	switch {
	case as && bs:
		return semver.Compare(withV(a), withV(b))
	case as:
		return 1
	case bs:
		return -1
	}
	return 0
}

// isSemver is the official registry's test: valid semver (a "v" is added
// when missing) with exactly major.minor.patch in its core.
func isSemver(v string) bool {
	sv := withV(v)
	if !semver.IsValid(sv) {
		return false
	}
	core, _, _ := strings.Cut(sv[1:], "+")
	core, _, _ = strings.Cut(core, "-")
	return strings.Count(core, ".") == 2
}

func withV(v string) string {
	if strings.HasPrefix(v, "v") {
		return v
	}
	return "v" + v
}
