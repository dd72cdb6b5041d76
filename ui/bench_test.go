package ui

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// Benchmarks of the pages' server time: the catalogue's first page (30
// servers) and one deep in the list, a search, a filter, and a server's
// page, over a catalogue of 100k server versions in one source. Run with
//
//	go test -run '^$' -bench . -benchtime 2000x ./ui/
//
// The fixture is built once per process (seconds).

// benchUniverse indexes n server versions shaped like the official
// registry's (about three versions per name, bodies of 1-2 KB with an icon,
// packages, environment variables and remotes; 2% deleted, 6% deprecated).
func benchUniverse(n int) []*upstream.Entry {
	out := make([]*upstream.Entry, 0, n)
	published := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for j := 0; len(out) < n; j++ {
		rng := rand.New(rand.NewPCG(uint64(j), 0x9e3779b97f4a7c15))
		name, owner, word := upstreamtest.SyntheticName(j)
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
			server := map[string]any{
				"name": name, "version": v, "description": upstreamtest.SyntheticDescription(rng, owner, word),
				"websiteUrl": "https://" + owner + ".example.com/" + word,
				"repository": map[string]string{"url": fmt.Sprintf("https://github.com/%s/%s-%d", owner, word, j), "source": "github"},
				"icons":      []any{map[string]any{"src": "https://" + owner + ".example.com/" + word + ".png", "mimeType": "image/png"}},
				"packages": []any{map[string]any{
					"registryType": "npm", "identifier": fmt.Sprintf("@%s/%s-%d", owner, word, j), "version": v, "runtimeHint": "npx",
					"transport": map[string]string{"type": "stdio"},
					"environmentVariables": []any{
						map[string]any{"name": strings.ToUpper(word) + "_TOKEN", "description": "Token for " + owner, "isRequired": true, "isSecret": true},
						map[string]any{"name": strings.ToUpper(word) + "_REGION", "description": "Region", "default": "eu-west-1"},
					},
				}},
			}
			if j%3 == 0 {
				server["remotes"] = []any{map[string]any{"type": "streamable-http", "url": "https://mcp." + owner + ".example.com/" + word,
					"headers": []any{map[string]any{"name": "Authorization", "isRequired": true, "isSecret": true}}}}
			}
			body, err := json.Marshal(server)
			if err != nil {
				panic(err) // maps of plain values
			}
			at := published.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
			meta := fmt.Sprintf(`{%q:{"status":%q,"publishedAt":%q,"updatedAt":%q}}`, upstream.OfficialMetaKey, status, at, at)
			e, err := upstream.NewEntry(body, json.RawMessage(meta))
			if err != nil {
				panic(err) // the generator writes valid servers
			}
			out = append(out, e)
		}
	}
	upstream.Finalize(out, time.Time{})
	return out
}

var (
	benchOnce sync.Once
	benchFix  *fixture
)

func benchFixture(b *testing.B) *fixture {
	benchOnce.Do(func() {
		snap, err := upstream.NewSnapshot("official", benchUniverse(100_000), testNow)
		if err != nil {
			b.Fatal(err)
		}
		benchFix = newFixture(b, fixedSource{name: "official", snap: snap})
	})
	return benchFix
}

func benchPage(b *testing.B, path string, header ...string) {
	f := benchFixture(b)
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Accept", acceptBrowser)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK && rec.Code != http.StatusNotModified {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
	}
	b.SetBytes(int64(rec.Body.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
	}
}

// deepPath is the catalogue page reached after walking half of it by
// cursor.
func deepPath(b *testing.B) string {
	f := benchFixture(b)
	q := federate.Query{Limit: federate.DefaultLimit, Version: federate.LatestVersion}
	for range 500 {
		page, err := f.engine.List(b.Context(), q, nil)
		if err != nil || page.NextCursor == "" {
			b.Fatalf("walk: %v", err)
		}
		q.Cursor = page.NextCursor
	}
	return "/?cursor=" + url.QueryEscape(q.Cursor) + "&from=15001"
}

// BenchmarkCataloguePage: a 30-server catalogue page at 100k entries,
// rendered and written (gzip when asked, as browsers do).
func BenchmarkCataloguePage(b *testing.B) {
	b.Run("100k/first", func(b *testing.B) { benchPage(b, "/") })
	b.Run("100k/first-gzip", func(b *testing.B) { benchPage(b, "/", "Accept-Encoding", "gzip, deflate, br") })
	b.Run("100k/deep", func(b *testing.B) { benchPage(b, deepPath(b)) })
	b.Run("100k/search", func(b *testing.B) { benchPage(b, "/?q=weather") })
	b.Run("100k/filter", func(b *testing.B) { benchPage(b, "/?status=deprecated&transport=streamable-http") })
	b.Run("100k/revalidate", func(b *testing.B) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Accept", acceptBrowser)
		benchFixture(b).h.ServeHTTP(rec, req)
		benchPage(b, "/", "If-None-Match", rec.Header().Get("ETag"))
	})
}

// BenchmarkServerPage: a server's page (versions, packages, raw JSON) at
// 100k entries.
func BenchmarkServerPage(b *testing.B) {
	name, _, _ := upstreamtest.SyntheticName(3000)
	benchPage(b, "/servers/"+url.PathEscape(name))
}
