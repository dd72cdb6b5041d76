package upstream

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/registry/pkg/model"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestParseTestdataFormats detects and indexes every real registry file in
// testdata, then checks the whole pipeline (Finalize, NewSnapshot) accepts it.
func TestParseTestdataFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file        []string
		format      Format
		entries     int
		names       int
		lastUpdated string
		transports  map[string]int // entries per transport type
	}{
		{[]string{"catalog", "toolhive.json"}, FormatUpstream, 111, 111, "2026-09-08T08:45:56Z", nil},
		{[]string{"toolhive", "upstream-registry.json"}, FormatUpstream, 12, 12, "2025-11-26T00:27:46Z",
			map[string]int{"stdio": 7, "streamable-http": 4, "sse": 1}},
		{[]string{"toolhive", "registry.json"}, FormatToolHive, 102, 102, "2026-02-18T00:24:11Z",
			map[string]int{"stdio": 60, "streamable-http": 14 + 19, "sse": 5 + 4}},
		{[]string{"toolhive", "toolhive-registry.json"}, FormatToolHive, 12, 12, "2025-11-26T00:27:46Z",
			map[string]int{"stdio": 7, "streamable-http": 4, "sse": 1}},
		{[]string{"catalog", "official-seed.json"}, FormatArray, 4, 3, "", nil},
		{[]string{"toolhive", "data-registry.json"}, FormatUpstream, 2, 2, "2025-01-15T00:00:00Z", nil},
		{[]string{"toolhive", "platform-registry.json"}, FormatUpstream, 2, 2, "2025-01-15T00:00:00Z", nil},
		{[]string{"toolhive", "examples", "registry-with-remote-servers.json"}, FormatUpstream, 2, 2, "2025-01-12T00:00:00Z", nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.file, "/"), func(t *testing.T) {
			t.Parallel()
			doc := parseTestdata(t, tt.file...)
			if doc.Format != tt.format {
				t.Errorf("format = %q, want %q", doc.Format, tt.format)
			}
			if len(doc.Entries) != tt.entries {
				t.Errorf("%d entries, want %d", len(doc.Entries), tt.entries)
			}
			if n := len(distinctNames(doc.Entries)); n != tt.names {
				t.Errorf("%d names, want %d", n, tt.names)
			}
			var want time.Time
			if tt.lastUpdated != "" {
				want = mustTime(t, tt.lastUpdated)
			}
			if !doc.LastUpdated.Equal(want) {
				t.Errorf("LastUpdated = %v, want %v", doc.LastUpdated, want)
			}
			if tt.transports != nil {
				got := map[string]int{}
				for _, e := range doc.Entries {
					for _, tr := range e.Transports {
						got[tr]++
					}
				}
				if !mapsEqual(got, tt.transports) {
					t.Errorf("transports = %v, want %v", got, tt.transports)
				}
			}
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			Finalize(doc.Entries, doc.LastUpdated)
			snap := mustSnapshot(t, "test", doc.Entries, now)
			if snap.Len() != tt.entries || snap.NameCount() != tt.names {
				t.Errorf("snapshot holds %d entries of %d names", snap.Len(), snap.NameCount())
			}
			for _, e := range snap.Entries() {
				if !json.Valid(e.Encoded) {
					t.Fatalf("%s %s: Encoded is not valid JSON", e.Name, e.Version)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestParseToolHiveLegacyShape checks what the legacy conversion indexes:
// the namespaced names, one OCI package per container server, one remote
// per remote server, and tags from ToolHive's extension.
func TestParseToolHiveLegacyShape(t *testing.T) {
	t.Parallel()
	doc := parseTestdata(t, "toolhive", "registry.json")
	var oci, remotes int
	for _, e := range doc.Entries {
		if !strings.HasPrefix(e.Name, ToolHiveNamespace+"/") {
			t.Errorf("%s: not under %s/", e.Name, ToolHiveNamespace)
		}
		if e.Version != "1.0.0" {
			t.Errorf("%s: version %q, want 1.0.0", e.Name, e.Version)
		}
		if slices.Equal(e.PackageTypes, []string{"oci"}) {
			oci++
		} else if len(e.PackageTypes) == 0 {
			remotes++
		}
		if len(e.Tags) == 0 {
			t.Errorf("%s: no tags indexed from the ToolHive extension", e.Name)
		}
	}
	if oci != 79 || remotes != 23 {
		t.Errorf("%d container and %d remote servers, want 79 and 23", oci, remotes)
	}
}

// officialListDump is a saved ServerList response: the official block in a
// non-canonical spelling (upper-case status, offsets, fractions), an unknown
// `_meta` key, an upstream mcpfed's provenance stamp, and unknown fields in
// the server object.
const officialListDump = `{
  "servers": [
    {
      "server": {
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "io.github.acme/weather",
        "description": "Weather forecasts",
        "version": "2.1.0",
        "x-acme-internal": {"owner": "team-sky", "tiers": [1, 2]},
        "remotes": [{"type": "streamable-http", "url": "https://weather.acme.example/mcp"}],
        "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {"com.acme": {"sla": "gold"}}}
      },
      "_meta": {
        "io.modelcontextprotocol.registry/official": {
          "status": "Deprecated",
          "statusMessage": "use io.github.acme/weather2",
          "statusChangedAt": "2025-10-02T09:30:00.5+02:00",
          "publishedAt": "2025-09-01T14:00:00+02:00",
          "updatedAt": "2025-10-02T07:30:00.500Z",
          "isLatest": true
        },
        "com.example.mirror/annotations": {"reviewed": true, "by": ["a", "b"]},
        "io.github.mcpfed/provenance": {"source": "upstream-mcpfed"}
      }
    },
    {
      "server": {"name": "io.github.acme/maps", "description": "Maps", "version": "0.3.0",
        "packages": [{"registryType": "npm", "identifier": "@acme/maps", "version": "0.3.0", "transport": {"type": "stdio"}}]},
      "_meta": {
        "io.modelcontextprotocol.registry/official": {
          "status": "active", "publishedAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z", "isLatest": true
        }
      }
    }
  ],
  "metadata": {"count": 2}
}`

func TestParseServerListKeepsMeta(t *testing.T) {
	t.Parallel()
	doc, err := Parse([]byte(officialListDump))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Format != FormatServerList || len(doc.Entries) != 2 {
		t.Fatalf("format %q with %d entries, want server-list with 2", doc.Format, len(doc.Entries))
	}
	e := doc.Entries[0]
	if !e.HasOfficialMeta() {
		t.Fatal("official block not recognised")
	}
	if e.Status != model.StatusDeprecated || e.StatusMessage != "use io.github.acme/weather2" || !e.IsLatest {
		t.Errorf("status %q message %q isLatest %v", e.Status, e.StatusMessage, e.IsLatest)
	}
	if want := mustTime(t, "2025-09-01T12:00:00Z"); !e.PublishedAt.Equal(want) {
		t.Errorf("PublishedAt = %v, want %v", e.PublishedAt, want)
	}
	if len(e.ExtraMeta) != 1 || e.ExtraMeta[0].Key != "com.example.mirror/annotations" {
		t.Fatalf("ExtraMeta = %+v, want only the unknown key (provenance is re-stamped)", e.ExtraMeta)
	}
	if !slices.Equal(e.Transports, []string{"streamable-http"}) {
		t.Errorf("Transports = %v", e.Transports)
	}

	// Finalize must not touch data that carried its own block.
	Finalize(doc.Entries, time.Time{})
	snap := mustSnapshot(t, "dump", doc.Entries, time.Now())
	got := snap.Get("io.github.acme/weather", "2.1.0")
	var wire struct {
		Server json.RawMessage            `json:"server"`
		Meta   map[string]json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(got.Encoded, &wire); err != nil {
		t.Fatal(err)
	}
	assertSameJSON(t, wire.Meta[OfficialMetaKey], []byte(`{
		"status": "deprecated",
		"statusMessage": "use io.github.acme/weather2",
		"statusChangedAt": "2025-10-02T07:30:00.5Z",
		"publishedAt": "2025-09-01T12:00:00Z",
		"updatedAt": "2025-10-02T07:30:00.5Z",
		"isLatest": true}`))
	assertSameJSON(t, wire.Meta["com.example.mirror/annotations"], []byte(`{"reviewed": true, "by": ["a", "b"]}`))
	assertSameJSON(t, wire.Meta[ProvenanceMetaKey], []byte(`{"source": "dump"}`))
	// The server object is passed on byte for byte (compacted), unknown
	// fields and its own _meta included.
	var dump struct {
		Servers []struct {
			Server json.RawMessage `json:"server"`
		} `json:"servers"`
	}
	if err := json.Unmarshal([]byte(officialListDump), &dump); err != nil {
		t.Fatal(err)
	}
	if want := compactJSON(t, dump.Servers[0].Server); string(wire.Server) != string(want) {
		t.Errorf("server bytes changed:\n got %s\nwant %s", wire.Server, want)
	}
}

// TestParseInlineFormats covers the shapes the testdata files do not.
func TestParseInlineFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		input  string
		format Format
		names  []string
	}{
		{"single server.json", serverJSON("io.github.x/one", "1.0.0"), FormatServerJSON, []string{"io.github.x/one"}},
		{"byte-order mark and blank lines", "\ufeff\n\n  " + serverJSON("io.github.x/one", "1.0.0"), FormatServerJSON, []string{"io.github.x/one"}},
		{"array of server.json", "[" + serverJSON("a.b/c", "1") + "," + serverJSON("a.b/d", "2") + "]", FormatArray, []string{"a.b/c", "a.b/d"}},
		{"array of ServerList items", `[{"server":` + serverJSON("a.b/c", "1") + `,"_meta":{"x.y/z":1}}]`, FormatArray, []string{"a.b/c"}},
		{"empty array", `[]`, FormatArray, nil},
		{"ServerList without _meta", `{"servers":[{"server":` + serverJSON("a.b/c", "1") + `}],"metadata":{}}`, FormatServerList, []string{"a.b/c"}},
		{"ServerList with null _meta", `{"servers":[{"server":` + serverJSON("a.b/c", "1") + `,"_meta":null}]}`, FormatServerList, []string{"a.b/c"}},
		{"empty ServerList", `{"servers":[],"metadata":{"count":0}}`, FormatServerList, nil},
		{"upstream without meta", `{"version":"1.0.0","data":{"servers":[` + serverJSON("a.b/c", "1") + `]}}`, FormatUpstream, []string{"a.b/c"}},
		{"legacy with only remote servers", `{"remote_servers":{"r":{"description":"d","transport":"sse","url":"https://r.example/sse"}}}`, FormatToolHive, []string{"io.github.stacklok/r"}},
		{"legacy with empty maps", `{"servers":{},"remote_servers":null}`, FormatToolHive, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse([]byte(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if doc.Format != tt.format {
				t.Errorf("format = %q, want %q", doc.Format, tt.format)
			}
			if got := entryNames(doc.Entries); !slices.Equal(got, tt.names) && (len(got) > 0 || len(tt.names) > 0) {
				t.Errorf("names = %v, want %v", got, tt.names)
			}
		})
	}
}

// TestParseErrors checks that every rejection says what is wrong and where.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	upstreamWith := func(servers ...string) string {
		return `{"version":"1.0.0","meta":{"last_updated":"2025-01-01T00:00:00Z"},"data":{"servers":[` + strings.Join(servers, ",") + `]}}`
	}
	good := serverJSON("io.github.x/ok", "1.0.0")
	tests := []struct {
		name  string
		input []byte
		is    error
		want  []string // substrings of the error
	}{
		{"registry-sample.json lacks versions", readTestdata(t, "toolhive", "registry-sample.json"), ErrInvalidEntry,
			[]string{"[0]", `"example/filesystem"`, `missing "version"`}},
		{"registry-high.json has a name without namespace", readTestdata(t, "toolhive", "examples", "registry-high.json"), ErrInvalidEntry,
			[]string{"data.servers[0]", `"osv-upgrade-test"`, "namespace/name"}},
		{"registry-low.json has a name without namespace", readTestdata(t, "toolhive", "examples", "registry-low.json"), ErrInvalidEntry,
			[]string{"data.servers[0]", `"osv-upgrade-test"`}},
		{"invalid JSON: position of the bad character", []byte("{\n  \"data\": {\n    \"servers\": [,]\n  }\n}"), nil,
			[]string{"invalid JSON at line 3, column 17", "invalid character ','"}},
		{"invalid JSON after leading blank lines", []byte("\n\n{\"a\": tru}"), nil,
			[]string{"line 3, column 10"}},
		{"invalid JSON column counts characters", []byte(`{"é": x}`), nil,
			[]string{"line 1, column 7"}},
		{"truncated JSON", []byte("{\n  \"servers\": ["), nil,
			[]string{"line 2, column 15", "unexpected end of JSON input"}},
		{"trailing data", []byte(`{"name":"a.b/c"} {}`), nil, []string{"line 1, column 18", "after top-level value"}},
		{"empty input", nil, nil, []string{"invalid JSON at line 1, column 1"}},
		{"unknown object shape names its keys", []byte(`{"zeta":1,"alpha":{"x":2}}`), ErrUnknownFormat,
			[]string{"[alpha, zeta]", "expected an upstream registry file"}},
		{"scalar top level", []byte(`"servers"`), ErrUnknownFormat, []string{"top level must be a JSON object or array"}},
		{"upstream: bad fourth server", []byte(upstreamWith(good, serverJSON("io.github.x/b", "1"), serverJSON("io.github.x/c", "1"),
			`{"name":"io.github.x/d","version":"1.0.0"}`)), ErrInvalidEntry,
			[]string{"data.servers[3]", `"io.github.x/d"`, `missing "description"`}},
		{"upstream: data.servers not an array", []byte(`{"data":{"servers":{}}}`), nil, []string{"data:"}},
		{"upstream: bad last_updated", []byte(`{"meta":{"last_updated":"yesterday"},"data":{"servers":[]}}`), nil,
			[]string{"meta.last_updated", `"yesterday"`, "RFC 3339"}},
		{"server-list: bad second item", []byte(`{"servers":[{"server":` + good + `},{"server":{"name":"io.github.x/two","description":"d"}}]}`), ErrInvalidEntry,
			[]string{"servers[1]", `"io.github.x/two"`, `missing "version"`}},
		{"server-list: _meta not an object", []byte(`{"servers":[{"server":` + good + `,"_meta":[1]}]}`), ErrInvalidEntry,
			[]string{"servers[0]", "_meta", "must be a JSON object"}},
		{"server-list: unknown official status", []byte(`{"servers":[{"server":` + good + `,"_meta":{"` + OfficialMetaKey + `":{"status":"retired"}}}]}`), ErrInvalidEntry,
			[]string{"servers[0]", "official _meta", `unknown status "retired"`}},
		{"server-list: official time not RFC 3339", []byte(`{"servers":[{"server":` + good + `,"_meta":{"` + OfficialMetaKey + `":{"publishedAt":"2025-01-01"}}}]}`), ErrInvalidEntry,
			[]string{"servers[0]", "official _meta"}},
		{"server-list: official time beyond 9999 in UTC", []byte(`{"servers":[{"server":` + good + `,"_meta":{"` + OfficialMetaKey + `":{"publishedAt":"2025-01-01T00:00:00Z","updatedAt":"9999-12-31T23:59:59-23:59"}}}]}`), ErrInvalidEntry,
			[]string{"servers[0]", "updatedAt", "outside years 0000 to 9999"}},
		{"legacy: last_updated before year 0 in UTC", []byte(`{"last_updated":"0000-01-01T00:00:00+01:00","servers":{}}`), nil,
			[]string{"last_updated", "outside years"}},
		{"array: element not an object", []byte(`[` + good + `, 42]`), ErrInvalidEntry, []string{"[1]", "must be a JSON object"}},
		{"array: server not an object", []byte(`[{"server":"x"}]`), ErrInvalidEntry, []string{"[0]", "server must be a JSON object"}},
		{"legacy: container without image", []byte(`{"servers":{"ok":{"description":"d","image":"i:1"},"noimage":{"description":"d"}}}`), ErrInvalidEntry,
			[]string{`servers["noimage"]`, `no "image"`}},
		{"legacy: remote without url", []byte(`{"remote_servers":{"r":{"description":"d","transport":"sse"}}}`), ErrInvalidEntry,
			[]string{`remote_servers["r"]`, `no "url"`}},
		{"legacy: servers entry not an object", []byte(`{"servers":{"x":[1]}}`), nil, []string{`servers["x"]`}},
		{"legacy: bad last_updated", []byte(`{"last_updated":"soon","servers":{}}`), nil, []string{"last_updated", `"soon"`}},
		{"legacy: entry without description", []byte(`{"servers":{"nodesc":{"image":"i:1"}}}`), ErrInvalidEntry,
			[]string{`servers["nodesc"]`, `"io.github.stacklok/nodesc"`, `missing "description"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse(tt.input)
			if err == nil {
				t.Fatalf("Parse succeeded with %d entries, want an error", len(doc.Entries))
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestNewEntryValidation covers the server.json rules NewEntry enforces.
func TestNewEntryValidation(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 101) // 101 characters, 202 bytes: limits count characters
	tests := []struct {
		name   string
		server string
		want   string // "" means valid
	}{
		{"valid", serverJSON("io.github.x/y", "1.0.0"), ""},
		{"dots dashes underscores", serverJSON("com.example-1/my_server.v2", "1.0.0"), ""},
		{"description of exactly 100 characters", `{"name":"a.b/c","version":"1","description":"` + strings.Repeat("é", 100) + `"}`, ""},
		{"not an object", `[1]`, "must be a JSON object"},
		{"invalid JSON", `{"name":`, "not valid JSON"},
		{"missing name", `{"version":"1","description":"d"}`, `missing "name"`},
		{"empty name", serverJSON("", "1"), `missing "name"`},
		{"name not a string", `{"name":5,"version":"1","description":"d"}`, "invalid server entry"},
		{"no namespace", serverJSON("plain", "1"), "namespace/name"},
		{"two slashes", serverJSON("a/b/c", "1"), "namespace/name"},
		{"space in name", serverJSON("a.b/c d", "1"), "namespace/name"},
		{"name too long", serverJSON("a/"+strings.Repeat("x", 199), "1"), "namespace/name"},
		{"missing version", `{"name":"a.b/c","description":"d"}`, `missing "version"`},
		{"version latest is reserved", serverJSON("a.b/c", "latest"), `"latest" is reserved`},
		{"version too long", serverJSON("a.b/c", strings.Repeat("1", 256)), "longer than 255"},
		{"missing description", `{"name":"a.b/c","version":"1"}`, `missing "description"`},
		{"description too long", `{"name":"a.b/c","version":"1","description":"` + long + `"}`, "description longer than 100"},
		{"title too long", serverJSON("a.b/c", "1", `"title":"`+long+`"`), "title longer than 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewEntry(json.RawMessage(tt.server), nil)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want an error mentioning %q", tt.want)
			case tt.want != "" && (!errors.Is(err, ErrInvalidEntry) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %q: want ErrInvalidEntry mentioning %q", err, tt.want)
			}
		})
	}
}

// TestNewEntryIndex checks the fields indexed from a server and that the
// body is kept as it came (compacted).
func TestNewEntryIndex(t *testing.T) {
	t.Parallel()
	server := `{
	  "name": "io.github.acme/Tool",
	  "title": "Acme TOOL",
	  "description": "Does Things",
	  "version": "1.0.0",
	  "unknownField": {"keep": ["me", 1, null]},
	  "packages": [
	    {"registryType": "npm", "identifier": "a", "transport": {"type": "stdio"}},
	    {"registryType": "oci", "identifier": "b", "transport": {"type": "stdio"}},
	    {"registryType": "npm", "identifier": "c", "transport": {"type": "streamable-http", "url": "http://localhost"}}
	  ],
	  "remotes": [{"type": "sse", "url": "https://x.example"}],
	  "_meta": {
	    "io.modelcontextprotocol.registry/publisher-provided": {
	      "io.github.stacklok": {
	        "b": {"status": "Deprecated", "tags": ["t1", "t2"]},
	        "c": {"tags": ["t2"]}
	      },
	      "com.other": {"anything": true}
	    },
	    "com.vendor/private": {"x": 1}
	  }
	}`
	e, err := NewEntry(json.RawMessage(server), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "io.github.acme/Tool" || e.Version != "1.0.0" || e.Title != "Acme TOOL" || e.Description != "Does Things" {
		t.Errorf("identity = %q %q %q %q", e.Name, e.Version, e.Title, e.Description)
	}
	if !slices.Equal(e.PackageTypes, []string{"npm", "oci"}) {
		t.Errorf("PackageTypes = %v", e.PackageTypes)
	}
	if !slices.Equal(e.Transports, []string{"stdio", "streamable-http", "sse"}) {
		t.Errorf("Transports = %v", e.Transports)
	}
	tags := slices.Clone(e.Tags)
	slices.Sort(tags)
	if !slices.Equal(tags, []string{"t1", "t2"}) {
		t.Errorf("Tags = %v", e.Tags)
	}
	if e.toolHiveStatus != "Deprecated" {
		t.Errorf("ToolHive status = %q", e.toolHiveStatus)
	}
	if string(e.Server) != string(compactJSON(t, []byte(server))) {
		t.Errorf("server body changed: %s", e.Server)
	}
	for _, tt := range []struct {
		needle string
		want   bool
	}{{"acme/tool", true}, {"acme tool", true}, {"does things", true}, {"io.github", true}, {"1.0.0", false}, {"npm", false}} {
		if got := e.MatchesSearch(tt.needle); got != tt.want {
			t.Errorf("MatchesSearch(%q) = %v, want %v", tt.needle, got, tt.want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    model.Status
		wantErr bool
	}{
		{"", model.StatusActive, false},
		{"active", model.StatusActive, false},
		{"Active", model.StatusActive, false},
		{" DEPRECATED ", model.StatusDeprecated, false},
		{"Deleted", model.StatusDeleted, false},
		{"archived", "", true},
	}
	for _, tt := range tests {
		got, err := ParseStatus(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseStatus(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// TestFinalizeDerivesStatusAndTimes: status from ToolHive's extension,
// publication time from the file's own timestamp.
func TestFinalizeDerivesStatusAndTimes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file       []string
		deprecated []string
	}{
		{[]string{"toolhive", "registry.json"}, []string{"io.github.stacklok/genai-toolbox"}},
		{[]string{"toolhive", "toolhive-registry.json"}, []string{"io.github.stacklok/genai-toolbox"}},
		{[]string{"toolhive", "upstream-registry.json"}, []string{"io.github.stacklok/genai-toolbox"}},
		{[]string{"catalog", "toolhive.json"}, []string{"io.github.stacklok/mcp-server-box", "io.github.stacklok/mcp-server-neon"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.file, "/"), func(t *testing.T) {
			t.Parallel()
			doc := parseTestdata(t, tt.file...)
			if doc.LastUpdated.IsZero() {
				t.Fatal("file has no last_updated")
			}
			Finalize(doc.Entries, doc.LastUpdated)
			var deprecated []string
			for _, e := range doc.Entries {
				switch e.Status {
				case model.StatusDeprecated:
					deprecated = append(deprecated, e.Name)
				case model.StatusActive:
				default:
					t.Errorf("%s: status %q", e.Name, e.Status)
				}
				if !e.PublishedAt.Equal(doc.LastUpdated) || !e.UpdatedAt.Equal(doc.LastUpdated) {
					t.Errorf("%s: times %v / %v, want the file's %v", e.Name, e.PublishedAt, e.UpdatedAt, doc.LastUpdated)
				}
			}
			slices.Sort(deprecated)
			if !slices.Equal(deprecated, tt.deprecated) {
				t.Errorf("deprecated = %v, want %v", deprecated, tt.deprecated)
			}
		})
	}
}

// TestFinalizeUndated: without a date in the data an entry is dated
// UndatedTime, never by a clock; a document date given afterwards (a git
// commit time, a Last-Modified) applies only when the data has none; and
// finalizing again changes nothing (a mirror re-installs kept entries).
func TestFinalizeUndated(t *testing.T) {
	t.Parallel()
	commit := mustTime(t, "2026-03-04T05:06:07Z")
	tests := []struct {
		name  string
		file  []string
		given time.Time // passed to DateIfUndated
		want  func(doc *Document) time.Time
	}{
		{"no date", []string{"catalog", "official-seed.json"}, time.Time{}, func(*Document) time.Time { return UndatedTime }},
		{"document date given", []string{"catalog", "official-seed.json"}, commit, func(*Document) time.Time { return commit }},
		{"own date wins", []string{"catalog", "toolhive.json"}, commit, func(d *Document) time.Time { return d.LastUpdated }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := parseTestdata(t, tt.file...)
			own := doc.LastUpdated
			doc.DateIfUndated(tt.given)
			if !own.IsZero() && !doc.LastUpdated.Equal(own) {
				t.Fatalf("DateIfUndated replaced the file's own date %v by %v", own, doc.LastUpdated)
			}
			want := tt.want(doc)
			Finalize(doc.Entries, doc.LastUpdated)
			Finalize(doc.Entries, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)) // again: no change
			for _, e := range doc.Entries {
				if !e.HasOfficialMeta() && (!e.PublishedAt.Equal(want) || !e.UpdatedAt.Equal(want) || e.PublishedAt.Location() != time.UTC) {
					t.Fatalf("%s %s: published %v updated %v, want %v UTC", e.Name, e.Version, e.PublishedAt, e.UpdatedAt, want)
				}
			}
		})
	}
}

// TestFinalizeKeepsOfficialBlock: data with its own block keeps status and
// times; only a missing publishedAt is derived (never served as year 1).
func TestFinalizeKeepsOfficialBlock(t *testing.T) {
	t.Parallel()
	meta := func(official string) json.RawMessage {
		return json.RawMessage(`{"` + OfficialMetaKey + `":` + official + `}`)
	}
	server := json.RawMessage(serverJSON("a.b/c", "1.0.0", `"_meta":{"`+PublisherMetaKey+`":{"`+ToolHiveNamespace+`":{"img":{"status":"Active"}}}}`))
	kept, err := NewEntry(server, meta(`{"status":"deleted","publishedAt":"2024-05-05T05:05:05Z","isLatest":true}`))
	if err != nil {
		t.Fatal(err)
	}
	partial, err := NewEntry(server, meta(`{"status":"deprecated"}`))
	if err != nil {
		t.Fatal(err)
	}
	lastUpdated := mustTime(t, "2025-06-01T00:00:00Z")
	Finalize([]*Entry{kept, partial}, lastUpdated)
	if kept.Status != model.StatusDeleted || !kept.PublishedAt.Equal(mustTime(t, "2024-05-05T05:05:05Z")) || !kept.UpdatedAt.IsZero() {
		t.Errorf("official block overridden: %q %v %v", kept.Status, kept.PublishedAt, kept.UpdatedAt)
	}
	if partial.Status != model.StatusDeprecated || !partial.PublishedAt.Equal(lastUpdated) {
		t.Errorf("partial block: status %q published %v, want deprecated, %v", partial.Status, partial.PublishedAt, lastUpdated)
	}
}

// TestFinalizeUnknownToolHiveStatus: ToolHive statuses with no official
// meaning are served as active, not rejected.
func TestFinalizeUnknownToolHiveStatus(t *testing.T) {
	t.Parallel()
	doc, err := Parse([]byte(`{"servers":{"x":{"description":"d","image":"i:1","status":"Experimental"},"y":{"description":"d","image":"j:1","status":"deprecated"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	Finalize(doc.Entries, time.Time{})
	got := map[string]model.Status{}
	for _, e := range doc.Entries {
		got[e.Name] = e.Status
	}
	if got["io.github.stacklok/x"] != model.StatusActive || got["io.github.stacklok/y"] != model.StatusDeprecated {
		t.Errorf("statuses = %v", got)
	}
}
