package kube

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/mcpfed/mcpfed/kubetest"
)

// The end-to-end test runs against a real kube-apiserver (make test-k8s;
// it skips unless MCPFED_TEST_K8S=1): ToolHive's CRDs as they ship, the
// RBAC of deploy/kubernetes as it ships, and the source reading the
// cluster as the service account that RBAC binds.

var (
	crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	rbacGV = schema.GroupVersion{Group: "rbac.authorization.k8s.io", Version: "v1"}
)

func TestKubeSourceAgainstAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	admin := kubetest.DynamicClient(t, c.Kubeconfig)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// ToolHive's CRDs, but VirtualMCPServer's: it is installed later.
	applyCRD(ctx, t, admin, "toolhive.stacklok.dev_mcpservers.yaml", ResourceMCPServers)
	applyCRD(ctx, t, admin, "toolhive.stacklok.dev_mcpremoteproxies.yaml", ResourceMCPRemoteProxies)

	// mcpfed's service account with the shipped RBAC, and its kubeconfig.
	c.CreateNamespace(t, "mcpfed")
	c.CreateServiceAccount(t, "mcpfed", "mcpfed")
	c.CreateNamespace(t, "tools")
	for _, obj := range kubetest.MustReadObjects(t, filepath.Join("..", "..", "deploy", "kubernetes", "rbac.yaml")) {
		resource := strings.ToLower(obj.GetKind()) + "s"
		if _, err := admin.Resource(rbacGV.WithResource(resource)).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", obj.GetKind(), err)
		}
	}
	kubeconfig := writeKubeconfig(t, c.Server, c.CAFile, c.Token(t, "mcpfed", "mcpfed"))
	asSA := kubetest.DynamicClient(t, kubeconfig)
	waitFor(t, "the service account allowed to list mcpservers", func() bool {
		_, err := asSA.Resource(gvrOf(KindMCPServer)).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil
	})
	if _, err := asSA.Resource(gvrOf(KindMCPServer)).Namespace("tools").Create(ctx, mcpServer("tools", "nope", "img", nil), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the shipped RBAC lets mcpfed create an MCPServer: %v", err)
	}

	github := mcpServer("tools", "github", "ghcr.io/github/github-mcp-server:1.2.0", exported(githubURL, "GitHub tools",
		AnnotationAuthzClaims, `{"groups":["eng"]}`, AnnotationCategory, "devtools"))
	github.Object["spec"].(map[string]any)["proxyPort"] = int64(8080)
	hidden := mcpServer("tools", "hidden", "ghcr.io/a/hidden:2.0.0", map[string]string{AnnotationServerName: "io.github.a/hidden"})
	fetch := resource(KindService, "tools", "fetch", exported("https://mcp.example.com/fetch", "Fetch pages"),
		map[string]any{"type": "ClusterIP", "ports": []any{map[string]any{"port": int64(80)}}}, nil)
	web := resource(KindService, "tools", "web", nil, map[string]any{"type": "ClusterIP", "ports": []any{map[string]any{"port": int64(80)}}}, nil)
	for _, o := range []*unstructured.Unstructured{github, hidden, fetch, web} {
		create(ctx, t, admin, o)
	}

	stateDir := t.TempDir()
	s, err := New(Options{
		Name: "cluster", StateDir: stateDir, Recheck: 300 * time.Millisecond, Logger: testLogger(t),
		Spec: Spec{Kubeconfig: kubeconfig, Debounce: 100 * time.Millisecond, LoadTimeout: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	waitFor(t, "the first load", func() bool { return s.Status().Loaded })
	if got, want := names(s), []string{"com.toolhive.k8s.tools/fetch@1.0.0", "com.toolhive.k8s.tools/github@1.2.0"}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	wantIn := []string{
		"Service tools/fetch ready=true entry=com.toolhive.k8s.tools/fetch",
		"MCPServer tools/github ready=false entry=com.toolhive.k8s.tools/github",
		"MCPServer tools/hidden ready=false entry=",
	}
	if got := instanceKeys(s); !slices.Equal(got, wantIn) {
		t.Fatalf("instances %q, want %q", got, wantIn)
	}
	if why := s.Report().Unavailable[ResourceVirtualMCPServers]; !strings.Contains(why, "not served") {
		t.Errorf("virtualmcpservers: %q", why)
	}
	if got := s.Claims("com.toolhive.k8s.tools/github"); got == nil {
		t.Error("no claims kept")
	}
	e := s.Snapshot().Get("com.toolhive.k8s.tools/github", "1.2.0")
	if !bytes.Contains(e.Encoded, []byte(`"uid":"`)) || !bytes.Contains(e.Encoded, []byte(`"image":"ghcr.io/github/github-mcp-server:1.2.0"`)) ||
		!bytes.Contains(e.Encoded, []byte(`"tags":["devtools"]`)) || !bytes.Contains(e.Encoded, []byte(`"url":"http://localhost:8080"`)) {
		t.Errorf("entry %s", e.Encoded)
	}

	// update: the status (ready) and the annotations (a new version)
	got := get(ctx, t, admin, github)
	got.Object["status"] = map[string]any{"phase": "Ready", "url": "http://mcp-github-proxy.tools.svc:8080",
		"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Running", "message": "", "lastTransitionTime": created.Format(time.RFC3339)}}}
	if _, err := admin.Resource(gvrOf(KindMCPServer)).Namespace("tools").UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "github ready", func() bool {
		return slices.Contains(instanceKeys(s), "MCPServer tools/github ready=true entry=com.toolhive.k8s.tools/github")
	})
	got = get(ctx, t, admin, hidden)
	got.SetAnnotations(exported("https://mcp.example.com/hidden", "Hidden no more", AnnotationVersion, "2.1.0"))
	if _, err := admin.Resource(gvrOf(KindMCPServer)).Namespace("tools").Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hidden exported", func() bool { return s.Snapshot().Get("com.toolhive.k8s.tools/hidden", "2.1.0") != nil })

	// delete
	if err := admin.Resource(gvrOf(KindService)).Namespace("tools").Delete(ctx, "fetch", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "fetch gone", func() bool { return !s.Snapshot().Has("com.toolhive.k8s.tools/fetch") })

	// a CRD installed while the source runs
	applyCRD(ctx, t, admin, "toolhive.stacklok.dev_virtualmcpservers.yaml", ResourceVirtualMCPServers)
	create(ctx, t, admin, resource(KindVirtualMCPServer, "tools", "gateway", exported("https://mcp.example.com/gateway", "All tools"),
		map[string]any{"groupRef": map[string]any{"name": "tools"}, "incomingAuth": map[string]any{"type": "anonymous"}}, nil))
	waitFor(t, "the virtual server", func() bool { return s.Snapshot().Has("com.toolhive.k8s.tools/gateway") })
	want := []string{"com.toolhive.k8s.tools/gateway@1.0.0", "com.toolhive.k8s.tools/github@1.2.0", "com.toolhive.k8s.tools/hidden@2.1.0"}
	if got := names(s); !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	if st := s.Status(); st.LastError != "" || len(s.Report().Unavailable) != 0 {
		t.Errorf("status %+v, report %+v", st, s.Report())
	}

	// persisted: a new source serves the same snapshot before any list
	// (the status follows the attempt, which persists before it ends)
	waitFor(t, "the rebuild done", func() bool { return s.Status().Revision == s.Snapshot().Revision })
	r, err := New(Options{Name: "cluster", StateDir: stateDir, Spec: Spec{Kubeconfig: kubeconfig}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Restore() || r.Snapshot().Revision != s.Snapshot().Revision {
		t.Errorf("restored revision %s, want %s", r.Status().Revision, s.Snapshot().Revision)
	}
}

func writeKubeconfig(t *testing.T, server, caFile, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {server: " + server + ", certificate-authority: " + caFile + "}\n" +
		"users:\n- name: mcpfed\n  user: {token: " + token + "}\n" +
		"contexts:\n- name: test\n  context: {cluster: test, user: mcpfed}\ncurrent-context: test\n"
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// applyCRD creates a CRD of testdata/toolhive/crds and waits until its
// resource can be listed.
func applyCRD(ctx context.Context, t *testing.T, admin dynamic.Interface, file, resource string) {
	t.Helper()
	for _, crd := range kubetest.MustReadObjects(t, filepath.Join("..", "..", "testdata", "toolhive", "crds", file)) {
		if _, err := admin.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create CRD %s: %v", crd.GetName(), err)
		}
	}
	gvr := schema.GroupVersionResource{Group: ToolHiveGroup, Version: typeOf(resource).versions[0], Resource: resource}
	waitFor(t, resource+" served", func() bool {
		_, err := admin.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil
	})
}

func create(ctx context.Context, t *testing.T, admin dynamic.Interface, o *unstructured.Unstructured) {
	t.Helper()
	o = o.DeepCopy()
	o.SetUID("")
	o.SetCreationTimestamp(metav1.Time{})
	if _, err := admin.Resource(gvrOf(o.GetKind())).Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
	}
}

func get(ctx context.Context, t *testing.T, admin dynamic.Interface, o *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	got, err := admin.Resource(gvrOf(o.GetKind())).Namespace(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitFor polls cond for up to a minute: a real API server answers within
// moments, but RBAC and CRD changes take effect through caches.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
