package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParse: no input makes Parse panic, and whatever it accepts is served
// as valid JSON with the server body unchanged. The seeds are one file of
// each format from testdata (small ones, so mutation stays fast), inline
// samples of the shapes testdata lacks, and broken inputs.
func FuzzParse(f *testing.F) {
	for _, file := range [][]string{
		{"toolhive", "upstream-registry.json"},
		{"toolhive", "toolhive-registry.json"},
		{"toolhive", "examples", "registry-with-remote-servers.json"},
		{"toolhive", "registry-sample.json"},
		{"toolhive", "examples", "registry-high.json"},
		{"catalog", "official-seed.json"},
		{"toolhive", "converters", "image_to_server", "expected_github.json"},
	} {
		f.Add(readTestdata(f, file...))
	}
	for _, s := range []string{
		officialListDump,
		serverJSON("a.b/c", "1.0.0"),
		`[` + serverJSON("a.b/c", "1.0.0") + `,{"server":` + serverJSON("a.b/c", "2.0.0") + `,"_meta":{"x/y":[1],"` + OfficialMetaKey + `":{"status":"Deleted","isLatest":true}}}]`,
		`{"servers":{"k":{"description":"d","image":"i:1","status":"Deprecated","tool_definitions":[{"name":"t"}]}},"remote_servers":{"r":{"description":"d","url":"https://r","headers":[{"name":"H"}]}},"last_updated":"2025-01-01T00:00:00Z"}`,
		`{"data":{"servers":[]},"meta":{"last_updated":"2025-01-01T00:00:00+01:00"}}`,
		`[` + serverJSON("a.b/c", "1.0.0") + `,` + serverJSON("a.b/c", "1.0.0") + `]`, // duplicate
		"\ufeff\n " + serverJSON("a.b/c", "v1.2.3+meta"),
		`{"servers":[{"server":{"name":"a.b/c"},"_meta":"x"}]}`,
		`{"servers":[{"server":{"name":"a.b/c","version":"1","description":"d"},"_meta":{"` + OfficialMetaKey + `":{"publishedAt":"9999-12-31T23:59:59-23:59"}}}]}`,
		`{"meta":{"last_updated":"0000-01-01T00:00:00+00:30"},"data":{"servers":[{"name":"a.b/c","version":"1","description":"d"}]}}`,
		`{"servers":[,]}`,
		`{"a":1,"b":2}`,
		`"x"`,
		"",
		"[1,",
		"{\n  \"name\": \"a.b/c\",\n  \"version\": \"1\"\n",
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		Finalize(doc.Entries, doc.LastUpdated)
		snap, err := NewSnapshot("fuzz", doc.Entries, now)
		if err != nil {
			if !errors.Is(err, ErrInvalidEntry) || !strings.Contains(err.Error(), "more than once") {
				t.Fatalf("NewSnapshot: %v", err)
			}
			return
		}
		for _, e := range snap.Entries() {
			if !json.Valid(e.Encoded) {
				t.Fatalf("%s %s: Encoded is not valid JSON: %s", e.Name, e.Version, e.Encoded)
			}
			var wire struct {
				Server json.RawMessage            `json:"server"`
				Meta   map[string]json.RawMessage `json:"_meta"`
			}
			if err := json.Unmarshal(e.Encoded, &wire); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(wire.Server, e.Server) {
				t.Fatalf("server bytes changed: %s vs %s", wire.Server, e.Server)
			}
			if wire.Meta[OfficialMetaKey] == nil || wire.Meta[ProvenanceMetaKey] == nil {
				t.Fatalf("official or provenance block missing: %s", e.Encoded)
			}
			if e.PublishedAt.IsZero() {
				t.Fatalf("%s %s: no publication time", e.Name, e.Version)
			}
		}
		if snap.Len() > 0 && snap.LatestCount() != snap.NameCount() {
			t.Fatalf("%d latest for %d names", snap.LatestCount(), snap.NameCount())
		}
	})
}

// FuzzConvertToolHive: the legacy conversion never panics, and what it
// produces is a JSON object named after the key (or the entry's own name).
func FuzzConvertToolHive(f *testing.F) {
	for _, tt := range []struct {
		key    string
		file   []string
		remote bool
	}{
		{"github", []string{"toolhive", "converters", "image_to_server", "input_github.json"}, false},
		{"example-remote", []string{"toolhive", "converters", "remote_to_server", "input_example.json"}, true},
		{"github", []string{"toolhive", "converters", "server_to_image", "expected_github.json"}, false},
		{"example-remote", []string{"toolhive", "converters", "server_to_remote", "expected_example.json"}, true},
	} {
		f.Add(tt.key, readTestdata(f, tt.file...), tt.remote)
	}
	f.Add("k", []byte(`{"image":"i","transport":"sse","target_port":8080,"tools":[]}`), false)
	f.Add("a/b", []byte(`{"url":"u","headers":[{"name":"h","choices":["x"]}],"env_vars":null}`), true)
	f.Add("", []byte(`{"name":"x","image":"i","tool_definitions":[{}]}`), false)
	f.Add("k", []byte(`{"image":`), false)
	f.Fuzz(func(t *testing.T, key string, data []byte, remote bool) {
		if !utf8.ValidString(key) {
			return // keys come from decoded JSON object keys: always UTF-8
		}
		out, err := ConvertToolHive(key, data, remote)
		if err != nil {
			return
		}
		var server struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		}
		if err := json.Unmarshal(out, &server); err != nil {
			t.Fatalf("output is not a JSON object: %v: %s", err, out)
		}
		var in struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(data, &in)
		want := in.Name
		if want == "" {
			want = key
		}
		if !strings.Contains(want, "/") {
			want = ToolHiveNamespace + "/" + want
		}
		if server.Name != want || server.Version != "1.0.0" {
			t.Fatalf("name %q version %q, want %q 1.0.0", server.Name, server.Version, want)
		}
		if e, err := NewEntry(out, nil); err == nil && e.Name != want {
			t.Fatalf("indexed as %q", e.Name)
		}
	})
}
