package toolhivetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func requireGate(t *testing.T) {
	t.Helper()
	if !Enabled() {
		t.Skipf("set %s=1 (make test-toolhive) to run the real ToolHive CLI against mcpfed", EnvGate)
	}
}

// TestToolHiveCLIThroughMcpfed points an unmodified thv at mcpfed serving
// its built-in catalogue and checks what a ToolHive user sees: the
// servers (`thv registry list`, `thv registry info`, each equal to what
// thv's own built-in registry, the same catalogue, shows), the skills and
// plugins that `thv serve` lists from the registry, and the /openapi.yaml
// description older CLIs check.
func TestToolHiveCLIThroughMcpfed(t *testing.T) {
	requireGate(t)
	began := time.Now()
	thv := Build(t)
	gw := StartMcpfed(t, BuildMcpfed(t))
	rt := StartRuntime(t)
	trap := StartTrap(t)
	t.Logf("thv %s and mcpfed ready in %s", thv, time.Since(began).Round(time.Millisecond))
	ctx := t.Context()

	user := NewCLI(t, thv, rt, trap)
	if err := user.SetRegistry(ctx, gw.URL); err != nil {
		t.Fatalf("%v\nmcpfed:\n%s", err, gw.Log())
	}
	// The same catalogue as thv ships it, for comparison: a user who
	// never set a registry.
	builtin := NewCLI(t, thv, rt, trap)

	t.Run("config", func(t *testing.T) {
		out, err := user.Run(ctx, "config", "get-registry")
		if err != nil {
			t.Fatal(err)
		}
		// "API endpoint": thv probed /v0.1/servers and took mcpfed for a
		// registry API, not a static file.
		if !strings.Contains(out, gw.URL) || !strings.Contains(out, "API endpoint") {
			t.Errorf("thv config get-registry = %q; want %s as an API endpoint", out, gw.URL)
		}
	})

	t.Run("registry list", func(t *testing.T) {
		testRegistryList(t, user, builtin, gw)
	})

	t.Run("registry info", func(t *testing.T) {
		testRegistryInfo(t, builtin, func(t *testing.T) *CLI {
			u := NewCLI(t, thv, rt, trap)
			if err := u.SetRegistry(t.Context(), gw.URL); err != nil {
				t.Fatal(err)
			}
			return u
		})
	})

	srv := user.Serve(t)
	t.Run("skills", func(t *testing.T) {
		testSkills(t, srv, gw)
	})
	t.Run("plugins", func(t *testing.T) {
		testPlugins(t, srv, gw)
	})

	t.Run("openapi description", func(t *testing.T) {
		// Older ToolHive CLIs accept a registry API only when its
		// /openapi.yaml says this.
		var doc struct {
			Info struct {
				Version     string `yaml:"version"`
				Description string `yaml:"description"`
			} `yaml:"info"`
		}
		body, err := get(ctx, gw.URL+"/openapi.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(body, &doc); err != nil {
			t.Fatalf("/openapi.yaml: %v", err)
		}
		const want = "https://github.com/modelcontextprotocol/registry"
		if !strings.Contains(doc.Info.Description, want) || doc.Info.Version != "1.0.0" {
			t.Errorf("/openapi.yaml info: version %q, description %q; want 1.0.0 and a description containing %s",
				doc.Info.Version, doc.Info.Description, want)
		}
	})

	if refused := rt.Refused(); len(refused) > 0 {
		t.Logf("container runtime calls refused (thv ran without a real runtime): %v", refused)
	}
	if attempts := trap.Attempts(); len(attempts) > 0 {
		t.Errorf("thv tried to reach beyond loopback: %v", attempts)
	}
	if t.Failed() {
		t.Logf("thv serve:\n%s\nmcpfed:\n%s", srv.Log(), gw.Log())
	}
}

// listed is one server of `thv registry list --format json`.
type listed struct {
	Name string `json:"name"`
}

func registryList(ctx context.Context, c *CLI) (map[string]json.RawMessage, error) {
	out, err := c.Run(ctx, "registry", "list", "--format", "json")
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal([]byte(out), &items); err != nil {
		return nil, err
	}
	byName := make(map[string]json.RawMessage, len(items))
	for _, raw := range items {
		var l listed
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, err
		}
		byName[l.Name] = raw
	}
	return byName, nil
}

