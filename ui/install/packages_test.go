package install

import "testing"

// TestRegistryTypes covers every registry type: the four with a runner and
// the ones that get a note instead of a snippet.
func TestRegistryTypes(t *testing.T) {
	t.Parallel()
	npm := stdio("npx", "-y", "@example/demo-mcp@1.2.3")
	pypi := stdio("uvx", "weather-mcp-server==0.5.0")
	nuget := stdio("dnx", "Knapcode.SampleMcpServer@0.4.0-beta", "--yes")
	nugetArgs := stdio("dnx", "Knapcode.SampleMcpServer@0.4.0-beta", "--yes", "--", "mcp", "start")
	oci := stdio("docker", "run", "-i", "--rm", "ghcr.io/example/demo:2.0.0")
	ociPort := stdio("docker", "run", "-i", "--rm", "localhost:5000/team/demo:3")
	ociBare := stdio("docker", "run", "-i", "--rm", "ghcr.io/example/demo")
	ociDigest := stdio("docker", "run", "-i", "--rm", "ghcr.io/example/demo@sha256:"+sha)
	runCases(t, []installCase{
		{
			name:   "npm",
			server: server(`{"registryType":"npm","registryBaseUrl":"https://registry.npmjs.org","identifier":"@example/demo-mcp","version":"1.2.3","runtimeHint":"npx","transport":{"type":"stdio"}}`, ""),
			vscode: npm, cursor: cursorOf(npm),
			claude: claudeStdio(nil, "npx", "-y", "@example/demo-mcp@1.2.3"),
			notes:  []string{"ToolHive runs registry entries that have a container image or a remote"},
		},
		{
			name:   "pypi",
			server: server(`{"registryType":"pypi","registryBaseUrl":"https://pypi.org","identifier":"weather-mcp-server","version":"0.5.0","transport":{"type":"stdio"}}`, ""),
			vscode: pypi, cursor: cursorOf(pypi),
			claude: claudeStdio(nil, "uvx", "weather-mcp-server==0.5.0"),
		},
		{
			name:   "nuget",
			server: server(`{"registryType":"nuget","registryBaseUrl":"https://api.nuget.org/v3/index.json","identifier":"Knapcode.SampleMcpServer","version":"0.4.0-beta","transport":{"type":"stdio"}}`, ""),
			vscode: nuget, cursor: cursorOf(nuget),
			claude: claudeStdio(nil, "dnx", "Knapcode.SampleMcpServer@0.4.0-beta", "--yes"),
		},
		{
			name: "nuget with package arguments after --",
			server: server(`{"registryType":"nuget","identifier":"Knapcode.SampleMcpServer","version":"0.4.0-beta","transport":{"type":"stdio"},
				"packageArguments":[{"type":"positional","value":"mcp"},{"type":"positional","value":"start"}]}`, ""),
			vscode: nugetArgs, cursor: cursorOf(nugetArgs),
			claude: claudeStdio(nil, "dnx", "Knapcode.SampleMcpServer@0.4.0-beta", "--yes", "--", "mcp", "start"),
		},
		{
			name:   "oci without a tag takes the version",
			server: server(`{"registryType":"oci","identifier":"ghcr.io/example/demo","version":"2.0.0","transport":{"type":"stdio"}}`, ""),
			vscode: oci, cursor: cursorOf(oci),
			claude: claudeStdio(nil, "docker", "run", "-i", "--rm", "ghcr.io/example/demo:2.0.0"),
			thv:    "thv run io.example/demo",
		},
		{
			name:   "oci tag wins over version, registry port is not a tag",
			server: server(`{"registryType":"oci","identifier":"localhost:5000/team/demo:3","version":"9.9.9","transport":{"type":"stdio"}}`, ""),
			vscode: ociPort, cursor: cursorOf(ociPort),
			claude: claudeStdio(nil, "docker", "run", "-i", "--rm", "localhost:5000/team/demo:3"),
			thv:    "thv run io.example/demo",
		},
		{
			name:   "oci digest",
			server: server(`{"registryType":"oci","identifier":"ghcr.io/example/demo@sha256:`+sha+`","transport":{"type":"stdio"}}`, ""),
			vscode: ociDigest, cursor: cursorOf(ociDigest),
			claude: claudeStdio(nil, "docker", "run", "-i", "--rm", "ghcr.io/example/demo@sha256:"+sha),
			thv:    "thv run io.example/demo",
		},
		{
			name:   "oci without tag or version runs latest, with a note",
			server: server(`{"registryType":"oci","identifier":"ghcr.io/example/demo","transport":{"type":"stdio"}}`, ""),
			vscode: ociBare, cursor: cursorOf(ociBare),
			claude: claudeStdio(nil, "docker", "run", "-i", "--rm", "ghcr.io/example/demo"),
			thv:    "thv run io.example/demo",
			notes:  []string{`Docker runs its "latest" tag`},
		},
		{
			name:   "mcpb",
			server: server(`{"registryType":"mcpb","identifier":"https://github.com/example/demo/releases/download/v1/demo.mcpb","fileSha256":"`+sha+`","transport":{"type":"stdio"}}`, ""),
			notes:  []string{"has no snippet: MCP bundles (.mcpb)"},
		},
		{
			name:   "cargo",
			server: server(`{"registryType":"cargo","identifier":"widget-mcp","version":"0.3.0","transport":{"type":"stdio"}}`, ""),
			notes:  []string{"cargo package widget-mcp@0.3.0 has no snippet: cargo has no run-without-installing"},
		},
		{
			name:   "unknown registry type",
			server: server(`{"registryType":"gem","identifier":"demo","version":"1.0.0","transport":{"type":"stdio"}}`, ""),
			notes:  []string{`no known way to run packages from registry type "gem"`},
		},
	})
}

