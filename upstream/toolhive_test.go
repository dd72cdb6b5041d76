package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestConvertToolHiveGoldenPairs runs ToolHive's own converter fixtures
// (toolhive-core registry/converters/testdata) through mcpfed's conversion.
func TestConvertToolHiveGoldenPairs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dir, input, expected, key string
		remote                    bool
	}{
		{"image_to_server", "input_github.json", "expected_github.json", "github", false},
		{"remote_to_server", "input_example.json", "expected_example.json", "example-remote", true},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			got, err := ConvertToolHive(tt.key, readTestdata(t, "toolhive", "converters", tt.dir, tt.input), tt.remote)
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, got, readTestdata(t, "toolhive", "converters", tt.dir, tt.expected))
			if _, err := NewEntry(got, nil); err != nil {
				t.Errorf("converted server is not servable: %v", err)
			}
		})
	}
}

// TestConvertToolHiveRoundTrip uses the reverse-direction fixtures
// (server.json → ToolHive), which mcpfed does not implement, as a round
// trip: converting their expected legacy entry must give back their input
// server.json. Two differences are ToolHive's own, not mcpfed's: the
// reverse input carries a "transport" key in the extension that ToolHive's
// forward converter never writes (it lives in the package/remote), and the
// forward converter adds an empty "annotations" object to each tool
// definition (see image_to_server/expected_github.json). Both are
// normalised, and checked to be exactly that.
func TestConvertToolHiveRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dir, legacy, server, key string
		remote                   bool
	}{
		{"server_to_image", "expected_github.json", "input_github.json", "github", false},
		{"server_to_remote", "expected_example.json", "input_example.json", "example-remote", true},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			t.Parallel()
			legacy := readTestdata(t, "toolhive", "converters", tt.dir, tt.legacy)
			got, err := ConvertToolHive(tt.key, legacy, tt.remote)
			if err != nil {
				t.Fatal(err)
			}
			gotV := unmarshalAny(t, got).(map[string]any)
			wantV := unmarshalAny(t, readTestdata(t, "toolhive", "converters", tt.dir, tt.server)).(map[string]any)

			// The extension's transport must agree with the server's own
			// transport before it is dropped.
			wantExt := toolHiveExt(t, wantV)
			transportType := ""
			if tt.remote {
				transportType = wantV["remotes"].([]any)[0].(map[string]any)["type"].(string)
			} else {
				transportType = wantV["packages"].([]any)[0].(map[string]any)["transport"].(map[string]any)["type"].(string)
			}
			if wantExt["transport"] != transportType {
				t.Errorf("fixture extension transport %v, server transport %q", wantExt["transport"], transportType)
			}
			delete(wantExt, "transport")
			for _, td := range toolHiveExt(t, gotV)["tool_definitions"].([]any) {
				tool := td.(map[string]any)
				if a, ok := tool["annotations"].(map[string]any); !ok || len(a) != 0 {
					t.Errorf("tool %v: annotations %v, want {}", tool["name"], tool["annotations"])
				}
				delete(tool, "annotations")
			}
			if d := jsonDiff("$", gotV, wantV); len(d) > 0 {
				t.Errorf("round trip differs at %d place(s):\n  %s", len(d), joinLines(d))
			}
		})
	}
}

// toolHiveExt returns the one ToolHive extension object of a decoded server.
func toolHiveExt(t testing.TB, server map[string]any) map[string]any {
	t.Helper()
	meta, _ := server["_meta"].(map[string]any)
	pp, _ := meta[PublisherMetaKey].(map[string]any)
	ns, _ := pp[ToolHiveNamespace].(map[string]any)
	if len(ns) != 1 {
		t.Fatalf("want one ToolHive extension, got %v", ns)
	}
	for _, v := range ns {
		return v.(map[string]any)
	}
	return nil
}

