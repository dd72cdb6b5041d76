package install

import "testing"

// TestTransports covers remotes over streamable-http and sse, and packages
// that serve HTTP themselves (started first, then connected to).
func TestTransports(t *testing.T) {
	t.Parallel()
	headers := &vsServer{Type: "http", URL: "https://mcp.example.com/mcp", Headers: map[string]string{
		"X-API-Key": "${input:X-API-Key}", "X-Region": "us-east-1", "Authorization": "Bearer ${input:token}",
	}}
	sse := &vsServer{Type: "sse", URL: "https://events.example.com/sse/${input:tenant_id}"}
	local := &vsServer{Type: "http", URL: "http://localhost:3000/mcp"}
	localSSE := &vsServer{Type: "sse", URL: "http://localhost:8000"}
	runCases(t, []installCase{
		{
			name: "streamable-http remote with headers",
			server: server("", `{"type":"streamable-http","url":"https://mcp.example.com/mcp","headers":[
				{"name":"X-API-Key","description":"API key","isRequired":true,"isSecret":true},
				{"name":"X-Region","default":"us-east-1","choices":["us-east-1","eu-west-1"]},
				{"name":"X-Trace","description":"optional, unset: left out"},
				{"name":"Authorization","value":"Bearer {token}","isRequired":true,"isSecret":true,"variables":{"token":{"description":"Token","isRequired":true}}}]}`),
			vscode: headers, cursor: cursorOf(headers),
			inputs: []vsInput{secretInput("X-API-Key", "API key"), secretInput("token", "Token")},
			claude: []string{"claude", "mcp", "add", "--transport", "http", "demo", "https://mcp.example.com/mcp",
				"--header", "X-API-Key: <X-API-Key>", "--header", "X-Region: us-east-1", "--header", "Authorization: Bearer <token>"},
			thv:   "thv run io.example/demo",
			notes: []string{"Optional headers left out: X-Trace", "Claude Desktop does not read URL servers", "<X-API-Key> (secret), <token> (secret)"},
		},
		{
			name:   "sse remote with a URL variable",
			server: server("", `{"type":"sse","url":"https://events.example.com/sse/{tenant_id}","variables":{"tenant_id":{"description":"Tenant","isRequired":true}}}`),
			vscode: sse, cursor: cursorOf(sse),
			inputs: []vsInput{promptInput("tenant_id", "Tenant")},
			claude: []string{"claude", "mcp", "add", "--transport", "sse", "demo", "https://events.example.com/sse/<tenant_id>"},
			thv:    "thv run io.example/demo",
		},
		{
			name:   "URL variables with a default and at the start",
			server: server("", `{"type":"streamable-http","url":"{base}/mcp/{region}","variables":{"base":{"isRequired":true},"region":{"default":"eu"}}}`),
			vscode: &vsServer{Type: "http", URL: "${input:base}/mcp/eu"}, cursor: &cursorServer{URL: "<base>/mcp/eu"},
			inputs: []vsInput{promptInput("base", "base")},
			claude: []string{"claude", "mcp", "add", "--transport", "http", "demo", "<base>/mcp/eu"},
			thv:    "thv run io.example/demo",
		},
		{
			name: "package serving streamable-http on a port from its arguments",
			server: server(`{"registryType":"npm","identifier":"@example/mcp-server","version":"1.0.0","transport":{"type":"streamable-http","url":"http://localhost:{--port}/mcp"},
				"packageArguments":[{"type":"named","name":"--port","default":"3000"}],
				"environmentVariables":[{"name":"API_KEY","isRequired":true,"isSecret":true}]}`, ""),
			start:  []string{"API_KEY=<API_KEY>", "npx", "-y", "@example/mcp-server@1.0.0", "--port", "3000"},
			vscode: local, cursor: cursorOf(local),
			claude: []string{"claude", "mcp", "add", "--transport", "http", "demo", "http://localhost:3000/mcp"},
			notes:  []string{"serves streamable-http on http://localhost:3000/mcp once started", "<API_KEY> (secret)"},
		},
		{
			name: "container serving sse publishes its port on loopback",
			server: server(`{"registryType":"oci","identifier":"crystaldba/postgres-mcp:0.3.0","transport":{"type":"sse","url":"http://localhost:8000"},
				"environmentVariables":[{"name":"DATABASE_URI","isRequired":true,"isSecret":true},{"name":"MODE","default":"fast"}]}`, ""),
			start:  []string{"docker", "run", "--rm", "-p", "127.0.0.1:8000:8000", "-e", "DATABASE_URI=<DATABASE_URI>", "-e", "MODE=fast", "crystaldba/postgres-mcp:0.3.0"},
			vscode: localSSE, cursor: cursorOf(localSSE),
			claude: []string{"claude", "mcp", "add", "--transport", "sse", "demo", "http://localhost:8000"},
			thv:    "thv run io.example/demo",
			notes:  []string{"Required settings: DATABASE_URI."},
		},
	})
}

