package federate

// Tests of issue 10's "no silent loss": whatever an answer lacks from a
// source (entries out of byte order, invalid upstream records, over a
// bound) makes it incomplete, named, no-store and uncached.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDroppedRecordsAreNotSilent: an upstream answer that skipped invalid
// records (Response.Dropped) makes every answer built on it incomplete:
// X-Federation-Complete false, the source named in
// X-Federation-Dropped-Sources (not among the failed), no-store, never in
// the response cache; the Dropped hook counts the records. The same source
// without losses is complete and cached (so the test can fail).
func TestDroppedRecordsAreNotSilent(t *testing.T) {
	t.Parallel()
	items := []srv{
		{Name: "io.github.x/a", Version: "1.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"},
		{Name: "io.github.x/b", Version: "1.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"},
		{Name: "io.github.x/b", Version: "2.0.0", Description: "d", Published: "2025-01-02T00:00:00Z"},
	}
	paths := []string{
		"/v0.1/servers",
		"/v0.1/servers?limit=1",
		"/v0.1/servers/io.github.x%2Fb/versions",
		"/v0.1/servers/io.github.x%2Fb/versions/1.0.0",
	}
	for _, lost := range []int{0, 2} {
		t.Run(fmt.Sprintf("lost=%d", lost), func(t *testing.T) {
			t.Parallel()
			f := newFakeLive(t, "up", items...)
			f.lost = lost
			var mu sync.Mutex
			var calls []string
			e := newFedEnv(t, fedOptions{
				members:       []Member{{Live: f, Required: true}},
				responseCache: ResponseCacheOptions{MaxEntries: 100, TTL: time.Minute},
				dropped: func(s, r string, n int) {
					mu.Lock()
					defer mu.Unlock()
					calls = append(calls, fmt.Sprintf("%s/%s/%d", s, r, n))
				},
			})
			for _, p := range paths {
				var first int64
				for i := range 2 {
					if i == 1 {
						first = f.fetches.Load()
					}
					r := e.get(t, p)
					if r.status != http.StatusOK {
						t.Fatalf("%s: status %d: %s", p, r.status, r.body)
					}
					h := r.header
					if lost == 0 {
						wantComplete(t, p, r)
						continue
					}
					if h.Get(HeaderComplete) != "false" || h.Get(HeaderDroppedSources) != "up" || h.Get(HeaderFailedSources) != "" ||
						h.Get("Cache-Control") != "no-store" {
						t.Errorf("%s: %s=%q %s=%q %s=%q Cache-Control=%q: want incomplete, up dropped, no-store", p,
							HeaderComplete, h.Get(HeaderComplete), HeaderDroppedSources, h.Get(HeaderDroppedSources),
							HeaderFailedSources, h.Get(HeaderFailedSources), h.Get("Cache-Control"))
					}
				}
				// Asked again: a cached answer costs no fetch.
				if cached := f.fetches.Load() == first; cached != (lost == 0) {
					t.Errorf("%s: second answer cached=%v, want %v", p, cached, lost == 0)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			// One call per answer (4 per answer for a list that read two pages).
			if want := 2 * len(paths); lost > 0 && len(calls) != want || lost == 0 && len(calls) > 0 {
				t.Errorf("Dropped hook calls %v, want %d", calls, want)
			}
			for _, c := range calls {
				if c != "up/"+DropInvalid+"/2" && c != "up/"+DropInvalid+"/4" {
					t.Errorf("Dropped hook call %s", c)
				}
			}
		})
	}
}

// TestDisorderIsReported: entries out of byte order inside a page, across
// pages of one request, and across requests (a later page holding a key
// before the cursor's) make the answer that meets them incomplete and are
// reported to the source (ReportDisorder); an upstream in byte order never
// is, whatever the page sizes.
func TestDisorderIsReported(t *testing.T) {
	t.Parallel()
	names := []string{"a", "b", "c", "d", "e", "f"}
	tests := []struct {
		name     string
		order    []int // indexes into names, as the upstream lists them
		pageSize int
		limit    int
		maxPages int // default 10
		disorder bool
	}{
		{"in order", []int{0, 1, 2, 3, 4, 5}, 2, 1, 0, false},
		{"in order, page bound", []int{0, 1, 2, 3, 4, 5}, 1, 1, 1, false},
		{"in order, one page", []int{0, 1, 2, 3, 4, 5}, 10, 3, 0, false},
		{"inside a page", []int{0, 2, 1, 3, 4, 5}, 10, 10, 0, true},
		{"across pages of a request", []int{0, 1, 3, 2, 4, 5}, 2, 10, 0, true},
		{"across requests", []int{1, 2, 3, 0, 4, 5}, 1, 1, 0, true},
		// The page bound ends each request at a page's end: the next page
		// is the first of the next request, and only the cursor's key tells.
		{"across requests at the page bound", []int{1, 0, 2, 3, 4, 5}, 1, 1, 1, true},
		{"last page", []int{1, 2, 3, 4, 5, 0}, 3, 2, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var items []srv
			for _, n := range names {
				items = append(items, srv{Name: "io.github.x/" + n, Version: "1.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"})
			}
			f := newFakeLive(t, "up", items...)
			sorted := slices.Clone(f.entries)
			for i, j := range tt.order {
				f.entries[i] = sorted[j]
			}
			f.pageSize, f.maxPages = tt.pageSize, cmp.Or(tt.maxPages, 10)
			eng := mustEngine(t, EngineOptions{Members: []Member{{Live: f, Required: true}}})
			q, _ := ParseListQuery(url.Values{})
			q.Limit = tt.limit
			incomplete := false
			var got []key
			for page := 0; page < 20; page++ {
				p, err := eng.List(context.Background(), q, nil)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, keysOf(p.Entries)...)
				if !p.Complete() {
					incomplete = true
					if p.DroppedHeader() != "up" || len(p.Failed) > 0 {
						t.Errorf("page %d: report %+v, want up dropped", page, p.Report)
					}
				}
				if p.NextCursor == "" {
					break
				}
				q.Cursor = p.NextCursor
			}
			if reported := f.disorders.Load() > 0; reported != tt.disorder || incomplete != tt.disorder {
				t.Errorf("disorder reported=%v, an answer incomplete=%v; want %v", reported, incomplete, tt.disorder)
			}
			if !tt.disorder && len(got) != len(names) {
				t.Errorf("walk %v", got)
			}
		})
	}
}

