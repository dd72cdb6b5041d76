package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestGenerateRejectsWhatIsNotAServerObject(t *testing.T) {
	t.Parallel()
	big := `{"name":"x","description":"` + strings.Repeat("a", maxServerBytes) + `"}`
	for _, tc := range []struct {
		name, in string
		tooBig   bool
	}{
		{"empty", "", false},
		{"null", "null", false},
		{"array", "[]", false},
		{"string", `"server"`, false},
		{"truncated", `{"name":"x"`, false},
		{"too large", big, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clients, err := Generate("io.example/demo", json.RawMessage(tc.in))
			if err == nil || clients != nil {
				t.Fatalf("Generate(%.20q) = %v, %v; want an error", tc.in, clients, err)
			}
			if errors.Is(err, ErrTooLarge) != tc.tooBig {
				t.Fatalf("errors.Is(%v, ErrTooLarge) = %v", err, !tc.tooBig)
			}
		})
	}
}

func TestServersWithNothingToRun(t *testing.T) {
	t.Parallel()
	runCases(t, []installCase{
		{name: "no packages or remotes", server: json.RawMessage(`{"name":"io.example/demo","websiteUrl":"https://example.com"}`),
			notes: []string{"lists no packages or remotes"}},
		{name: "packages is not a list", server: json.RawMessage(`{"name":"io.example/demo","packages":{"registryType":"npm"},"remotes":"x"}`),
			notes: []string{`"packages" field is not a list`, `"remotes" field is not a list`}},
		{name: "null lists", server: json.RawMessage(`{"name":"io.example/demo","packages":null,"remotes":null}`),
			notes: []string{"lists no packages or remotes"}},
		{name: "remote that is not an object", server: server("", `42`), notes: []string{"Remote 1 has no snippet"}},
	})
}

