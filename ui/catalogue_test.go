package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcpfed/mcpfed/federate"
)

// genServer is one server of the generated paging fixture.
type genServer struct {
	name, status, transport, pkgType string
	source                           string // the owner, in the expectations
}

// genCatalogue is a source of n generated names: those for which holds
// is true, each with one version, its attributes a function of its index
// and of the source (so a shadowed copy differs from its owner's).
func genCatalogue(t *testing.T, source string, n int, holds func(int) bool, attrs func(int) genServer) (fixedSource, map[string]genServer) {
	t.Helper()
	var items []any
	held := map[string]genServer{}
	for j := range n {
		if !holds(j) {
			continue
		}
		g := attrs(j)
		held[g.name] = g
		server := map[string]any{
			"name": g.name, "description": "generated server " + g.name, "version": "1.0.0",
		}
		server["packages"] = []any{map[string]any{"registryType": g.pkgType, "identifier": "id-" + g.name, "version": "1.0.0", "transport": map[string]string{"type": "stdio"}}}
		if g.transport != "stdio" {
			server["remotes"] = []any{map[string]string{"type": g.transport, "url": "https://example.com/" + g.name}}
		}
		items = append(items, map[string]any{"server": server, "_meta": map[string]any{
			"io.modelcontextprotocol.registry/official": map[string]any{"status": g.status, "publishedAt": "2026-01-01T00:00:00Z", "isLatest": true},
		}})
	}
	data, err := json.Marshal(map[string]any{"servers": items})
	if err != nil {
		t.Fatal(err)
	}
	return parseSource(t, source, data), held
}

// pagingFixture: sources "a" (names j%3 != 2) and "b" (j%3 != 0), so a
// third of the names are in both and owned by "a"; b's copies have other
// attributes, which no filter may surface.
func pagingFixture(t *testing.T) (*fixture, []genServer) {
	const n = 150
	types := []string{"npm", "pypi", "oci", "nuget"}
	transports := []string{"stdio", "streamable-http", "sse"}
	attrs := func(off int) func(int) genServer {
		return func(j int) genServer {
			g := genServer{name: fmt.Sprintf("com.gen/s-%03d", j), status: "active", transport: transports[(j+off)%3], pkgType: types[(j+off)%4]}
			if (j+off)%5 == 0 {
				g.status = "deprecated"
			}
			return g
		}
	}
	a, inA := genCatalogue(t, "a", n, func(j int) bool { return j%3 != 2 }, attrs(0))
	b, inB := genCatalogue(t, "b", n, func(j int) bool { return j%3 != 0 }, attrs(1))
	var owned []genServer
	for j := range n {
		name := fmt.Sprintf("com.gen/s-%03d", j)
		if g, ok := inA[name]; ok {
			g.source = "a"
			owned = append(owned, g)
		} else if g, ok := inB[name]; ok {
			g.source = "b"
			owned = append(owned, g)
		}
	}
	return newFixture(t, a, b), owned
}

// walk follows the catalogue's next links from path and returns every
// server name listed, checking each page's size and count text.
func walk(t *testing.T, f *fixture, path string) []string {
	t.Helper()
	var all []string
	for pages := 0; path != ""; pages++ {
		if pages > 50 {
			t.Fatal("the walk does not end")
		}
		doc := f.page(t, path)
		got := names(doc)
		if len(got) > federate.DefaultLimit {
			t.Fatalf("%s: %d servers on a page", path, len(got))
		}
		count := byID(doc, "count")
		if count == nil {
			t.Fatalf("%s: no count", path)
		}
		if len(got) > 0 && pages > 0 && !strings.Contains(text(count), fmt.Sprintf("Servers %d–%d", len(all)+1, len(all)+len(got))) {
			t.Errorf("%s: count %q after %d servers", path, text(count), len(all))
		}
		all = append(all, got...)
		path = ""
		if next := byID(doc, "next"); next != nil {
			if rel, _ := attr(next, "rel"); rel != "next" {
				t.Errorf("next link rel %q", rel)
			}
			path, _ = attr(next, "href")
			if len(got) == 0 {
				t.Fatal("an empty page links to a next one")
			}
		}
	}
	return all
}

