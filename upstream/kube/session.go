package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// ToolHiveGroup is the API group of ToolHive's resources.
const ToolHiveGroup = "toolhive.stacklok.dev"

// resourceType is how one watchable resource is reached.
type resourceType struct {
	group string
	// versions are tried in order: the first one served is watched. The
	// ToolHive operator serves v1beta1 (storage) and the deprecated
	// v1alpha1; older operators serve v1alpha1 only. The fields read are
	// the same in both.
	versions []string
	kind     string
}

// typeOf describes a resource of AllResources.
func typeOf(resource string) resourceType {
	toolhive := []string{"v1beta1", "v1alpha1"}
	switch resource {
	case ResourceMCPServers:
		return resourceType{ToolHiveGroup, toolhive, KindMCPServer}
	case ResourceMCPRemoteProxies:
		return resourceType{ToolHiveGroup, toolhive, KindMCPRemoteProxy}
	case ResourceVirtualMCPServers:
		return resourceType{ToolHiveGroup, toolhive, KindVirtualMCPServer}
	}
	return resourceType{"", []string{"v1"}, KindService}
}

// resourceWatch is one informer: a resource in a namespace ("" for all).
type resourceWatch struct {
	resource, namespace string
	gvr                 schema.GroupVersionResource
	kind                string
	informer            cache.SharedIndexInformer
	// handled is the event handler's registration: synced once the
	// handler has seen the first list's events too (not only the cache).
	handled cache.ResourceEventHandlerRegistration
}

// session is the informers of a running source: started together, stopped
// together. Its lists are read by rebuilds while the informers update them.
type session struct {
	src     *Source
	ctx     context.Context // the informers' context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	changed chan struct{} // a change since the last rebuild (capacity 1)

	mu      sync.Mutex
	watches []*resourceWatch
	// unavailable holds, by resource, why it is not watched (its CRD is
	// not installed; listing it is forbidden) in one namespace or all
	// ("" key: the resource as a whole).
	unavailable map[string]map[string]string
	// startedOnce is set once the first lists are in: resources watched
	// later are logged.
	startedOnce bool
}

// start probes every configured resource, starts an informer for each one
// the cluster serves, and waits up to wait for their first lists. A
// resource that is not served or not allowed is left out and reported; any
// other error (the API server cannot be reached) fails the start. The
// informers run until ctx ends or close is called.
func (s *Source) start(ctx context.Context, wait time.Duration) (*session, error) {
	logger := logr.FromSlogHandler(s.o.Logger.With("source", s.o.Name).Handler())
	sctx, cancel := context.WithCancel(klog.NewContext(ctx, logger))
	sess := &session{src: s, ctx: sctx, cancel: cancel, changed: make(chan struct{}, 1), unavailable: map[string]map[string]string{}}
	probeCtx, cancelProbe := context.WithTimeout(ctx, wait)
	defer cancelProbe()
	for _, r := range s.o.Spec.Resources {
		if err := sess.watchResource(probeCtx, r, nil); err != nil {
			sess.close()
			return nil, err
		}
	}
	if err := sess.waitSynced(probeCtx); err != nil {
		sess.close()
		return nil, err
	}
	sess.drain()
	sess.startedOnce = true
	return sess, nil
}

// watchResource probes resource in every configured namespace not in
// watched and starts the informers of those served; the others are
// recorded as unavailable, with why.
func (sess *session) watchResource(ctx context.Context, resource string, watched map[string]bool) error {
	s := sess.src
	rt := typeOf(resource)
	namespaces := s.o.Spec.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	why := map[string]string{}
	var started []*resourceWatch
	defer func() {
		// Informers started before an error run: they are the session's.
		sess.mu.Lock()
		sess.watches = append(sess.watches, started...)
		sess.mu.Unlock()
	}()
	for _, ns := range namespaces {
		if watched[ns] {
			continue
		}
		version, reason, err := s.probe(ctx, resource, rt, ns)
		if err != nil {
			return err
		}
		if reason != "" {
			if version == "" { // not installed: the same in every namespace
				why = map[string]string{"": reason}
				break
			}
			why[ns] = reason
			continue
		}
		w := &resourceWatch{resource: resource, namespace: ns, kind: rt.kind, gvr: schema.GroupVersionResource{Group: rt.group, Version: version, Resource: resource}}
		if err := sess.run(w); err != nil {
			return err
		}
		started = append(started, w)
		if sess.startedOnce {
			s.o.Logger.Info("kubernetes resource now watched", "source", s.o.Name, "resource", resource, "namespace", nsLabel(ns), "version", version)
		}
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	for ns, reason := range why {
		if sess.unavailable[resource][ns] != reason {
			s.o.Logger.Warn("kubernetes resource not watched", "source", s.o.Name, "resource", resource, "namespace", nsLabel(ns), "reason", reason)
		}
	}
	sess.unavailable[resource] = why
	return nil
}

// probe finds the served version of resource with a one-item list in ns.
// A resource whose versions are all unknown to the API server is not
// installed (why set, version empty); a forbidden list is why set with the
// version. Other errors are returned.
func (s *Source) probe(ctx context.Context, resource string, rt resourceType, ns string) (version, why string, err error) {
	for _, v := range rt.versions {
		gvr := schema.GroupVersionResource{Group: rt.group, Version: v, Resource: resource}
		_, err := s.client.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{Limit: 1, LabelSelector: s.o.Spec.LabelSelector})
		switch {
		case err == nil:
			return v, "", nil
		case apierrors.IsNotFound(err):
			continue
		case apierrors.IsForbidden(err):
			return v, "forbidden (check the RBAC of mcpfed's service account): " + err.Error(), nil
		}
		return "", "", fmt.Errorf("list %s: %w", gvr.GroupResource(), err)
	}
	return "", fmt.Sprintf("not served by the cluster (is the %s CRD installed?)", rt.kind), nil
}