func TestTransportsWithoutASnippet(t *testing.T) {
	t.Parallel()
	remote := func(r string) installCase {
		return installCase{server: server("", r)} // and no thv run: ToolHive would use this remote
	}
	cases := []struct {
		name string
		tc   installCase
		note string
	}{
		{"undefined URL variable", remote(`{"type":"streamable-http","url":"https://x.example.com/{nope}"}`), "variable nothing defines"},
		{"javascript URL", remote(`{"type":"streamable-http","url":"javascript:alert(1)"}`), "not an http(s) URL"},
		{"data URL", remote(`{"type":"sse","url":"data:text/html,<script>alert(1)</script>"}`), "not an http(s) URL"},
		{"credentials in the URL", remote(`{"type":"streamable-http","url":"https://user:pass@x.example.com/mcp"}`), "carries credentials"},
		{"stdio remote", installCase{server: server("", `{"type":"stdio","url":"https://x.example.com"}`)}, "not streamable-http or sse"},
		{"header pulling the user's environment", remote(`{"type":"streamable-http","url":"https://x.example.com/mcp","headers":[{"name":"Authorization","value":"Bearer ${env:GITHUB_TOKEN}"}]}`), `contains "${"`},
		{"header value with a newline", remote(`{"type":"streamable-http","url":"https://x.example.com/mcp","headers":[{"name":"X","value":"a\r\nEvil: 1"}]}`), "control or invisible"},
		{"header name with a colon", remote(`{"type":"streamable-http","url":"https://x.example.com/mcp","headers":[{"name":"X: Y","value":"a"}]}`), "header name"},
		{"duplicate header", remote(`{"type":"streamable-http","url":"https://x.example.com/mcp","headers":[{"name":"X","value":"a"},{"name":"x","value":"b"}]}`), "declared twice"},
		{"package URL not on this machine", installCase{server: server(`{"registryType":"npm","identifier":"demo","version":"1.0.0","transport":{"type":"streamable-http","url":"https://example.com/mcp"}}`, "")}, "not on localhost"},
		{"package URL needing a prompt", installCase{server: server(`{"registryType":"npm","identifier":"demo","version":"1.0.0","transport":{"type":"streamable-http","url":"http://localhost:{port}"},
			"packageArguments":[{"type":"positional","valueHint":"port","isRequired":true}]}`, "")}, "depends on a value you supply"},
		{"container URL without a port", installCase{server: server(`{"registryType":"oci","identifier":"ghcr.io/x/y:1","transport":{"type":"streamable-http","url":"http://localhost/mcp"}}`, ""), thv: "thv run io.example/demo"}, "no port to publish"},
		{"package URL with an undefined variable", installCase{server: server(`{"registryType":"npm","identifier":"demo","version":"1.0.0","transport":{"type":"sse","url":"http://localhost:{nope}"}}`, "")}, "variable nothing defines"},
	}
	var rows []installCase
	for _, c := range cases {
		c.tc.name, c.tc.notes, c.tc.absent = c.name, []string{c.note}, []string{"${env", "javascript:", "Evil"}
		rows = append(rows, c.tc)
	}
	runCases(t, rows)
}