func testRegistryList(t *testing.T, user, builtin *CLI, gw *Mcpfed) {
	ctx := t.Context()
	servers, err := mcpfedServers(ctx, gw.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := registryList(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	all := map[string]bool{}
	for _, s := range servers {
		all[s.Name] = true
		if s.Runnable {
			want[s.Name] = true
		}
	}
	t.Logf("mcpfed lists %d servers, %d of them a remote or one OCI image; thv lists %d", len(all), len(want), len(got))
	if missing := diff(want, got); len(missing) > 0 {
		t.Errorf("thv registry list lacks %d of mcpfed's servers: %v", len(missing), missing)
	}
	if extra := diff(got, all); len(extra) > 0 {
		t.Errorf("thv registry list has servers mcpfed does not list: %v", extra)
	}

	// Every server of thv's built-in catalogue reads the same through
	// mcpfed (mcpfed's built-in catalogue is that catalogue).
	ref, err := registryList(ctx, builtin)
	if err != nil {
		t.Fatal(err)
	}
	if missing := diff(ref, got); len(missing) > 0 {
		t.Errorf("through mcpfed, thv lacks %d servers of its built-in registry: %v", len(missing), missing)
	}
	for name, raw := range ref {
		if g, ok := got[name]; ok && !jsonEqual(raw, g) {
			t.Errorf("thv registry list: %s differs through mcpfed:\n got %s\nwant %s", name, g, raw)
		}
	}

	// The table a person reads names every server.
	table, err := user.Run(ctx, "registry", "list")
	if err != nil {
		t.Fatal(err)
	}
	for name := range got {
		if !strings.Contains(table, name) {
			t.Errorf("thv registry list (table) does not show %s", name)
		}
	}
}

// infoWorkers run `thv registry info` side by side, each as its own user
// so no two thv processes share a registry cache.
const infoWorkers = 2

// testRegistryInfo asks thv, through mcpfed, for every server of its
// built-in registry: each answer must equal that server as the built-in
// registry lists it, and for one container and one remote server be
// byte-identical to `thv registry info` on the built-in registry. (The
// full byte comparison, two thv runs per server, took a minute.)
func testRegistryInfo(t *testing.T, builtin *CLI, newUser func(*testing.T) *CLI) {
	ctx := t.Context()
	ref, err := registryList(ctx, builtin)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) == 0 {
		t.Fatal("thv's built-in registry lists no servers")
	}
	users := make([]*CLI, infoWorkers)
	for i := range users {
		users[i] = newUser(t)
	}
	began := time.Now()
	names := make(chan string, len(ref))
	for name := range ref {
		names <- name
	}
	close(names)
	var mu sync.Mutex
	got := make(map[string]string, len(ref))
	var wg sync.WaitGroup
	for _, user := range users {
		wg.Go(func() {
			for name := range names {
				out, err := user.Run(ctx, "registry", "info", name, "--format", "json")
				if err != nil {
					t.Errorf("through mcpfed: %v", err)
					continue
				}
				mu.Lock()
				got[name] = out
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	same := 0
	for name, want := range ref {
		out, ok := got[name]
		if !ok {
			continue // its error is reported
		}
		if !jsonEqual([]byte(out), want) {
			t.Errorf("thv registry info %s --format json through mcpfed differs from the built-in registry's entry:\n got %.2000s\nwant %s", name, out, want)
			continue
		}
		same++
	}
	t.Logf("thv registry info --format json: %d of %d servers equal through mcpfed (%s)",
		same, len(ref), time.Since(began).Round(time.Millisecond))

	for _, transport := range []string{"stdio", "streamable-http"} {
		name := firstWithTransport(ref, transport)
		if name == "" {
			t.Errorf("the built-in registry has no %s server to compare", transport)
			continue
		}
		want, err := builtin.Run(ctx, "registry", "info", name, "--format", "json")
		if err != nil {
			t.Fatal(err)
		}
		if got[name] != want {
			t.Errorf("thv registry info %s --format json is not byte-identical through mcpfed:\n got %s\nwant %s", name, got[name], want)
		}
	}
}

// firstWithTransport names the first server, in name order, whose
// transport is transport.
func firstWithTransport(servers map[string]json.RawMessage, transport string) string {
	names := make([]string, 0, len(servers))
	for name := range servers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		var s struct {
			Transport string `json:"transport"`
		}
		if json.Unmarshal(servers[name], &s) == nil && s.Transport == transport {
			return name
		}
	}
	return ""
}

func testSkills(t *testing.T, srv *Server, gw *Mcpfed) {
	ctx := t.Context()
	catalogue, err := catalogueIDs("skills")
	if err != nil {
		t.Fatal(err)
	}
	items, err := mcpfedArtifacts(ctx, gw.URL, "skills")
	if err != nil {
		t.Fatalf("mcpfed's own listing: %v", err)
	}
	fromMcpfed := byID(items)
	if len(fromMcpfed) != len(items) {
		t.Errorf("mcpfed lists %d skills under %d names; want one (the latest) per name", len(items), len(fromMcpfed))
	}
	if missing := diff(catalogue, fromMcpfed); len(missing) > 0 {
		t.Errorf("mcpfed lists %d skills; its catalogue holds %d; missing: %v", len(fromMcpfed), len(catalogue), head(missing))
	}

	got, total, err := serveArtifacts(ctx, srv.URL, "skills")
	if err != nil {
		t.Fatal(err)
	}
	fromThv := byID(got)
	t.Logf("skills: the catalogue holds %d, mcpfed lists %d, thv serve lists %d (total %d)",
		len(catalogue), len(fromMcpfed), len(fromThv), total)
	if total != len(items) || len(got) != len(items) {
		t.Errorf("thv serve lists %d skills (total %d); mcpfed lists %d", len(got), total, len(items))
	}
	if missing := diff(fromMcpfed, fromThv); len(missing) > 0 {
		t.Errorf("thv serve lacks %d of mcpfed's skills: %v", len(missing), head(missing))
	}
	if extra := diff(fromThv, fromMcpfed); len(extra) > 0 {
		t.Errorf("thv serve lists skills mcpfed does not: %v", head(extra))
	}
	for id, v := range fromMcpfed {
		if w, ok := fromThv[id]; ok && w != v {
			t.Errorf("skill %s: thv serve has version %q, mcpfed %q", id, w, v)
		}
	}

	// One skill through thv's detail route, which asks mcpfed's
	// …/skills/{namespace}/{name}.
	if len(items) == 0 {
		return
	}
	a := items[0]
	var one artifactRef
	u := srv.URL + "/registry/default/v0.1/x/dev.toolhive/skills/" + url.PathEscape(a.Namespace) + "/" + url.PathEscape(a.Name)
	if err := getJSON(ctx, u, &one); err != nil {
		t.Errorf("thv serve skill detail: %v", err)
	} else if one.ID() != a.ID() {
		t.Errorf("thv serve skill detail for %s answered %s", a.ID(), one.ID())
	}
}

func testPlugins(t *testing.T, srv *Server, gw *Mcpfed) {
	ctx := t.Context()
	catalogue, err := catalogueIDs("plugins")
	if err != nil {
		t.Fatal(err)
	}
	items, err := mcpfedArtifacts(ctx, gw.URL, "plugins")
	if err != nil {
		t.Fatalf("mcpfed's own listing: %v", err)
	}
	// An empty list is fine; an error is not (thv serve turns a 404 from
	// the registry into a 500).
	got, total, err := serveArtifacts(ctx, srv.URL, "plugins")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plugins: the catalogue holds %d, mcpfed lists %d, thv serve lists %d", len(catalogue), len(items), total)
	if len(items) != len(catalogue) || total != len(items) || len(got) != len(items) {
		t.Errorf("plugins: catalogue %d, mcpfed %d, thv serve %d (total %d); want all equal", len(catalogue), len(items), len(got), total)
	}
}

func byID(items []artifactRef) map[string]string {
	m := make(map[string]string, len(items))
	for _, a := range items {
		m[a.ID()] = a.Version
	}
	return m
}

// head keeps error messages short.
func head(s []string) []string {
	if len(s) > 20 {
		return append(s[:20:20], "…")
	}
	return s
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	ja, _ := json.Marshal(x) // maps marshal with sorted keys
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

func get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	return body, err
}