// TestSourceBackAfterFailingIsNotDisorder: while an optional live source
// fails the walk moves on without it; when it answers again, the entries
// it has up to the cursor's key are passed over as already behind the
// walk, not taken for entries out of order.
func TestSourceBackAfterFailingIsNotDisorder(t *testing.T) {
	t.Parallel()
	var liveItems, fileItems []srv
	for _, n := range []string{"a", "c", "e", "g", "i", "k"} {
		liveItems = append(liveItems, srv{Name: "io.github.x/" + n, Version: "1.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"})
	}
	for _, n := range []string{"b", "d", "f", "h", "j", "l"} {
		fileItems = append(fileItems, srv{Name: "io.github.x/" + n, Version: "1.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"})
	}
	f := newFakeLive(t, "up", liveItems...)
	f.pageSize = 1
	eng := mustEngine(t, EngineOptions{Members: []Member{{Live: f}, {Source: newSource(t, "file", serverList(fileItems...))}}})
	q, _ := ParseListQuery(url.Values{})
	q.Limit = 1
	var reports []string
	for page := 0; page < 30; page++ {
		f.fail = nil
		if page >= 2 && page < 5 {
			f.fail = errors.New("upstream down")
		}
		p, err := eng.List(context.Background(), q, nil)
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, fmt.Sprintf("%v/%s/%s", keysOf(p.Entries), p.FailedHeader(), p.DroppedHeader()))
		if p.NextCursor == "" {
			break
		}
		q.Cursor = p.NextCursor
	}
	if n := f.disorders.Load(); n > 0 {
		t.Errorf("disorder reported %d times: %v", n, reports)
	}
	for i, r := range reports {
		failed := i >= 2 && i < 5
		if strings.Contains(r, "/up/") != failed || strings.HasSuffix(r, "/up") {
			t.Errorf("page %d: %s (failed %v)", i, r, failed)
		}
	}
}

// TestDropCounts: the tally behind the sources endpoint's "dropped" adds
// concurrent reports per source and reason, and hands out copies.
func TestDropCounts(t *testing.T) {
	t.Parallel()
	var d DropCounts
	if d.Of("up") != nil {
		t.Fatal("counts before any drop")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				d.Add("up", DropOutOfOrder, 2)
				d.Add("up", DropInvalid, 1)
				d.Add("other", DropOverBound, 1)
			}
		})
	}
	wg.Wait()
	got := d.Of("up")
	if want := map[string]int64{DropOutOfOrder: 1600, DropInvalid: 800}; !maps.Equal(got, want) {
		t.Errorf("up: %v, want %v", got, want)
	}
	got[DropInvalid] = 0
	if d.Of("up")[DropInvalid] != 800 {
		t.Error("Of hands out its own map")
	}
	body, _ := json.Marshal(SourceReport{Name: "up", Order: "index", Dropped: d.Of("other")})
	if want := `"order":"index","dropped":{"over_bound":800}`; !strings.Contains(string(body), want) {
		t.Errorf("report %s lacks %s", body, want)
	}
}
