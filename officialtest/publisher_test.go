package officialtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/registry/pkg/model"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/publish"
	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream/managed"
)

// TestPublisherAgainstMcpfed drives the real mcp-publisher, unmodified,
// against mcpfed's publishing API over a real store (SQLite) with a managed
// source behind the read API: `login none` and `login github-oidc` (a
// token from a stand-in for GitHub Actions' issuer), `publish`, a refused
// re-publish, a name outside the token's namespace, `validate`, and
// `status`.
func TestPublisherAgainstMcpfed(t *testing.T) {
	gate(t)
	t.Parallel()
	bin := Build(t)
	actions := StartActions(t, "acme", "servers")

	st, err := store.Open(t.Context(), store.Config{Driver: store.DriverSQLite}, store.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	src, err := managed.New(managed.Options{Name: "internal", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := federate.NewEngine(federate.EngineOptions{Members: []federate.Member{{Source: src}}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := federate.NewAPI(federate.APIOptions{Engine: engine})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)

	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	registryURL := "http://" + srv.Listener.Addr().String()
	h, err := publish.New(publish.Options{
		Config: publish.Config{
			Anonymous: true,
			// mcp-publisher asks GitHub for a token whose audience is the
			// registry's origin.
			GitHubOIDC: publish.GitHubOIDC{Issuer: actions.Issuer, Audience: registryURL},
			Publishers: []publish.Publisher{{Claims: map[string]any{"repository_owner": "acme"}, Namespaces: []string{"io.github.acme/*"}}},
		},
		Store:      st,
		StateDir:   t.TempDir(),
		AfterWrite: func(ctx context.Context) { _ = src.Load(ctx) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range h.Patterns() {
		mux.Handle(p, h)
	}
	mux.Handle("/", api.Handler())
	srv.Start()
	t.Cleanup(srv.Close)

	home := t.TempDir()
	run := func(dir string, env []string, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin.Publisher, args...)
		cmd.Dir = dir
		cmd.Env = append([]string{
			"PATH=/usr/bin:/bin", "HOME=" + home, "TZ=UTC",
			"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost",
		}, env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(dir string, env []string, args ...string) string {
		t.Helper()
		out, err := run(dir, env, args...)
		if err != nil {
			t.Fatalf("mcp-publisher %v: %v\n%s", args, err, out)
		}
		return out
	}
	serverDir := func(name, version string, extra map[string]any) string {
		t.Helper()
		doc := map[string]any{
			"$schema": model.CurrentSchemaURL, "name": name, "version": version,
			"description": "Published by mcp-publisher to mcpfed",
			"packages": []any{map[string]any{
				"registryType": "npm", "identifier": "@acme/weather", "version": version,
				"transport": map[string]any{"type": "stdio"},
			}},
		}
		for k, v := range extra {
			doc[k] = v
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(home, fmt.Sprintf("%s-%s", strings.ReplaceAll(name, "/", "_"), version))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "server.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	served := func(name, version string) map[string]any {
		t.Helper()
		resp, err := http.Get(registryURL + "/v0.1/servers/" + strings.ReplaceAll(name, "/", "%2F") + "/versions/" + version + "?include_deleted=true")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s@%s: %s", name, version, resp.Status)
		}
		var out struct {
			Meta map[string]map[string]any `json:"_meta"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out.Meta["io.modelcontextprotocol.registry/official"]
	}

	// login none: the anonymous namespace.
	must(home, nil, "login", "none", "--registry", registryURL)
	anon := "io.modelcontextprotocol.anonymous/weather"
	out := must(serverDir(anon, "1.0.0", nil), nil, "publish")
	if !strings.Contains(out, "Successfully published") {
		t.Errorf("publish output:\n%s", out)
	}
	if off := served(anon, "1.0.0"); off["status"] != "active" || off["isLatest"] != true {
		t.Errorf("served %v", off)
	}
	if out, err := run(serverDir(anon, "1.0.0", nil), nil, "publish"); err == nil || !strings.Contains(out, "duplicate version") {
		t.Errorf("re-publish: %v\n%s", err, out)
	}
	if out, err := run(serverDir("io.github.acme/weather", "1.0.0", nil), nil, "publish"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("anonymous token outside its namespace: %v\n%s", err, out)
	}
	must(home, nil, "status", "--status", "deprecated", "--message", "use 2.0.0", anon, "1.0.0")
	if off := served(anon, "1.0.0"); off["status"] != "deprecated" || off["statusMessage"] != "use 2.0.0" {
		t.Errorf("after status: %v", off)
	}
	// validate: the publisher prints the issues the registry reports.
	bad := serverDir(anon, "2.0.0", map[string]any{"repository": map[string]any{"url": "not a url", "source": "github"}})
	if out, err := run(bad, nil, "validate"); err == nil || !strings.Contains(out, "repository.url") {
		t.Errorf("validate: %v\n%s", err, out)
	}
	if out, err := run(bad, nil, "publish"); err == nil || !strings.Contains(out, "repository.url") {
		t.Errorf("publish of an invalid server.json: %v\n%s", err, out)
	}

	// login github-oidc: the repository owner's namespace, as the
	// publishers rule allows.
	must(home, actions.Env(), "login", "github-oidc", "--registry", registryURL)
	must(serverDir("io.github.acme/weather", "1.0.0", nil), nil, "publish")
	if off := served("io.github.acme/weather", "1.0.0"); off["status"] != "active" {
		t.Errorf("served %v", off)
	}
	if out, err := run(serverDir("io.github.globex/weather", "1.0.0", nil), nil, "publish"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("another owner's namespace: %v\n%s", err, out)
	}
	if out, err := run(serverDir(anon, "3.0.0", nil), nil, "publish"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("the anonymous namespace with a GitHub token: %v\n%s", err, out)
	}
	must(home, nil, "status", "--status", "deleted", "--all-versions", "--yes", "io.github.acme/weather")
	if off := served("io.github.acme/weather", "1.0.0"); off["status"] != "deleted" {
		t.Errorf("after status --all-versions: %v", off)
	}

	changes, err := st.Changes(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var who []string
	for _, c := range changes {
		who = append(who, c.Kind+" by "+c.Who)
	}
	want := []string{
		"publish by none:anonymous", "status by none:anonymous",
		"publish by github-oidc:repo:acme/servers:ref:refs/heads/main", "status by github-oidc:repo:acme/servers:ref:refs/heads/main",
	}
	if strings.Join(who, "; ") != strings.Join(want, "; ") {
		t.Errorf("history:\n got %v\nwant %v", who, want)
	}
}