// TestOptions: each runnable package, then each remote, gets its own
// snippets; the first keeps the plain IDs.
func TestOptions(t *testing.T) {
	t.Parallel()
	s := server(`{"registryType":"npm","identifier":"demo-mcp","version":"1.0.0","transport":{"type":"stdio"}},
		{"registryType":"mcpb","identifier":"https://example.com/demo.mcpb","transport":{"type":"stdio"}},
		{"registryType":"oci","identifier":"ghcr.io/example/demo:1.0.0","transport":{"type":"stdio"}}`,
		`{"type":"streamable-http","url":"https://mcp.example.com/mcp"}`)
	clients, err := Generate("io.example/demo", s)
	if err != nil {
		t.Fatal(err)
	}
	checkClients(t, clients)
	want := map[string][]string{
		ClientVSCode:     {"vscode-json", "vscode-cli", "vscode-json-2", "vscode-cli-2", "vscode-json-3", "vscode-cli-3"},
		ClientClaudeCode: {"claude-code-cli", "claude-code-cli-2", "claude-code-cli-3"},
		ClientCursor:     {"cursor-json", "cursor-json-2", "cursor-json-3"},
		ClientToolHive:   {"toolhive-cli"},
	}
	for _, c := range clients {
		var ids []string
		for _, s := range c.Snippets {
			ids = append(ids, s.ID)
		}
		if !reflect.DeepEqual(ids, want[c.ID]) {
			t.Errorf("%s snippets %q, want %q", c.ID, ids, want[c.ID])
		}
	}
	for id, label := range map[string]string{
		"claude-code-cli":   "(npm demo-mcp@1.0.0)",
		"claude-code-cli-2": "(Docker image ghcr.io/example/demo:1.0.0)",
		"claude-code-cli-3": "(Remote https://mcp.example.com/mcp)",
	} {
		if s, _ := find(clients, id); !strings.HasSuffix(s.Title, label) {
			t.Errorf("%s title %q does not name %s", id, s.Title, label)
		}
	}
	if s, _ := find(clients, "claude-code-cli-3"); !strings.Contains(s.Text, "--transport http") {
		t.Errorf("third option is not the remote: %s", s.Text)
	}
	if !strings.Contains(strings.Join(client(clients, ClientVSCode).Notes, "\n"), "mcpb package https://example.com/demo.mcpb has no snippet") {
		t.Errorf("no note for the bundle: %q", client(clients, ClientVSCode).Notes)
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	var pkgs, args []string
	for i := 0; i < 40; i++ {
		pkgs = append(pkgs, fmt.Sprintf(`{"registryType":"npm","identifier":"demo-%d","version":"1.0.0","transport":{"type":"stdio"}}`, i))
	}
	for i := 0; i <= maxArgs; i++ {
		args = append(args, `{"type":"positional","value":"a"}`)
	}
	many := server(strings.Join(pkgs, ","), "")
	clients, err := Generate("io.example/demo", many)
	if err != nil {
		t.Fatal(err)
	}
	checkClients(t, clients)
	if n := len(client(clients, ClientClaudeCode).Snippets); n != maxOptions {
		t.Errorf("%d claude snippets, want %d", n, maxOptions)
	}
	notes := strings.Join(client(clients, ClientClaudeCode).Notes, "\n")
	for _, want := range []string{"Only the first 8 ways", "24 more packages were not considered"} {
		if !strings.Contains(notes, want) {
			t.Errorf("no note %q in\n%s", want, notes)
		}
	}
	runCases(t, []installCase{{
		name:   "too many arguments",
		server: server(`{"registryType":"npm","identifier":"demo","version":"1.0.0","transport":{"type":"stdio"},"packageArguments":[`+strings.Join(args, ",")+`]}`, ""),
		notes:  []string{"too many arguments"},
	}})
}

func TestToolHive(t *testing.T) {
	t.Parallel()
	oci := `{"registryType":"oci","identifier":"ghcr.io/example/demo:1","transport":{"type":"stdio"}}`
	for _, tc := range []struct {
		name       string
		server     json.RawMessage
		serverName string
		want       []string // argv, nil for no snippet
		note       string
	}{
		{"one image", server(oci, ""), "io.example/demo", []string{"thv", "run", "io.example/demo"}, "thv config set-registry"},
		{"two images", server(oci+","+oci, ""), "io.example/demo", nil, "this one has 2"},
		{"image beats remote", server(oci, `{"type":"streamable-http","url":"https://x.example.com"}`), "io.example/demo", []string{"thv", "run", "io.example/demo"}, ""},
		{"npm only", server(`{"registryType":"npm","identifier":"d","version":"1.0.0","transport":{"type":"stdio"}}`, ""), "io.example/demo", nil, "has neither"},
		{"quote in the name", server(oci, ""), `io.example/it's $(x)`, []string{"thv", "run", `io.example/it's $(x)`}, ""},
		{"name from the server.json", server(oci, ""), "", []string{"thv", "run", "io.example/demo"}, ""},
		{"name with a newline", server(oci, ""), "io.example/a\nb", nil, "cannot be used on a command line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clients, err := Generate(tc.serverName, tc.server)
			if err != nil {
				t.Fatal(err)
			}
			checkClients(t, clients)
			thv := client(clients, ClientToolHive)
			if tc.want == nil {
				if len(thv.Snippets) != 0 {
					t.Fatalf("unexpected snippet %q", thv.Snippets[0].Text)
				}
			} else if got := argvOf(t, thv.Snippets[0].Text); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("argv %q, want %q", got, tc.want)
			}
			if !strings.Contains(strings.Join(thv.Notes, "\n"), tc.note) {
				t.Fatalf("notes %q lack %q", thv.Notes, tc.note)
			}
		})
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"io.github.domdomegg/airtable-mcp-server": "airtable-mcp-server",
		"io.github.x/Airtable MCP Server":         "airtable-mcp-server",
		"io.github.x/time_mcp.v2":                 "time_mcp-v2",
		"a/b/c.d":                                 "c-d",
		"no-slash":                                "no-slash",
		"":                                        "mcp-server",
		"io.x/__--":                               "mcp-server",
		"io.x/<b>alert(1);'</b>\"x":               "b-x",
		"io.x/it's <alert(1)>":                    "it-s-alert-1",
		"io.x/" + strings.Repeat("ab", 40):        strings.Repeat("ab", 24),
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOCIReference(t *testing.T) {
	t.Parallel()
	for ref, tagged := range map[string]bool{
		"ghcr.io/a/b:1.0":            true,
		"ghcr.io/a/b":                false,
		"localhost:5000/a/b":         false,
		"localhost:5000/a/b:2":       true,
		"b@sha256:" + sha:            true,
		"docker.io/library/postgres": false,
	} {
		if got := ociHasTagOrDigest(ref); got != tagged {
			t.Errorf("ociHasTagOrDigest(%q) = %v", ref, got)
		}
		if !ociIdent.MatchString(ref) {
			t.Errorf("ociIdent rejects %q", ref)
		}
	}
	for _, bad := range []string{"-rm", "a b", "a/../b c", "ghcr.io/a:b:c", "a;b", "$(x)"} {
		if ociIdent.MatchString(bad) {
			t.Errorf("ociIdent accepts %q", bad)
		}
	}
}
