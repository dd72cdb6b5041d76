package federate

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// fixedNow is the clock of every fixture: entries without times of their own
// (the official seed) are published then.
var fixedNow = time.Date(2025, 9, 1, 0, 0, 0, 0, time.UTC)

// toolhiveUpdated is meta.last_updated of testdata/catalog/toolhive.json: the
// publication and update time of all its entries.
const toolhiveUpdated = "2026-09-08T08:45:56Z"

// testCursorKey signs the cursors of every test engine, so that tests can
// write cursors of their own (forged structure, correctly signed).
var testCursorKey = []byte("mcpfed test cursor key: 32 bytes or more")

var testCodec = &cursorCodec{keys: [][]byte{testCursorKey}}

func encodeCursor(c cursor) string { return testCodec.encode(c) }

func decodeCursor(s, fingerprint string) (cursor, error) { return testCodec.decode(s, fingerprint) }

// signedPayload signs raw JSON as a cursor, whatever it holds.
func signedPayload(raw string) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(raw))
	return payload + "." + base64.RawURLEncoding.EncodeToString(cursorMAC(testCursorKey, payload))
}

// mustEngine builds an engine signing cursors with testCursorKey.
func mustEngine(t testing.TB, o EngineOptions) *Engine {
	t.Helper()
	if o.CursorKeys == nil {
		o.CursorKeys = [][]byte{testCursorKey}
	}
	e, err := NewEngine(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fakeSource is a SnapshotSource whose snapshot the test sets; nil stands for
// a source that has not loaded or whose load failed.
type fakeSource struct {
	name string
	snap atomic.Pointer[upstream.Snapshot]
}

func (f *fakeSource) Name() string                 { return f.name }
func (f *fakeSource) Snapshot() *upstream.Snapshot { return f.snap.Load() }
func (f *fakeSource) set(s *upstream.Snapshot)     { f.snap.Store(s) }

// newSource parses data as a file source would (Parse, Finalize,
// NewSnapshot). A snapshot stamps its entries with its source name, so
// entries are never shared between sources of different names.
func newSource(t testing.TB, name string, data []byte) *fakeSource {
	t.Helper()
	s := &fakeSource{name: name}
	s.set(mustSnapshot(t, name, data))
	return s
}

// snapshots keeps every snapshot made, by source name and data: a snapshot
// is immutable once built (readers share it in production too), and the
// same catalogue is parsed by dozens of tests otherwise.
var snapshots sync.Map

type snapshotKey struct {
	name string
	data [sha256.Size]byte
}

func mustSnapshot(t testing.TB, name string, data []byte) *upstream.Snapshot {
	t.Helper()
	k := snapshotKey{name, sha256.Sum256(data)}
	if s, ok := snapshots.Load(k); ok {
		return s.(*upstream.Snapshot)
	}
	s := parseSnapshot(t, name, data)
	snapshots.Store(k, s)
	return s
}

func parseSnapshot(t testing.TB, name string, data []byte) *upstream.Snapshot {
	t.Helper()
	doc, err := upstream.Parse(data)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	upstream.Finalize(doc.Entries, doc.LastUpdated)
	snap, err := upstream.NewSnapshot(name, doc.Entries, fixedNow)
	if err != nil {
		t.Fatalf("snapshot %s: %v", name, err)
	}
	return snap
}

func testdata(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// srv is one server version of an inline source. With Published set the
// item carries an official block (status and times); otherwise the loader
// derives them, as for a plain server.json.
type srv struct {
	Name, Version, Title, Description string
	Status                            string
	Published, Updated                string
}

// serverList renders items as a saved ServerList, the file format that
// keeps official blocks and unknown `_meta` keys.
func serverList(items ...srv) []byte {
	type official struct {
		Status      string `json:"status"`
		PublishedAt string `json:"publishedAt"`
		UpdatedAt   string `json:"updatedAt,omitempty"`
	}
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		server := map[string]any{
			"$schema":     "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
			"name":        it.Name,
			"version":     it.Version,
			"description": it.Description,
			"remotes":     []any{map[string]any{"type": "streamable-http", "url": "https://mcp.example.com/" + it.Name}},
		}
		if it.Title != "" {
			server["title"] = it.Title
		}
		item := map[string]any{"server": server}
		if it.Published != "" {
			status := it.Status
			if status == "" {
				status = "active"
			}
			item["_meta"] = map[string]any{
				upstream.OfficialMetaKey: official{Status: status, PublishedAt: it.Published, UpdatedAt: it.Updated},
				// An unknown key: a gateway must pass it on untouched.
				"com.example/extra": map[string]any{"kept": true},
			}
		}
		out = append(out, item)
	}
	b, err := json.Marshal(map[string]any{"servers": out, "metadata": map[string]any{"count": len(out)}})
	if err != nil {
		panic(err)
	}
	return b
}

// overlayItems is the inline source of the three-source fixture. It overlaps
// the ToolHive catalogue (arxiv, which ToolHive outranks) and the official
// seed (airtable, which it outranks), and adds deleted, deprecated and
// multi-version entries with distinct times.
var overlayItems = []srv{
	{Name: "io.github.stacklok/arxiv-mcp-server", Version: "0.9.0", Description: "overlay arxiv, old", Published: "2025-03-01T00:00:00Z", Updated: "2025-03-01T00:00:00Z"},
	{Name: "io.github.stacklok/arxiv-mcp-server", Version: "1.0.0", Description: "overlay arxiv", Published: "2025-03-02T00:00:00Z", Updated: "2025-03-02T00:00:00Z"},
	{Name: "io.github.stacklok/arxiv-mcp-server", Version: "1.1.0", Description: "overlay arxiv, newer", Published: "2025-03-03T00:00:00Z", Updated: "2027-01-01T00:00:00Z"},
	{Name: "io.github.domdomegg/airtable-mcp-server", Version: "1.7.3", Description: "overlay airtable", Status: "deleted", Published: "2025-06-01T00:00:00Z", Updated: "2026-10-01T00:00:00Z"},
	{Name: "io.github.domdomegg/airtable-mcp-server", Version: "1.8.0", Description: "overlay airtable", Published: "2025-07-01T00:00:00Z", Updated: "2025-07-01T00:00:00Z"},
	{Name: "io.github.mcpfed/multi", Version: "1.0.0", Description: "many versions", Published: "2025-01-01T00:00:00Z"},
	{Name: "io.github.mcpfed/multi", Version: "1.0.0+20130313144700", Description: "many versions", Published: "2025-06-15T00:00:00Z"},
	{Name: "io.github.mcpfed/multi", Version: "1.10.0", Description: "many versions", Published: "2025-03-01T00:00:00Z"},
	{Name: "io.github.mcpfed/multi", Version: "1.2.0", Description: "many versions", Status: "deleted", Published: "2025-02-01T00:00:00Z", Updated: "2026-10-02T00:00:00Z"},
	{Name: "io.github.mcpfed/multi", Version: "2.0.0-rc.1", Description: "many versions", Published: "2025-04-01T00:00:00Z"},
	{Name: "io.github.mcpfed/multi", Version: "2.0.0", Description: "many versions", Published: "2025-05-01T00:00:00Z", Updated: "2026-09-10T00:00:00Z"},
	{Name: "io.github.mcpfed/retired", Version: "1.0.0", Description: "latest version deleted", Published: "2025-01-01T00:00:00Z"},
	{Name: "io.github.mcpfed/retired", Version: "2.0.0", Description: "latest version deleted", Status: "deleted", Published: "2025-02-01T00:00:00Z", Updated: "2026-09-09T00:00:00Z"},
	{Name: "io.github.mcpfed/gone", Version: "1.0.0", Description: "every version deleted", Status: "deleted", Published: "2024-12-01T00:00:00Z", Updated: "2026-09-09T00:00:00Z"},
	{Name: "io.github.mcpfed/zebra", Version: "0.1.0", Title: "Zebra Finder", Description: "Finds STRIPED animals", Status: "deprecated", Published: "2025-05-05T00:00:00Z"},
}

// threeSources returns the ToolHive catalogue, the inline overlay and the
// official seed, in that priority order.
func threeSources(t testing.TB) (toolhive, overlay, seed *fakeSource) {
	return newSource(t, "toolhive", testdata(t, "catalog/toolhive.json")),
		newSource(t, "overlay", serverList(overlayItems...)),
		newSource(t, "seed", testdata(t, "catalog/official-seed.json"))
}

// ghFilterSpec is the filter of the "gh" view: io.github names, no aws-*
// servers, nothing deprecated.
var ghFilterSpec = filter.Spec{
	Names:  filter.IncludeExclude{Include: []string{"io.github.*/*"}, Exclude: []string{"*/aws-*"}},
	Status: []string{"active", "deleted"},
}

func mustFilter(t testing.TB, spec filter.Spec) *filter.Filter {
	t.Helper()
	f, err := filter.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// env is an API served over fake sources.
type env struct {
	engine  *Engine
	server  *httptest.Server
	client  *http.Client
	schemas *officialSchemas
}

type envOptions struct {
	members []Member
	// reservations maps source name to reserved patterns.
	reservations map[string][]string
	views        map[string]*View
	maxAge       time.Duration
	attempted    func(string) bool
	admin        AdminOptions
	logger       *slog.Logger
	clock        func() time.Time
	// wrap, when set, goes around the API's handler (a middleware).
	wrap func(http.Handler) http.Handler
	// warnInterval is the engine's (default: its own).
	warnInterval time.Duration
	// root is the view at /v0.1 and /v0 (nil: every member, public).
	root *View
	// authorize is APIOptions.Authorize.
	authorize func(w http.ResponseWriter, r *http.Request, view string) bool
	// responseCache is the API's (default: none).
	responseCache ResponseCacheOptions
	// observeMerge is told of every list merge the engine runs.
	observeMerge func(time.Duration)
	// deployed is APIOptions.Deployed.
	deployed func() []upstream.Instance
}

func members(srcs ...*fakeSource) []Member {
	out := make([]Member, len(srcs))
	for i, s := range srcs {
		out[i] = Member{Source: s}
	}
	return out
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	var res *filter.Reservations
	if o.reservations != nil {
		order := make([]string, len(o.members))
		for i, m := range o.members {
			order[i] = m.Name()
		}
		var err error
		if res, err = filter.NewReservations(o.reservations, order); err != nil {
			t.Fatal(err)
		}
	}
	if o.clock == nil {
		o.clock = func() time.Time { return fixedNow }
	}
	eng := mustEngine(t, EngineOptions{Members: o.members, Reservations: res, Clock: o.clock, Logger: o.logger,
		WarnInterval: o.warnInterval, ObserveMerge: o.observeMerge})
	api, err := NewAPI(APIOptions{
		Engine:        eng,
		Root:          o.root,
		Views:         o.views,
		Authorize:     o.authorize,
		ResponseCache: o.responseCache,
		MaxAge:        o.maxAge,
		Build:         BuildInfo{Version: "v1.2.3-test", GitCommit: "abc123", BuildTime: "2025-09-01T00:00:00Z"},
		Attempted:     o.attempted,
		Admin:         o.admin,
		Deployed:      o.deployed,
		Clock:         o.clock,
		Logger:        o.logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := api.Handler()
	if o.wrap != nil {
		h = o.wrap(h)
	}
	ts := httptest.NewServer(h)
	// Compression off: the tests ask for gzip explicitly and must see the
	// bytes on the wire, not what the transport decoded.
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ts.Close()
		api.Close()
	})
	return &env{engine: eng, server: ts, client: &http.Client{Transport: tr}, schemas: loadSchemas(t)}
}

// response is a read answer; body is decoded when it was sent gzipped.
type response struct {
	status int
	header http.Header
	raw    []byte // as sent
	body   []byte // identity
}

// get requests path (escaped, as sent on the wire) with header pairs and
// checks what every answer must satisfy (CORS, problem documents, ETag and
// OpenAPI conformance of 200s).
func (e *env) get(t testing.TB, path string, header ...string) response {
	t.Helper()
	return e.do(t, http.MethodGet, path, header...)
}

func (e *env) do(t testing.TB, method, path string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw, body: raw}
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s %s: bad gzip: %v", method, path, err)
		}
		if r.body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s %s: bad gzip: %v", method, path, err)
		}
	}
	e.check(t, method, path, r)
	return r
}