// run starts w's informer: changes signal the session; watch errors are
// logged (the informer retries with its own backoff).
func (sess *session) run(w *resourceWatch) error {
	s := sess.src
	selector := s.o.Spec.LabelSelector
	w.informer = dynamicinformer.NewFilteredDynamicInformer(s.client, w.gvr, w.namespace, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = selector }).Informer()
	if err := w.informer.SetTransform(slim); err != nil {
		return fmt.Errorf("watch %s: %w", w.gvr.GroupResource(), err)
	}
	notify := func(any) { sess.signal() }
	var err error
	if w.handled, err = w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	}); err != nil {
		return fmt.Errorf("watch %s: %w", w.gvr.GroupResource(), err)
	}
	log := s.o.Logger
	if err := w.informer.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
			return // a watch the server closed, or shutdown: re-established as usual
		}
		log.Warn("kubernetes watch failed; retrying", "source", s.o.Name, "resource", w.gvr.GroupResource().String(),
			"namespace", nsLabel(w.namespace), "error", err)
	}); err != nil {
		return fmt.Errorf("watch %s: %w", w.gvr.GroupResource(), err)
	}
	sess.wg.Go(func() { w.informer.RunWithContext(sess.ctx) })
	return nil
}

func nsLabel(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}

// recheck probes again the resources that were not served or not allowed,
// and starts watching those that now are; their first lists signal a
// change like any other. It waits at most wait.
func (sess *session) recheck(ctx context.Context, wait time.Duration) {
	sess.mu.Lock()
	var again []string
	for r, why := range sess.unavailable {
		if len(why) > 0 {
			again = append(again, r)
		}
	}
	sess.mu.Unlock()
	slices.Sort(again)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for _, r := range again {
		sess.mu.Lock()
		watched := map[string]bool{}
		for _, w := range sess.watches {
			if w.resource == r {
				watched[w.namespace] = true
			}
		}
		sess.mu.Unlock()
		if err := sess.watchResource(ctx, r, watched); err != nil {
			sess.src.o.Logger.Warn("could not look for kubernetes resource again", "source", sess.src.o.Name, "resource", r, "error", err)
		}
	}
}

// waitSynced waits for the first list of every informer, until ctx ends.
func (sess *session) waitSynced(ctx context.Context) error {
	sess.mu.Lock()
	watches := slices.Clone(sess.watches)
	sess.mu.Unlock()
	synced := make([]cache.InformerSynced, len(watches))
	for i, w := range watches {
		// The handler's sync, not the cache's: the first list's events
		// are then all signalled, so drain after it leaves none to make a
		// rebuild that changes nothing.
		synced[i] = w.handled.HasSynced
	}
	if cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil
	}
	var pending []string
	for _, w := range watches {
		if !w.handled.HasSynced() {
			pending = append(pending, w.gvr.GroupResource().String()+" in "+nsLabel(w.namespace))
		}
	}
	return fmt.Errorf("the first list of %v did not finish: %w", pending, context.Cause(ctx))
}

// signal records a change; a change already pending absorbs it.
func (sess *session) signal() {
	select {
	case sess.changed <- struct{}{}:
	default:
	}
}

// drain forgets a pending change (the next rebuild reads everything).
func (sess *session) drain() {
	select {
	case <-sess.changed:
	default:
	}
}

// object is a watched resource with its kind.
type object struct {
	kind string
	obj  *unstructured.Unstructured
}

// objects lists what the informers hold, in the order of the configured
// resources, then namespace and name.
func (sess *session) objects() []object {
	sess.mu.Lock()
	watches := slices.Clone(sess.watches)
	sess.mu.Unlock()
	order := func(resource string) int { return slices.Index(AllResources, resource) }
	slices.SortStableFunc(watches, func(a, b *resourceWatch) int { return order(a.resource) - order(b.resource) })
	var out []object
	for _, w := range watches {
		items := w.informer.GetStore().List()
		start := len(out)
		for _, it := range items {
			if u, ok := it.(*unstructured.Unstructured); ok {
				out = append(out, object{kind: w.kind, obj: u})
			}
		}
		part := out[start:]
		slices.SortFunc(part, func(a, b object) int {
			if c := compare(a.obj.GetNamespace(), b.obj.GetNamespace()); c != 0 {
				return c
			}
			return compare(a.obj.GetName(), b.obj.GetName())
		})
	}
	return out
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// unavailableReport copies why resources are not watched: by resource,
// "all namespaces" or the namespace, then the reason.
func (sess *session) unavailableReport() map[string]string {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	out := map[string]string{}
	for r, byNS := range sess.unavailable {
		for ns, why := range byNS {
			key := r
			if ns != "" {
				key = r + " in " + ns
			}
			out[key] = why
		}
	}
	return out
}

// close stops the informers and waits for them, then lets go of the
// connections they used.
func (sess *session) close() {
	sess.cancel()
	sess.wg.Wait()
	if h := sess.src.http; h != nil {
		h.CloseIdleConnections()
	}
}

// lastApplied is kubectl's copy of the whole object in an annotation.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// slim drops from a watched object what the source never reads and what
// most often doubles its size in the informer's cache: kubectl's
// last-applied copy of the object and the managed fields' field sets
// (their times are kept: they date the entry).
func slim(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil // a deletion tombstone: kept as it is
	}
	if ann := u.GetAnnotations(); ann[lastApplied] != "" {
		delete(ann, lastApplied)
		u.SetAnnotations(ann)
	}
	if mf := u.GetManagedFields(); len(mf) > 0 {
		for i := range mf {
			mf[i].FieldsV1 = nil
		}
		u.SetManagedFields(mf)
	}
	return u, nil
}
