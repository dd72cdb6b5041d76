package officialtest

import (
	"encoding/json"
	"fmt"
)

// schemaURL is the server.json schema the registry module accepts.
const schemaURL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"

// AnonymousNamespace is the namespace `mcp-publisher login none` may publish
// to.
const AnonymousNamespace = "io.modelcontextprotocol.anonymous"

// Version is one server version the harness puts into the registry.
type Version struct {
	Name, Version string
	// Status, when not "active", is set after publishing (publish only), with
	// StatusMessage.
	Status, StatusMessage string
	// Extra adds top-level server.json fields (title, repository, packages,
	// remotes...), so bodies are not all alike.
	Extra map[string]any
}

// ServerJSON returns the version's server.json.
func (v Version) ServerJSON() json.RawMessage {
	doc := map[string]any{
		"$schema":     schemaURL,
		"name":        v.Name,
		"description": fmt.Sprintf("Test server %s at %s", v.Name, v.Version),
		"version":     v.Version,
	}
	for k, x := range v.Extra {
		doc[k] = x
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("officialtest: marshal server.json: %v", err)) // fixed test data
	}
	return b
}

// SeedVersions are imported at start (MCP_REGISTRY_SEED_FROM, a local
// file). Names mix upper case, "_", "-", "." and digits, so that a
// language-aware collation orders them differently from bytes; versions mix
// semver (with pre-release and build metadata, and 1.10.0 beside 1.9.0) and
// non-semver strings, given out of order.
func SeedVersions() []Version {
	repo := map[string]any{"url": "https://github.com/acme/zeta", "source": "github"}
	npm := []any{map[string]any{
		"registryType": "npm", "identifier": "@acme/a-b", "version": "2.0.0-beta.1",
		"transport":            map[string]any{"type": "stdio"},
		"environmentVariables": []any{map[string]any{"name": "ACME_TOKEN", "description": "token", "isSecret": true, "isRequired": true}},
	}}
	remote := []any{map[string]any{"type": "streamable-http", "url": "https://mcp.example.com/tool"}}
	return []Version{
		{Name: "io.github.acme/Zeta", Version: "1.9.0", Extra: map[string]any{"title": "Zeta", "repository": repo}},
		{Name: "io.github.acme/Zeta", Version: "1.10.0", Extra: map[string]any{"title": "Zeta", "repository": repo}},
		{Name: "io.github.acme/Zeta", Version: "1.0.0"},
		{Name: "io.github.acme/a-b", Version: "1.0.0"},
		{Name: "io.github.acme/a-b", Version: "2.0.0-beta.1", Extra: map[string]any{"packages": npm}},
		{Name: "io.github.acme/a_b", Version: "1.0.0"},
		{Name: "io.github.acme/a_b", Version: "0.9.0"},
		{Name: "io.github.acme/a.b", Version: "1.0.0+build.5"},
		{Name: "io.github.acme/a.b", Version: "1.0.1"},
		{Name: "io.github.acme/alpha", Version: "snapshot-2024"},
		{Name: "io.github.acme/alpha", Version: "2024.01.15"},
		{Name: "io.github.acme/alpha", Version: "v2"},
		{Name: "io.github.acme/a10", Version: "1.0.0"},
		{Name: "io.github.acme/a9", Version: "1.0.0"},
		{Name: "io.github.acme/b2", Version: "1.0.0"},
		{Name: "io.github.ACME/x1", Version: "1.0.0"},
		{Name: "com.Example/Tool", Version: "0.1.0"},
		{Name: "com.example/tool", Version: "0.2.0", Extra: map[string]any{"remotes": remote}},
		{Name: "com.example/tool", Version: "0.1.0"},
		{Name: "com.example-x/tool_2", Version: "3.0.0"},
		{Name: "com.example.x/tool.2", Version: "1.0.0"},
	}
}

// PublishVersions are published with mcp-publisher after start, in order,
// then given their Status.
func PublishVersions() []Version {
	ns := AnonymousNamespace + "/"
	return []Version{
		{Name: ns + "Pub_one", Version: "1.0.0", Status: "deleted", StatusMessage: "withdrawn"},
		{Name: ns + "Pub_one", Version: "1.1.0"},
		{Name: ns + "pub-one", Version: "0.5.0", Status: "deprecated", StatusMessage: "use 1.0.0+sha.abc"},
		{Name: ns + "pub-one", Version: "1.0.0+sha.abc", Extra: map[string]any{"title": "Pub one"}},
		{Name: ns + "pub.one", Version: "2025.06.01"},
		{Name: ns + "pub9", Version: "1.0.0"},
		{Name: ns + "pub10", Version: "1.0.0", Status: "deleted"},
	}
}
