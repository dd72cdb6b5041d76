package kube

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mcpfed/mcpfed/upstream"
)

// Kind is the source kind the holder reports and persists under.
const Kind = "kubernetes"

// Defaults of what the configuration does not set.
const (
	// DefaultRecheck is how often resources that are not served (their
	// CRD is not installed) or not allowed are looked for again.
	DefaultRecheck = time.Minute
	// DefaultRetry is the first wait after a failed start (the API server
	// could not be reached); it doubles up to maxRetry.
	DefaultRetry = 5 * time.Second
	maxRetry     = 5 * time.Minute
	// recheckTimeout bounds a recheck: rebuilds wait while it runs.
	recheckTimeout = 10 * time.Second
)

// Options configure a source. Zero values take the defaults.
type Options struct {
	// Name is the source's slug.
	Name string
	// Spec is the configuration (defaults applied by New).
	Spec Spec
	// Client, when set, is used instead of a client built from
	// Spec.Kubeconfig or the in-cluster configuration (tests).
	Client dynamic.Interface
	// Store persists the last good snapshot; nil with StateDir set is
	// upstream.NewStateDirStore(StateDir, Name, Kind, 0).
	Store    upstream.SnapshotStore
	StateDir string
	// ReadOnly restores the persisted snapshot but never saves one.
	ReadOnly bool
	// Admit, when set, drops entries it returns false for (the filter).
	Admit  func(*upstream.Entry) bool
	Clock  func() time.Time
	Logger *slog.Logger
	// OnLoad is called after every rebuild attempt with the new status and
	// how long it took (metrics).
	OnLoad func(upstream.SourceStatus, time.Duration)
	// Recheck and Retry: see DefaultRecheck and DefaultRetry.
	Recheck, Retry time.Duration
}

// Report is what the source found beyond its status: why resources are
// not watched, and which exported resources were left out or read only in
// part. Counts describe the last rebuild.
type Report struct {
	// Unavailable says, by resource ("mcpservers", or "mcpservers in ns"
	// for one namespace), why it is not watched.
	Unavailable map[string]string `json:"unavailable,omitempty"`
	// Skipped counts exported resources that are not entries, by reason
	// (SkipMissingURL, …).
	Skipped map[string]int `json:"skipped,omitempty"`
	// Warnings counts annotations ignored on exported resources, by
	// reason (WarnInvalidVersion, …).
	Warnings map[string]int `json:"warnings,omitempty"`
	// Exported is the number of entries built.
	Exported int `json:"exported"`
	// Instances is the number of deployed instances listed,
	// InstancesOmitted those beyond MaxEntries.
	Instances        int `json:"instances"`
	InstancesOmitted int `json:"instancesOmitted,omitempty"`
}

// Source serves the MCP servers running in a cluster as a snapshot and
// lists them as deployed instances. Its methods are safe for concurrent
// use; Status, Instances and Report never wait for a rebuild.
type Source struct {
	*upstream.Holder
	o      Options
	client dynamic.Interface
	// http is the client's HTTP client (nil for a given client): its idle
	// connections are closed when the informers stop.
	http  *http.Client
	where string

	running atomic.Pointer[session]

	instances atomic.Pointer[[]upstream.Instance]
	claims    atomic.Pointer[map[string]map[string]any]

	mu     sync.Mutex // guards report
	report Report

	// Guarded by the holder's attempt serialisation.
	sig     [sha256.Size]byte // of the installed entries
	skipped map[string]string // resource key → reason, to log new skips only
}

