package install

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzGenerate: whatever the bytes and name, Generate never panics, and
// when it answers, every JSON snippet parses, every shell snippet is a plain
// command line, and no snippet carries "${" outside a VS Code prompt.
//
//	go test ./ui/install -run '^$' -fuzz FuzzGenerate -fuzztime 60s
func FuzzGenerate(f *testing.F) {
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"packages":[{}]}`,
		string(server(`{"registryType":"npm","identifier":"a","version":"1.0.0","transport":{"type":"stdio"},"packageArguments":[{"type":"positional","valueHint":"x","isRequired":true},{"type":"named","name":"--p=","value":"{v}","variables":{"v":{"isSecret":true}}}],"environmentVariables":[{"name":"K","isRequired":true,"isSecret":true,"choices":["a"]}]}`, "")),
		string(server(`{"registryType":"oci","identifier":"ghcr.io/a/b","version":"1","transport":{"type":"streamable-http","url":"http://localhost:{--port}/mcp","headers":[{"name":"H","value":"{E}"}]},"runtimeArguments":[{"type":"named","name":"-e","value":"A={a}","variables":{"a":{"choices":["x","y"]}}}],"packageArguments":[{"type":"named","name":"--port","default":"8080"}],"environmentVariables":[{"name":"E","default":"e"}]}`, "")),
		string(server(`{"registryType":"pypi","identifier":"p","version":"0.1","transport":{"type":"sse","url":"http://127.0.0.1:9/{x}"}},{"registryType":"nuget","identifier":"N","version":"1","transport":{"type":"stdio"},"packageArguments":[{"type":"positional","value":"'\"$(x)"}]}`,
			`{"type":"streamable-http","url":"{b}/x/{c}","variables":{"b":{"isRequired":true},"c":{"default":"${x}"}},"headers":[{"name":"A","isRequired":true,"value":"Bearer {t}","variables":{"t":{}}}]}`)),
	} {
		f.Add("io.example/demo", []byte(s))
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		clients, err := Generate(name, json.RawMessage(data))
		if err != nil {
			return
		}
		checkClients(t, clients)
		for _, c := range clients {
			for _, s := range c.Snippets {
				rest := strings.ReplaceAll(s.Text, "${input:", "")
				if strings.Contains(rest, "${") {
					t.Fatalf("snippet %s carries ${: %s", s.ID, s.Text)
				}
			}
		}
	})
}

// FuzzGenerateFields puts fuzzed strings into every field of a well-formed
// server.json, which reaches the generator's checks far more often than
// random bytes do.
//
//	go test ./ui/install -run '^$' -fuzz FuzzGenerateFields -fuzztime 60s
func FuzzGenerateFields(f *testing.F) {
	f.Add("npm", "demo", "1.0.0", "stdio", "http://localhost:{--port}/mcp", "--port", "v{a}", "{b}", "A", "x{A}", "https://x.example/{a}", "H", "Bearer {a}", uint16(0))
	f.Add("oci", "ghcr.io/a/b", "1", "streamable-http", "http://localhost:8080", "-e", "K={a}", "$", "E", "{HOME}", "{a}/mcp", "Authorization", "${a}", uint16(0xffff))
	f.Add("nuget", "N", "2.0", "sse", "http://127.0.0.1:1/{E}", "--x=", "'", "\"", "E", "", "https://u:p@x", "X", "\r\n", uint16(0x5555))
	f.Fuzz(func(t *testing.T, regType, ident, version, transport, turl, argName, argValue, varDefault, envName, envValue, rurl, hName, hValue string, bits uint16) {
		bit := func(i int) bool { return bits&(1<<i) != 0 }
		variables := map[string]any{"a": map[string]any{"default": varDefault, "isSecret": bit(0), "isRequired": bit(1), "choices": []string{varDefault, argValue}}}
		arg := map[string]any{"type": "named", "name": argName, "value": argValue, "variables": variables, "isRequired": bit(2), "isRepeated": bit(3)}
		if bit(4) {
			arg = map[string]any{"type": "positional", "valueHint": argName, "default": argValue, "isRequired": bit(5)}
		}
		env := map[string]any{"name": envName, "isSecret": bit(6), "isRequired": bit(7), "choices": []string{envValue}}
		if bit(8) {
			env["value"] = envValue
		} else {
			env["default"] = envValue
		}
		header := map[string]any{"name": hName, "value": hValue, "variables": variables, "isSecret": bit(9), "isRequired": bit(10)}
		doc := map[string]any{
			"name": "io.example/" + ident,
			"packages": []any{map[string]any{
				"registryType": regType, "identifier": ident, "version": version,
				"transport":            map[string]any{"type": transport, "url": turl, "headers": []any{header}},
				"runtimeArguments":     []any{arg},
				"packageArguments":     []any{arg, arg},
				"environmentVariables": []any{env},
			}},
			"remotes": []any{map[string]any{"type": transport, "url": rurl, "variables": variables, "headers": []any{header}}},
		}
		if bit(11) {
			delete(doc, "remotes")
		}
		data, err := json.Marshal(doc)
		if err != nil {
			t.Skip()
		}
		clients, err := Generate("io.example/"+ident, data)
		if err != nil {
			t.Fatalf("a well-formed server.json was refused: %v", err)
		}
		checkClients(t, clients)
		for _, c := range clients {
			for _, s := range c.Snippets {
				if strings.Contains(strings.ReplaceAll(s.Text, "${input:", ""), "${") {
					t.Fatalf("snippet %s carries ${: %s", s.ID, s.Text)
				}
			}
		}
	})
}
