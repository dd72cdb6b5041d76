package federate

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/filter"
)

// refQuery is a list query as the reference merge reads it.
type refQuery struct {
	search, version, updatedSince string
	includeDeleted                bool
}

func (q refQuery) values() url.Values {
	v := url.Values{}
	if q.search != "" {
		v.Set("search", q.search)
	}
	if q.version != "" {
		v.Set("version", q.version)
	}
	if q.updatedSince != "" {
		v.Set("updated_since", q.updatedSince)
	}
	if q.includeDeleted {
		v.Set("include_deleted", "true")
	}
	return v
}

func (q refQuery) String() string {
	if s := q.values().Encode(); s != "" {
		return s
	}
	return "all"
}

// referenceMerge computes what a walk must return, written the slow and
// obvious way and independently of the engine: every entry of every loaded
// source, each name owned by the first source (in priority order) that
// holds it and is not barred by another source's reservation, the owner's
// entries filtered by the query and the view, sorted by (name, version).
func referenceMerge(srcs []*fakeSource, reserved map[string][]string, q refQuery, view *filter.Filter) []key {
	barred := func(src, name string) bool {
		for other, patterns := range reserved {
			if other == src {
				continue
			}
			for _, p := range patterns {
				if ok, _ := path.Match(p, name); ok {
					return true
				}
			}
		}
		return false
	}
	owner := map[string]string{}
	for _, s := range srcs {
		for _, e := range s.Snapshot().Entries() {
			if _, taken := owner[e.Name]; !taken && !barred(s.name, e.Name) {
				owner[e.Name] = s.name
			}
		}
	}
	var since time.Time
	if q.updatedSince != "" {
		since, _ = time.Parse(time.RFC3339, q.updatedSince)
	}
	withDeleted := q.includeDeleted || q.updatedSince != ""
	needle := strings.ToLower(q.search)
	var out []key
	for _, s := range srcs {
		for _, e := range s.Snapshot().Entries() {
			switch {
			case owner[e.Name] != s.name:
			case e.Status == "deleted" && !withDeleted:
			case q.version == "latest" && !e.IsLatest:
			case q.version != "" && q.version != "latest" && e.Version != q.version:
			case !since.IsZero() && !e.UpdatedAt.After(since):
			case needle != "" && !strings.Contains(strings.ToLower(e.Name), needle) &&
				!strings.Contains(strings.ToLower(e.Title), needle) &&
				!strings.Contains(strings.ToLower(e.Description), needle):
			case view != nil && !view.Match(e):
			default:
				out = append(out, key{e.Name, e.Version, s.name})
			}
		}
	}
	slices.SortFunc(out, func(a, b key) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return out
}

// walk follows metadata.nextCursor from the first page to the last and
// returns every record, checking the paging contract on the way: full pages
// while a cursor follows, no empty trailing page, no cursor on the last.
func walk(t *testing.T, e *env, prefix string, params url.Values, limit int) []item {
	t.Helper()
	var all []item
	cursor := ""
	for page := 0; ; page++ {
		if page > 2000 {
			t.Fatalf("more than 2000 pages: a cursor loop")
		}
		r := e.get(t, pagePath(prefix, params, limit, cursor))
		if r.status != http.StatusOK {
			t.Fatalf("page %d: status %d: %s", page, r.status, r.body)
		}
		lb := decodeList(t, r)
		if len(lb.Servers) > limit {
			t.Fatalf("page %d: %d records, limit %d", page, len(lb.Servers), limit)
		}
		if len(lb.Servers) == 0 && page > 0 {
			t.Fatalf("page %d is empty: the previous page should not have had a cursor", page)
		}
		all = append(all, lb.Servers...)
		if lb.Metadata.NextCursor == nil {
			return all
		}
		if *lb.Metadata.NextCursor == "" {
			t.Fatalf("page %d: empty nextCursor: absent is how the last page is marked", page)
		}
		if len(lb.Servers) != limit {
			t.Fatalf("page %d: %d records and a cursor, want a full page of %d", page, len(lb.Servers), limit)
		}
		cursor = *lb.Metadata.NextCursor
	}
}

// walkEngine is walk at the engine's level, without HTTP and JSON: the
// same paging contract, checked on Page. The tests use it for page size 1
// (a request per record, every page boundary) and where another page size
// already goes over HTTP: encoding, decoding and validating the answers
// cost far more than the merge.
func walkEngine(t *testing.T, eng *Engine, view *View, params url.Values, limit int) []key {
	t.Helper()
	q, err := ParseListQuery(params)
	if err != nil {
		t.Fatal(err)
	}
	q.Limit = limit
	var all []key
	for page := 0; ; page++ {
		if page > 2000 {
			t.Fatalf("more than 2000 pages: a cursor loop")
		}
		p, err := eng.List(context.Background(), q, view)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if !p.Complete() {
			t.Fatalf("page %d: incomplete: failed %v, dropped %v", page, p.Failed, p.Dropped)
		}
		if len(p.Entries) > limit || len(p.Entries) == 0 && page > 0 {
			t.Fatalf("page %d: %d records, limit %d", page, len(p.Entries), limit)
		}
		for _, e := range p.Entries {
			all = append(all, key{e.Name, e.Version, e.Source})
		}
		if p.NextCursor == "" {
			return all
		}
		if len(p.Entries) != limit {
			t.Fatalf("page %d: %d records and a cursor, want a full page of %d", page, len(p.Entries), limit)
		}
		q.Cursor = p.NextCursor
	}
}

func diffKeys(t *testing.T, got, want []key) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = fmt.Sprint(got[i])
		}
		if i < len(want) {
			w = fmt.Sprint(want[i])
		}
		if g != w {
			t.Fatalf("got %d records, want %d; first difference at %d: got %s, want %s", len(got), len(want), i, g, w)
		}
	}
}