// New validates the options and returns a source that has not contacted
// the cluster yet; call Run, or Load. The client configuration is read
// here, so a missing kubeconfig or a process outside a cluster without
// one is a configuration problem.
func New(o Options) (*Source, error) {
	o.Spec.ApplyDefaults()
	if err := o.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("kubernetes source %q: %w", o.Name, err)
	}
	if o.Name == "" || strings.ContainsAny(o.Name, `/\`) {
		return nil, fmt.Errorf("kubernetes source: name %q: a non-empty slug is required", o.Name)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Recheck <= 0 {
		o.Recheck = DefaultRecheck
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.Store == nil && o.StateDir != "" {
		o.Store = upstream.NewStateDirStore(o.StateDir, o.Name, Kind, 0)
	}
	if o.ReadOnly {
		o.Store = upstream.ReadOnly(o.Store)
	}
	s := &Source{o: o, client: o.Client, where: "kubernetes (client given)"}
	if s.client == nil {
		cfg, err := restConfig(o.Spec)
		if err != nil {
			return nil, fmt.Errorf("kubernetes source %q: %w", o.Name, err)
		}
		if s.http, err = rest.HTTPClientFor(cfg); err != nil {
			return nil, fmt.Errorf("kubernetes source %q: %w", o.Name, err)
		}
		if s.client, err = dynamic.NewForConfigAndClient(cfg, s.http); err != nil {
			return nil, fmt.Errorf("kubernetes source %q: %w", o.Name, err)
		}
		s.where = "kubernetes API " + redactHost(cfg.Host)
	}
	if len(o.Spec.Namespaces) > 0 {
		s.where += " (namespaces " + strings.Join(o.Spec.Namespaces, ", ") + ")"
	}
	s.Holder = upstream.NewHolder(upstream.HolderOptions{
		Name: o.Name, Kind: Kind, Admit: o.Admit, Store: o.Store,
		Clock: o.Clock, Logger: o.Logger, OnLoad: o.OnLoad,
	})
	empty := []upstream.Instance{}
	s.instances.Store(&empty)
	return s, nil
}

// restConfig is the client configuration: the kubeconfig file (and
// context) when set, else the in-cluster service account.
func restConfig(spec Spec) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if spec.Kubeconfig == "" {
		if cfg, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("no kubeconfig set and not running in a cluster (%w): set kubeconfig", err)
		}
	} else {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: spec.Kubeconfig}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: spec.Context}
		if cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig(); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", spec.Kubeconfig, err)
		}
	}
	cfg.UserAgent = "mcpfed"
	// Informers list once and then watch: a few requests at start.
	cfg.QPS, cfg.Burst = 20, 40
	return cfg, nil
}

func redactHost(host string) string {
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		return "(unparsable host)"
	}
	return u.Scheme + "://" + u.Host
}

// Run serves the persisted snapshot if there is one, starts watching (the
// first lists bounded by LoadTimeout, retried with a growing wait while
// the cluster cannot be reached), then rebuilds the snapshot after every
// burst of changes, Debounce after its first change, until ctx ends.
func (s *Source) Run(ctx context.Context) {
	s.Restore()
	wait := s.o.Retry
	for {
		var sess *session
		_ = s.Attempt(ctx, s.where, func(ctx context.Context, now time.Time) error {
			var err error
			if sess, err = s.start(ctx, s.o.Spec.LoadTimeout); err != nil {
				return err
			}
			if err := s.install(sess, now); err != nil {
				return err
			}
			// Running from here: a Load or Resync now rebuilds from the
			// informers instead of listing everything again.
			s.running.Store(sess)
			return nil
		})
		if sess != nil {
			s.serve(ctx, sess)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, maxRetry)
	}
}

// serve rebuilds after changes until ctx ends, then stops the informers.
func (s *Source) serve(ctx context.Context, sess *session) {
	s.running.Store(sess)
	defer func() {
		s.running.Store(nil)
		sess.close()
	}()
	recheck := time.NewTicker(s.o.Recheck)
	defer recheck.Stop()
	var debounce *time.Timer
	var fire <-chan time.Time
	defer func() {
		if debounce != nil {
			debounce.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sess.changed:
			if fire == nil {
				// The first change of a burst starts the wait; later ones
				// ride along, so a steady stream still rebuilds every
				// Debounce.
				debounce = time.NewTimer(s.o.Spec.Debounce)
				fire = debounce.C
			}
		case <-fire:
			fire = nil
			_ = s.rebuild(ctx, sess) // reported through status, log and metrics
		case <-recheck.C:
			sess.recheck(ctx, min(s.o.Spec.LoadTimeout, recheckTimeout))
		}
	}
}

// Load rebuilds the snapshot now: from the informers' lists while Run is
// watching, else from a one-time list of every resource (started, listed
// and stopped within LoadTimeout), as `mcpfed check` does.
func (s *Source) Load(ctx context.Context) error {
	if sess := s.running.Load(); sess != nil {
		return s.rebuild(ctx, sess)
	}
	return s.Attempt(ctx, s.where, func(ctx context.Context, now time.Time) error {
		ctx, cancel := context.WithTimeout(ctx, s.o.Spec.LoadTimeout)
		defer cancel()
		sess, err := s.start(ctx, s.o.Spec.LoadTimeout)
		if err != nil {
			return err
		}
		defer sess.close()
		return s.install(sess, now)
	})
}

// Resync rebuilds now: the informers keep the lists current, so there is
// nothing more to fetch.
func (s *Source) Resync(ctx context.Context) error { return s.Load(ctx) }

func (s *Source) rebuild(ctx context.Context, sess *session) error {
	return s.Attempt(ctx, s.where, func(_ context.Context, now time.Time) error {
		sess.drain() // everything changed so far is read below
		return s.install(sess, now)
	})
}

// install converts what the informers hold, publishes the instances and
// the report, and installs the entries unless they are unchanged. Call it
// within an attempt.
func (s *Source) install(sess *session, now time.Time) error {
	b := s.build(sess.objects())
	b.report.Unavailable = sess.unavailableReport()
	s.instances.Store(&b.instances)
	s.claims.Store(&b.claims)
	s.mu.Lock()
	s.report = b.report
	s.mu.Unlock()
	if n := len(b.entries); n > s.o.Spec.MaxEntries {
		return fmt.Errorf("%d resources are exported, more than maxEntries (%d): %w", n, s.o.Spec.MaxEntries, upstream.ErrTooLarge)
	}
	if max := s.o.Spec.MaxBytes; max > 0 {
		var size int64
		for _, e := range b.entries {
			size += int64(len(e.Server))
		}
		if size > max {
			return fmt.Errorf("the exported entries take %d bytes, more than maxBytes (%d): %w", size, max, upstream.ErrTooLarge)
		}
	}
	if s.Snapshot() != nil && b.sig == s.sig {
		return upstream.ErrUnchanged
	}
	if err := s.Install(&upstream.Document{Entries: b.entries}, now); err != nil {
		return err
	}
	s.sig = b.sig
	return nil
}

// built is one rebuild's outcome.
type built struct {
	entries   []*upstream.Entry
	instances []upstream.Instance
	claims    map[string]map[string]any
	report    Report
	sig       [sha256.Size]byte
}

// build converts every object. On a name held by two resources (an
// MCPServer and a Service both named x in one namespace), the first in
// the order of AllResources wins.
func (s *Source) build(objs []object) built {
	b := built{claims: map[string]map[string]any{}, report: Report{Skipped: map[string]int{}, Warnings: map[string]int{}}}
	seen := map[string]bool{}
	skipped := map[string]string{}
	h := sha256.New()
	for _, o := range objs {
		c := convert(o.obj, o.kind)
		c.Instance.Source = s.o.Name
		for _, w := range c.Warnings {
			b.report.Warnings[w]++
		}
		key := o.kind + " " + o.obj.GetNamespace() + "/" + o.obj.GetName()
		switch {
		case c.Skip != "":
			skipped[key] = c.Skip
			b.report.Skipped[c.Skip]++
			if s.skipped[key] != c.Skip {
				s.o.Logger.Warn("kubernetes resource not exported", "source", s.o.Name, "kind", o.kind,
					"namespace", o.obj.GetNamespace(), "name", o.obj.GetName(), "reason", c.Skip, "error", c.Detail)
			}
		case c.Entry != nil && seen[c.Entry.Name]:
			skipped[key] = SkipDuplicateName
			b.report.Skipped[SkipDuplicateName]++
			if s.skipped[key] != SkipDuplicateName {
				s.o.Logger.Warn("kubernetes resource not exported: another resource has its name", "source", s.o.Name,
					"kind", o.kind, "namespace", o.obj.GetNamespace(), "name", o.obj.GetName(), "entry", c.Instance.Entry)
			}
			c.Instance.Entry = ""
		case c.Entry != nil:
			e := c.Entry
			seen[e.Name] = true
			b.entries = append(b.entries, e)
			if c.Claims != nil {
				b.claims[e.Name] = c.Claims
			}
			h.Write(c.Server)
			h.Write([]byte{0})
			h.Write(c.Meta)
			h.Write([]byte{0})
		}
		if isInstance(o.kind, o.obj.GetAnnotations()) {
			b.instances = append(b.instances, c.Instance)
		}
	}
	s.skipped = skipped
	h.Sum(b.sig[:0])
	slices.SortFunc(b.instances, compareInstances)
	if n := len(b.instances); n > s.o.Spec.MaxEntries {
		b.report.InstancesOmitted = n - s.o.Spec.MaxEntries
		b.instances = slices.Clip(b.instances[:s.o.Spec.MaxEntries])
	}
	if b.instances == nil {
		b.instances = []upstream.Instance{}
	}
	b.report.Exported, b.report.Instances = len(b.entries), len(b.instances)
	return b
}

func compareInstances(a, b upstream.Instance) int {
	if c := compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	if c := compare(a.Name, b.Name); c != 0 {
		return c
	}
	return compare(a.Kind, b.Kind)
}

// Instances lists every watched MCP server (exported or not) as of the
// last rebuild, sorted by namespace, name and kind, at most MaxEntries.
// Empty until the first lists are in: instances are not persisted.
func (s *Source) Instances() []upstream.Instance {
	return slices.Clone(*s.instances.Load())
}

// Claims returns the authorization claims of an entry (from its
// authz-claims annotation), nil when it has none.
func (s *Source) Claims(entry string) map[string]any {
	if m := s.claims.Load(); m != nil {
		return maps.Clone((*m)[entry])
	}
	return nil
}

// Report returns what the last rebuild found (see Report).
func (s *Source) Report() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.report
	r.Unavailable, r.Skipped, r.Warnings = maps.Clone(r.Unavailable), maps.Clone(r.Skipped), maps.Clone(r.Warnings)
	return r
}
