package federate

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// Benchmarks of the engine and the API: list, search and version=latest at
// 1k, 10k and 100k entries (server versions) in one source, the merge of 2
// to 8 overlapping sources, the cursor, and the HTTP handler with and
// without the response cache. Run with
//
//	go test -run '^$' -bench . -benchtime 100x ./federate/
//
// Fixtures are synthetic but shaped like the official registry's data: about
// three versions per name, bodies of 1-2 KB, official blocks with distinct
// times, 2% of the versions deleted and 3% deprecated. They are built once
// per process (sync.OnceValue) because the 100k ones take seconds.

var benchNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var benchSizes = []struct {
	name string
	n    int
}{{"1k", 1_000}, {"10k", 10_000}, {"100k", 100_000}}

// benchServer renders one server.json of 1-2 KB: repository, icon, npm/oci
// packages with environment variables and arguments, remotes with headers.
func benchServer(rng *rand.Rand, j int, version string) json.RawMessage {
	type input struct {
		Type        string `json:"type,omitempty"`
		Name        string `json:"name"`
		Description string `json:"description"`
		IsRequired  bool   `json:"isRequired,omitempty"`
		IsSecret    bool   `json:"isSecret,omitempty"`
		Default     string `json:"default,omitempty"`
	}
	name, owner, word := upstreamtest.SyntheticName(j)
	upper := strings.ToUpper(owner + "_" + word)
	d := map[string]any{
		"$schema":     "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
		"name":        name,
		"description": upstreamtest.SyntheticDescription(rng, owner, word),
		"version":     version,
		"websiteUrl":  fmt.Sprintf("https://%s.example.com/mcp/%s", owner, word),
		"repository":  map[string]string{"url": fmt.Sprintf("https://github.com/%s/%s-mcp-%d", owner, word, j), "source": "github", "subfolder": "servers/" + word},
		"icons":       []any{map[string]any{"src": fmt.Sprintf("https://%s.example.com/icons/%s.png", owner, word), "mimeType": "image/png", "sizes": []string{"48x48", "96x96"}}},
	}
	if rng.IntN(2) == 0 {
		d["title"] = fmt.Sprintf("%s %s %d", strings.ToUpper(owner[:1])+owner[1:], word, j)
	}
	env := []input{
		{Name: upper + "_API_KEY", Description: "API key for the " + owner + " " + word + " service; create one in the account settings", IsRequired: true, IsSecret: true},
		{Name: upper + "_REGION", Description: "Region of the " + word + " endpoint to use", Default: "eu-west-1"},
	}
	npm := map[string]any{
		"registryType": "npm", "registryBaseUrl": "https://registry.npmjs.org", "identifier": fmt.Sprintf("@%s/%s-mcp-%d", owner, word, j),
		"version": version, "runtimeHint": "npx", "transport": map[string]string{"type": "stdio"}, "environmentVariables": env,
		"packageArguments": []input{{Type: "named", Name: "--read-only", Description: "Refuse every tool call that would change " + word + " data"}},
	}
	oci := map[string]any{
		"registryType": "oci", "identifier": fmt.Sprintf("ghcr.io/%s/%s-mcp-%d:%s", owner, word, j, version),
		"transport": map[string]string{"type": "stdio"}, "environmentVariables": env[:1],
	}
	remoteURL := fmt.Sprintf("https://mcp.%s.example.com/%s/%d", owner, word, j)
	remote := map[string]any{
		"type": "streamable-http", "url": remoteURL,
		"headers": []input{{Name: "Authorization", Description: "Bearer token issued by " + owner, IsRequired: true, IsSecret: true}},
	}
	switch rng.IntN(4) {
	case 0:
		d["packages"] = []any{npm}
	case 1:
		d["packages"] = []any{npm, oci}
	case 2:
		d["packages"] = []any{oci}
		d["remotes"] = []any{remote}
	default:
		d["remotes"] = []any{remote, map[string]string{"type": "sse", "url": remoteURL + "/sse"}}
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // maps of plain values
	}
	return b
}

// benchUniverse indexes the first n server versions, name by name, as an
// API source would hand them over: each with an official block (distinct
// publication times, 2% deleted, 3% deprecated) and an unknown `_meta` key.
// It skips upstream.Parse on purpose: the fixture is the point here, and
// parsing 100k entries from one file costs several seconds more.
func benchUniverse(n int) []*upstream.Entry {
	out := make([]*upstream.Entry, 0, n)
	for j := 0; len(out) < n; j++ {
		rng := rand.New(rand.NewPCG(uint64(j), 0x9e3779b97f4a7c15))
		for _, v := range upstreamtest.SyntheticVersions(rng) {
			if len(out) == n {
				break
			}
			i := len(out)
			status := "active"
			switch i % 50 {
			case 7:
				status = "deleted"
			case 13, 29, 41:
				status = "deprecated"
			}
			published := benchNow.Add(-time.Duration(n-i) * time.Second).Format(time.RFC3339)
			meta := fmt.Sprintf(`{%q:{"status":%q,"publishedAt":%q,"updatedAt":%q},"com.example/extra":{"kept":true}}`,
				upstream.OfficialMetaKey, status, published, published)
			e, err := upstream.NewEntry(benchServer(rng, j, v), json.RawMessage(meta))
			if err != nil {
				panic(err) // the generator writes valid servers
			}
			out = append(out, e)
		}
	}
	upstream.Finalize(out, time.Time{})
	return out
}