const sha = "fe333e598595000ae021bd27117db32ec69af6987f507ba7a63c90638ff633ce"

// TestPackagesWithoutASnippet: anything that would make a wrong or unsafe
// command gets a note instead.
func TestPackagesWithoutASnippet(t *testing.T) {
	t.Parallel()
	npm := func(fields string) string {
		return `{"registryType":"npm","identifier":"demo-mcp","transport":{"type":"stdio"}` + fields + `}`
	}
	long := make([]byte, maxText+1)
	for i := range long {
		long[i] = 'a'
	}
	cases := []struct{ name, pkg, note string }{
		{"no version", npm(``), "has no version"},
		{"version range", npm(`,"version":"^1.2.3"`), "not one exact version"},
		{"version latest", npm(`,"version":"latest"`), "not one exact version"},
		{"version wildcard", npm(`,"version":"1.x"`), "not one exact version"},
		{"private registry", npm(`,"version":"1.0.0","registryBaseUrl":"https://npm.pkg.github.com"`), "hosted on https://npm.pkg.github.com"},
		{"identifier looks like an option", `{"registryType":"npm","identifier":"--evil","version":"1.0.0","transport":{"type":"stdio"}}`, "not a valid package name"},
		{"identifier with a space", `{"registryType":"pypi","identifier":"a b","version":"1.0.0","transport":{"type":"stdio"}}`, "not a valid package name"},
		{"image reference with a space", `{"registryType":"oci","identifier":"ghcr.io/x y:1","transport":{"type":"stdio"}}`, "not a valid package name"},
		{"runtime arguments for another runtime", npm(`,"version":"1.0.0","runtimeHint":"bunx","runtimeArguments":[{"type":"named","name":"--bun"}]`), `runtime arguments are for "bunx"`},
		{"unknown transport", `{"registryType":"npm","identifier":"demo-mcp","version":"1.0.0","transport":{"type":"websocket"}}`, `transport "websocket" is not stdio`},
		{"missing transport", `{"registryType":"npm","identifier":"demo-mcp","version":"1.0.0"}`, `transport "" is not stdio`},
		{"unknown argument type", npm(`,"version":"1.0.0","packageArguments":[{"type":"flag","name":"--x"}]`), `type "flag", not positional or named`},
		{"named argument without a name", npm(`,"version":"1.0.0","packageArguments":[{"type":"named","value":"x"}]`), "has no usable name"},
		{"duplicate environment variable", npm(`,"version":"1.0.0","environmentVariables":[{"name":"A","default":"1"},{"name":"A","default":"2"}]`), "A is declared twice"},
		{"bad environment variable name", npm(`,"version":"1.0.0","environmentVariables":[{"name":"BAD-NAME","default":"1"}]`), `"BAD-NAME" is not valid`},
		{"value expanding the user's environment", npm(`,"version":"1.0.0","environmentVariables":[{"name":"T","value":"${env:GITHUB_TOKEN}"}]`), `contains "${"`},
		{"argument expanding the user's environment", npm(`,"version":"1.0.0","packageArguments":[{"type":"positional","value":"${HOME}/x"}]`), `contains "${"`},
		{"${ assembled from a variable", npm(`,"version":"1.0.0","packageArguments":[{"type":"positional","value":"{d}{HOME}","variables":{"d":{"default":"$"}}}]`), `contains "${"`},
		{"newline in a value", npm(`,"version":"1.0.0","packageArguments":[{"type":"positional","value":"a\nrm -rf ~"}]`), "control or invisible characters"},
		{"bidi override in a default", npm(`,"version":"1.0.0","environmentVariables":[{"name":"A","default":"x\u202ey"}]`), "control or invisible characters"},
		{"value too long", npm(`,"version":"1.0.0","packageArguments":[{"type":"positional","value":"` + string(long) + `"}]`), "longer than"},
		{"wrong field type", npm(`,"version":"1.0.0","packageArguments":"nope"`), "has the wrong type"},
		{"not an object", `"npm"`, "Package 1 has no snippet"},
	}
	var rows []installCase
	for _, c := range cases {
		rows = append(rows, installCase{name: c.name, server: server(c.pkg, ""), notes: []string{c.note}, absent: []string{"${env", "rm -rf"}})
	}
	runCases(t, rows)
}

