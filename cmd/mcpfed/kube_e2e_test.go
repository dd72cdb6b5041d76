package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/mcpfed/mcpfed/kubetest"
	"github.com/mcpfed/mcpfed/upstream/kube"
)

// Bounds of the end-to-end test, once the API server is up.
const (
	// e2eBudget bounds the whole test after the cluster started.
	e2eBudget = 120 * time.Second
	// e2eChange bounds how long a change in the cluster may take to be
	// served: the source's debounce (2 s by default) plus a rebuild,
	// with room for a CI machine running other API servers' tests at once
	// (about 2 s when idle).
	e2eChange = 20 * time.Second
	// e2ePoll is the interval of every poll.
	e2ePoll = 50 * time.Millisecond
)

var (
	e2eCRDs = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	e2eMCP  = schema.GroupVersionResource{Group: kube.ToolHiveGroup, Version: "v1beta1", Resource: kube.ResourceMCPServers}
)

// TestKubeGatewayEndToEnd runs the whole gateway (wire, then serve on a
// real listener with its source loops) on the built-in ToolHive catalogue
// and a kubernetes source reading a real kube-apiserver as the service
// account deploy/kubernetes/rbac.yaml binds, with the ToolHive CRDs as they
// ship, a root and a view team-a that needs a static token carrying groups
// team-a. Through HTTP only it checks exported resources as entries, a
// skipped one counted in the sources endpoint, deployed instances matched
// to catalogue servers by image, an entry restricted by authz-claims served
// only by the view that guarantees them, additions, updates (of a
// description, of claims) and deletions served within seconds, and, after
// a restart with the cluster out of reach, the persisted snapshot with its
// restrictions. make test-k8s runs it.
func TestKubeGatewayEndToEnd(t *testing.T) {
	c := kubetest.Start(t)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), e2eBudget)
	defer cancel()
	admin := kubetest.DynamicClient(t, c.Kubeconfig)

	// The cluster: ToolHive's CRDs, mcpfed's service account with the
	// shipped RBAC, and a namespace of MCP servers.
	for _, f := range []string{"toolhive.stacklok.dev_mcpservers.yaml", "toolhive.stacklok.dev_mcpremoteproxies.yaml", "toolhive.stacklok.dev_virtualmcpservers.yaml"} {
		for _, crd := range kubetest.MustReadObjects(t, filepath.Join("..", "..", "testdata", "toolhive", "crds", f)) {
			if _, err := admin.Resource(e2eCRDs).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create CRD %s: %v", crd.GetName(), err)
			}
		}
	}
	c.CreateNamespace(t, "mcpfed")
	c.CreateServiceAccount(t, "mcpfed", "mcpfed")
	c.CreateNamespace(t, "tools")
	for _, obj := range kubetest.MustReadObjects(t, filepath.Join("..", "..", "deploy", "kubernetes", "rbac.yaml")) {
		gvr := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: strings.ToLower(obj.GetKind()) + "s"}
		if _, err := admin.Resource(gvr).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", obj.GetKind(), err)
		}
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	e2eWrite(t, kubeconfig, "apiVersion: v1\nkind: Config\n"+
		"clusters:\n- name: test\n  cluster: {server: "+c.Server+", certificate-authority: "+c.CAFile+"}\n"+
		"users:\n- name: mcpfed\n  user: {token: "+c.Token(t, "mcpfed", "mcpfed")+"}\n"+
		"contexts:\n- name: test\n  context: {cluster: test, user: mcpfed}\ncurrent-context: test\n")
	asSA := kubetest.DynamicClient(t, kubeconfig)
	e2eWait(ctx, t, "the service account allowed to list mcpservers (CRD served, RBAC in effect)", func() (bool, string) {
		_, err := asSA.Resource(e2eMCP).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, fmt.Sprint(err)
	})

	// Before the gateway starts: an exported server, an exported one
	// without registry-url, one restricted to team-a, and one that is not
	// exported but runs a server of the built-in catalogue (another tag of
	// io.github.stacklok/fetch's ghcr.io/stackloklabs/gofetch/server:1.0.5).
	const (
		weather     = "com.toolhive.k8s.tools/weather"
		secret      = "com.toolhive.k8s.tools/secret"
		late        = "com.toolhive.k8s.tools/late"
		fetch       = "io.github.stacklok/fetch"
		weatherURL  = "https://mcp.example.com/weather"
		secretURL   = "https://mcp.example.com/secret"
		fetchImage  = "ghcr.io/stackloklabs/gofetch/server:1.0.1"
		weatherDesc = "Weather forecasts"
	)
	e2eCreate(ctx, t, admin, e2eServer("weather", "ghcr.io/example/weather:2.3.0", map[string]string{
		kube.AnnotationExport: "true", kube.AnnotationURL: weatherURL, kube.AnnotationDescription: weatherDesc,
	}))
	e2eCreate(ctx, t, admin, e2eServer("broken", "ghcr.io/example/broken:1.0.0", map[string]string{
		kube.AnnotationExport: "true", kube.AnnotationDescription: "No URL",
	}))
	e2eCreate(ctx, t, admin, e2eServer("secret", "ghcr.io/example/secret:1.0.0", map[string]string{
		kube.AnnotationExport: "true", kube.AnnotationURL: secretURL, kube.AnnotationDescription: "Team A only",
		kube.AnnotationAuthzClaims: `{"groups":"team-a"}`,
	}))
	e2eCreate(ctx, t, admin, e2eServer("fetch-prod", fetchImage, nil))

	// The gateway, configured as an operator would.
	dir := t.TempDir()
	const teamAToken, adminToken = "team-a-static-token-0123456789", "admin-static-token-0123456789"
	teamAFile, adminFile := filepath.Join(dir, "team-a-token"), filepath.Join(dir, "admin-token")
	e2eWrite(t, teamAFile, teamAToken+"\n")
	e2eWrite(t, adminFile, adminToken+"\n")
	// writeConfig writes the configuration, reading the cluster through
	// kubeconfig, and returns its path.
	writeConfig := func(kubeconfig string) string {
		p := filepath.Join(t.TempDir(), "mcpfed.yaml")
		e2eWrite(t, p, `listen: "127.0.0.1:0"
stateDir: `+filepath.Join(dir, "state")+`
sources:
  - {name: toolhive, kind: file, path: "builtin:toolhive"}
  - name: cluster
    kind: kubernetes
    kubeconfig: `+kubeconfig+`
auth:
  tokens:
    - {name: team-a-bot, tokenFile: `+teamAFile+`, claims: {groups: [team-a]}}
admin:
  tokenFile: `+adminFile+`
views:
  - name: default
  - name: team-a
    access: {claims: {groups: team-a}}
  - name: teams
    access: {claims: {groups: [team-a, team-b]}}
`)
		return p
	}
	base, stopGateway := e2eGateway(ctx, t, writeConfig(kubeconfig))
	hc := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	get := func(path, token string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil) // base: the running gateway
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode, b
	}
	// clusterReport is the cluster source's line of the sources endpoint.
	clusterReport := func() e2eSourceReport {
		t.Helper()
		code, b := get("/v0.1/x/io.github.mcpfed/sources", adminToken)
		var out struct{ Sources []e2eSourceReport }
		if code != http.StatusOK || json.Unmarshal(b, &out) != nil {
			t.Fatalf("sources: %d %s", code, b)
		}
		for _, r := range out.Sources {
			if r.Name == "cluster" {
				return r
			}
		}
		t.Fatalf("no cluster source in %s", b)
		return e2eSourceReport{}
	}
	listed := func(path, token string) []string {
		t.Helper()
		code, b := get(path, token)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		return e2eNames(t, b)
	}
	const k8sList = "/v0.1/servers?search=com.toolhive.k8s&version=latest&limit=100"
	const teamAList = "/registry/team-a/v0.1/servers?search=com.toolhive.k8s&version=latest&limit=100"

	e2eWait(ctx, t, "the cluster source loaded", func() (bool, string) {
		r := clusterReport()
		return r.State == "ok", fmt.Sprintf("%+v", r)
	})
	ready := time.Since(began)

	// The sources endpoint: the resource without registry-url is skipped
	// and counted; every MCPServer is an instance; nothing unavailable
	// with the shipped RBAC and every CRD installed.
	r := clusterReport()
	if r.Kind != kube.Kind || r.Entries != 2 || r.Instances != 4 || r.LastError != "" || len(r.Unavailable) != 0 ||
		len(r.Skipped) != 1 || r.Skipped[kube.SkipMissingURL] != 1 {
		t.Errorf("cluster source report %+v, want kind kubernetes, 2 entries, 4 instances, skipped {%s: 1}", r, kube.SkipMissingURL)
	}

	// The root: the exported server, as a streamable-http remote, with its
	// version from the image tag and its Kubernetes metadata; neither the
	// skipped nor the restricted one.
	if got, want := listed(k8sList, ""), []string{weather}; !slices.Equal(got, want) {
		t.Errorf("root lists %v, want %v", got, want)
	}
	code, b := get("/v0.1/servers/"+url.PathEscape(weather)+"/versions/latest", "")
	if code != http.StatusOK {
		t.Fatalf("weather latest: %d %s", code, b)
	}
	s := e2eServerOf(t, b)
	if s.Name != weather || s.Version != "2.3.0" || s.Description != weatherDesc ||
		len(s.Remotes) != 1 || s.Remotes[0].Type != "streamable-http" || s.Remotes[0].URL != weatherURL {
		t.Errorf("weather: %s", b)
	}
	for _, want := range []string{`"namespace":"tools"`, `"name":"weather"`, `"kind":"MCPServer"`, `"uid":"`, `"image":"ghcr.io/example/weather:2.3.0"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("weather: no %s in %s", want, b)
		}
	}
	if code, b := get("/v0.1/servers/"+url.PathEscape("com.toolhive.k8s.tools/broken")+"/versions/latest", ""); code != http.StatusNotFound {
		t.Errorf("broken at the root: %d %s", code, b)
	}
	if code, b := get("/v0.1/servers/"+url.PathEscape(secret)+"/versions/latest", ""); code != http.StatusNotFound {
		t.Errorf("secret at the root: %d %s", code, b)
	}

	// The team-a view serves the restricted entry to its token only.
	if got, want := listed(teamAList, teamAToken), []string{secret, weather}; !slices.Equal(got, want) {
		t.Errorf("team-a lists %v, want %v", got, want)
	}
	if code, b := get("/registry/team-a/v0.1/servers/"+url.PathEscape(secret)+"/versions/latest", teamAToken); code != http.StatusOK ||
		!strings.Contains(string(b), `"url":"`+secretURL+`"`) {
		t.Errorf("secret on team-a: %d %s", code, b)
	}
	// Neither the root's other path nor a view that admits callers
	// without team-a (groups team-a or team-b) serves it.
	if code, b := get("/registry/default/v0.1/servers/"+url.PathEscape(secret)+"/versions/latest", ""); code != http.StatusNotFound {
		t.Errorf("secret at /registry/default: %d %s", code, b)
	}
	if got, want := listed("/registry/teams/v0.1/servers?search=com.toolhive.k8s&version=latest&limit=100", teamAToken), []string{weather}; !slices.Equal(got, want) {
		t.Errorf("teams lists %v, want %v", got, want)
	}
	if code, b := get(teamAList, ""); code != http.StatusUnauthorized {
		t.Errorf("team-a without a token: %d %s", code, b)
	}
	if code, b := get(teamAList, "not-a-token"); code != http.StatusUnauthorized {
		t.Errorf("team-a with an unknown token: %d %s", code, b)
	}

	// Deployed instances: fetch-prod runs the catalogue's fetch (matched
	// by image, another tag), weather its own entry; broken is no server's
	// and secret is not shown at the root.
	wantRoot := []string{"tools/fetch-prod=" + fetch + " image=" + fetchImage, "tools/weather=" + weather + " url=" + weatherURL}
	if got := e2eDeployed(t, get, "/v0.1/x/io.github.mcpfed/deployed", ""); !slices.Equal(got, wantRoot) {
		t.Errorf("deployed at the root %q, want %q", got, wantRoot)
	}
	if got, want := e2eDeployed(t, get, "/v0.1/x/io.github.mcpfed/deployed/"+url.PathEscape(fetch), ""), wantRoot[:1]; !slices.Equal(got, want) {
		t.Errorf("deployed fetch %q, want %q", got, want)
	}
	if got := e2eDeployed(t, get, "/v0.1/x/io.github.mcpfed/deployed/"+url.PathEscape("io.github.stacklok/github"), ""); len(got) != 0 {
		t.Errorf("deployed github %q, want none", got)
	}
	if code, b := get("/v0.1/x/io.github.mcpfed/deployed/"+url.PathEscape(secret), ""); code != http.StatusNotFound {
		t.Errorf("deployed secret at the root: %d %s", code, b)
	}
	wantTeamA := []string{wantRoot[0], "tools/secret=" + secret + " url=" + secretURL, wantRoot[1]}
	if got := e2eDeployed(t, get, "/registry/team-a/v0.1/x/io.github.mcpfed/deployed", teamAToken); !slices.Equal(got, wantTeamA) {
		t.Errorf("deployed on team-a %q, want %q", got, wantTeamA)
	}
	if got, want := e2eDeployed(t, get, "/registry/team-a/v0/x/io.github.mcpfed/deployed/"+url.PathEscape(secret), teamAToken), wantTeamA[1:2]; !slices.Equal(got, want) {
		t.Errorf("deployed secret on team-a %q, want %q", got, want)
	}

	// Changes: an addition, updates, a deletion, each served within
	// e2eChange, timed.
	latency := map[string]time.Duration{}
	changed := func(what string, cond func() (bool, string)) {
		t.Helper()
		at := time.Now()
		wctx, cancel := context.WithTimeout(ctx, e2eChange)
		defer cancel()
		e2eWait(wctx, t, what, cond)
		latency[what] = time.Since(at).Round(time.Millisecond)
	}
	e2eCreate(ctx, t, admin, e2eServer("late", "ghcr.io/example/late:0.9.0", map[string]string{
		kube.AnnotationExport: "true", kube.AnnotationURL: "https://mcp.example.com/late", kube.AnnotationDescription: "Added later",
	}))
	changed("added", func() (bool, string) {
		got := listed(k8sList, "")
		return slices.Equal(got, []string{late, weather}), fmt.Sprint(got)
	})

	const newDesc = "Weather forecasts, now with radar"
	e2eAnnotate(ctx, t, admin, "weather", kube.AnnotationDescription, newDesc)
	changed("updated", func() (bool, string) {
		code, b := get("/v0.1/servers/"+url.PathEscape(weather)+"/versions/latest", "")
		return code == http.StatusOK && e2eServerOf(t, b).Description == newDesc, fmt.Sprintf("%d %s", code, b)
	})

	// New claims move the restricted entry out of the team-a view.
	e2eAnnotate(ctx, t, admin, "secret", kube.AnnotationAuthzClaims, `{"groups":"team-b"}`)
	changed("claims changed", func() (bool, string) {
		got := listed(teamAList, teamAToken)
		return slices.Equal(got, []string{late, weather}), fmt.Sprint(got)
	})

	if err := admin.Resource(e2eMCP).Namespace("tools").Delete(ctx, "weather", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	changed("deleted", func() (bool, string) {
		code, b := get("/v0.1/servers/"+url.PathEscape(weather)+"/versions/latest", "")
		return code == http.StatusNotFound, fmt.Sprintf("%d %s", code, b)
	})
	if got, want := listed(k8sList, ""), []string{late}; !slices.Equal(got, want) {
		t.Errorf("after the deletion the root lists %v, want %v", got, want)
	}
	wantRoot = []string{wantRoot[0], "tools/late=" + late + " url=https://mcp.example.com/late"}
	if got := e2eDeployed(t, get, "/v0.1/x/io.github.mcpfed/deployed", ""); !slices.Equal(got, wantRoot) {
		t.Errorf("deployed after the deletion %q, want %q", got, wantRoot)
	}
	if r := clusterReport(); r.Entries != 2 || r.Instances != 4 || r.Skipped[kube.SkipMissingURL] != 1 {
		t.Errorf("cluster source report after the changes %+v", r)
	}

	// Restarted with the cluster out of reach, the gateway serves the
	// persisted snapshot, restricted entries still hidden.
	stopGateway()
	base, _ = e2eGateway(ctx, t, writeConfig(unreachableKubeconfig(t)))
	e2eWait(ctx, t, "the restored cluster source", func() (bool, string) {
		r := clusterReport()
		return r.Entries == 2, fmt.Sprintf("%+v", r)
	})
	if got, want := listed(k8sList, ""), []string{late}; !slices.Equal(got, want) {
		t.Errorf("restored, the root lists %v, want %v", got, want)
	}
	if code, b := get("/v0.1/servers/"+url.PathEscape(secret)+"/versions/latest", ""); code != http.StatusNotFound {
		t.Errorf("restored, secret at the root: %d %s", code, b)
	}
	if got, want := listed(teamAList, teamAToken), []string{late}; !slices.Equal(got, want) {
		t.Errorf("restored, team-a lists %v, want %v", got, want)
	}
	t.Logf("after the API server was up: gateway serving the cluster in %s; changes served in %v; whole test %s",
		ready.Round(time.Millisecond), latency, time.Since(began).Round(time.Millisecond))
}

// e2eGateway wires the configuration in cfgFile and serves it on a free
// port (serve: the built-in catalogue loaded first, then the listener and
// the source loops) until stop is called or the test ends; it returns the
// gateway's base URL. On failure the gateway's log is shown.
func e2eGateway(ctx context.Context, t *testing.T, cfgFile string) (base string, stop func()) {
	t.Helper()
	cfg, err := loadConfig(vars("MCPFED_CONFIG", cfgFile), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	g, err := wire(cfg, slog.New(slog.NewTextHandler(logs, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- g.serve(srvCtx, listening) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-served; err != nil {
				t.Errorf("serve: %v", err)
			}
			if t.Failed() {
				t.Logf("gateway log (%s):\n%s", cfgFile, logs)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case addr := <-listening:
		return "http://" + addr, stop
	case err := <-served:
		t.Fatalf("serve: %v", err)
	case <-ctx.Done():
		t.Fatal("the gateway did not listen in time")
	}
	return "", stop
}

// e2eSourceReport is what the test reads of a source's report.
type e2eSourceReport struct {
	Name, Kind, State, LastError string
	Entries, Instances           int
	Skipped                      map[string]int
	Unavailable                  map[string]string
}

// e2eServerDoc is what the test reads of a server.json.
type e2eServerDoc struct {
	Name, Version, Description string
	Remotes                    []struct{ Type, URL string }
}

func e2eServerOf(t *testing.T, b []byte) e2eServerDoc {
	t.Helper()
	var r struct{ Server e2eServerDoc }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return r.Server
}

func e2eNames(t *testing.T, b []byte) []string {
	t.Helper()
	var list struct {
		Servers []struct{ Server e2eServerDoc }
	}
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	var out []string
	for _, s := range list.Servers {
		out = append(out, s.Server.Name)
	}
	return out
}

// e2eDeployed lists the instances of a deployed answer as
// "namespace/name=server image=… url=…", in the answer's order.
func e2eDeployed(t *testing.T, get func(string, string) (int, []byte), path, token string) []string {
	t.Helper()
	code, b := get(path, token)
	var out struct {
		Deployed []struct {
			Server, Namespace, Name, Kind, URL, Image, Source string
			Ready                                             bool
		}
		Metadata struct{ Count int }
	}
	if code != http.StatusOK || json.Unmarshal(b, &out) != nil || out.Metadata.Count != len(out.Deployed) {
		t.Fatalf("GET %s: %d %s", path, code, b)
	}
	got := []string{}
	for _, d := range out.Deployed {
		if d.Kind != kube.KindMCPServer || d.Source != "cluster" || d.Ready {
			t.Errorf("GET %s: instance %+v", path, d)
		}
		s := d.Namespace + "/" + d.Name + "=" + d.Server
		if d.Image != "" && !strings.HasPrefix(d.Image, "ghcr.io/example/") {
			s += " image=" + d.Image
		}
		if d.URL != "" {
			s += " url=" + d.URL
		}
		got = append(got, s)
	}
	return got
}

// e2eServer is an MCPServer in namespace tools.
func e2eServer(name, image string, ann map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": kube.ToolHiveGroup + "/v1beta1", "kind": kube.KindMCPServer,
		"spec": map[string]any{"image": image, "transport": "stdio"},
	}}
	u.SetNamespace("tools")
	u.SetName(name)
	if ann != nil {
		u.SetAnnotations(ann)
	}
	return u
}

func e2eCreate(ctx context.Context, t *testing.T, c dynamic.Interface, o *unstructured.Unstructured) {
	t.Helper()
	if _, err := c.Resource(e2eMCP).Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
	}
}

// e2eAnnotate sets one annotation of the MCPServer tools/name.
func e2eAnnotate(ctx context.Context, t *testing.T, c dynamic.Interface, name, key, value string) {
	t.Helper()
	obj, err := c.Resource(e2eMCP).Namespace("tools").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ann := obj.GetAnnotations()
	ann[key] = value
	obj.SetAnnotations(ann)
	if _, err := c.Resource(e2eMCP).Namespace("tools").Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// e2eDecode reads every object of a YAML file.

func e2eWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// e2eWait polls cond every e2ePoll until it holds or ctx ends; cond's
// second result says what it saw, for the failure message.
func e2eWait(ctx context.Context, t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	for {
		ok, saw := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; last seen: %s", what, saw)
		case <-time.After(e2ePoll):
		}
	}
}