// benchSource is a snapshot source with a fixed snapshot.
type benchSource struct {
	name string
	snap *upstream.Snapshot
}

func (s *benchSource) Name() string                 { return s.name }
func (s *benchSource) Snapshot() *upstream.Snapshot { return s.snap }

func newBenchSource(name string, entries []*upstream.Entry) *benchSource {
	snap, err := upstream.NewSnapshot(name, entries, benchNow)
	if err != nil {
		panic(err)
	}
	return &benchSource{name: name, snap: snap}
}

func newBenchEngine(srcs ...*benchSource) *Engine {
	ms := make([]Member, len(srcs))
	for i, s := range srcs {
		ms[i] = Member{Source: s}
	}
	e, err := NewEngine(EngineOptions{Members: ms, CursorKeys: [][]byte{testCursorKey}})
	if err != nil {
		panic(err) // a fixed key of the right length
	}
	return e
}

// benchEngineBySize holds one single-source engine per size, built on first
// use. The fixtures panic on a generator bug: a sync.OnceValue has no
// testing.B of its own to fail.
var benchEngineBySize = func() map[int]func() *Engine {
	out := map[int]func() *Engine{}
	for _, sz := range benchSizes {
		out[sz.n] = sync.OnceValue(func() *Engine {
			return newBenchEngine(newBenchSource("bench", benchUniverse(sz.n)))
		})
	}
	return out
}()

// benchMergeSources are eight sources over one universe of about 3000
// names (9k versions): each holds a name with probability 0.6, so most
// names are in several sources and the merge shadows at every step. A
// snapshot copies its entries, so the sources may share them.
var benchMergeSources = sync.OnceValue(func() []*benchSource {
	universe := benchUniverse(9_000)
	srcs := make([]*benchSource, 8)
	for s := range srcs {
		var held []*upstream.Entry
		for _, e := range universe {
			h := fnv.New32a()
			fmt.Fprintf(h, "%s|%d", e.Name, s)
			if h.Sum32()%10 < 6 {
				held = append(held, e)
			}
		}
		srcs[s] = newBenchSource(fmt.Sprintf("src%d", s), held)
	}
	return srcs
})

// benchMidCursor walks the whole listing for q and returns the cursor of the
// page in the middle: where a client paging through the catalogue spends
// most of its requests.
func benchMidCursor(tb testing.TB, eng *Engine, q Query) string {
	tb.Helper()
	q.Limit = MaxLimit
	var cursors []string
	for {
		page, err := eng.List(context.Background(), q, nil)
		if err != nil {
			tb.Fatal(err)
		}
		if page.NextCursor == "" {
			break
		}
		cursors = append(cursors, page.NextCursor)
		q.Cursor = page.NextCursor
	}
	if len(cursors) == 0 {
		tb.Fatal("the listing has a single page")
	}
	return cursors[len(cursors)/2]
}

// benchList runs eng.List for q in the loop and checks the page is full.
func benchList(b *testing.B, eng *Engine, q Query, lat *benchLatency) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		page, err := eng.List(ctx, q, nil)
		if lat != nil {
			lat.add(time.Since(start))
		}
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Entries) == 0 {
			b.Fatal("empty page")
		}
	}
	if lat != nil {
		lat.report(b)
	}
}

// benchLatency keeps the most recent iteration times in a fixed ring, so
// recording them does not allocate inside the loop, and reports their
// median: the target is a p50, which a mean (ns/op) can hide.
type benchLatency struct {
	d [4096]time.Duration
	n int
}

func (l *benchLatency) add(d time.Duration) {
	l.d[l.n%len(l.d)] = d
	l.n++
}

func (l *benchLatency) report(b *testing.B) {
	s := slices.Clone(l.d[:min(l.n, len(l.d))])
	slices.Sort(s)
	b.ReportMetric(float64(s[len(s)/2].Nanoseconds()), "p50-ns")
}

// BenchmarkList measures Engine.List of one source: the first page (limit
// 30) and a page in the middle of the catalogue reached by cursor (seek,
// then walk).
func BenchmarkList(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			eng := benchEngineBySize[sz.n]()
			b.Run("first", func(b *testing.B) {
				benchList(b, eng, Query{Limit: DefaultLimit}, nil)
			})
			b.Run("deep", func(b *testing.B) {
				q := Query{Limit: DefaultLimit}
				q.Cursor = benchMidCursor(b, eng, q)
				benchList(b, eng, q, nil)
			})
		})
	}
}

