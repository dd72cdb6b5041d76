package upstreamtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// TestMain fails the package if a handler, drip or client connection
// outlives its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// newRegistry starts a registry on a manual clock.
func newRegistry(t *testing.T, opts ...upstreamtest.Option) (*upstreamtest.Registry, *upstreamtest.ManualClock) {
	t.Helper()
	clock := upstreamtest.NewManualClock(t0)
	return upstreamtest.New(t, append([]upstreamtest.Option{upstreamtest.WithClock(clock.Now)}, opts...)...), clock
}

// Wire shapes, decoded independently of the package under test.
type listBody struct {
	Servers  []item `json:"servers"`
	Metadata struct {
		NextCursor *string `json:"nextCursor"`
		Count      *int    `json:"count"`
	} `json:"metadata"`
}

type item struct {
	Server struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"server"`
	Meta map[string]json.RawMessage `json:"_meta"`
}

type officialBlock struct {
	Status          string     `json:"status"`
	StatusMessage   string     `json:"statusMessage"`
	StatusChangedAt *time.Time `json:"statusChangedAt"`
	PublishedAt     time.Time  `json:"publishedAt"`
	UpdatedAt       time.Time  `json:"updatedAt"`
	IsLatest        bool       `json:"isLatest"`
}

func (it item) key() string { return it.Server.Name + "@" + it.Server.Version }

func (it item) official(t testing.TB) officialBlock {
	t.Helper()
	var o officialBlock
	raw, ok := it.Meta["io.modelcontextprotocol.registry/official"]
	if !ok {
		t.Fatalf("%s: no official _meta block", it.key())
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatalf("%s: official block: %v", it.key(), err)
	}
	return o
}

type problemBody struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
	} `json:"errors"`
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func fetch(t testing.TB, c *http.Client, target string) result {
	t.Helper()
	resp, err := c.Get(target)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", target, err)
	}
	return result{resp.StatusCode, resp.Header, body}
}

func get(t testing.TB, r *upstreamtest.Registry, pathAndQuery string) result {
	t.Helper()
	return fetch(t, r.Client(), r.URL+pathAndQuery)
}

func decode[T any](t testing.TB, res result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(res.body, &v); err != nil {
		t.Fatalf("decoding %.300s: %v", res.body, err)
	}
	return v
}

func list(t testing.TB, r *upstreamtest.Registry, pathAndQuery string) listBody {
	t.Helper()
	res := get(t, r, pathAndQuery)
	if res.status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", pathAndQuery, res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", pathAndQuery, ct)
	}
	b := decode[listBody](t, res)
	if b.Metadata.Count == nil || *b.Metadata.Count != len(b.Servers) {
		t.Errorf("GET %s: metadata.count %v for %d servers", pathAndQuery, b.Metadata.Count, len(b.Servers))
	}
	return b
}

func wantProblem(t testing.TB, res result, status int) problemBody {
	t.Helper()
	if res.status != status {
		t.Fatalf("status %d, want %d: %s", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	p := decode[problemBody](t, res)
	if p.Status != status || p.Title == "" {
		t.Errorf("problem body %s", res.body)
	}
	return p
}

// walk follows nextCursor from the first page to the end and returns the
// keys in the order served, checking every page's shape on the way.
func walk(t testing.TB, r *upstreamtest.Registry, query string, limit int) (keys []string, pages int) {
	t.Helper()
	cursor := ""
	for pages < 1_000_000 {
		v, _ := url.ParseQuery(query)
		v.Set("limit", fmt.Sprint(limit))
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		p := list(t, r, "/v0.1/servers?"+v.Encode())
		pages++
		if len(p.Servers) > limit {
			t.Fatalf("page %d: %d items for limit %d", pages, len(p.Servers), limit)
		}
		if pages > 1 && len(p.Servers) == 0 {
			t.Errorf("page %d is an empty trailing page", pages)
		}
		for _, it := range p.Servers {
			keys = append(keys, it.key())
		}
		if p.Metadata.NextCursor == nil {
			return keys, pages
		}
		if *p.Metadata.NextCursor == "" || len(p.Servers) < limit {
			t.Fatalf("page %d: nextCursor %q after %d items (limit %d)", pages, *p.Metadata.NextCursor, len(p.Servers), limit)
		}
		cursor = *p.Metadata.NextCursor
	}
	t.Fatal("cursor chain does not end")
	return nil, 0
}

// expected lists the records a complete walk must return, in order.
func expected(r *upstreamtest.Registry, keep func(upstreamtest.Record) bool) []string {
	var out []string
	for _, rec := range r.Records() {
		if keep(rec) {
			out = append(out, rec.Name+"@"+rec.Version)
		}
	}
	return out
}

func notDeleted(rec upstreamtest.Record) bool {
	return rec.Official.Status != upstreamtest.StatusDeleted
}

// assertOrdered checks (name, version) ascending byte order, no duplicates.
func assertOrdered(t testing.TB, keys []string) {
	t.Helper()
	for i := 1; i < len(keys); i++ {
		an, av, _ := strings.Cut(keys[i-1], "@")
		bn, bv, _ := strings.Cut(keys[i], "@")
		if an > bn || (an == bn && av >= bv) {
			t.Fatalf("out of order at %d: %s then %s", i, keys[i-1], keys[i])
		}
	}
}

func TestWalkCursorChain(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(t)
	r.Generate(150, 3, 7)
	cases := []struct {
		query string
		keep  func(upstreamtest.Record) bool
	}{
		{"", notDeleted},
		{"include_deleted=true", func(upstreamtest.Record) bool { return true }},
		{"version=latest", func(rec upstreamtest.Record) bool { return notDeleted(rec) && rec.Official.IsLatest }},
		{"search=GIT", func(rec upstreamtest.Record) bool { return notDeleted(rec) && strings.Contains(rec.Name, "git") }},
	}
	for _, tc := range cases {
		want := expected(r, tc.keep)
		if len(want) == 0 {
			t.Fatalf("%q: the generated data has no match; pick another seed", tc.query)
		}
		for _, limit := range []int{1, 7, 30, 100} {
			if limit == 1 && tc.query != "" {
				continue // one single-item walk is enough; they are slow
			}
			t.Run(fmt.Sprintf("%s/limit=%d", tc.query, limit), func(t *testing.T) {
				t.Parallel()
				got, pages := walk(t, r, tc.query, limit)
				assertOrdered(t, got)
				if !slices.Equal(got, want) {
					t.Fatalf("walk returned %d records, want %d", len(got), len(want))
				}
				if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
					t.Errorf("%d pages, want %d", pages, wantPages)
				}
			})
		}
	}
}

func TestEmptyTrailingPageOption(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(t, upstreamtest.WithEmptyTrailingPage())
	r.Generate(10, 1, 3)
	n := len(expected(r, notDeleted))
	p := list(t, r, fmt.Sprintf("/v0.1/servers?limit=%d", n))
	if p.Metadata.NextCursor == nil {
		t.Fatal("a full last page has no nextCursor; upstream sets one")
	}
	last := list(t, r, fmt.Sprintf("/v0.1/servers?limit=%d&cursor=%s", n, url.QueryEscape(*p.Metadata.NextCursor)))
	if len(last.Servers) != 0 || last.Metadata.NextCursor != nil {
		t.Fatalf("trailing page: %d servers, nextCursor %v", len(last.Servers), last.Metadata.NextCursor)
	}
}

// TestWalkWhileChanging: cursors are keyset positions, so records added
// behind the cursor are not seen and nothing is served twice.
func TestWalkWhileChanging(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(t)
	for i := range 10 {
		r.Put(upstreamtest.ServerJSON(fmt.Sprintf("com.example/s%02d", i), "1.0.0"), upstreamtest.Official{})
	}
	p1 := list(t, r, "/v0.1/servers?limit=5")
	r.Put(upstreamtest.ServerJSON("com.example/a-first", "1.0.0"), upstreamtest.Official{})
	r.Put(upstreamtest.ServerJSON("com.example/z-last", "1.0.0"), upstreamtest.Official{})
	r.Delete("com.example/s06", "1.0.0")
	p2 := list(t, r, "/v0.1/servers?limit=10&cursor="+url.QueryEscape(*p1.Metadata.NextCursor))
	var got []string
	for _, it := range p2.Servers {
		got = append(got, strings.TrimPrefix(it.Server.Name, "com.example/"))
	}
	want := []string{"s05", "s07", "s08", "s09", "z-last"}
	if !slices.Equal(got, want) {
		t.Fatalf("second page %v, want %v", got, want)
	}
}

func TestListParameters(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t)
	put := func(name, version string, meta upstreamtest.Official) {
		r.Put(upstreamtest.ServerJSON(name, version), meta)
	}
	for i := range 35 {
		put(fmt.Sprintf("io.github.bulk/server-%02d", i), "1.0.0", upstreamtest.Official{})
	}
	put("io.github.acme/Weather-Pro", "1.0.0", upstreamtest.Official{})
	put("io.github.acme/Weather-Pro", "1.10.0", upstreamtest.Official{})
	put("io.github.acme/Weather-Pro", "1.9.0", upstreamtest.Official{})
	put("com.other/gone", "2.0.0", upstreamtest.Official{Status: upstreamtest.StatusDeleted})
	// The description of every ServerJSON says "Test server"; search must not see it.
	clock.Advance(time.Hour)
	r.SetStatus("io.github.acme/Weather-Pro", "1.9.0", upstreamtest.StatusDeprecated)
	mark := clock.Now()
	clock.Advance(time.Second)
	r.SetStatus("io.github.bulk/server-07", "1.0.0", upstreamtest.StatusDeleted)

	keys := func(p listBody) []string {
		var out []string
		for _, it := range p.Servers {
			out = append(out, it.key())
		}
		return out
	}

	t.Run("limit default 30", func(t *testing.T) {
		for _, q := range []string{"", "?limit="} {
			p := list(t, r, "/v0.1/servers"+q)
			if len(p.Servers) != 30 || p.Metadata.NextCursor == nil {
				t.Errorf("%q: %d servers, nextCursor %v", q, len(p.Servers), p.Metadata.NextCursor)
			}
		}
	})
	t.Run("limit bounds", func(t *testing.T) {
		if p := list(t, r, "/v0.1/servers?limit=100"); len(p.Servers) != 37 || p.Metadata.NextCursor != nil {
			t.Errorf("limit=100: %d servers, nextCursor %v", len(p.Servers), p.Metadata.NextCursor)
		}
		for _, bad := range []string{"0", "-1", "101", "abc", "1.5"} {
			p := wantProblem(t, get(t, r, "/v0.1/servers?limit="+bad), http.StatusUnprocessableEntity)
			if len(p.Errors) != 1 || p.Errors[0].Location != "query.limit" {
				t.Errorf("limit=%s: %+v", bad, p)
			}
		}
	})
	t.Run("search", func(t *testing.T) {
		p := list(t, r, "/v0.1/servers?search=wEaThEr")
		want := []string{"io.github.acme/Weather-Pro@1.0.0", "io.github.acme/Weather-Pro@1.10.0", "io.github.acme/Weather-Pro@1.9.0"}
		if got := keys(p); !slices.Equal(got, want) {
			t.Errorf("search=wEaThEr: %v, want %v (byte order of versions)", got, want)
		}
		if p := list(t, r, "/v0.1/servers?search=Test+server"); len(p.Servers) != 0 {
			t.Errorf("search matched a description: %v", keys(p))
		}
		if p := list(t, r, "/v0.1/servers?search=acme/weather"); len(p.Servers) != 3 {
			t.Errorf("search across the slash: %v", keys(p))
		}
		for _, short := range []string{"ab", "%20ab%20", "%20%20%20%20"} {
			wantProblem(t, get(t, r, "/v0.1/servers?search="+short), http.StatusUnprocessableEntity)
		}
	})
	t.Run("version", func(t *testing.T) {
		p := list(t, r, "/v0.1/servers?search=weather&version=latest")
		if got := keys(p); !slices.Equal(got, []string{"io.github.acme/Weather-Pro@1.10.0"}) {
			t.Errorf("version=latest: %v", got)
		}
		p = list(t, r, "/v0.1/servers?version=1.9.0")
		if got := keys(p); !slices.Equal(got, []string{"io.github.acme/Weather-Pro@1.9.0"}) {
			t.Errorf("version=1.9.0: %v", got)
		}
		if p := list(t, r, "/v0.1/servers?version=9.9.9"); len(p.Servers) != 0 || p.Metadata.NextCursor != nil {
			t.Errorf("version=9.9.9: %v", keys(p))
		}
		if p := list(t, r, "/v0.1/servers?version=latest&limit=100"); len(p.Servers) != 35 {
			t.Errorf("version=latest: %d servers, want 35 (one per name, deleted hidden)", len(p.Servers))
		}
	})
	t.Run("include_deleted", func(t *testing.T) {
		if p := list(t, r, "/v0.1/servers?limit=100"); slices.Contains(keys(p), "com.other/gone@2.0.0") {
			t.Error("deleted record listed by default")
		}
		for _, v := range []string{"true", "1", "TRUE"} {
			if p := list(t, r, "/v0.1/servers?limit=100&include_deleted="+v); len(p.Servers) != 39 {
				t.Errorf("include_deleted=%s: %d servers, want 39", v, len(p.Servers))
			}
		}
		if p := list(t, r, "/v0.1/servers?limit=100&include_deleted=false"); len(p.Servers) != 37 {
			t.Errorf("include_deleted=false: %d servers", len(p.Servers))
		}
		wantProblem(t, get(t, r, "/v0.1/servers?include_deleted=maybe"), http.StatusUnprocessableEntity)
	})
	t.Run("updated_since", func(t *testing.T) {
		since := url.QueryEscape(mark.Format(time.RFC3339Nano))
		p := list(t, r, "/v0.1/servers?updated_since="+since)
		if got := keys(p); !slices.Equal(got, []string{"io.github.bulk/server-07@1.0.0"}) {
			t.Errorf("updated_since=mark: %v (strictly greater, deleted included)", got)
		}
		before := url.QueryEscape(mark.Add(-time.Nanosecond).Format(time.RFC3339Nano))
		if got := keys(list(t, r, "/v0.1/servers?updated_since="+before)); len(got) != 2 {
			t.Errorf("updated_since=mark-1ns: %v", got)
		}
		list(t, r, "/v0.1/servers?include_deleted=true&updated_since="+since)
		wantProblem(t, get(t, r, "/v0.1/servers?include_deleted=false&updated_since="+since), http.StatusBadRequest)
		for _, bad := range []string{"yesterday", "2026-01-02", "2026-01-02T03:04:05"} {
			wantProblem(t, get(t, r, "/v0.1/servers?updated_since="+bad), http.StatusBadRequest)
		}
	})
	t.Run("cursor", func(t *testing.T) {
		for _, bad := range []string{"io.github.bulk/server-01:1.0.0", "!!!", "dTEu"} {
			wantProblem(t, get(t, r, "/v0.1/servers?cursor="+url.QueryEscape(bad)), http.StatusBadRequest)
		}
	})
	t.Run("v0 alias", func(t *testing.T) {
		a, b := get(t, r, "/v0.1/servers?limit=3"), get(t, r, "/v0/servers?limit=3")
		if !bytes.Equal(a.body, b.body) {
			t.Errorf("/v0 and /v0.1 differ:\n%s\n%s", a.body, b.body)
		}
	})
	t.Run("official block", func(t *testing.T) {
		p := list(t, r, "/v0.1/servers?search=weather")
		o := p.Servers[2].official(t) // 1.9.0, deprecated an hour in
		if o.Status != "deprecated" || o.IsLatest || !o.PublishedAt.Equal(t0) ||
			!o.UpdatedAt.Equal(t0.Add(time.Hour)) || o.StatusChangedAt == nil || !o.StatusChangedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("1.9.0: %+v", o)
		}
	})
	t.Run("routing", func(t *testing.T) {
		for _, p := range []string{"/v0.1/server", "/v1/servers", "/v0.1/servers/", "/v0.1/servers/x/versions/", "/v0.1/servers/io.github.acme/Weather-Pro/versions", "/"} {
			wantProblem(t, get(t, r, p), http.StatusNotFound)
		}
		resp, err := r.Client().Post(r.URL+"/v0.1/servers", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
			t.Errorf("POST: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

func TestPrefix(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(t, upstreamtest.WithPrefix("acme/"))
	r.Put(upstreamtest.ServerJSON("com.acme/tool", "1.0.0"), upstreamtest.Official{})
	if !strings.HasSuffix(r.URL, "/acme") {
		t.Fatalf("URL %q does not end in the prefix", r.URL)
	}
	if p := list(t, r, "/v0/servers"); len(p.Servers) != 1 {
		t.Errorf("%d servers under the prefix", len(p.Servers))
	}
	wantProblem(t, fetch(t, r.Client(), r.Server.URL+"/v0.1/servers"), http.StatusNotFound)
	if n := r.Count(r.URL + "/v0/servers"); n != 1 {
		t.Errorf("Count with the full URL: %d", n)
	}
}

func TestServerEndpoints(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t)
	const name = "io.github.x/y"
	for _, v := range []string{"2.0.0", "1.0.0+build.5", "1.5.0", "0.9.0"} { // published in this order
		r.Put(upstreamtest.ServerJSON(name, v), upstreamtest.Official{})
		clock.Advance(time.Minute)
	}
	r.SetStatus(name, "0.9.0", upstreamtest.StatusDeleted)
	r.Put(upstreamtest.ServerJSON("io.github.x/all-gone", "1.0.0"), upstreamtest.Official{Status: upstreamtest.StatusDeleted})

	versions := func(p listBody) []string {
		var out []string
		for _, it := range p.Servers {
			out = append(out, it.Server.Version)
		}
		return out
	}
	t.Run("versions newest first", func(t *testing.T) {
		p := list(t, r, "/v0.1/servers/io.github.x%2Fy/versions")
		if got := versions(p); !slices.Equal(got, []string{"1.5.0", "1.0.0+build.5", "2.0.0"}) {
			t.Errorf("versions %v", got)
		}
		if p.Metadata.NextCursor != nil {
			t.Error("versions has a nextCursor")
		}
		p = list(t, r, "/v0/servers/io.github.x%2Fy/versions?include_deleted=true")
		if got := versions(p); !slices.Equal(got, []string{"0.9.0", "1.5.0", "1.0.0+build.5", "2.0.0"}) {
			t.Errorf("versions with deleted %v", got)
		}
	})
	t.Run("not found", func(t *testing.T) {
		for _, p := range []string{
			"/v0.1/servers/io.github.x%2Fnope/versions",
			"/v0.1/servers/io.github.x%2Fall-gone/versions",
			"/v0.1/servers/io.github.x%2Fall-gone/versions/latest",
			"/v0.1/servers/io.github.x%252Fy/versions", // decoded once only
			"/v0.1/servers/io.github.x/y/versions/latest",
			"/v0.1/servers/io.github.x%2Fy/versions/3.0.0",
			"/v0.1/servers/io.github.x%2Fy/versions/0.9.0",
		} {
			if res := get(t, r, p); res.status != http.StatusNotFound {
				t.Errorf("%s: %d %s", p, res.status, res.body)
			} else if pb := wantProblem(t, res, http.StatusNotFound); pb.Detail != "Server not found" {
				t.Errorf("%s: %+v", p, pb)
			}
		}
	})
	t.Run("version", func(t *testing.T) {
		one := func(path string) item {
			res := get(t, r, path)
			if res.status != http.StatusOK {
				t.Fatalf("%s: %d %s", path, res.status, res.body)
			}
			return decode[item](t, res)
		}
		if it := one("/v0.1/servers/io.github.x%2Fy/versions/latest"); it.Server.Version != "2.0.0" || !it.official(t).IsLatest {
			t.Errorf("latest: %s %+v", it.key(), it.official(t))
		}
		if it := one("/v0.1/servers/io.github.x%2Fy/versions/1.0.0%2Bbuild.5"); it.Server.Version != "1.0.0+build.5" || it.official(t).IsLatest {
			t.Errorf("exact: %s", it.key())
		}
		if it := one("/v0.1/servers/io.github.x%2Fy/versions/0.9.0?include_deleted=true"); it.official(t).Status != "deleted" {
			t.Errorf("deleted: %+v", it.official(t))
		}
		if it := one("/v0.1/servers/io.github.x%2Fall-gone/versions/latest?include_deleted=true"); !it.official(t).IsLatest {
			t.Error("an all-deleted server lost its latest flag")
		}
		wantProblem(t, get(t, r, "/v0.1/servers/io.github.x%2Fy/versions/latest?include_deleted=no"), http.StatusUnprocessableEntity)
	})
}

func TestIsLatest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		versions []string // in publication order
		deleted  []string
		want     string
	}{
		{"semver beats byte order", []string{"1.10.0", "1.9.0"}, nil, "1.10.0"},
		{"semver beats publication", []string{"2.0.0", "1.0.1"}, nil, "2.0.0"},
		{"prerelease below release", []string{"1.0.0", "1.0.0-rc.1"}, nil, "1.0.0"},
		{"v prefix", []string{"v1.2.3", "1.2.4"}, nil, "1.2.4"},
		{"semver beats non-semver", []string{"1.0.0", "nightly"}, nil, "1.0.0"},
		{"two-part is not semver", []string{"0.0.1", "1.2"}, nil, "0.0.1"},
		{"non-semver by publication", []string{"beta", "alpha"}, nil, "alpha"},
		{"deleted skipped", []string{"1.0.0", "2.0.0"}, []string{"2.0.0"}, "1.0.0"},
		{"all deleted keep highest", []string{"1.0.0", "2.0.0"}, []string{"1.0.0", "2.0.0"}, "2.0.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, clock := newRegistry(t)
			for _, v := range tc.versions {
				r.Put(upstreamtest.ServerJSON("com.example/s", v), upstreamtest.Official{})
				clock.Advance(time.Second)
			}
			for _, v := range tc.deleted {
				r.SetStatus("com.example/s", v, upstreamtest.StatusDeleted)
			}
			var latest []string
			for _, rec := range r.Records() {
				if rec.Official.IsLatest {
					latest = append(latest, rec.Version)
				}
			}
			if !slices.Equal(latest, []string{tc.want}) {
				t.Errorf("latest %v, want %s", latest, tc.want)
			}
		})
	}
}

func TestMutations(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t)
	const name = "com.example/m"
	r.Put(upstreamtest.ServerJSON(name, "1.0.0"), upstreamtest.Official{})
	clock.Advance(time.Minute)
	r.Put(upstreamtest.ServerJSON(name, "1.1.0"), upstreamtest.Official{})
	old, _ := r.Get(name, "1.0.0")
	if old.Official.IsLatest || !old.Official.UpdatedAt.Equal(t0) {
		t.Errorf("1.0.0 after 1.1.0: %+v (a moved isLatest must not touch updatedAt, as upstream)", old.Official)
	}

	clock.Advance(time.Minute)
	r.Put(json.RawMessage(`{"name":"com.example/m","version":"1.1.0","description":"changed","extra":{"kept":true}}`), upstreamtest.Official{})
	rec, _ := r.Get(name, "latest")
	if rec.Version != "1.1.0" || !rec.Official.PublishedAt.Equal(t0.Add(time.Minute)) || !rec.Official.UpdatedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("replaced 1.1.0: %+v", rec.Official)
	}
	if !bytes.Contains(rec.Response, []byte(`"extra":{"kept":true}`)) {
		t.Errorf("body not served as given: %s", rec.Response)
	}

	clock.Advance(time.Minute)
	r.Update(name, "1.1.0", func(o *upstreamtest.Official) {
		o.Status = upstreamtest.StatusDeprecated
		o.StatusMessage = "use 2.x"
		o.ExtraMeta = map[string]json.RawMessage{"com.example/x": json.RawMessage(`{"a": 1}`)}
	})
	rec, _ = r.Get(name, "1.1.0")
	o := rec.Official
	if o.Status != upstreamtest.StatusDeprecated || o.StatusMessage != "use 2.x" || !o.StatusChangedAt.Equal(t0.Add(3*time.Minute)) || !o.IsLatest {
		t.Errorf("after Update: %+v", o)
	}
	res := get(t, r, "/v0.1/servers/com.example%2Fm/versions/1.1.0")
	if !bytes.Contains(res.body, []byte(`"statusMessage":"use 2.x"`)) || !bytes.Contains(res.body, []byte(`"com.example/x":{"a":1}`)) {
		t.Errorf("served: %s", res.body)
	}

	r.SetStatus(name, "", upstreamtest.StatusDeleted)
	if p := list(t, r, "/v0.1/servers"); len(p.Servers) != 0 {
		t.Errorf("all versions deleted, %d listed", len(p.Servers))
	}
	rec, _ = r.Get(name, "1.1.0")
	if rec.Official.StatusMessage != "" {
		t.Errorf("SetStatus kept the message %q", rec.Official.StatusMessage)
	}
	if !r.Delete(name, "1.0.0") || r.Delete(name, "1.0.0") || r.Len() != 1 {
		t.Errorf("Delete: Len %d", r.Len())
	}
	r.Clear()
	if r.Len() != 0 {
		t.Error("Clear left records")
	}
}

// fatalTB records Fatalf instead of stopping, to test misuse reports.
type fatalTB struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}

func TestMisuseFailsTheTest(t *testing.T) {
	t.Parallel()
	ft := &fatalTB{TB: t}
	r := upstreamtest.New(ft)
	r.Put(json.RawMessage(`[1]`), upstreamtest.Official{})
	r.Put(json.RawMessage(`{"name":"a/b"}`), upstreamtest.Official{})
	r.Put(json.RawMessage(`{"name":"a/b","version":"latest"}`), upstreamtest.Official{})
	r.Put(upstreamtest.ServerJSON("a/b", "1"), upstreamtest.Official{ExtraMeta: map[string]json.RawMessage{"k": json.RawMessage("{")}})
	r.SetStatus("a/b", "1", upstreamtest.StatusDeleted)
	r.LoadJSON([]byte(`{"neither":1}`))
	if len(ft.msgs) != 6 || r.Len() != 0 {
		t.Errorf("%d failures reported, %d records: %q", len(ft.msgs), r.Len(), ft.msgs)
	}
}

func testdataPath(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "testdata"}, parts...)...)
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	t.Run("toolhive", func(t *testing.T) {
		t.Parallel()
		r, _ := newRegistry(t)
		n := r.LoadFile(testdataPath("catalog", "toolhive.json"))
		if n < 100 || r.Len() != n {
			t.Fatalf("loaded %d, Len %d", n, r.Len())
		}
		lastUpdated := time.Date(2026, 9, 8, 8, 45, 56, 0, time.UTC)
		deprecated := 0
		for _, rec := range r.Records() {
			if !rec.Official.PublishedAt.Equal(lastUpdated) || !rec.Official.IsLatest {
				t.Errorf("%s: %+v", rec.Name, rec.Official)
			}
			if rec.Official.Status == upstreamtest.StatusDeprecated {
				deprecated++
			}
		}
		if deprecated == 0 {
			t.Error("no ToolHive Deprecated status carried over")
		}
		keys, _ := walk(t, r, "include_deleted=true", 100)
		if len(keys) != n {
			t.Errorf("walk: %d of %d", len(keys), n)
		}
	})
	t.Run("official seed", func(t *testing.T) {
		t.Parallel()
		r, _ := newRegistry(t)
		if n := r.LoadFile(testdataPath("catalog", "official-seed.json")); n != 4 {
			t.Fatalf("loaded %d, want 4", n)
		}
		rec, ok := r.Get("io.github.domdomegg/airtable-mcp-server", "latest")
		if !ok || rec.Version != "1.7.3" {
			t.Errorf("latest airtable: %+v", rec)
		}
	})
	t.Run("ServerList dump keeps its metadata", func(t *testing.T) {
		t.Parallel()
		r, _ := newRegistry(t)
		r.LoadJSON([]byte(`{"servers":[{"server":{"name":"com.x/a","version":"1.0.0","description":"d"},
			"_meta":{"io.modelcontextprotocol.registry/official":{"status":"deprecated","statusMessage":"old",
			"publishedAt":"2025-05-01T00:00:00Z","updatedAt":"2025-06-01T00:00:00Z","isLatest":false},"com.x/custom":{"k":"v"}}}]}`))
		rec, _ := r.Get("com.x/a", "1.0.0")
		o := rec.Official
		if o.Status != upstreamtest.StatusDeprecated || o.StatusMessage != "old" || o.PublishedAt.Year() != 2025 || o.UpdatedAt.Month() != time.June || !o.IsLatest {
			t.Errorf("%+v", o)
		}
		if !bytes.Contains(rec.Response, []byte(`"com.x/custom":{"k":"v"}`)) {
			t.Errorf("extra _meta key lost: %s", rec.Response)
		}
	})
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	build := func(seed uint64) *upstreamtest.Registry {
		r, _ := newRegistry(t)
		r.Generate(400, 4, seed)
		return r
	}
	a, b, c := build(42), build(42), build(43)
	ra, rb, rc := a.Records(), b.Records(), c.Records()
	if len(ra) != 1600 {
		t.Fatalf("%d records, want 1600", len(ra))
	}
	same := func(x, y []upstreamtest.Record) bool {
		return slices.EqualFunc(x, y, func(p, q upstreamtest.Record) bool { return bytes.Equal(p.Response, q.Response) })
	}
	if !same(ra, rb) {
		t.Error("same seed, different data")
	}
	if same(ra, rc) {
		t.Error("different seed, same data")
	}

	// The data must exercise what clients get wrong.
	var deleted, deprecated, nonSemverLatest, newestNotLatest, byteOrderDiffers int
	byName := map[string][]upstreamtest.Record{}
	for _, rec := range ra {
		byName[rec.Name] = append(byName[rec.Name], rec)
		switch rec.Official.Status {
		case upstreamtest.StatusDeleted:
			deleted++
		case upstreamtest.StatusDeprecated:
			deprecated++
		}
	}
	for _, vs := range byName {
		var latest, newest upstreamtest.Record
		for i, v := range vs {
			if v.Official.IsLatest {
				latest = v
			}
			if v.Official.PublishedAt.After(newest.Official.PublishedAt) {
				newest = v
			}
			if i > 0 && strings.Count(vs[i-1].Version, ".") == 2 && len(v.Version) < len(vs[i-1].Version) && v.Version[0] == vs[i-1].Version[0] {
				byteOrderDiffers++ // e.g. 1.10.0 listed before 1.9.0
			}
		}
		if strings.HasPrefix(latest.Version, "2025.") {
			nonSemverLatest++
		}
		if latest.Version != newest.Version && newest.Official.Status != upstreamtest.StatusDeleted {
			newestNotLatest++
		}
	}
	if deleted == 0 || deprecated == 0 || nonSemverLatest == 0 || newestNotLatest == 0 || byteOrderDiffers == 0 {
		t.Errorf("deleted %d, deprecated %d, non-semver latest %d, newest-not-latest %d, byte-order-differs %d",
			deleted, deprecated, nonSemverLatest, newestNotLatest, byteOrderDiffers)
	}
	if last := ra[len(ra)-1].Official.PublishedAt; last.After(t0) {
		t.Errorf("publication in the future: %v", last)
	}
}

// TestLargeDataset is the load-test size: 100,000 records, walked once.
func TestLargeDataset(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("large dataset")
	}
	names := 25000
	if raceEnabled {
		names = 2500
	}
	r, _ := newRegistry(t)
	start := time.Now()
	if n := r.Generate(names, 4, 1); n != names*4 {
		t.Fatalf("generated %d", n)
	}
	t.Logf("generated %d records in %v", names*4, time.Since(start))
	keys, pages := walk(t, r, "include_deleted=true", 100)
	if len(keys) != names*4 || pages != names*4/100 {
		t.Fatalf("walk: %d records in %d pages", len(keys), pages)
	}
	assertOrdered(t, keys)
}

// TestConformsToOpenAPI validates responses against the official document's
// ServerList and ServerResponse schemas.
func TestConformsToOpenAPI(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "federate", "openapi.yaml"))
	if err != nil {
		t.Skipf("official OpenAPI document: %v", err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	m, ok := doc.(map[string]any)
	if !ok {
		t.Fatal("openapi.yaml: not a mapping")
	}
	delete(m, "$id") // would rebase the $refs
	js, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("mem://openapi.json", v); err != nil {
		t.Fatal(err)
	}
	listSchema, err := c.Compile("mem://openapi.json#/components/schemas/ServerList")
	if err != nil {
		t.Fatal(err)
	}
	oneSchema, err := c.Compile("mem://openapi.json#/components/schemas/ServerResponse")
	if err != nil {
		t.Fatal(err)
	}
	validate := func(s *jsonschema.Schema, res result) {
		t.Helper()
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(res.body))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(inst); err != nil {
			t.Errorf("%v\n%.400s", err, res.body)
		}
	}
	r, _ := newRegistry(t)
	r.Generate(60, 3, 9)
	r.LoadFile(testdataPath("catalog", "official-seed.json"))
	r.Update("io.github.domdomegg/time-mcp-pypi", "1.0.6", func(o *upstreamtest.Official) {
		o.Status, o.StatusMessage = upstreamtest.StatusDeprecated, "moved"
	})
	validate(listSchema, get(t, r, "/v0.1/servers?limit=100&include_deleted=true"))
	validate(listSchema, get(t, r, "/v0.1/servers?limit=2"))
	validate(listSchema, get(t, r, "/v0.1/servers/io.github.domdomegg%2Fairtable-mcp-server/versions"))
	validate(oneSchema, get(t, r, "/v0.1/servers/io.github.domdomegg%2Ftime-mcp-pypi/versions/latest"))
}

// --- faults ---

// faulty starts a registry with 12 records for fault tests.
func faulty(t *testing.T, opts ...upstreamtest.Option) *upstreamtest.Registry {
	t.Helper()
	r, _ := newRegistry(t, opts...)
	for i := range 12 {
		r.Put(upstreamtest.ServerJSON(fmt.Sprintf("com.example/f%02d", i), "1.0.0"), upstreamtest.Official{})
	}
	return r
}

func TestFaultLatency(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	f := r.Inject(upstreamtest.Fault{Latency: 150 * time.Millisecond, Times: 1})
	start := time.Now()
	list(t, r, "/v0.1/servers")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("first request took %v", d)
	}
	start = time.Now()
	list(t, r, "/v0.1/servers")
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("second request took %v: the fault did not expire", d)
	}
	if f.Hits() != 1 {
		t.Errorf("Hits %d", f.Hits())
	}

	// A client that gives up must not leave the handler sleeping.
	r.Inject(upstreamtest.Fault{Latency: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/v0.1/servers", nil)
	if _, err := r.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v", err)
	}
}

func TestFaultStatus(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	f := r.Inject(upstreamtest.Fault{Status: http.StatusServiceUnavailable, Times: 2})
	for range 2 {
		wantProblem(t, get(t, r, "/v0.1/servers"), http.StatusServiceUnavailable)
	}
	list(t, r, "/v0.1/servers")
	if f.Hits() != 2 {
		t.Errorf("Hits %d", f.Hits())
	}

	r.Inject(upstreamtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3", Times: 1})
	res := get(t, r, "/v0.1/servers")
	wantProblem(t, res, http.StatusTooManyRequests)
	if ra := res.header.Get("Retry-After"); ra != "3" {
		t.Errorf("Retry-After %q", ra)
	}
}

func TestFaultReset(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	r.Inject(upstreamtest.Fault{Reset: true})
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	_, err := (&http.Client{Transport: tr}).Get(r.URL + "/v0.1/servers")
	if err == nil {
		t.Fatal("no error from a reset connection")
	}
	if r.Requests() != 1 {
		t.Errorf("%d requests", r.Requests())
	}
}

func TestFaultCutAfter(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	r.Inject(upstreamtest.Fault{CutAfter: 40})
	resp, err := r.Client().Get(r.URL + "/v0.1/servers")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(body) != 40 || resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, read %d bytes, err %v", resp.StatusCode, len(body), err)
	}
}

func TestFaultBodies(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	t.Run("malformed", func(t *testing.T) {
		in := r.Inject(upstreamtest.Fault{Malformed: true, Path: "/v0.1/servers"})
		defer in.Remove()
		res := get(t, r, "/v0.1/servers")
		if res.status != http.StatusOK || json.Valid(res.body) || len(res.body) == 0 {
			t.Errorf("status %d, body %q", res.status, res.body)
		}
	})
	t.Run("oversize", func(t *testing.T) {
		in := r.Inject(upstreamtest.Fault{Oversize: 3 << 20})
		defer in.Remove()
		resp, err := r.Client().Get(r.URL + "/v0.1/servers")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || len(body) != 3<<20 || resp.ContentLength != -1 || !json.Valid(body) {
			t.Errorf("read %d bytes (Content-Length %d), valid %v, err %v", len(body), resp.ContentLength, json.Valid(body), err)
		}
	})
	t.Run("content type and body", func(t *testing.T) {
		in := r.Inject(upstreamtest.Fault{ContentType: "text/html", Body: []byte("<html>captive portal</html>")})
		defer in.Remove()
		res := get(t, r, "/v0.1/servers")
		if res.header.Get("Content-Type") != "text/html" || string(res.body) != "<html>captive portal</html>" {
			t.Errorf("%q %q", res.header.Get("Content-Type"), res.body)
		}
	})
	t.Run("out of order", func(t *testing.T) {
		in := r.Inject(upstreamtest.Fault{OutOfOrder: true})
		defer in.Remove()
		p := list(t, r, "/v0.1/servers?limit=5")
		if p.Servers[0].Server.Name != "com.example/f04" || p.Servers[4].Server.Name != "com.example/f00" {
			t.Errorf("page not reversed: %s .. %s", p.Servers[0].key(), p.Servers[4].key())
		}
	})
	t.Run("drip", func(t *testing.T) {
		in := r.Inject(upstreamtest.Fault{DripChunk: 64, DripPause: 10 * time.Millisecond})
		defer in.Remove()
		start := time.Now()
		res := get(t, r, "/v0.1/servers?limit=2")
		chunks := (len(res.body) + 63) / 64
		if d := time.Since(start); d < time.Duration(chunks-1)*10*time.Millisecond {
			t.Errorf("%d chunks in %v", chunks, d)
		}
		if !json.Valid(res.body) {
			t.Errorf("dripped body is broken: %s", res.body)
		}
	})
}

func TestFaultCursorLoop(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	p1 := list(t, r, "/v0.1/servers?limit=3")
	c1 := *p1.Metadata.NextCursor
	p2 := list(t, r, "/v0.1/servers?limit=3&cursor="+url.QueryEscape(c1))
	c2 := *p2.Metadata.NextCursor

	self := r.Inject(upstreamtest.Fault{CursorLoop: true, Times: 1, Match: func(req *http.Request) bool { return req.URL.Query().Get("cursor") != "" }})
	if p := list(t, r, "/v0.1/servers?limit=3&cursor="+url.QueryEscape(c1)); *p.Metadata.NextCursor != c1 {
		t.Errorf("self loop: nextCursor %q, want %q", *p.Metadata.NextCursor, c1)
	}
	self.Remove()

	r.Inject(upstreamtest.Fault{CursorLoop: true, LoopBack: 1, Times: 1})
	p3 := list(t, r, "/v0.1/servers?limit=3&cursor="+url.QueryEscape(c2))
	back := list(t, r, "/v0.1/servers?limit=3&cursor="+url.QueryEscape(*p3.Metadata.NextCursor))
	if back.Servers[0].key() != p2.Servers[0].key() {
		t.Errorf("loop back 1 from page 3 leads to %s, want page 2 (%s)", back.Servers[0].key(), p2.Servers[0].key())
	}

	// On the last page and the first: the chain never ends.
	r.Inject(upstreamtest.Fault{CursorLoop: true, LoopBack: 9, Times: 1})
	last := list(t, r, "/v0.1/servers?limit=100")
	if last.Metadata.NextCursor == nil {
		t.Fatal("looping last page has no nextCursor")
	}
	again := list(t, r, "/v0.1/servers?limit=100&cursor="+url.QueryEscape(*last.Metadata.NextCursor))
	if len(again.Servers) != 12 {
		t.Errorf("loop to the start served %d", len(again.Servers))
	}
}

func TestFaultScope(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	f := r.Inject(upstreamtest.Fault{Path: "/v0.1/servers/*/versions", Status: 500, Skip: 1, Times: 2})
	versionsPath := "/v0.1/servers/com.example%2Ff01/versions"
	list(t, r, "/v0.1/servers")                  // other path: untouched
	list(t, r, versionsPath)                     // skipped
	wantProblem(t, get(t, r, versionsPath), 500) // hit 1
	wantProblem(t, get(t, r, versionsPath), 500) // hit 2
	list(t, r, versionsPath)                     // expired
	list(t, r, versionsPath+"?x=1")              // expired; Path ignores the query
	if f.Hits() != 2 {
		t.Errorf("Hits %d", f.Hits())
	}

	g := r.Inject(upstreamtest.Fault{Status: 502})
	wantProblem(t, get(t, r, "/v0.1/servers"), 502)
	g.Remove()
	list(t, r, "/v0.1/servers")
	r.Inject(upstreamtest.Fault{Status: 502})
	r.ClearFaults()
	list(t, r, "/v0.1/servers")
}

func TestAuth(t *testing.T) {
	t.Parallel()
	r := faulty(t, upstreamtest.WithAuth(upstreamtest.Auth{Bearer: "s3cret"}))
	do := func(set func(*http.Request)) result {
		req, _ := http.NewRequest(http.MethodGet, r.URL+"/v0.1/servers", nil)
		set(req)
		resp, err := r.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return result{resp.StatusCode, resp.Header, body}
	}
	res := do(func(*http.Request) {})
	wantProblem(t, res, http.StatusUnauthorized)
	if !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q", res.header.Get("WWW-Authenticate"))
	}
	wantProblem(t, do(func(q *http.Request) { q.Header.Set("Authorization", "Bearer wrong") }), http.StatusUnauthorized)
	if res := do(func(q *http.Request) { q.Header.Set("Authorization", "bearer s3cret") }); res.status != http.StatusOK {
		t.Errorf("right token: %d", res.status)
	}

	r.SetAuth(upstreamtest.Auth{Username: "u", Password: "p"})
	wantProblem(t, do(func(q *http.Request) { q.SetBasicAuth("u", "x") }), http.StatusUnauthorized)
	if res := do(func(q *http.Request) { q.SetBasicAuth("u", "p") }); res.status != http.StatusOK {
		t.Errorf("right basic credentials: %d", res.status)
	}
	want := []string{"", "Bearer wrong", "bearer s3cret", "Basic dTp4", "Basic dTpw"}
	if got := r.Authorizations(); !slices.Equal(got, want) {
		t.Errorf("Authorizations %q, want %q", got, want)
	}
	r.SetAuth(upstreamtest.Auth{})
	list(t, r, "/v0.1/servers")
}

func TestObservability(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	list(t, r, "/v0.1/servers?limit=5&search=example")
	list(t, r, "/v0.1/servers?search=example&limit=5")
	list(t, r, "/v0.1/servers")
	get(t, r, "/v0.1/servers/com.example%2Ff01/versions/latest")
	if n := r.Requests(); n != 4 {
		t.Errorf("Requests %d", n)
	}
	if n := r.Count("/v0.1/servers?search=example&limit=5"); n != 2 {
		t.Errorf("Count normalised %d", n)
	}
	if n := r.CountPath("/v0.1/servers"); n != 3 {
		t.Errorf("CountPath %d", n)
	}
	if n := r.Count("/v0.1/servers/com.example%2Ff01/versions/latest"); n != 1 {
		t.Errorf("Count keeps %%2F: %d", n)
	}
	log := r.Log()
	if len(log) != 4 || log[0].Method != http.MethodGet || log[3].URL.EscapedPath() != "/v0.1/servers/com.example%2Ff01/versions/latest" ||
		log[0].Header.Get("User-Agent") == "" || log[0].Seq != 1 || log[3].Key != "/v0.1/servers/com.example%2Ff01/versions/latest" {
		t.Errorf("log %+v", log)
	}
	r.Reset()
	if r.Requests() != 0 || r.Count("/v0.1/servers") != 0 || len(r.Log()) != 0 {
		t.Error("Reset kept counts")
	}
	if got := upstreamtest.Normalise("http://h/p?b=2&a=1&a=0"); got != "/p?a=1&a=0&b=2" {
		t.Errorf("Normalise %q", got)
	}
}

func TestLogLimit(t *testing.T) {
	t.Parallel()
	r := faulty(t, upstreamtest.WithLogLimit(10))
	for range 25 {
		get(t, r, "/v0.1/servers?limit=1")
	}
	log := r.Log()
	if len(log) > 10 || len(log) < 5 || log[len(log)-1].Seq != 25 || r.Requests() != 25 {
		t.Errorf("%d logged, last seq %d, %d counted", len(log), log[len(log)-1].Seq, r.Requests())
	}
}

// TestConcurrency runs requests while faults and data change; run with -race.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	r := faulty(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := r.Client().Get(r.URL + "/v0.1/servers?limit=4")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	for i := range 200 {
		f := r.Inject(upstreamtest.Fault{OutOfOrder: true, Times: 1})
		r.Put(upstreamtest.ServerJSON(fmt.Sprintf("com.example/c%03d", i), "1.0.0"), upstreamtest.Official{})
		r.SetStatus("com.example/f01", "1.0.0", upstreamtest.StatusDeprecated)
		_ = f.Hits()
		f.Remove()
		_ = r.Count("/v0.1/servers?limit=4")
	}
	close(stop)
	wg.Wait()
	if r.Len() != 212 {
		t.Errorf("Len %d", r.Len())
	}
}

// TestCloseCutsFaults: Close must not wait for a delayed or dripping response.
func TestCloseCutsFaults(t *testing.T) {
	t.Parallel()
	for _, f := range []upstreamtest.Fault{
		{Latency: time.Minute},
		{DripChunk: 1, DripPause: time.Second},
	} {
		r := faulty(t)
		r.Inject(f)
		done := make(chan error, 1)
		go func() {
			resp, err := r.Client().Get(r.URL + "/v0.1/servers")
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			done <- err
		}()
		for r.Requests() == 0 {
			time.Sleep(time.Millisecond)
		}
		start := time.Now()
		r.Close()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%+v: Close took %v", f, d)
		}
		<-done
	}
}
