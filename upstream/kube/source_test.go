package kube

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8stesting "k8s.io/client-go/testing"

	"github.com/mcpfed/mcpfed/upstream"
)

const githubURL = "https://mcp.example.com/github"

// TestSourceWatchEvents follows a cluster through add, update, delete and
// a relist, checking snapshot and instances after each.
func TestSourceWatchEvents(t *testing.T) {
	t.Parallel()
	github := mcpServer("tools", "github", "ghcr.io/github/github-mcp-server:1.2.0", exported(githubURL, "GitHub tools"))
	hidden := mcpServer("tools", "hidden", "ghcr.io/a/hidden:1.0.0", nil)
	plainSvc := resource(KindService, "tools", "web", nil, map[string]any{"type": "ClusterIP"}, nil)
	svc := resource(KindService, "tools", "fetch", exported("https://mcp.example.com/fetch", "Fetch"), map[string]any{"type": "ClusterIP"}, nil)
	c := newFakeCluster(t, github, hidden, plainSvc, svc)
	s := testSource(t, c, Spec{})
	run(t, s)
	eventually(t, func() bool { return s.Status().Loaded }, "the first load")
	c.waitWatches(len(AllResources))

	want := []string{"com.toolhive.k8s.tools/fetch@1.0.0", "com.toolhive.k8s.tools/github@1.2.0"}
	if got := names(s); !slices.Equal(got, want) {
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
	for _, in := range s.Instances() {
		if in.Source != "k8s" {
			t.Errorf("instance source %q", in.Source)
		}
	}

	// add
	proxy := resource(KindMCPRemoteProxy, "tools", "jira", exported("https://mcp.example.com/jira", "Jira"), nil,
		map[string]any{"phase": "Ready"})
	c.create(proxy)
	eventually(t, func() bool { return slices.Contains(names(s), "com.toolhive.k8s.tools/jira@1.0.0") }, "the added proxy")
	if got := instanceKeys(s); !slices.Contains(got, "MCPRemoteProxy tools/jira ready=true entry=com.toolhive.k8s.tools/jira") {
		t.Errorf("instances %q", got)
	}

	// update: a new description, and the hidden server exported
	github = github.DeepCopy()
	ann := github.GetAnnotations()
	ann[AnnotationDescription] = "GitHub, updated"
	ann[AnnotationVersion] = "2.0.0"
	github.SetAnnotations(ann)
	c.update(github)
	hidden = hidden.DeepCopy()
	hidden.SetAnnotations(exported("https://mcp.example.com/hidden", "Now visible"))
	c.update(hidden)
	eventually(t, func() bool {
		e := s.Snapshot().Get("com.toolhive.k8s.tools/github", "2.0.0")
		return e != nil && e.Description == "GitHub, updated" && s.Snapshot().Has("com.toolhive.k8s.tools/hidden")
	}, "the updated annotations")
	if s.Snapshot().Has("com.toolhive.k8s.tools/github") && s.Snapshot().Get("com.toolhive.k8s.tools/github", "1.2.0") != nil {
		t.Error("the old version is still served")
	}

	// delete
	c.remove(svc)
	eventually(t, func() bool { return !s.Snapshot().Has("com.toolhive.k8s.tools/fetch") }, "the deleted service gone")
	if got := instanceKeys(s); slices.ContainsFunc(got, func(k string) bool { return strings.Contains(k, "tools/fetch") }) {
		t.Errorf("instances still list the deleted service: %q", got)
	}

	// relist: changes no watch reported, seen when the informers list again
	opened := c.watchesOpened()
	late := resource(KindVirtualMCPServer, "tools", "late", exported("https://mcp.example.com/late", "Late"), nil, nil)
	c.relist(func(tr k8stesting.ObjectTracker) {
		if err := tr.Delete(gvrOf(KindMCPRemoteProxy), "tools", "jira"); err != nil {
			t.Fatal(err)
		}
		if err := tr.Create(gvrOf(KindVirtualMCPServer), late, "tools"); err != nil {
			t.Fatal(err)
		}
	})
	eventually(t, func() bool {
		snap := s.Snapshot()
		return snap.Has("com.toolhive.k8s.tools/late") && !snap.Has("com.toolhive.k8s.tools/jira")
	}, "the relisted state")
	c.waitWatches(opened + len(AllResources))
	want = []string{"com.toolhive.k8s.tools/github@2.0.0", "com.toolhive.k8s.tools/hidden@1.0.0", "com.toolhive.k8s.tools/late@1.0.0"}
	if got := names(s); !slices.Equal(got, want) {
		t.Errorf("after relist: %v, want %v", got, want)
	}
	if st := s.Status(); st.LastError != "" || st.Entries != 3 || st.Kind != Kind {
		t.Errorf("status %+v", st)
	}
}

// TestSourceCoalesces checks changes that arrive while a rebuild runs
// make one rebuild, which reads them all: no snapshot holds a part of
// the burst. The watch loop is held inside a rebuild (by OnLoad) while
// the burst lands, so nothing depends on how fast events are delivered.
func TestSourceCoalesces(t *testing.T) {
	t.Parallel()
	c := newFakeCluster(t)
	var (
		mu    sync.Mutex
		loads []upstream.SourceStatus // every attempt's status, in order
	)
	loaded := func() []upstream.SourceStatus {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(loads)
	}
	var hold atomic.Bool
	held := make(chan struct{}, 1)
	release := make(chan struct{})
	var releaseOnce sync.Once
	s := testSource(t, c, Spec{}, func(o *Options) {
		o.OnLoad = func(st upstream.SourceStatus, _ time.Duration) {
			mu.Lock()
			loads = append(loads, st)
			mu.Unlock()
			if hold.CompareAndSwap(true, false) {
				held <- struct{}{}
				<-release
			}
		}
	})
	run(t, s)
	// Registered after run: runs first, so Run is never left blocked.
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	// Loaded is visible before OnLoad has run: wait for the call.
	eventually(t, func() bool { return len(loaded()) >= 1 }, "the first load")
	c.waitWatches(len(AllResources))

	// One change; its rebuild is held in OnLoad.
	hold.Store(true)
	c.create(mcpServer("ns", "trigger", "img:1.0.0", exported("https://mcp.example.com/trigger", "Trigger")))
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the rebuild of the first change")
	}
	before := loaded()
	if len(before) != 2 || before[1].Entries != 1 || before[1].LastError != "" {
		t.Fatalf("attempts before the burst %+v, want the first load and one rebuild of 1 entry", before)
	}

	// The burst, all of it in the informers' lists before the rebuild ends.
	var burst []*unstructured.Unstructured
	for i := range 30 {
		name := "srv-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		burst = append(burst, mcpServer("ns", name, "img:1.0.0", exported("https://mcp.example.com/"+name, "Server "+name)))
	}
	c.create(burst...)
	sess := s.running.Load()
	if sess == nil {
		t.Fatal("no running session during a rebuild of the watch loop")
	}
	eventually(t, func() bool { return len(sess.objects()) == 31 }, "the burst in the informers' lists")
	releaseOnce.Do(func() { close(release) })

	// Wait for OnLoad, not the status: the status is set before it runs.
	eventually(t, func() bool { l := loaded(); return len(l) > 2 && l[len(l)-1].Entries == 31 }, "a rebuild of 31 entries")
	after := loaded()[2:]
	// The burst is read by the next rebuild; a change notified after that
	// rebuild read the lists may rebuild again, finding nothing new.
	revisions := map[string]bool{}
	for _, st := range after {
		if st.Entries != 31 || st.LastError != "" {
			t.Errorf("a rebuild after the burst: %+v, want all 31 entries", st)
		}
		revisions[st.Revision] = true
	}
	if len(revisions) != 1 || revisions[before[1].Revision] {
		t.Errorf("%d snapshots for one burst (attempts %+v), want 1", len(revisions), after)
	}
}

