package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeCluster is client-go's fake dynamic client with watches the test
// drives: lists come from the object tracker, and every watch is a fake
// watcher the test sends events to (create, update, remove), or an
// "expired" error that makes the informer list again (relist). Resources
// can be made missing (their CRD not installed), forbidden, or every list
// can fail (the API server unreachable).
type fakeCluster struct {
	t      *testing.T
	client *dynamicfake.FakeDynamicClient

	mu        sync.Mutex
	watchers  map[string]*watch.RaceFreeFakeWatcher // by resource and namespace ("" all)
	opened    int                                   // watches opened so far
	missing   map[string]bool
	forbidden map[string]bool
	failLists atomic.Int32 // the next lists fail
	lists     atomic.Int32
}

func listKinds() map[schema.GroupVersionResource]string {
	m := map[schema.GroupVersionResource]string{{Version: "v1", Resource: ResourceServices}: "ServiceList"}
	for _, r := range []string{ResourceMCPServers, ResourceMCPRemoteProxies, ResourceVirtualMCPServers} {
		for _, v := range typeOf(r).versions {
			m[schema.GroupVersionResource{Group: ToolHiveGroup, Version: v, Resource: r}] = typeOf(r).kind + "List"
		}
	}
	return m
}

func newFakeCluster(t *testing.T, objs ...*unstructured.Unstructured) *fakeCluster {
	t.Helper()
	c := &fakeCluster{t: t, watchers: map[string]*watch.RaceFreeFakeWatcher{}, missing: map[string]bool{}, forbidden: map[string]bool{}}
	ros := make([]runtime.Object, len(objs))
	for i, o := range objs {
		ros[i] = o
	}
	c.client = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds(), ros...)
	c.client.PrependReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		c.lists.Add(1)
		res := a.GetResource()
		if c.failLists.Load() > 0 {
			c.failLists.Add(-1)
			return true, nil, errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case c.missing[res.Resource]:
			return true, nil, apierrors.NewNotFound(res.GroupResource(), "")
		case c.forbidden[res.Resource]:
			return true, nil, apierrors.NewForbidden(res.GroupResource(), "", errors.New("no RBAC"))
		}
		return false, nil, nil
	})
	c.client.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		w := watch.NewRaceFreeFake()
		c.mu.Lock()
		defer c.mu.Unlock()
		c.watchers[a.GetResource().Resource+"/"+a.GetNamespace()] = w
		c.opened++
		return true, w, nil
	})
	return c
}

func gvrOf(kind string) schema.GroupVersionResource {
	for _, r := range AllResources {
		if typeOf(r).kind == kind {
			v := typeOf(r).versions[0]
			return schema.GroupVersionResource{Group: typeOf(r).group, Version: v, Resource: r}
		}
	}
	panic("unknown kind " + kind)
}

// watcher is the open watch that sees obj's namespace.
func (c *fakeCluster) watcher(res, ns string) *watch.RaceFreeFakeWatcher {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w := c.watchers[res+"/"+ns]; w != nil {
		return w
	}
	return c.watchers[res+"/"]
}

func (c *fakeCluster) create(objs ...*unstructured.Unstructured) {
	c.t.Helper()
	for _, o := range objs {
		gvr := gvrOf(o.GetKind())
		if err := c.client.Tracker().Create(gvr, o.DeepCopy(), o.GetNamespace()); err != nil {
			c.t.Fatal(err)
		}
		if w := c.watcher(gvr.Resource, o.GetNamespace()); w != nil {
			w.Add(o.DeepCopy())
		}
	}
}

func (c *fakeCluster) update(o *unstructured.Unstructured) {
	c.t.Helper()
	gvr := gvrOf(o.GetKind())
	if err := c.client.Tracker().Update(gvr, o.DeepCopy(), o.GetNamespace()); err != nil {
		c.t.Fatal(err)
	}
	if w := c.watcher(gvr.Resource, o.GetNamespace()); w != nil {
		w.Modify(o.DeepCopy())
	}
}

func (c *fakeCluster) remove(o *unstructured.Unstructured) {
	c.t.Helper()
	gvr := gvrOf(o.GetKind())
	if err := c.client.Tracker().Delete(gvr, o.GetNamespace(), o.GetName()); err != nil {
		c.t.Fatal(err)
	}
	if w := c.watcher(gvr.Resource, o.GetNamespace()); w != nil {
		w.Delete(o.DeepCopy())
	}
}

// relist changes the tracker without telling any watch (changes missed
// while a watch was down), then expires every watch: the informers list
// again and see the changes only that way.
func (c *fakeCluster) relist(change func(tr k8stesting.ObjectTracker)) {
	c.t.Helper()
	change(c.client.Tracker())
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.watchers {
		w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
	}
}

func (c *fakeCluster) setMissing(res string, missing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.missing[res] = missing
}

// watchesOpened is the number of watches opened so far.
func (c *fakeCluster) watchesOpened() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened
}

// waitWatches waits until n watches were opened in all.
func (c *fakeCluster) waitWatches(n int) {
	c.t.Helper()
	eventually(c.t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.opened >= n
	}, "%d watches opened", n)
}

// eventually polls cond until it holds, failing the test after a while.
func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testSource is a source over the fake cluster with short waits.
func testSource(t *testing.T, c *fakeCluster, spec Spec, opts ...func(*Options)) *Source {
	t.Helper()
	if spec.Debounce == 0 {
		spec.Debounce = 10 * time.Millisecond
	}
	if spec.LoadTimeout == 0 {
		spec.LoadTimeout = 5 * time.Second
	}
	o := Options{Name: "k8s", Spec: spec, Client: c.client, Recheck: 20 * time.Millisecond, Retry: 5 * time.Millisecond, Logger: testLogger(t)}
	for _, f := range opts {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testLogger writes the source's log to the test's (go test -v shows it).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// run runs s until the test ends.
func run(t *testing.T, s *Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// names lists the snapshot's entries as name@version.
func names(s *Source) []string {
	snap := s.Snapshot()
	if snap == nil {
		return nil
	}
	var out []string
	for _, e := range snap.Entries() {
		out = append(out, e.Name+"@"+e.Version)
	}
	return out
}

// instanceKeys lists instances as kind ns/name(ready,entry).
func instanceKeys(s *Source) []string {
	var out []string
	for _, in := range s.Instances() {
		out = append(out, fmt.Sprintf("%s %s/%s ready=%v entry=%s", in.Kind, in.Namespace, in.Name, in.Ready, in.Entry))
	}
	return out
}
