package upstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// Benchmarks of the snapshot index: building it, seeking in it and the
// latest-version lookup, at 1k, 10k and 100k entries (server versions), plus
// parsing an upstream-format file. Run with
//
//	go test -run '^$' -bench . -benchtime 100x ./upstream/
//
// Fixtures are synthetic but shaped like the official registry's data: about
// three versions per name, bodies of 1-2 KB with packages, remotes,
// environment variables and ToolHive's publisher extension. They are built
// once per process (sync.OnceValue) because the 100k ones take seconds.

// benchNow is the clock of every fixture, so builds are reproducible.
var benchNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var benchSizes = []struct {
	name string
	n    int
}{{"1k", 1_000}, {"10k", 10_000}, {"100k", 100_000}}

// The server.json shape, in the official key order.
type (
	benchDoc struct {
		Schema      string          `json:"$schema"`
		Name        string          `json:"name"`
		Title       string          `json:"title,omitempty"`
		Description string          `json:"description"`
		Version     string          `json:"version"`
		WebsiteURL  string          `json:"websiteUrl,omitempty"`
		Repository  *benchRepo      `json:"repository,omitempty"`
		Icons       []benchIcon     `json:"icons,omitempty"`
		Packages    []benchPackage  `json:"packages,omitempty"`
		Remotes     []benchRemote   `json:"remotes,omitempty"`
		Meta        json.RawMessage `json:"_meta,omitempty"`
	}
	benchRepo struct {
		URL       string `json:"url"`
		Source    string `json:"source"`
		Subfolder string `json:"subfolder,omitempty"`
	}
	benchIcon struct {
		Src      string   `json:"src"`
		MimeType string   `json:"mimeType"`
		Sizes    []string `json:"sizes"`
	}
	benchPackage struct {
		RegistryType string         `json:"registryType"`
		BaseURL      string         `json:"registryBaseUrl,omitempty"`
		Identifier   string         `json:"identifier"`
		Version      string         `json:"version,omitempty"`
		RuntimeHint  string         `json:"runtimeHint,omitempty"`
		Transport    benchTransport `json:"transport"`
		Env          []benchInput   `json:"environmentVariables,omitempty"`
		Args         []benchInput   `json:"packageArguments,omitempty"`
	}
	benchTransport struct {
		Type string `json:"type"`
	}
	benchInput struct {
		Type        string `json:"type,omitempty"`
		Name        string `json:"name"`
		Description string `json:"description"`
		IsRequired  bool   `json:"isRequired,omitempty"`
		IsSecret    bool   `json:"isSecret,omitempty"`
		Default     string `json:"default,omitempty"`
	}
	benchRemote struct {
		Type    string       `json:"type"`
		URL     string       `json:"url"`
		Headers []benchInput `json:"headers,omitempty"`
	}
)

// benchServer renders one server.json of 1-2 KB. Half of the servers carry
// ToolHive's publisher extension (tags and status), which the indexer reads.
func benchServer(rng *rand.Rand, j int, version string) []byte {
	name, owner, word := upstreamtest.SyntheticName(j)
	upper := strings.ToUpper(owner + "_" + word)
	d := benchDoc{
		Schema:      "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
		Name:        name,
		Description: upstreamtest.SyntheticDescription(rng, owner, word),
		Version:     version,
		WebsiteURL:  fmt.Sprintf("https://%s.example.com/mcp/%s", owner, word),
		Repository:  &benchRepo{URL: fmt.Sprintf("https://github.com/%s/%s-mcp-%d", owner, word, j), Source: "github", Subfolder: "servers/" + word},
		Icons:       []benchIcon{{Src: fmt.Sprintf("https://%s.example.com/icons/%s.png", owner, word), MimeType: "image/png", Sizes: []string{"48x48", "96x96"}}},
	}
	if rng.IntN(2) == 0 {
		d.Title = fmt.Sprintf("%s %s %d", strings.ToUpper(owner[:1])+owner[1:], word, j)
	}
	env := []benchInput{
		{Name: upper + "_API_KEY", Description: "API key for the " + owner + " " + word + " service; create one in the account settings", IsRequired: true, IsSecret: true},
		{Name: upper + "_REGION", Description: "Region of the " + word + " endpoint to use", Default: "eu-west-1"},
	}
	npm := benchPackage{
		RegistryType: "npm", BaseURL: "https://registry.npmjs.org", Identifier: fmt.Sprintf("@%s/%s-mcp-%d", owner, word, j),
		Version: version, RuntimeHint: "npx", Transport: benchTransport{"stdio"}, Env: env,
		Args: []benchInput{{Type: "named", Name: "--read-only", Description: "Refuse every tool call that would change " + word + " data"}},
	}
	oci := benchPackage{
		RegistryType: "oci", Identifier: fmt.Sprintf("ghcr.io/%s/%s-mcp-%d:%s", owner, word, j, version),
		Transport: benchTransport{"stdio"}, Env: env[:1],
	}
	remote := benchRemote{
		Type: "streamable-http", URL: fmt.Sprintf("https://mcp.%s.example.com/%s/%d", owner, word, j),
		Headers: []benchInput{{Name: "Authorization", Description: "Bearer token issued by " + owner, IsRequired: true, IsSecret: true}},
	}
	switch rng.IntN(4) {
	case 0:
		d.Packages = []benchPackage{npm}
	case 1:
		d.Packages = []benchPackage{npm, oci}
	case 2:
		d.Packages = []benchPackage{oci}
		d.Remotes = []benchRemote{remote}
	default:
		d.Remotes = []benchRemote{remote, {Type: "sse", URL: remote.URL + "/sse"}}
	}
	if rng.IntN(2) == 0 {
		status := "Active"
		if rng.IntN(30) == 0 {
			status = "Deprecated"
		}
		d.Meta = json.RawMessage(fmt.Sprintf(`{%q:{%q:{%q:{"status":%q,"tier":"Community","tags":[%q,%q,"api"],"tools":["list_%s","get_%s","update_%s"]}}}}`,
			upstream.PublisherMetaKey, upstream.ToolHiveNamespace, "ghcr.io/"+owner+"/"+word, status, word, owner, word, word, word))
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // plain structs and valid raw JSON
	}
	return b
}

