package federate

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
)

type deployedBody struct {
	Deployed []struct {
		Server    string `json:"server"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		Kind      string `json:"kind"`
		URL       string `json:"url"`
		Image     string `json:"image"`
		Ready     bool   `json:"ready"`
		Source    string `json:"source"`
	} `json:"deployed"`
	Metadata struct {
		Count int `json:"count"`
	} `json:"metadata"`
}

func decodeDeployed(t testing.TB, r response) deployedBody {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var b deployedBody
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	if b.Metadata.Count != len(b.Deployed) {
		t.Fatalf("count %d for %d instances", b.Metadata.Count, len(b.Deployed))
	}
	return b
}

// pairs lists "namespace/name=server" of an answer.
func (b deployedBody) pairs() []string {
	var out []string
	for _, d := range b.Deployed {
		out = append(out, d.Namespace+"/"+d.Name+"="+d.Server)
	}
	return out
}

func TestDeployedInstances(t *testing.T) {
	t.Parallel()
	th, _, seed := threeSources(t)
	cluster := newSource(t, "cluster", serverList(srv{Name: "com.toolhive.k8s.team-a/exported", Version: "1.0.0", Description: "exported from the cluster"}))
	instances := []upstream.Instance{
		// Matched by image, tag ignored.
		{Namespace: "team-a", Name: "mysql", Kind: "MCPServer", Image: "ghcr.io/stacklok/dockyard/uvx/adb-mysql-mcp-server:9.9.9", Ready: true, Source: "cluster"},
		// Named by annotation: no guessing.
		{Namespace: "team-a", Name: "named", Kind: "MCPServer", Image: "ghcr.io/stacklok/dockyard/npx/agentql-mcp:1.0.1", ServerName: "io.github.domdomegg/time-mcp-pypi", Source: "cluster"},
		// Its own registry entry.
		{Namespace: "team-a", Name: "exported", Kind: "MCPRemoteProxy", URL: "http://exported.team-a.svc/mcp", Entry: "com.toolhive.k8s.team-a/exported", Ready: true, Source: "cluster"},
		// Runs nothing the catalogue knows: never listed.
		{Namespace: "team-b", Name: "mystery", Kind: "MCPServer", Image: "example.com/unknown:1", Source: "cluster"},
		// Named, but the name is no catalogue server.
		{Namespace: "team-b", Name: "typo", Kind: "Service", ServerName: "io.github.nobody/nothing", Source: "cluster"},
		// Restricted: only views that guarantee the claims show it, even
		// though it runs a public server.
		{Namespace: "finance", Name: "ledger", Kind: "MCPServer", Image: "ghcr.io/stacklok/dockyard/npx/agentql-mcp:2", URL: "https://ledger.finance.internal/mcp",
			Claims: &upstream.EntryClaims{Need: map[string][]string{"groups": {"finance"}}}, Source: "cluster"},
		// Watched by a source that is not one of the engine's: never shown.
		{Namespace: "elsewhere", Name: "fs", Kind: "MCPServer", ServerName: "io.github.domdomegg/time-mcp-pypi", Source: "other-cluster"},
	}
	e := newEnv(t, envOptions{
		members: members(th, seed, cluster),
		views: map[string]*View{
			"seed":    {Name: "seed", Sources: []string{"seed"}},
			"seedk8s": {Name: "seedk8s", Sources: []string{"seed", "cluster"}},
			"finance": {Name: "finance", Private: true, Claims: map[string]any{"groups": "finance"}},
			"nomysql": {Name: "nomysql", Filter: mustFilter(t, filter.Spec{Names: filter.IncludeExclude{Exclude: []string{"*/adb-*"}}})},
		},
		deployed: func() []upstream.Instance { return instances },
	})
	root := decodeDeployed(t, e.get(t, "/v0.1/x/io.github.mcpfed/deployed"))
	want := []string{
		"team-a/exported=com.toolhive.k8s.team-a/exported",
		"team-a/mysql=io.github.stacklok/adb-mysql-mcp-server",
		"team-a/named=io.github.domdomegg/time-mcp-pypi",
	}
	if got := root.pairs(); !slices.Equal(got, want) {
		t.Errorf("root: %v, want %v", got, want)
	}
	if d := root.Deployed[1]; d.Kind != "MCPServer" || !d.Ready || d.Image == "" || d.Source != "cluster" {
		t.Errorf("instance fields: %+v", d)
	}
	// A view shows only instances of servers it shows, watched by its
	// own sources.
	if got := decodeDeployed(t, e.get(t, "/registry/seed/v0.1/x/io.github.mcpfed/deployed")).pairs(); len(got) != 0 {
		t.Errorf("seed view (no cluster source): %v", got)
	}
	if got := decodeDeployed(t, e.get(t, "/registry/seedk8s/v0.1/x/io.github.mcpfed/deployed")).pairs(); !slices.Equal(got, []string{want[0], want[2]}) {
		t.Errorf("seed and cluster view: %v", got)
	}
	// A restricted instance: only where the view guarantees its claims.
	fin := decodeDeployed(t, e.get(t, "/registry/finance/v0.1/x/io.github.mcpfed/deployed")).pairs()
	if !slices.Contains(fin, "finance/ledger=io.github.stacklok/agentql-mcp") || len(fin) != len(want)+1 {
		t.Errorf("finance view: %v", fin)
	}
	if got := decodeDeployed(t, e.get(t, "/registry/nomysql/v0/x/io.github.mcpfed/deployed")).pairs(); !slices.Equal(got, []string{want[0], want[2]}) {
		t.Errorf("nomysql view: %v", got)
	}
	// One server's instances; the name encoded or not.
	for _, p := range []string{"/v0.1/x/io.github.mcpfed/deployed/io.github.stacklok%2Fadb-mysql-mcp-server", "/v0/x/io.github.mcpfed/deployed/io.github.stacklok/adb-mysql-mcp-server"} {
		if got := decodeDeployed(t, e.get(t, p)).pairs(); !slices.Equal(got, want[1:2]) {
			t.Errorf("%s: %v", p, got)
		}
	}
	// A server the view shows but nothing runs: an empty list.
	if got := decodeDeployed(t, e.get(t, "/v0.1/x/io.github.mcpfed/deployed/io.github.stacklok%2Fagentql-mcp")).pairs(); len(got) != 0 {
		t.Errorf("agentql: %v", got)
	}
	// A server the view does not show: 404.
	for _, p := range []string{
		"/registry/nomysql/v0.1/x/io.github.mcpfed/deployed/io.github.stacklok%2Fadb-mysql-mcp-server",
		"/v0.1/x/io.github.mcpfed/deployed/io.github.nobody%2Fnothing",
	} {
		r := e.get(t, p)
		if r.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, r.status)
		}
		checkProblem(t, p, r)
	}
	if r := e.get(t, "/v0.1/x/io.github.mcpfed/deployed"); r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("the deployed list is a registry read: CORS expected, got %v", r.header)
	}
}

func TestDeployedNeedsAClusterSource(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	if r := e.get(t, "/v0.1/x/io.github.mcpfed/deployed"); r.status != http.StatusNotFound {
		t.Errorf("without a kubernetes source: %d, want 404", r.status)
	}
}