// TestArguments covers every argument kind: positional and named; with a
// value, a default, choices, variables; required, optional, repeated,
// boolean; runtime arguments before the package and package arguments
// after it.
func TestArguments(t *testing.T) {
	t.Parallel()
	named := stdio("npx", "-y", "demo-mcp@1.0.0",
		"--host", "localhost", "--port", "8080", "--mode", "${input:mode}", "--read-only",
		"--level=3", "--stdio", "--tag", "x", "-t", "stdio")
	positional := stdio("npx", "-y", "demo-mcp@1.0.0", "${input:workspace}", "${input:optional_mid}", "serve", "x", "{not_defined}")
	runtime := stdio("npx", "-y", "--node-options", "--max-old-space-size=4096", "demo-mcp@1.0.0", "--verbose")
	mount := withEnv(stdio("docker", "run", "-i", "--rm", "-e", "LOG_LEVEL",
		"--mount", "type=bind,src=${input:source_path},dst=/project", "docker.io/mcp/filesystem:1.0.2", "/project"),
		"LOG_LEVEL", "info")
	quoting := stdio("npx", "-y", "demo-mcp@1.0.0", `it's "quoted" $(rm -rf ~); echo pwned | & <x> `+"`id`")
	runCases(t, []installCase{
		{
			name: "named",
			server: server(`{"registryType":"npm","identifier":"demo-mcp","version":"1.0.0","transport":{"type":"stdio"},"packageArguments":[
				{"type":"named","name":"--host","value":"localhost"},
				{"type":"named","name":"--port","default":"8080","format":"number"},
				{"type":"named","name":"--mode","isRequired":true,"choices":["local","proxy"],"description":"Mode"},
				{"type":"named","name":"--verbose","description":"optional, no value: left out"},
				{"type":"named","name":"--read-only","format":"boolean","isRequired":true},
				{"type":"named","name":"--quiet","format":"boolean"},
				{"type":"named","name":"--level=","value":"3"},
				{"type":"named","name":"--stdio","value":""},
				{"type":"named","name":"--tag","value":"x","isRepeated":true},
				{"type":"named","name":"-t","default":"stdio","choices":["stdio","sse"]}]}`, ""),
			vscode: named, cursor: cursorOf(named),
			inputs: []vsInput{pickInput("mode", "Mode", "local", "proxy")},
			claude: claudeStdio(nil, "npx", placeholders(named.Args)...),
			notes:  []string{"--tag may be given more than once", "<mode> (one of: local, proxy)", "VS Code asks for mode"},
		},
		{
			name: "positional",
			server: server(`{"registryType":"npm","identifier":"demo-mcp","version":"1.0.0","transport":{"type":"stdio"},"packageArguments":[
				{"type":"positional","valueHint":"workspace","isRequired":true,"description":"Workspace dir"},
				{"type":"positional","valueHint":"optional_mid"},
				{"type":"positional","value":"serve"},
				{"type":"positional","valueHint":"extra","default":"x"},
				{"type":"positional","value":"{not_defined}"},
				{"type":"positional","valueHint":"trailing"}]}`, ""),
			vscode: positional, cursor: cursorOf(positional),
			inputs: []vsInput{promptInput("workspace", "Workspace dir"), promptInput("optional_mid", "optional_mid")},
			claude: claudeStdio(nil, "npx", placeholders(positional.Args)...),
		},
		{
			name: "runtime arguments go before the package",
			server: server(`{"registryType":"npm","identifier":"demo-mcp","version":"1.0.0","runtimeHint":"npx","transport":{"type":"stdio"},
				"runtimeArguments":[{"type":"named","name":"--node-options","value":"--max-old-space-size=4096"}],
				"packageArguments":[{"type":"named","name":"--verbose","value":""}]}`, ""),
			vscode: runtime, cursor: cursorOf(runtime),
			claude: claudeStdio(nil, "npx", runtime.Args...),
		},
		{
			name: "docker runtime argument with variables, repeated",
			server: server(`{"registryType":"oci","identifier":"docker.io/mcp/filesystem:1.0.2","transport":{"type":"stdio"},
				"runtimeArguments":[{"type":"named","name":"--mount","value":"type=bind,src={source_path},dst={target_path}","isRequired":true,"isRepeated":true,
					"variables":{"source_path":{"description":"Source path on host","format":"filepath","isRequired":true},"target_path":{"isRequired":true,"default":"/project"}}}],
				"packageArguments":[{"type":"positional","valueHint":"target_dir","value":"/project"}],
				"environmentVariables":[{"name":"LOG_LEVEL","default":"info"}]}`, ""),
			vscode: mount, cursor: cursorOf(mount),
			inputs: []vsInput{promptInput("source_path", "Source path on host")},
			claude: claudeStdio([]string{"LOG_LEVEL=info"}, "docker", placeholders(mount.Args)...),
			thv:    "thv run io.example/demo",
			notes:  []string{"--mount may be given more than once", "<source_path>"},
		},
		{
			name:   "quote-breaking value stays one argument",
			server: server(`{"registryType":"npm","identifier":"demo-mcp","version":"1.0.0","transport":{"type":"stdio"},"packageArguments":[{"type":"positional","value":"it's \"quoted\" $(rm -rf ~); echo pwned | & <x> `+"`id`"+`"}]}`, ""),
			vscode: quoting, cursor: cursorOf(quoting),
			claude: claudeStdio(nil, "npx", quoting.Args...),
		},
	})
}