// TestToolHivePairLegacyVsUpstream compares the same 12 servers in ToolHive's
// legacy file, converted by mcpfed, with the upstream-format file
// ToolHive's registry server ships. Everything is equal except the title:
// the legacy entries have none, and the older converter that wrote the
// upstream file used the legacy key as the title (current toolhive-core
// takes the legacy "title" field, as mcpfed does).
func TestToolHivePairLegacyVsUpstream(t *testing.T) {
	t.Parallel()
	legacyDoc := parseTestdata(t, "toolhive", "toolhive-registry.json")
	upstreamDoc := parseTestdata(t, "toolhive", "upstream-registry.json")
	upstreamByName := map[string]*Entry{}
	for _, e := range upstreamDoc.Entries {
		upstreamByName[e.Name] = e
	}
	if got, want := distinctNames(legacyDoc.Entries), distinctNames(upstreamDoc.Entries); !slices.Equal(got, want) {
		t.Fatalf("names differ:\n legacy   %v\n upstream %v", got, want)
	}
	if !legacyDoc.LastUpdated.Equal(upstreamDoc.LastUpdated) {
		t.Errorf("last_updated %v vs %v", legacyDoc.LastUpdated, upstreamDoc.LastUpdated)
	}
	for _, conv := range legacyDoc.Entries {
		up := upstreamByName[conv.Name]
		key := strings.TrimPrefix(conv.Name, ToolHiveNamespace+"/")
		t.Run(key, func(t *testing.T) {
			// The indexed fields mcpfed filters and searches on.
			if conv.Description != up.Description || conv.Version != up.Version {
				t.Errorf("description/version: %q %q vs %q %q", conv.Description, conv.Version, up.Description, up.Version)
			}
			if !slices.Equal(conv.Transports, up.Transports) || !slices.Equal(conv.PackageTypes, up.PackageTypes) {
				t.Errorf("transports %v %v vs %v %v", conv.Transports, conv.PackageTypes, up.Transports, up.PackageTypes)
			}
			if !sameSet(conv.Tags, up.Tags) || conv.toolHiveStatus != up.toolHiveStatus {
				t.Errorf("tags/status %v %q vs %v %q", conv.Tags, conv.toolHiveStatus, up.Tags, up.toolHiveStatus)
			}
			if conv.Title != "" || up.Title != key {
				t.Errorf("title %q vs %q: want none vs the legacy key", conv.Title, up.Title)
			}
			// The whole server, title aside: packages (identifier, transport,
			// env vars), remotes, repository and the ToolHive extension.
			convV := unmarshalAny(t, conv.Server).(map[string]any)
			convV["title"] = key
			if d := jsonDiff("$", convV, unmarshalAny(t, up.Server)); len(d) > 0 {
				t.Errorf("converted differs from upstream at %d place(s):\n  %s", len(d), joinLines(d))
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestToolHiveLegacyGolden converts the whole legacy registry and compares
// with the reviewed output byte for byte, so any change in the conversion
// shows up as a diff. Run `go test ./upstream -run Golden -update` to
// rewrite it after an intended change.
func TestToolHiveLegacyGolden(t *testing.T) {
	t.Parallel()
	doc := parseTestdata(t, "toolhive", "registry.json")
	entries := slices.Clone(doc.Entries)
	slices.SortFunc(entries, func(a, b *Entry) int { return a.Key().Compare(b.Key()) })
	servers := make([]json.RawMessage, len(entries))
	for i, e := range entries {
		servers[i] = e.Server
	}
	got, err := json.MarshalIndent(servers, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := testdataPath("golden", "toolhive-legacy-converted.json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w []byte
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if !bytes.Equal(g, w) {
				t.Fatalf("%s differs from the conversion at line %d:\n got  %s\n want %s\n(run with -update if the change is intended)", golden, i+1, g, w)
			}
		}
	}
	if len(servers) != 102 {
		t.Errorf("%d servers converted, want 102", len(servers))
	}
}

// TestConvertToolHiveMapping covers the mapping rules one at a time.
func TestConvertToolHiveMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		key    string
		input  string
		remote bool
		want   string // expected server.json, compared semantically
	}{
		{
			name:  "minimal container: stdio, 1.0.0, status active, namespaced key",
			key:   "mini",
			input: `{"description":"d","image":"ghcr.io/x/mini:1"}`,
			want: `{"$schema":"https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
				"name":"io.github.stacklok/mini","description":"d","version":"1.0.0",
				"packages":[{"registryType":"oci","identifier":"ghcr.io/x/mini:1","transport":{"type":"stdio"}}],
				"_meta":{"io.modelcontextprotocol.registry/publisher-provided":{"io.github.stacklok":{"ghcr.io/x/mini:1":{"status":"active"}}}}}`,
		},
		{
			name:  "own name with a slash is kept; HTTP transport gets the target port; empty values dropped",
			key:   "ignored",
			input: `{"name":"com.acme/web","description":"d","image":"i:2","transport":"streamable-http","target_port":9090,"tools":[],"tags":null,"tier":"","args":["--x"],"unknown_legacy_field":1}`,
			want: `{"$schema":"https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
				"name":"com.acme/web","description":"d","version":"1.0.0",
				"packages":[{"registryType":"oci","identifier":"i:2","transport":{"type":"streamable-http","url":"http://localhost:9090"}}],
				"_meta":{"io.modelcontextprotocol.registry/publisher-provided":{"io.github.stacklok":{"i:2":{"status":"active","args":["--x"]}}}}}`,
		},
		{
			name:  "own name without a slash is namespaced; sse without a port",
			key:   "k",
			input: `{"name":"named","description":"d","image":"i:3","transport":"sse","status":"Deprecated","tool_definitions":[{"name":"t","annotations":{"readOnlyHint":true}}]}`,
			want: `{"$schema":"https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
				"name":"io.github.stacklok/named","description":"d","version":"1.0.0",
				"packages":[{"registryType":"oci","identifier":"i:3","transport":{"type":"sse","url":"http://localhost"}}],
				"_meta":{"io.modelcontextprotocol.registry/publisher-provided":{"io.github.stacklok":{"i:3":{"status":"Deprecated",
					"tool_definitions":[{"name":"t","annotations":{"readOnlyHint":true}}]}}}}}`,
		},
		{
			name:   "remote: image-only fields are not carried, env_vars are",
			key:    "rem",
			remote: true,
			input:  `{"description":"d","transport":"streamable-http","url":"https://r.example/mcp","repository_url":"https://github.com/r/r","permissions":{"x":1},"env_vars":[{"name":"E"}],"headers":[{"name":"H","required":true,"choices":["a","b"]}]}`,
			want: `{"$schema":"https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
				"name":"io.github.stacklok/rem","description":"d","version":"1.0.0",
				"repository":{"url":"https://github.com/r/r","source":"github"},
				"remotes":[{"type":"streamable-http","url":"https://r.example/mcp","headers":[{"name":"H","isRequired":true,"choices":["a","b"]}]}],
				"_meta":{"io.modelcontextprotocol.registry/publisher-provided":{"io.github.stacklok":{"https://r.example/mcp":{"status":"active","env_vars":[{"name":"E"}]}}}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ConvertToolHive(tt.key, json.RawMessage(tt.input), tt.remote)
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, got, []byte(tt.want))
		})
	}
}

func TestConvertToolHiveErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		input  string
		remote bool
		is     error
		want   string
	}{
		{"container without image", `{"description":"d"}`, false, ErrInvalidEntry, `no "image"`},
		{"remote without url", `{"description":"d","image":"i"}`, true, ErrInvalidEntry, `no "url"`},
		{"not an object", `[]`, false, nil, "cannot unmarshal"},
		{"invalid JSON", `{`, false, nil, "unexpected end"},
		{"target_port not a number", `{"image":"i","target_port":"80"}`, false, nil, "target_port"},
		{"tool_definitions not a list of objects", `{"image":"i","tool_definitions":[1]}`, false, nil, "tool_definitions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ConvertToolHive("k", json.RawMessage(tt.input), tt.remote)
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}