// TestFiltersPageWithCursors: every filter, alone and combined with
// search, pages through exactly the matching servers of their owners, in
// order, without gaps or repeats.
func TestFiltersPageWithCursors(t *testing.T) {
	t.Parallel()
	f, owned := pagingFixture(t)
	tests := []struct {
		query string
		keep  func(g genServer) bool
	}{
		{"", func(genServer) bool { return true }},
		{"status=deprecated", func(g genServer) bool { return g.status == "deprecated" }},
		{"status=active", func(g genServer) bool { return g.status == "active" }},
		{"transport=sse", func(g genServer) bool { return g.transport == "sse" }},
		{"transport=stdio", func(genServer) bool { return true }}, // every server has a stdio package
		{"transport=streamable-http", func(g genServer) bool { return g.transport == "streamable-http" }},
		{"type=pypi", func(g genServer) bool { return g.pkgType == "pypi" }},
		{"source=b", func(g genServer) bool { return g.source == "b" }},
		{"source=a&type=oci&transport=sse", func(g genServer) bool { return g.source == "a" && g.pkgType == "oci" && g.transport == "sse" }},
		{"q=s-1&status=active", func(g genServer) bool { return strings.Contains(g.name, "s-1") && g.status == "active" }},
		{"q=S-04", func(g genServer) bool { return strings.Contains(g.name, "s-04") }},
		{"source=b&status=deprecated&type=npm", func(g genServer) bool { return g.source == "b" && g.status == "deprecated" && g.pkgType == "npm" }},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			var want []string
			for _, g := range owned {
				if tc.keep(g) {
					want = append(want, g.name)
				}
			}
			got := walk(t, f, "/?"+tc.query)
			if !slices.Equal(got, want) {
				t.Errorf("listed %d servers, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
			}
		})
	}
}

// TestCursorBelongsToItsFilters: a cursor handed out for one set of
// filters is refused for another (it would skip or repeat servers).
func TestCursorBelongsToItsFilters(t *testing.T) {
	t.Parallel()
	f, _ := pagingFixture(t)
	doc := f.page(t, "/?status=active")
	next, _ := attr(byID(doc, "next"), "href")
	u, err := url.Parse(next)
	if err != nil {
		t.Fatal(err)
	}
	cursor := u.Query().Get("cursor")
	for _, q := range []string{"", "status=deprecated", "status=active&type=npm", "status=active&source=a", "status=active&q=s"} {
		rec := f.get(t, "/?"+q+"&cursor="+url.QueryEscape(cursor))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "cursor") {
			t.Errorf("%q with another filter's cursor: %d", q, rec.Code)
		}
	}
	if rec := f.get(t, "/registry/active/?status=active&cursor="+url.QueryEscape(cursor)); rec.Code != http.StatusBadRequest {
		t.Errorf("the cursor in another view: %d", rec.Code)
	}
	if rec := f.get(t, next); rec.Code != http.StatusOK {
		t.Errorf("its own filters: %d", rec.Code)
	}
}

// TestFilterValues: values the selects do not offer are a 400 page; the
// source select offers the view's sources only.
func TestFilterValues(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, q := range []string{"status=deleted", "status=bogus", "transport=ws", "type=apt", "source=nope", "limit=5&source=x", "q=%ZZ"} {
		if rec := f.get(t, "/?"+q); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d", q, rec.Code)
		}
	}
	if rec := f.get(t, "/?q="+strings.Repeat("x", 300)); rec.Code != http.StatusBadRequest {
		t.Errorf("a long search: %d", rec.Code)
	}
	if rec := f.get(t, "/registry/second/?source=main"); rec.Code != http.StatusBadRequest {
		t.Errorf("a source outside the view: %d", rec.Code)
	}
	doc := f.page(t, "/registry/second/?source=second")
	var offered []string
	for _, o := range findAll(byID(doc, "f-source"), byTag("option")) {
		v, _ := attr(o, "value")
		offered = append(offered, v)
	}
	if !slices.Equal(offered, []string{"", "second"}) {
		t.Errorf("source options %v", offered)
	}
}

