package install

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// catalogServers reads the real registry data the repository ships:
// ToolHive's catalogue (upstream registry format) and a seed of official
// registry entries (an array of server.json).
func catalogServers(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	add := func(raw json.RawMessage) {
		var s struct{ Name, Version string }
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		out[s.Name+"@"+s.Version] = raw
	}
	b, err := os.ReadFile("../../testdata/catalog/toolhive.json")
	if err != nil {
		t.Fatal(err)
	}
	var thv struct {
		Data struct{ Servers []json.RawMessage }
	}
	if err := json.Unmarshal(b, &thv); err != nil {
		t.Fatal(err)
	}
	for _, s := range thv.Data.Servers {
		add(s)
	}
	if b, err = os.ReadFile("../../testdata/catalog/official-seed.json"); err != nil {
		t.Fatal(err)
	}
	var seed []json.RawMessage
	if err := json.Unmarshal(b, &seed); err != nil {
		t.Fatal(err)
	}
	for _, s := range seed {
		add(s)
	}
	return out
}

// TestGolden pins the whole panel for a few real servers, one per shape:
// npm + oci + mcpb, nuget, pypi, oci stdio with an argument referring to an
// environment variable, oci serving HTTP, oci serving SSE, remote over
// streamable-http, remote over SSE.
func TestGolden(t *testing.T) {
	t.Parallel()
	servers := catalogServers(t)
	for file, key := range map[string]string{
		"airtable-mcp-server": "io.github.domdomegg/airtable-mcp-server@1.7.3",
		"time-mcp-nuget":      "io.github.domdomegg/time-mcp-nuget@1.0.8",
		"time-mcp-pypi":       "io.github.domdomegg/time-mcp-pypi@1.0.6",
		"clarity-mcp-server":  "io.github.stacklok/clarity-mcp-server@1.0.0",
		"dolt":                "io.github.stacklok/dolt@1.0.0",
		"postgres-mcp-pro":    "io.github.stacklok/postgres-mcp-pro@1.0.0",
		"github-remote":       "io.github.stacklok/github-remote@1.0.0",
		"atlassian-remote":    "io.github.stacklok/atlassian-remote@1.0.0",
	} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			raw, ok := servers[key]
			if !ok {
				t.Fatalf("%s is not in testdata/catalog", key)
			}
			name, _, _ := strings.Cut(key, "@")
			clients, err := Generate(name, raw)
			if err != nil {
				t.Fatal(err)
			}
			checkClients(t, clients)
			got := "# " + key + " — go test ./ui/install -run TestGolden -update rewrites this file\n" + goldenText(clients)
			path := filepath.Join("testdata", "golden", file+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the panel generated now (run with -update after checking):\n%s", path, got)
			}
		})
	}
}

// TestEveryCatalogServer runs every real server through Generate: no
// errors, every invariant holds, every server gets a snippet for some
// client, and every entry of ToolHive's catalogue runs with thv.
func TestEveryCatalogServer(t *testing.T) {
	t.Parallel()
	for key, raw := range catalogServers(t) {
		name, _, _ := strings.Cut(key, "@")
		clients, err := Generate(name, raw)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		checkClients(t, clients)
		n := 0
		for _, c := range clients {
			n += len(c.Snippets)
		}
		if n == 0 {
			t.Errorf("%s: no snippet at all:\n%s", key, dump(clients))
		}
		if strings.HasPrefix(key, "io.github.stacklok/") && len(client(clients, ClientToolHive).Snippets) == 0 {
			t.Errorf("%s: no ToolHive snippet: %q", key, client(clients, ClientToolHive).Notes)
		}
	}
}

func goldenText(clients []Client) string {
	var b strings.Builder
	for _, c := range clients {
		b.WriteString("\n== " + c.ID + " (" + c.Label + ")\n")
		for _, s := range c.Snippets {
			b.WriteString("\n-- " + s.ID + " [" + s.Language + "] " + s.Title + "\n" + s.Text + "\n")
		}
		for _, n := range c.Notes {
			b.WriteString("\nnote: " + n + "\n")
		}
	}
	return b.String()
}

// BenchmarkGenerate measures one server page's panel (the airtable entry:
// three packages, one secret).
func BenchmarkGenerate(b *testing.B) {
	raw := catalogServers(b)["io.github.domdomegg/airtable-mcp-server@1.7.3"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate("io.github.domdomegg/airtable-mcp-server", raw); err != nil {
			b.Fatal(err)
		}
	}
}
