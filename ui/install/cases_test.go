package install

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// installCase is one table row: a server.json and what each client must
// get. A nil want means the snippet must be absent.
type installCase struct {
	name   string
	server json.RawMessage
	vscode *vsServer     // servers["demo"] of vscode-json (and of vscode-cli)
	inputs []vsInput     // inputs of vscode-json
	claude []string      // argv of claude-code-cli
	cursor *cursorServer // mcpServers["demo"] of cursor-json
	start  []string      // argv of the start snippet, assignments first
	thv    string        // text of toolhive-cli
	notes  []string      // each is a substring of some client's note
	absent []string      // never in any snippet text
}

// server builds a server.json named io.example/demo (client key "demo").
func server(packages, remotes string) json.RawMessage {
	s := `{"$schema":"https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json","name":"io.example/demo","version":"1.0.0"`
	if packages != "" {
		s += `,"packages":[` + packages + `]`
	}
	if remotes != "" {
		s += `,"remotes":[` + remotes + `]`
	}
	return json.RawMessage(s + "}")
}

func runCases(t *testing.T, cases []installCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t)
		})
	}
}

func (tc installCase) check(t *testing.T) {
	t.Helper()
	if !json.Valid(tc.server) {
		t.Fatalf("test server.json is not JSON: %s", tc.server)
	}
	clients, err := Generate("io.example/demo", tc.server)
	if err != nil {
		t.Fatal(err)
	}
	checkClients(t, clients)

	vs, ok := find(clients, "vscode-json")
	if (tc.vscode != nil) != ok {
		t.Fatalf("vscode-json present=%v, want %v\n%s", ok, tc.vscode != nil, dump(clients))
	}
	if tc.vscode != nil {
		var f vsFile
		decodeStrict(t, vs.Text, &f)
		if len(f.Servers) != 1 || !reflect.DeepEqual(f.Servers["demo"], *tc.vscode) {
			t.Errorf("vscode server\n got %+v\nwant %+v", f.Servers, *tc.vscode)
		}
		if !sameInputs(f.Inputs, tc.inputs) {
			t.Errorf("vscode inputs\n got %+v\nwant %+v", f.Inputs, tc.inputs)
		}
		cli, _ := find(clients, "vscode-cli")
		words := argvOf(t, cli.Text)
		if len(words) != 3 || words[0] != "code" || words[1] != "--add-mcp" {
			t.Fatalf("vscode-cli argv %q", words)
		}
		var add vsAdd
		decodeStrict(t, words[2], &add)
		if add.Name != "demo" || !reflect.DeepEqual(add.vsServer, *tc.vscode) || !sameInputs(add.Inputs, tc.inputs) {
			t.Errorf("code --add-mcp argument %+v does not match the mcp.json server", add)
		}
	}

	cc, ok := find(clients, "claude-code-cli")
	if (tc.claude != nil) != ok {
		t.Fatalf("claude-code-cli present=%v, want %v\n%s", ok, tc.claude != nil, dump(clients))
	}
	if tc.claude != nil {
		if got := argvOf(t, cc.Text); !reflect.DeepEqual(got, tc.claude) {
			t.Errorf("claude argv\n got %q\nwant %q", got, tc.claude)
		}
	}

	cu, ok := find(clients, "cursor-json")
	if (tc.cursor != nil) != ok {
		t.Fatalf("cursor-json present=%v, want %v", ok, tc.cursor != nil)
	}
	if tc.cursor != nil {
		var f cursorFile
		decodeStrict(t, cu.Text, &f)
		if len(f.MCPServers) != 1 || !reflect.DeepEqual(f.MCPServers["demo"], *tc.cursor) {
			t.Errorf("cursor server\n got %+v\nwant %+v", f.MCPServers, *tc.cursor)
		}
	}

	for _, id := range []string{"vscode-start", "claude-code-start", "cursor-start"} {
		st, ok := find(clients, id)
		if (tc.start != nil) != ok {
			t.Fatalf("%s present=%v, want %v", id, ok, tc.start != nil)
		}
		if ok {
			if got := argvOf(t, st.Text); !reflect.DeepEqual(got, tc.start) {
				t.Errorf("%s argv\n got %q\nwant %q", id, got, tc.start)
			}
		}
	}

	th, ok := find(clients, "toolhive-cli")
	if (tc.thv != "") != ok || (ok && th.Text != tc.thv) {
		t.Errorf("toolhive-cli = %q (present %v), want %q", th.Text, ok, tc.thv)
	}

	var notes []string
	for _, c := range clients {
		notes = append(notes, c.Notes...)
	}
	all := strings.Join(notes, "\n")
	for _, n := range tc.notes {
		if !strings.Contains(all, n) {
			t.Errorf("no note contains %q; notes:\n%s", n, all)
		}
	}
	for _, c := range clients {
		for _, s := range c.Snippets {
			for _, a := range tc.absent {
				if strings.Contains(s.Text, a) {
					t.Errorf("snippet %s contains %q:\n%s", s.ID, a, s.Text)
				}
			}
		}
	}
}

func sameInputs(a, b []vsInput) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func dump(clients []Client) string {
	var b strings.Builder
	for _, c := range clients {
		b.WriteString("== " + c.ID + "\n")
		for _, s := range c.Snippets {
			b.WriteString("-- " + s.ID + "\n" + s.Text + "\n")
		}
		for _, n := range c.Notes {
			b.WriteString("note: " + n + "\n")
		}
	}
	return b.String()
}

func secretInput(id, desc string) vsInput {
	return vsInput{Type: "promptString", ID: id, Description: desc, Password: true}
}

func promptInput(id, desc string) vsInput {
	return vsInput{Type: "promptString", ID: id, Description: desc}
}

func pickInput(id, desc string, options ...string) vsInput {
	return vsInput{Type: "pickString", ID: id, Description: desc, Options: options}
}

func stdio(command string, args ...string) *vsServer {
	return &vsServer{Type: "stdio", Command: command, Args: args}
}

func withEnv(s *vsServer, kv ...string) *vsServer {
	s.Env = pairsMap(kv)
	return s
}

func pairsMap(kv []string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// claudeStdio is the argv `claude mcp add demo [-e …] -- command args…`.
func claudeStdio(env []string, command string, args ...string) []string {
	argv := []string{"claude", "mcp", "add", "demo"}
	for _, e := range env {
		argv = append(argv, "-e", e)
	}
	return append(append(argv, "--", command), args...)
}

// placeholders turns VS Code's ${input:x} into <x>, which is what the
// other clients get for the same server.
func placeholders(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		for {
			j := strings.Index(s, "${input:")
			if j < 0 {
				break
			}
			k := strings.IndexByte(s[j:], '}')
			s = s[:j] + "<" + s[j+len("${input:"):j+k] + ">" + s[j+k+1:]
		}
		out[i] = s
	}
	return out
}

// cursorOf derives the Cursor entry from the VS Code one.
func cursorOf(s *vsServer) *cursorServer {
	c := &cursorServer{Command: s.Command, Args: placeholders(s.Args), URL: placeholders([]string{s.URL})[0]}
	if len(s.Args) == 0 {
		c.Args = nil
	}
	for _, m := range []struct {
		from map[string]string
		to   *map[string]string
	}{{s.Env, &c.Env}, {s.Headers, &c.Headers}} {
		if m.from == nil {
			continue
		}
		*m.to = map[string]string{}
		for k, v := range m.from {
			(*m.to)[k] = placeholders([]string{v})[0]
		}
	}
	return c
}