// TestEnvironmentVariables covers every variable kind: required, optional,
// secret, default, choices, fixed values with {placeholders}, and
// references from arguments.
func TestEnvironmentVariables(t *testing.T) {
	t.Parallel()
	kinds := withEnv(stdio("uvx", "weather-mcp-server==0.5.0"),
		"WEATHER_API_KEY", "${input:WEATHER_API_KEY}", "WEATHER_UNITS", "celsius",
		"REGION", "${input:REGION}", "MODE", "b", "USER_NAME", "${input:USER_NAME}")
	secrets := withEnv(stdio("npx", "-y", "demo-mcp@1.0.0"),
		"TOKEN", "${input:TOKEN}", "SECRET_DEF", "${input:SECRET_DEF}", "AUTH", "Bearer ${input:token}", "URL", "https://api.example.com/v1")
	ref := withEnv(stdio("docker", "run", "-i", "--rm", "-e", "API_TOKEN", "-e", "OPT", "ghcr.io/example/demo:1",
		"--token", "${input:API_TOKEN}", "--opt=${input:OPT}"),
		"API_TOKEN", "${input:API_TOKEN}", "OPT", "${input:OPT}")
	runCases(t, []installCase{
		{
			name: "kinds",
			server: server(`{"registryType":"pypi","identifier":"weather-mcp-server","version":"0.5.0","runtimeHint":"uvx","transport":{"type":"stdio"},"environmentVariables":[
				{"name":"WEATHER_API_KEY","description":"API key","isRequired":true,"isSecret":true},
				{"name":"WEATHER_UNITS","description":"Units","default":"celsius"},
				{"name":"LOG_FORMAT","description":"optional, unset: left out"},
				{"name":"REGION","description":"Region","isRequired":true,"choices":["us","eu"]},
				{"name":"MODE","default":"b","choices":["a","b"]},
				{"name":"USER_NAME","isRequired":true,"placeholder":"jdoe"},
				{"name":"OPTIONAL_SECRET","isSecret":true}]}`, ""),
			vscode: kinds, cursor: cursorOf(kinds),
			inputs: []vsInput{secretInput("WEATHER_API_KEY", "API key"), pickInput("REGION", "Region", "us", "eu"), promptInput("USER_NAME", "USER_NAME")},
			claude: claudeStdio([]string{"WEATHER_API_KEY=<WEATHER_API_KEY>", "WEATHER_UNITS=celsius", "REGION=<REGION>", "MODE=b", "USER_NAME=<USER_NAME>"}, "uvx", "weather-mcp-server==0.5.0"),
			notes: []string{"Optional environment variables left out: LOG_FORMAT, OPTIONAL_SECRET",
				"VS Code asks for WEATHER_API_KEY, REGION, USER_NAME", "<WEATHER_API_KEY> (secret), <REGION> (one of: us, eu), <USER_NAME>"},
		},
		{
			name: "a secret never appears as a value",
			server: server(`{"registryType":"npm","identifier":"demo-mcp","version":"1.0.0","transport":{"type":"stdio"},"environmentVariables":[
				{"name":"TOKEN","value":"sk-live-123","isSecret":true},
				{"name":"SECRET_DEF","default":"hunter2","isSecret":true,"isRequired":true},
				{"name":"AUTH","value":"Bearer {token}","isSecret":true,"variables":{"token":{"description":"Token","default":"tok-default"}}},
				{"name":"URL","value":"https://{host}/v1","variables":{"host":{"default":"api.example.com"}}}]}`, ""),
			vscode: secrets, cursor: cursorOf(secrets),
			inputs: []vsInput{secretInput("TOKEN", "TOKEN"), secretInput("SECRET_DEF", "SECRET_DEF"), secretInput("token", "Token")},
			claude: claudeStdio([]string{"TOKEN=<TOKEN>", "SECRET_DEF=<SECRET_DEF>", "AUTH=Bearer <token>", "URL=https://api.example.com/v1"}, "npx", "-y", "demo-mcp@1.0.0"),
			absent: []string{"sk-live-123", "hunter2", "tok-default"},
		},
		{
			name: "arguments refer to environment variables by {NAME}",
			server: server(`{"registryType":"oci","identifier":"ghcr.io/example/demo:1","transport":{"type":"stdio"},
				"packageArguments":[{"type":"named","name":"--token","value":"{API_TOKEN}","isRequired":true},{"type":"named","name":"--opt=","value":"{OPT}"}],
				"environmentVariables":[{"name":"API_TOKEN","isRequired":true,"isSecret":true,"description":"Token"},{"name":"OPT","description":"Optional"}]}`, ""),
			vscode: ref, cursor: cursorOf(ref),
			inputs: []vsInput{secretInput("API_TOKEN", "Token"), promptInput("OPT", "Optional")},
			claude: claudeStdio([]string{"API_TOKEN=<API_TOKEN>", "OPT=<OPT>"}, "docker", placeholders(ref.Args)...),
			thv:    "thv run io.example/demo",
			notes:  []string{"Required settings: API_TOKEN."},
		},
	})
}