// BenchmarkSearch measures a search (limit 30) that matches a single name
// (few: a scan of the whole catalogue for three or so entries, the slowest
// case) and one that matches about 6% of the entries (many: the page fills
// early). p50-ns is the median latency.
func BenchmarkSearch(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			eng := benchEngineBySize[sz.n]()
			// A name's number in the middle of the catalogue; its digits
			// appear in no other name, title or description.
			few := fmt.Sprintf("%06d", sz.n/6)
			b.Run("few", func(b *testing.B) {
				benchList(b, eng, Query{Limit: DefaultLimit, Search: few}, new(benchLatency))
			})
			b.Run("many", func(b *testing.B) {
				benchList(b, eng, Query{Limit: DefaultLimit, Search: "weather"}, new(benchLatency))
			})
		})
	}
}

// BenchmarkListLatest measures version=latest (one entry per name): the
// first page and one in the middle.
func BenchmarkListLatest(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			eng := benchEngineBySize[sz.n]()
			q := Query{Limit: DefaultLimit, Version: LatestVersion}
			b.Run("first", func(b *testing.B) {
				benchList(b, eng, q, nil)
			})
			b.Run("deep", func(b *testing.B) {
				q := q
				q.Cursor = benchMidCursor(b, eng, q)
				benchList(b, eng, q, nil)
			})
		})
	}
}

// BenchmarkMerge measures a page of 100 merged from 2, 4 and 8 sources
// whose names overlap (shadowing drops the lower sources' versions): the
// first page and one in the middle.
func BenchmarkMerge(b *testing.B) {
	for _, k := range []int{2, 4, 8} {
		b.Run(fmt.Sprintf("%dsources", k), func(b *testing.B) {
			eng := newBenchEngine(benchMergeSources()[:k]...)
			q := Query{Limit: MaxLimit}
			b.Run("first", func(b *testing.B) {
				benchList(b, eng, q, nil)
			})
			b.Run("deep", func(b *testing.B) {
				q := q
				q.Cursor = benchMidCursor(b, eng, q)
				benchList(b, eng, q, nil)
			})
		})
	}
}

// BenchmarkCursor measures writing a cursor and the strict decoding every
// paged request starts with. The cursor is a real one from the 10k listing.
func BenchmarkCursor(b *testing.B) {
	eng := benchEngineBySize[10_000]()
	q := Query{Limit: DefaultLimit}
	s := benchMidCursor(b, eng, q)
	fp := q.fingerprint("")
	c, err := decodeCursor(s, fp)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if encodeCursor(c) == "" {
				b.Fatal("empty cursor")
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeCursor(s, fp); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchAPI serves the 10k catalogue; cached turns the response cache on
// (1000 answers, one minute).
func benchAPI(b *testing.B, cached bool) http.Handler {
	b.Helper()
	o := APIOptions{Engine: benchEngineBySize[10_000](), MaxAge: 30 * time.Second}
	if cached {
		o.ResponseCache = ResponseCacheOptions{MaxEntries: 1000, TTL: time.Minute}
	}
	api, err := NewAPI(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(api.Close)
	return api.Handler()
}

// benchServe sends req to h in the loop and checks the status and the ETag.
// The request is reused: what is measured is the handler, not building a
// request (net/http does that before any handler runs).
func benchServe(b *testing.B, h http.Handler, req *http.Request, want int) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want || rec.Header().Get("ETag") == "" {
			b.Fatalf("status %d, ETag %q; want %d with an ETag", rec.Code, rec.Header().Get("ETag"), want)
		}
	}
}

const benchListPath = "/v0.1/servers?limit=30"

// BenchmarkAPIHot measures GET /v0.1/servers?limit=30 answered from the
// response cache: the full handler (routing, CORS, query parsing, cache key
// with the revision, headers, ETag) and copying the body out, as identity,
// as gzip (compressed once, on the first hit) and as a 304 for a matching
// If-None-Match.
func BenchmarkAPIHot(b *testing.B) {
	h := benchAPI(b, true)
	warm := httptest.NewRecorder()
	h.ServeHTTP(warm, httptest.NewRequest(http.MethodGet, benchListPath, nil))
	etag := warm.Header().Get("ETag")
	if warm.Code != http.StatusOK || etag == "" {
		b.Fatalf("warm-up: status %d, ETag %q", warm.Code, etag)
	}
	b.Run("identity", func(b *testing.B) {
		benchServe(b, h, httptest.NewRequest(http.MethodGet, benchListPath, nil), http.StatusOK)
	})
	b.Run("gzip", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, benchListPath, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		benchServe(b, h, req, http.StatusOK)
	})
	b.Run("not-modified", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, benchListPath, nil)
		req.Header.Set("If-None-Match", etag)
		benchServe(b, h, req, http.StatusNotModified)
	})
}

// BenchmarkAPICold is BenchmarkAPIHot's request without the response
// cache: every request merges, encodes, hashes the ETag and (gzip)
// compresses the page.
func BenchmarkAPICold(b *testing.B) {
	h := benchAPI(b, false)
	b.Run("identity", func(b *testing.B) {
		benchServe(b, h, httptest.NewRequest(http.MethodGet, benchListPath, nil), http.StatusOK)
	})
	b.Run("gzip", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, benchListPath, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		benchServe(b, h, req, http.StatusOK)
	})
}
