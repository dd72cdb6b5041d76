package ui

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// testNow dates the fixtures' snapshots.
var testNow = time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)

// testCursorKey signs cursors in tests (a fixed key: golden pages hold cursors).
var testCursorKey = bytes.Repeat([]byte{7}, federate.MinCursorKeyBytes)

// fixedSource is a snapshot source with a fixed snapshot.
type fixedSource struct {
	name string
	snap *upstream.Snapshot
}

func (s fixedSource) Name() string                 { return s.name }
func (s fixedSource) Snapshot() *upstream.Snapshot { return s.snap }

// loadSource reads a registry file from testdata as a source.
func loadSource(t testing.TB, name, file string) fixedSource {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return parseSource(t, name, data)
}

func parseSource(t testing.TB, name string, data []byte) fixedSource {
	t.Helper()
	doc, err := upstream.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	upstream.Finalize(doc.Entries, doc.LastUpdated)
	snap, err := upstream.NewSnapshot(name, doc.Entries, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return fixedSource{name: name, snap: snap}
}

func newEngine(t testing.TB, sources ...fixedSource) *federate.Engine {
	t.Helper()
	members := make([]federate.Member, len(sources))
	for i, s := range sources {
		members[i] = federate.Member{Source: s}
	}
	e, err := federate.NewEngine(federate.EngineOptions{Members: members, CursorKeys: [][]byte{testCursorKey}, Clock: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Tokens of the test Authorize hook.
const (
	goodToken  = "good-token"
	otherToken = "other-token"
	adminToken = "admin-token"
)

// testAuthorize refuses the view "private" without goodToken (401 with a
// challenge) or with another token (403), as the gateway's hook does.
func testAuthorize(w http.ResponseWriter, r *http.Request, view string) bool {
	if view != "private" {
		return true
	}
	switch r.Header.Get("Authorization") {
	case "Bearer " + goodToken:
		return true
	case "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="mcpfed"`)
		federate.WriteProblem(w, http.StatusUnauthorized, "this view needs a bearer token")
	default:
		federate.WriteProblem(w, http.StatusForbidden, "no")
	}
	return false
}

// fakeInstall makes one VS Code snippet holding the server's name and the
// first package's identifier as the source wrote it, and a note.
func fakeInstall(name string, server json.RawMessage) ([]InstallClient, error) {
	var doc struct {
		Packages []struct {
			Identifier string `json:"identifier"`
		} `json:"packages"`
	}
	_ = json.Unmarshal(server, &doc)
	id := ""
	if len(doc.Packages) > 0 {
		id = doc.Packages[0].Identifier
	}
	text, _ := json.MarshalIndent(map[string]any{"servers": map[string]any{name: map[string]any{"command": "npx", "args": []string{"-y", id}}}}, "", "  ")
	return []InstallClient{{
		ID: "vscode", Label: "VS Code",
		Snippets: []InstallSnippet{{ID: "vscode-json", Title: ".vscode/mcp.json", Language: "json", Text: string(text)}},
		Notes:    []string{"Package " + id + " runs with npx."},
	}}, nil
}

// fixture is a UI over the test catalogue: sources "main" (catalogue.json)
// and "second" (second.json), the root over both, views "second" (its
// source only), "active" (a status filter) and "private" (a token).
type fixture struct {
	ui      *UI
	h       http.Handler
	engine  *federate.Engine
	reports []federate.SourceReport
}

// apiBody is what the stand-in for the API answers.
const apiBody = `{"api":true}`

func newFixture(t testing.TB, sources ...fixedSource) *fixture {
	t.Helper()
	if len(sources) == 0 {
		sources = []fixedSource{loadSource(t, "main", "catalogue.json"), loadSource(t, "second", "second.json")}
	}
	eng := newEngine(t, sources...)
	active, err := filter.New(filter.Spec{Status: []string{"active"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{engine: eng}
	success := testNow.Add(-time.Minute)
	for _, s := range sources {
		f.reports = append(f.reports, federate.SourceReport{
			Name: s.name, Kind: "file", State: "ok", Entries: s.snap.Len(), LastSuccess: &success,
			LastError: `open /secret/path: <script>alert(1)</script>`, Unavailable: map[string]string{"mcpservers": "forbidden"},
		})
	}
	views := map[string]*federate.View{
		"second":  {Name: "second", Sources: []string{"second"}},
		"active":  {Name: "active", Filter: active},
		"private": {Name: "private", Private: true},
	}
	u, err := New(Options{
		Engine: eng, Views: views, Authorize: testAuthorize, Install: fakeInstall, MaxAge: time.Minute,
		Sources: func() []federate.SourceReport { return f.reports },
		IsAdmin: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+adminToken },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ui = u
	f.h = u.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(apiBody))
	}))
	return f
}

// Accept headers of the tests.
const (
	acceptBrowser = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	acceptJSON    = "application/json"
)

func (f *fixture) get(t testing.TB, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Accept", acceptBrowser)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// page GETs a page that must be a 200 and parses it.
func (f *fixture) page(t testing.TB, path string, header ...string) *html.Node {
	t.Helper()
	rec := f.get(t, path, header...)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d: %s", path, rec.Code, rec.Body)
	}
	return parse(t, rec.Body.Bytes())
}

func parse(t testing.TB, body []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// findAll returns the elements for which match holds, in document order.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && match(c) {
			out = append(out, c)
		}
	}
	return out
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func byID(doc *html.Node, id string) *html.Node {
	els := findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "id"); return v == id })
	if len(els) == 0 {
		return nil
	}
	return els[0]
}

func byTag(tag string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == tag }
}

func byClass(class string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		v, _ := attr(n, "class")
		return strings.Contains(" "+v+" ", " "+class+" ")
	}
}

func text(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

// names are the data-name of the page's results, in order.
func names(doc *html.Node) []string {
	var out []string
	for _, li := range findAll(doc, byClass("server")) {
		v, _ := attr(li, "data-name")
		out = append(out, v)
	}
	return out
}