func (e *env) check(t testing.TB, method, path string, r response) {
	t.Helper()
	p, _, _ := strings.Cut(path, "?")
	if got, want := r.header.Get("Access-Control-Allow-Origin"), "*"; operatorPath(p) && got != "" {
		t.Errorf("%s %s: operator endpoint with Access-Control-Allow-Origin %q", method, path, got)
	} else if !operatorPath(p) && got != want {
		t.Errorf("%s %s: Access-Control-Allow-Origin = %q, want %s", method, path, got, want)
	}
	switch {
	case r.status >= 400:
		checkProblem(t, method+" "+path, r)
	case r.status == http.StatusOK && method == http.MethodGet:
		if r.header.Get("ETag") == "" && !strings.Contains(p, ExtensionPath) {
			t.Errorf("%s %s: 200 without ETag", method, path)
		}
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			return
		}
		if s := toolhiveSchemaFor(t, p); s != nil {
			validateJSON(t, s, r.body)
		} else if s := e.schemaFor(path); s != nil {
			validateJSON(t, s, r.body)
		} else if !json.Valid(r.body) {
			t.Errorf("%s %s: invalid JSON: %s", method, path, truncate(r.body))
		}
	}
}

// schemaFor picks the official schema of a registry endpoint, nil for the
// endpoints the document does not describe (health, ping, version).
func (e *env) schemaFor(path string) *jsonschema.Schema {
	p, _, _ := strings.Cut(path, "?")
	p = strings.TrimSuffix(p, "/")
	switch {
	case strings.HasSuffix(p, "/servers"), strings.HasSuffix(p, "/versions"):
		return e.schemas.ServerList
	case strings.Contains(p, "/servers/") && strings.Contains(p, "/versions/"):
		return e.schemas.ServerResponse
	}
	return nil
}