// TestCatalogue: the fixture's catalogue per view: one entry per server
// (its latest version), deleted servers hidden, shadowed copies hidden,
// search through the engine.
func TestCatalogue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	all := []string{"com.example/remote-search", "com.old/legacy", "dev.nuget/thing", "io.github.acme/weather", "io.github.stacklok/fetch", "net.second/notes", "org.python/pyserver"}
	tests := []struct {
		path  string
		want  []string
		count string
	}{
		{"/", all, "7 servers."},
		{"/?q=weather", []string{"io.github.acme/weather"}, "1 server."},
		{"/?q=WEATHER", []string{"io.github.acme/weather"}, "1 server."},
		{"/?q=forecasts", []string{"io.github.acme/weather"}, "1 server."},
		{"/?q=nothing-matches", nil, "No servers found."},
		{"/?status=deprecated", []string{"com.old/legacy"}, "1 server."},
		{"/?type=nuget", []string{"dev.nuget/thing"}, "1 server."},
		{"/?transport=streamable-http", []string{"com.example/remote-search", "io.github.stacklok/fetch"}, "2 servers."},
		{"/?source=second", []string{"net.second/notes"}, "1 server."},
		{"/registry/second/", []string{"io.github.acme/weather", "net.second/notes"}, "2 servers."},
		{"/registry/active/", slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == "com.old/legacy" }), "6 servers."},
		{"/registry/default/", nil, ""}, // no such view in this fixture
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			if tc.count == "" {
				if rec := f.get(t, tc.path); rec.Code != http.StatusNotFound {
					t.Fatalf("%d", rec.Code)
				}
				return
			}
			doc := f.page(t, tc.path)
			if got := names(doc); !slices.Equal(got, tc.want) {
				t.Errorf("servers %v, want %v", got, tc.want)
			}
			if got := text(byID(doc, "count")); got != tc.count {
				t.Errorf("count %q, want %q", got, tc.count)
			}
			if byID(doc, "next") != nil {
				t.Error("a next link on the only page")
			}
			for _, li := range findAll(doc, byClass("server")) {
				name, _ := attr(li, "data-name")
				links := findAll(li, byClass("server-link"))
				if len(links) != 1 {
					t.Fatalf("%s: %d server links", name, len(links))
				}
				base := ""
				if v, ok := strings.CutPrefix(tc.path, "/registry/"); ok {
					base = "/registry/" + strings.TrimSuffix(v, "/")
				}
				if href, _ := attr(links[0], "href"); href != base+"/servers/"+url.PathEscape(name) {
					t.Errorf("%s: link %s", name, href)
				}
			}
		})
	}
	form := byID(f.page(t, "/registry/second/?q=notes"), "search")
	if role, _ := attr(form, "role"); role != "search" {
		t.Errorf("form role %q", role)
	}
	if action, _ := attr(form, "action"); action != "/registry/second/" {
		t.Errorf("form action %q", action)
	}
	if q := byID(form, "q"); q == nil {
		t.Error("no search box")
	} else if v, _ := attr(q, "value"); v != "notes" {
		t.Errorf("search box value %q", v)
	}
}

// TestTopLevelValue: the list's icon scan finds the object's own key
// only, wherever the same bytes occur inside other values.
func TestTopLevelValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{`{"icons":[{"src":"a"}]}`, `[{"src":"a"}]`},
		{`{ "name" : "x" , "icons" : [ 1 ] }`, `[ 1 ]`},
		{`{"a":{"icons":1},"b":[{"icons":2}],"icons":3}`, `3`},
		{`{"a":"icons","icons":4}`, `4`},
		{`{"a":"\"icons\":5","icons":6}`, `6`},
		{`{"a":["icons",{"icons":7}]}`, ``},
		{`{"a":"x\\","icons":8}`, `8`},
		{`{"_meta":{"x":{"icons":[]}}}`, ``},
		{`{}`, ``},
		{`[{"icons":9}]`, ``},
		{`{"icons"`, ``},
		{`{"icons":"s,]}"}`, `"s,]}"`},
		{`{"icons":null ,"x":1}`, `null`},
		{`{"icons":{"a":[1,{"b":"}"}]},"x":1}`, `{"a":[1,{"b":"}"}]}`},
	}
	for _, tc := range tests {
		if got := string(topLevelValue([]byte(tc.in), "icons")); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.in, got, tc.want)
		}
	}
	// Every fixture server: the scan agrees with decoding the whole object.
	for _, file := range []string{"catalogue.json", "inject.json"} {
		src := loadSource(t, "x", file)
		for _, e := range src.snap.Versions("io.github.acme/weather") {
			checkIconScan(t, e.Server)
		}
		page, err := newEngine(t, src).List(t.Context(), federate.Query{Limit: federate.MaxLimit}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			checkIconScan(t, e.Server)
		}
	}
}

func checkIconScan(t *testing.T, server json.RawMessage) {
	t.Helper()
	var whole struct {
		Icons json.RawMessage `json:"icons"`
	}
	if err := json.Unmarshal(server, &whole); err != nil {
		t.Fatal(err)
	}
	if got := topLevelValue(server, "icons"); string(got) != string(whole.Icons) {
		t.Errorf("scan %s, decode %s", got, whole.Icons)
	}
}
