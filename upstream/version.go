package upstream

import (
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// IsSemver reports whether v is a semantic version with exactly
// major.minor.patch (optionally pre-release and build), as the official
// registry decides it. A leading "v" is accepted.
func IsSemver(v string) bool {
	sv := withV(v)
	if !semver.IsValid(sv) {
		return false
	}
	core := sv[1:]
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	return strings.Count(core, ".") == 2
}

func withV(v string) string {
	if strings.HasPrefix(v, "v") {
		return v
	}
	return "v" + v
}

// CompareVersions orders two versions of one server by the official rules:
// semver order when both are semver, publication time when neither is, and a
// semver version is newer than a non-semver one. Ties (equal semver
// precedence, e.g. differing only in build metadata, or equal times) fall back
// to publication time and then the version string, so the result is total
// and deterministic.
func CompareVersions(a, b *Entry) int {
	as, bs := IsSemver(a.Version), IsSemver(b.Version)
	switch {
	case as && bs:
		if c := semver.Compare(withV(a.Version), withV(b.Version)); c != 0 {
			return c
		}
	case as:
		return 1
	case bs:
		return -1
	}
	if c := compareTime(a.PublishedAt, b.PublishedAt); c != 0 {
		return c
	}
	return strings.Compare(a.Version, b.Version)
}

func compareTime(a, b time.Time) int {
	switch {
	case a.Before(b):
		return -1
	case a.After(b):
		return 1
	}
	return 0
}