// TestSourceStatusOnlyChange checks a change that touches no entry (a
// status update) refreshes instances without a new snapshot.
func TestSourceStatusOnlyChange(t *testing.T) {
	t.Parallel()
	srv := mcpServer("ns", "x", "img:1.0.0", exported(githubURL, "X"))
	c := newFakeCluster(t, srv)
	s := testSource(t, c, Spec{})
	run(t, s)
	eventually(t, func() bool { return s.Status().Loaded }, "the first load")
	c.waitWatches(len(AllResources))
	snap := s.Snapshot()
	srv = srv.DeepCopy()
	srv.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}, "url": "http://in"}
	c.update(srv)
	eventually(t, func() bool { in := s.Instances(); return len(in) == 1 && in[0].Ready }, "the instance ready")
	if s.Snapshot() != snap {
		t.Error("a status update replaced the snapshot")
	}
	if st := s.Status(); st.LastError != "" {
		t.Errorf("status %+v", st)
	}
}

// TestSourceSkippedCounts checks resources that cannot be entries are
// counted by reason, never fail the source.
func TestSourceSkippedCounts(t *testing.T) {
	t.Parallel()
	c := newFakeCluster(t,
		mcpServer("ns", "ok", "img:1.0.0", exported(githubURL, "OK", AnnotationVersion, "nope")),
		mcpServer("ns", "nourl", "img", map[string]string{AnnotationExport: "true", AnnotationDescription: "d"}),
		mcpServer("ns", "nodesc", "img", map[string]string{AnnotationExport: "true", AnnotationURL: githubURL}),
		mcpServer("ns", "claims", "img", exported(githubURL, "d", AnnotationAuthzClaims, "{bad")),
		mcpServer("ns", "withclaims", "img", exported(githubURL, "d", AnnotationAuthzClaims, `{"groups":["eng"]}`)),
		// the MCPServer ns/ok wins over the Service of the same name
		resource(KindService, "ns", "ok", exported(githubURL, "Dup"), nil, nil),
	)
	s := testSource(t, c, Spec{})
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"com.toolhive.k8s.ns/ok@1.0.0", "com.toolhive.k8s.ns/withclaims@1.0.0"}
	if got := names(s); !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	r := s.Report()
	wantSkipped := map[string]int{SkipMissingURL: 1, SkipMissingDescription: 1, SkipInvalidClaims: 1, SkipDuplicateName: 1}
	if !mapsEqual(r.Skipped, wantSkipped) || !mapsEqual(r.Warnings, map[string]int{WarnInvalidVersion: 1}) {
		t.Errorf("skipped %v warnings %v", r.Skipped, r.Warnings)
	}
	if r.Exported != 2 || r.Instances != 6 || len(r.Unavailable) != 0 {
		t.Errorf("report %+v", r)
	}
	if got := s.Claims("com.toolhive.k8s.ns/withclaims"); len(got) != 1 || got["groups"] == nil {
		t.Errorf("claims %v", got)
	}
	if s.Claims("com.toolhive.k8s.ns/ok") != nil {
		t.Error("claims of an entry without any")
	}
	for _, in := range s.Instances() {
		if in.Kind == KindService && in.Entry != "" {
			t.Errorf("the losing duplicate names an entry: %+v", in)
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSourceMissingCRD checks a resource the cluster does not serve is
// reported and left out, the others watched, and it is picked up once
// its CRD appears.
func TestSourceMissingCRD(t *testing.T) {
	t.Parallel()
	c := newFakeCluster(t,
		mcpServer("ns", "a", "img:1.0.0", exported(githubURL, "A")),
		resource(KindVirtualMCPServer, "ns", "v", exported("https://v.example.com", "V"), nil, nil),
	)
	c.setMissing(ResourceVirtualMCPServers, true)
	c.forbidden[ResourceServices] = true
	s := testSource(t, c, Spec{})
	run(t, s)
	eventually(t, func() bool { return s.Status().Loaded }, "the first load")
	if got := names(s); !slices.Equal(got, []string{"com.toolhive.k8s.ns/a@1.0.0"}) {
		t.Fatalf("entries %v", got)
	}
	r := s.Report()
	if !strings.Contains(r.Unavailable[ResourceVirtualMCPServers], "not served") || !strings.Contains(r.Unavailable[ResourceServices], "forbidden") {
		t.Errorf("unavailable %v", r.Unavailable)
	}
	if st := s.Status(); st.LastError != "" {
		t.Errorf("a missing CRD failed the source: %+v", st)
	}
	c.setMissing(ResourceVirtualMCPServers, false) // the CRD is installed
	eventually(t, func() bool { return s.Snapshot().Has("com.toolhive.k8s.ns/v") }, "the virtual server once its CRD is there")
	eventually(t, func() bool {
		_, still := s.Report().Unavailable[ResourceVirtualMCPServers]
		return !still
	}, "virtualmcpservers no longer reported")
}

// TestSourceNamespacesAndSelector checks only the configured namespaces
// and labels are watched.
func TestSourceNamespacesAndSelector(t *testing.T) {
	t.Parallel()
	labelled := func(o *unstructured.Unstructured, v string) *unstructured.Unstructured {
		o.SetLabels(map[string]string{"team": v})
		return o
	}
	c := newFakeCluster(t,
		labelled(mcpServer("a", "one", "img", exported(githubURL, "one")), "x"),
		labelled(mcpServer("a", "two", "img", exported(githubURL, "two")), "y"),
		labelled(mcpServer("b", "three", "img", exported(githubURL, "three")), "x"),
		labelled(mcpServer("c", "four", "img", exported(githubURL, "four")), "x"),
	)
	s := testSource(t, c, Spec{Namespaces: []string{"a", "b"}, LabelSelector: "team=x", Resources: []string{ResourceMCPServers}})
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"com.toolhive.k8s.a/one@1.0.0", "com.toolhive.k8s.b/three@1.0.0"}
	if got := names(s); !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
	if got := len(s.Instances()); got != 2 {
		t.Errorf("%d instances", got)
	}
}

// TestSourceMaxEntries checks the bound: too many entries fail the
// rebuild (the last good snapshot stays), instances are cut.
func TestSourceMaxEntries(t *testing.T) {
	t.Parallel()
	c := newFakeCluster(t,
		mcpServer("ns", "a", "img", exported(githubURL, "A")),
		mcpServer("ns", "b", "img", exported(githubURL, "B")),
		mcpServer("ns", "c", "img", exported(githubURL, "C")),
	)
	s := testSource(t, c, Spec{MaxEntries: 2})
	err := s.Load(context.Background())
	if !errors.Is(err, upstream.ErrTooLarge) {
		t.Fatalf("load: %v", err)
	}
	if s.Snapshot() != nil || s.Status().State() != "failed" {
		t.Errorf("status %+v", s.Status())
	}
	if got := instanceKeys(s); len(got) != 2 || s.Report().InstancesOmitted != 1 {
		t.Errorf("instances %q, report %+v", got, s.Report())
	}
}

// TestSourceMaxBytes checks a byte bound on what the exported resources
// make: annotations are every tenant's to write, so their total is
// bounded, not only their count.
func TestSourceMaxBytes(t *testing.T) {
	t.Parallel()
	defs := `[{"name":"t","description":"` + strings.Repeat("x", 2000) + `"}]`
	c := newFakeCluster(t,
		mcpServer("ns", "a", "img", exported(githubURL, "A", AnnotationToolDefinitions, defs)),
		mcpServer("ns", "b", "img", exported(githubURL, "B", AnnotationToolDefinitions, defs)),
	)
	s := testSource(t, c, Spec{MaxBytes: 3000})
	if err := s.Load(context.Background()); !errors.Is(err, upstream.ErrTooLarge) {
		t.Fatalf("load over maxBytes: %v", err)
	}
	if s.Snapshot() != nil {
		t.Error("a snapshot over the bound was installed")
	}
	s = testSource(t, c, Spec{MaxBytes: 1 << 20})
	if err := s.Load(context.Background()); err != nil {
		t.Fatalf("load under maxBytes: %v", err)
	}
}

// TestSourcePersists checks the snapshot is saved and restored like every
// snapshot source's, and served while the cluster cannot be reached.
func TestSourcePersists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := newFakeCluster(t, mcpServer("ns", "a", "img:1.0.0", exported(githubURL, "A")))
	s := testSource(t, c, Spec{}, func(o *Options) { o.StateDir = dir })
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	saved := s.Snapshot().At(0).Encoded

	down := newFakeCluster(t)
	down.failLists.Store(1 << 20)
	r := testSource(t, down, Spec{}, func(o *Options) { o.StateDir = dir })
	run(t, r)
	eventually(t, func() bool { return r.Status().LastError != "" }, "a failed start")
	st := r.Status()
	if st.State() != "stale" || st.Entries != 1 || !strings.Contains(st.LastError, "connection refused") {
		t.Errorf("status %+v (%s)", st, st.State())
	}
	if got := r.Snapshot().At(0).Encoded; string(got) != string(saved) {
		t.Errorf("restored %s, saved %s", got, saved)
	}
	eventually(t, func() bool { return down.lists.Load() > 2 }, "retries")
	if len(r.Instances()) != 0 {
		t.Error("instances before any list")
	}
}