// benchItem is one generated server version.
type benchItem struct {
	name, version string
	server        []byte
}

// benchItems generates the first n server versions, name by name. The same
// n gives the same items.
func benchItems(n int) []benchItem {
	out := make([]benchItem, 0, n)
	for j := 0; len(out) < n; j++ {
		rng := rand.New(rand.NewPCG(uint64(j), 0x9e3779b97f4a7c15))
		name, _, _ := upstreamtest.SyntheticName(j)
		for _, v := range upstreamtest.SyntheticVersions(rng) {
			if len(out) == n {
				break
			}
			out = append(out, benchItem{name: name, version: v, server: benchServer(rng, j, v)})
		}
	}
	return out
}

// benchUpstreamFile renders items as a registry-upstream file, the format a
// file or git source reads.
func benchUpstreamFile(items []benchItem) []byte {
	size := 256
	for _, it := range items {
		size += len(it.server) + 1
	}
	b := make([]byte, 0, size)
	b = append(b, `{"$schema":"https://raw.githubusercontent.com/stacklok/toolhive-core/main/registry/types/data/upstream-registry.schema.json","version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it.server...)
	}
	return append(b, "]}}"...)
}

// benchEntries indexes items as a loader would, with distinct publication
// times (one second apart) and 2% of the versions deleted and 3% deprecated,
// so the latest-version rules have work to do.
func benchEntries(items []benchItem) []*upstream.Entry {
	out := make([]*upstream.Entry, len(items))
	for i, it := range items {
		e, err := upstream.NewEntry(it.server, nil)
		if err != nil {
			panic(err) // the generator writes valid servers
		}
		switch i % 50 {
		case 7:
			e.Status = "deleted"
		case 13, 29, 41:
			e.Status = "deprecated"
		default:
			e.Status = "active"
		}
		e.PublishedAt = benchNow.Add(-time.Duration(len(items)-i) * time.Second)
		e.UpdatedAt = e.PublishedAt
		out[i] = e
	}
	return out
}

// Fixtures by size, built on first use and shared by every benchmark of
// the process. They panic on a generator bug: a sync.OnceValue has no
// testing.B of its own to fail.
var (
	benchItemsBySize   = perSize(func(n int) []benchItem { return benchItems(n) })
	benchEntriesBySize = perSize(func(n int) []*upstream.Entry { return benchEntries(benchItemsBySize[n]()) })
	benchSnapBySize    = perSize(func(n int) *upstream.Snapshot {
		s, err := upstream.NewSnapshot("bench", benchEntriesBySize[n](), benchNow)
		if err != nil {
			panic(err)
		}
		return s
	})
)

// perSize makes one lazily built fixture per benchmark size.
func perSize[T any](build func(n int) T) map[int]func() T {
	out := map[int]func() T{}
	for _, sz := range benchSizes {
		out[sz.n] = sync.OnceValue(func() T { return build(sz.n) })
	}
	return out
}

// BenchmarkSnapshotBuild measures NewSnapshot over entries already parsed
// (copy, sort, latest-version marking, encoding every response, revision
// hash). Before the timed loop it loads one snapshot the way a file source
// does (bytes, Parse, Finalize, NewSnapshot) and reports the heap that
// costs: retained-MB is what the snapshot keeps once the file and the parsed
// document are garbage, peak-heap-MB the most heap in use during the load,
// both above what was in use before.
func BenchmarkSnapshotBuild(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			retained, peak, err := benchLoadHeap(benchItemsBySize[sz.n]())
			if err != nil {
				b.Fatal(err)
			}
			entries := benchEntriesBySize[sz.n]()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := upstream.NewSnapshot("bench", entries, benchNow); err != nil {
					b.Fatal(err)
				}
			}
			// After the loop: b.Loop's first call clears reported metrics.
			b.ReportMetric(retained/(1<<20), "retained-MB")
			b.ReportMetric(peak/(1<<20), "peak-heap-MB")
		})
	}
}

// benchLoadHeap loads items as a file source would and returns the bytes of
// heap the snapshot retains and the peak heap during the load, both above
// the heap in use before the file was read. The peak is sampled (runtime
// metrics every 200µs, and at each step), so it may miss a short spike.
func benchLoadHeap(items []benchItem) (retained, peak float64, err error) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() float64 {
		metrics.Read(sample)
		return float64(sample[0].Value.Uint64())
	}
	runtime.GC()
	base := heap()

	var mu sync.Mutex
	high := base
	note := func() {
		h := heap()
		mu.Lock()
		high = max(high, h)
		mu.Unlock()
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				note()
			}
		}
	})

	snap, err := func() (*upstream.Snapshot, error) {
		data := benchUpstreamFile(items)
		note()
		doc, err := upstream.Parse(data)
		if err != nil {
			return nil, err
		}
		note()
		upstream.Finalize(doc.Entries, doc.LastUpdated)
		snap, err := upstream.NewSnapshot("bench", doc.Entries, benchNow)
		note()
		return snap, err
	}()
	stop()
	wg.Wait()
	if err != nil {
		return 0, 0, err
	}
	runtime.GC()
	retained = heap() - base
	runtime.KeepAlive(snap)
	return retained, high - base, nil
}

// BenchmarkParse measures Parse of a 10k-entry registry-upstream file
// (about 15 MB): validation, splitting and indexing every server.
func BenchmarkParse(b *testing.B) {
	data := benchUpstreamFile(benchItemsBySize[10_000]())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		doc, err := upstream.Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if len(doc.Entries) != 10_000 {
			b.Fatalf("parsed %d entries", len(doc.Entries))
		}
	}
}

// BenchmarkSnapshotSeek measures the seek a list page starts with: by key
// over every version (all), and over each name's latest version (latest).
// The keys are spread over the snapshot, half of them between two entries.
func BenchmarkSnapshotSeek(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			snap := benchSnapBySize[sz.n]()
			keys := benchProbeKeys(snap)
			b.Run("all", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if snap.SeekAfter(keys[i%len(keys)]) > snap.Len() {
						b.Fatal("seek past the end")
					}
					i++
				}
			})
			b.Run("latest", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if snap.SeekLatestAfter(keys[i%len(keys)]) > snap.LatestCount() {
						b.Fatal("seek past the end")
					}
					i++
				}
			})
		})
	}
}

// benchProbeKeys returns 1024 keys spread over snap: existing keys and keys
// that fall between two versions.
func benchProbeKeys(snap *upstream.Snapshot) []upstream.Key {
	keys := make([]upstream.Key, 1024)
	for i := range keys {
		e := snap.At((i * 7919) % snap.Len())
		keys[i] = e.Key()
		if i%2 == 1 {
			keys[i].Version += "-0" // sorts right after the entry
		}
	}
	return keys
}

// BenchmarkLatest measures the latest-version lookup by name that
// /servers/{name}/versions/latest and shadowing use.
func BenchmarkLatest(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			snap := benchSnapBySize[sz.n]()
			names := make([]string, 1024)
			for i := range names {
				names[i] = snap.LatestAt((i * 7919) % snap.LatestCount()).Name
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if snap.Latest(names[i%len(names)]) == nil {
					b.Fatal("latest not found")
				}
				i++
			}
		})
	}
}

// BenchmarkNewEntry measures indexing one server as a live source receives
// it: a compact body and the official _meta block.
func BenchmarkNewEntry(b *testing.B) {
	items := benchItemsBySize[1_000]()
	meta := []byte(`{"io.modelcontextprotocol.registry/official":{"status":"active","publishedAt":"2025-01-01T00:00:00Z","updatedAt":"2025-01-02T00:00:00Z","isLatest":true}}`)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := upstream.NewEntry(items[i%len(items)].server, meta); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
