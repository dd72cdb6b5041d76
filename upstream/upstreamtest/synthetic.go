package upstreamtest

import (
	"fmt"
	"math/rand/v2"
)

// Synthetic names, versions and descriptions shaped like the official
// registry's data, shared by Generate and by the benchmarks, so every
// synthetic catalogue in the project looks the same.
var (
	syntheticNamespaces = []string{"io.github.%s", "com.%s", "io.%s", "dev.%s.tools", "org.%s"}
	syntheticOwners     = []string{"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell", "cyberdyne", "aperture", "vandelay"}
	syntheticWords      = []string{"weather", "files", "git", "search", "postgres", "slack", "calendar", "notes", "browser", "kubernetes", "jira", "maps", "shell", "memory", "fetch", "time"}
	syntheticAdjectives = []string{"Fast", "Simple", "Secure", "Tiny", "Friendly", "Robust"}
)

// SyntheticName is the j-th synthetic server name, with the owner and the
// topic word it is made of. It depends on j alone (so sources holding the
// same j overlap) and carries j zero-padded, so a search for that number
// finds one name.
func SyntheticName(j int) (name, owner, word string) {
	owner = syntheticOwners[(j/5)%len(syntheticOwners)]
	word = syntheticWords[(j*7)%len(syntheticWords)]
	return fmt.Sprintf(syntheticNamespaces[j%len(syntheticNamespaces)], owner) + "/" + word + fmt.Sprintf("-%06d", j), owner, word
}

// SyntheticDescription is a description of at most 100 characters.
func SyntheticDescription(rng *rand.Rand, owner, word string) string {
	return fmt.Sprintf("%s %s tools for %s teams: list, read and update %s data from an agent",
		syntheticAdjectives[rng.IntN(len(syntheticAdjectives))], word, owner, word)
}

// SyntheticVersions returns a name's versions in publication order: one to
// five, mostly semver (some pre-releases; byte order unlike semver order),
// one name in twenty with calendar versions that are not semver.
func SyntheticVersions(rng *rand.Rand) []string {
	count := 1 + rng.IntN(5)
	out := make([]string, 0, count)
	if rng.IntN(20) == 0 {
		for k := range count {
			out = append(out, fmt.Sprintf("2025.%02d.%d", 1+k%12, k))
		}
		return out
	}
	major, minor, patch := rng.IntN(3), rng.IntN(12), rng.IntN(3)
	for range count {
		v := fmt.Sprintf("%d.%d.%d", major, minor, patch)
		if rng.IntN(15) == 0 {
			v += "-rc.1"
		}
		out = append(out, v)
		major, minor, patch = nextVersion(rng, major, minor, patch)
	}
	return out
}

// nextVersion is the release after major.minor.patch: mostly a patch, often
// a minor, sometimes a major.
func nextVersion(rng *rand.Rand, major, minor, patch int) (int, int, int) {
	switch rng.IntN(10) {
	case 0:
		return major + 1, 0, 0
	case 1, 2, 3:
		return major, minor + 1, 0
	}
	return major, minor, patch + 1
}
