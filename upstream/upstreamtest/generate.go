package upstreamtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

type genServer struct {
	Schema      string       `json:"$schema"`
	Name        string       `json:"name"`
	Title       string       `json:"title,omitempty"`
	Description string       `json:"description"`
	Version     string       `json:"version"`
	Repository  *genRepo     `json:"repository,omitempty"`
	Packages    []genPackage `json:"packages,omitempty"`
	Remotes     []genRemote  `json:"remotes,omitempty"`
}

type genRepo struct {
	URL    string `json:"url"`
	Source string `json:"source"`
}

type genPackage struct {
	RegistryType string       `json:"registryType"`
	Identifier   string       `json:"identifier"`
	Version      string       `json:"version,omitempty"`
	Transport    genTransport `json:"transport"`
}

type genTransport struct {
	Type string `json:"type"`
}

type genRemote struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Generate adds n synthetic servers with versionsPerName versions each
// (n*versionsPerName records) and returns how many it added. The same seed
// gives the same names, versions, bodies and statuses; timestamps count back
// from the clock (one second apart, the last one at now), so with a
// ManualClock they are reproducible too.
//
// The data exercises what clients get wrong: names in several namespaces;
// versions whose byte order differs from semver order ("1.10.0" < "1.9.0");
// about 1 in 20 names with non-semver versions (isLatest by publication
// time); about 1 in 10 names with a backport published last that is not the
// latest; about 3% of versions deprecated (with a message) and 2% deleted.
// A later Generate with another seed may reuse names (same index); the
// versions it brings replace equal ones.
func (r *Registry) Generate(n, versionsPerName int, seed uint64) int {
	r.t.Helper()
	if n < 0 || versionsPerName < 1 {
		r.t.Fatalf("upstreamtest: Generate(%d, %d): want n >= 0 and versionsPerName >= 1", n, versionsPerName)
		return 0
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	total := n * versionsPerName
	base := r.clock()
	items := make([]pending, 0, total)
	k := 0
	for i := range n {
		owner := syntheticOwners[rng.IntN(len(syntheticOwners))]
		word := syntheticWords[rng.IntN(len(syntheticWords))]
		name := fmt.Sprintf(syntheticNamespaces[rng.IntN(len(syntheticNamespaces))], owner) + "/" + word + "-" + strconv.Itoa(i)
		for _, version := range genVersions(rng, versionsPerName) {
			published := base.Add(-time.Duration(total-1-k) * time.Second)
			k++
			meta := Official{Status: StatusActive, PublishedAt: published, UpdatedAt: published, StatusChangedAt: published}
			switch x := rng.IntN(100); {
			case x < 2:
				meta.Status = StatusDeleted
			case x < 5:
				meta.Status = StatusDeprecated
				meta.StatusMessage = "Superseded; upgrade to the latest version of " + name
			}
			// json.Marshal output is compact and the key is known: no need
			// for newRecord's re-parse, which would double the cost.
			server, _ := json.Marshal(genBody(rng, name, version, owner, word, i)) // plain structs: cannot fail
			rec := &record{key: key{name, version}, lowerName: strings.ToLower(name), server: server}
			items = append(items, pending{rec, meta})
		}
	}
	r.data.mu.Lock()
	defer r.data.mu.Unlock()
	r.upsertLocked(items)
	return len(items)
}

// genVersions returns count distinct versions in publication order.
func genVersions(rng *rand.Rand, count int) []string {
	out := make([]string, 0, count)
	if rng.IntN(20) == 0 {
		// Calendar versions: not semver (leading zero), so isLatest goes by
		// publication time.
		for j := range count {
			out = append(out, fmt.Sprintf("2025.%02d.%d", 1+j%12, j))
		}
		return out
	}
	backport := count >= 3 && rng.IntN(10) == 0
	major, minor, patch := rng.IntN(3), rng.IntN(12), rng.IntN(3)
	first := ""
	for len(out) < count {
		if backport && len(out) == count-1 {
			// A fix for an old line, published last: newest, not latest.
			out = append(out, first+"-backport.1")
			break
		}
		v := fmt.Sprintf("%d.%d.%d", major, minor, patch)
		if rng.IntN(15) == 0 {
			v += "-rc.1"
		}
		if first == "" {
			first = fmt.Sprintf("%d.%d.%d", major, minor, patch)
		}
		out = append(out, v)
		major, minor, patch = nextVersion(rng, major, minor, patch)
	}
	return out
}

func genBody(rng *rand.Rand, name, version, owner, word string, i int) genServer {
	s := genServer{
		Schema:      serverSchema,
		Name:        name,
		Description: fmt.Sprintf("%s %s tools for %s teams", syntheticAdjectives[rng.IntN(len(syntheticAdjectives))], word, owner),
		Version:     version,
	}
	if rng.IntN(2) == 0 {
		s.Title = fmt.Sprintf("%s %s %d", owner, word, i)
	}
	if rng.IntN(4) != 0 {
		s.Repository = &genRepo{URL: fmt.Sprintf("https://github.com/%s/%s-%d", owner, word, i), Source: "github"}
	}
	switch rng.IntN(4) {
	case 0:
		s.Remotes = []genRemote{{Type: "streamable-http", URL: fmt.Sprintf("https://%s-%d.%s.example/mcp", word, i, owner)}}
	case 1:
		s.Packages = []genPackage{{RegistryType: "pypi", Identifier: fmt.Sprintf("%s-%s-mcp-%d", owner, word, i), Version: version, Transport: genTransport{"stdio"}}}
	case 2:
		s.Packages = []genPackage{{RegistryType: "oci", Identifier: fmt.Sprintf("ghcr.io/%s/%s-%d:%s", owner, word, i, version), Transport: genTransport{"stdio"}}}
	default:
		s.Packages = []genPackage{{RegistryType: "npm", Identifier: fmt.Sprintf("@%s/%s-mcp-%d", owner, word, i), Version: version, Transport: genTransport{"stdio"}}}
	}
	return s
}