// checkProblem asserts an RFC 9457 problem document matching the status.
func checkProblem(t testing.TB, what string, r response) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: status %d with Content-Type %q, want application/problem+json", what, r.status, ct)
	}
	var p struct {
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Errorf("%s: problem is not JSON: %v: %s", what, err, r.body)
		return
	}
	if p.Title == "" || p.Detail == "" || p.Status != r.status {
		t.Errorf("%s: problem %+v does not match status %d", what, p, r.status)
	}
}

// listBody is a decoded ServerList.
type listBody struct {
	Servers  []item `json:"servers"`
	Metadata struct {
		NextCursor *string `json:"nextCursor"`
		Count      int     `json:"count"`
	} `json:"metadata"`
}

// item is a decoded ServerResponse, reduced to what the tests compare.
type item struct {
	Server struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"server"`
	Meta struct {
		Official struct {
			Status      string    `json:"status"`
			PublishedAt time.Time `json:"publishedAt"`
			UpdatedAt   time.Time `json:"updatedAt"`
			IsLatest    bool      `json:"isLatest"`
		} `json:"io.modelcontextprotocol.registry/official"`
		Provenance struct {
			Source string `json:"source"`
		} `json:"io.github.mcpfed/provenance"`
		Extra json.RawMessage `json:"com.example/extra"`
	} `json:"_meta"`
}

// key is what identifies a served record: name, version and the source
// that served it.
type key struct{ Name, Version, Source string }

func (it item) key() key {
	return key{it.Server.Name, it.Server.Version, it.Meta.Provenance.Source}
}

func decodeList(t testing.TB, r response) listBody {
	t.Helper()
	var lb listBody
	if err := json.Unmarshal(r.body, &lb); err != nil {
		t.Fatalf("decode list: %v: %s", err, truncate(r.body))
	}
	if lb.Metadata.Count != len(lb.Servers) {
		t.Errorf("metadata.count = %d, but %d servers", lb.Metadata.Count, len(lb.Servers))
	}
	return lb
}

func decodeItem(t testing.TB, r response) item {
	t.Helper()
	var it item
	if err := json.Unmarshal(r.body, &it); err != nil {
		t.Fatalf("decode server: %v: %s", err, truncate(r.body))
	}
	return it
}

func keys(items []item) []key {
	out := make([]key, len(items))
	for i, it := range items {
		out[i] = it.key()
	}
	return out
}

func versionsOf(items []item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Server.Version
	}
	return out
}