// TestSourceRetriesStart checks Run keeps trying until the cluster
// answers.
func TestSourceRetriesStart(t *testing.T) {
	t.Parallel()
	c := newFakeCluster(t, mcpServer("ns", "a", "img:1.0.0", exported(githubURL, "A")))
	c.failLists.Store(3)
	s := testSource(t, c, Spec{})
	run(t, s)
	eventually(t, func() bool { return s.Snapshot() != nil }, "a snapshot after retries")
	if st := s.Status(); st.LastError != "" || st.Entries != 1 {
		t.Errorf("status %+v", st)
	}
}

// TestSourceLoadWhileRunning checks Load and Resync rebuild from the
// running informers.
func TestSourceLoadWhileRunning(t *testing.T) {
	t.Parallel()
	c := newFakeCluster(t, mcpServer("ns", "a", "img:1.0.0", exported(githubURL, "A")))
	s := testSource(t, c, Spec{Debounce: time.Hour}) // only Load rebuilds
	run(t, s)
	eventually(t, func() bool { return s.Status().Loaded }, "the first load")
	// Run publishes its session after the first load's attempt has ended
	// (Loaded is visible before): until then a Load lists on its own.
	eventually(t, func() bool { return s.running.Load() != nil }, "the watch loop running")
	c.waitWatches(len(AllResources))
	lists := c.lists.Load()
	c.create(mcpServer("ns", "b", "img:1.0.0", exported(githubURL, "B")))
	eventually(t, func() bool {
		if err := s.Resync(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s.Snapshot().Has("com.toolhive.k8s.ns/b")
	}, "b after a resync")
	if c.lists.Load() != lists {
		t.Error("a load while running listed again")
	}
}

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"bad resource", Options{Name: "k", Spec: Spec{Resources: []string{"pods"}}}, "resources"},
		{"bad namespace", Options{Name: "k", Spec: Spec{Namespaces: []string{"Not_A_Namespace"}}}, "watchNamespaces"},
		{"bad selector", Options{Name: "k", Spec: Spec{LabelSelector: "a in (b"}}, "labelSelector"},
		{"context without kubeconfig", Options{Name: "k", Spec: Spec{Context: "x"}}, "context"},
		{"no name", Options{}, "name"},
		{"missing kubeconfig", Options{Name: "k", Spec: Spec{Kubeconfig: "/nonexistent/kubeconfig"}}, "kubeconfig"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error about %s", err, tc.want)
			}
		})
	}
}