// walkReservations is the reservation set of the second walk: the overlay
// reserves the seed's whole namespace (so the seed's other servers vanish)
// and one ToolHive name (which the overlay then owns).
var walkReservations = map[string][]string{
	"overlay": {"io.github.domdomegg/*", "io.github.stacklok/arxiv-mcp-server"},
}

func TestCursorChainWalkMatchesReferenceMerge(t *testing.T) {
	t.Parallel()
	queries := []refQuery{
		{},
		{search: "mcp"},
		{search: "SERVER", version: "latest"},
		{version: "latest"},
		{version: "latest", includeDeleted: true},
		{includeDeleted: true},
		{version: "1.0.0"},
		{updatedSince: "2026-09-08T08:45:55Z"},
		{updatedSince: toolhiveUpdated},
		{search: "multi", includeDeleted: true},
	}
	for _, rs := range []struct {
		name     string
		reserved map[string][]string
	}{{"no-reservations", nil}, {"reservations", walkReservations}} {
		t.Run(rs.name, func(t *testing.T) {
			t.Parallel()
			th, ov, sd := threeSources(t)
			srcs := []*fakeSource{th, ov, sd}
			gh := mustFilter(t, ghFilterSpec)
			e := newEnv(t, envOptions{
				members:      members(srcs...),
				reservations: rs.reserved,
				views:        map[string]*View{"gh": {Name: "gh", Filter: gh}},
				maxAge:       time.Minute,
			})
			views := []struct {
				prefix string
				view   *View
			}{{"/v0.1", nil}, {"/registry/gh/v0.1", &View{Name: "gh", Filter: gh}}} // /v0 is the same handler: see TestListParameters
			for _, v := range views {
				for _, q := range queries {
					var vf *filter.Filter
					if v.view != nil {
						vf = v.view.Filter
					}
					want := referenceMerge(srcs, rs.reserved, q, vf)
					for _, limit := range []int{1, 7, 30, 100} {
						t.Run(fmt.Sprintf("%s/%s/limit=%d", v.prefix, q, limit), func(t *testing.T) {
							t.Parallel()
							if limit == 1 || limit == 30 {
								diffKeys(t, walkEngine(t, e.engine, v.view, q.values(), limit), want)
								return
							}
							got := walk(t, e, v.prefix, q.values(), limit)
							diffKeys(t, keys(got), want)
							for _, it := range got {
								if q.version == "latest" && !it.Meta.Official.IsLatest {
									t.Errorf("%v: version=latest served a record with isLatest false", it.key())
								}
							}
						})
					}
				}
			}
		})
	}
}

// TestReferenceMergeSanity pins a few totals of the fixture so that the
// reference (and thus the walk) cannot pass by being empty or trivial.
func TestReferenceMergeSanity(t *testing.T) {
	t.Parallel()
	th, ov, sd := threeSources(t)
	srcs := []*fakeSource{th, ov, sd}
	tests := []struct {
		q        refQuery
		reserved map[string][]string
		want     int
	}{
		// 111 ToolHive + overlay (airtable 1.8.0, multi ×5, retired 1.0.0, zebra) + seed (nuget, pypi).
		{refQuery{}, nil, 121},
		// + airtable 1.7.3, multi 1.2.0, retired 2.0.0, gone 1.0.0.
		{refQuery{includeDeleted: true}, nil, 125},
		// 111 ToolHive names + airtable, multi, zebra + nuget, pypi.
		{refQuery{version: "latest"}, nil, 117},
		{refQuery{version: "latest", includeDeleted: true}, nil, 118},
		// Only the overlay's later updates, deletions included.
		{refQuery{updatedSince: toolhiveUpdated}, nil, 5},
		// Reserved: the seed's two servers go; arxiv is the overlay's three versions.
		{refQuery{}, walkReservations, 121 - 2 - 1 + 3},
	}
	for _, tt := range tests {
		if got := len(referenceMerge(srcs, tt.reserved, tt.q, nil)); got != tt.want {
			t.Errorf("reference %s (reservations %v): %d records, want %d", tt.q, tt.reserved != nil, got, tt.want)
		}
	}
}

// pagePath is the list request for one page of a walk: params, the page
// size and the cursor of the page before ("" for the first).
func pagePath(prefix string, params url.Values, limit int, cursor string) string {
	v := url.Values{}
	for k, vs := range params {
		v[k] = vs
	}
	v.Set("limit", strconv.Itoa(limit))
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	return prefix + "/servers?" + v.Encode()
}
