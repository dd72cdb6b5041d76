package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/curation"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/metrics"
	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/kube"
	"github.com/mcpfed/mcpfed/upstream/managed"
)

// source is what the process runs for each configured source. Every kind
// implements it, so readiness, status and resync never look at a concrete
// type. Status never blocks on a running load.
type source interface {
	Name() string
	// Load makes one attempt, bounded by its own deadline.
	Load(ctx context.Context) error
	// Restore serves the persisted snapshot, if any, until a load succeeds.
	Restore() bool
	// Run restores, loads, then keeps the source current until ctx ends.
	Run(ctx context.Context)
	// Resync runs one full sync; upstream.ErrNotResyncable for a live source.
	Resync(ctx context.Context) error
	Status() upstream.SourceStatus
}

// wireOptions change how sources are built.
type wireOptions struct {
	// readOnly builds sources that write nothing to the state directory
	// (no snapshot saved, no clone kept) but restore what is there: check.
	readOnly bool
	// stderr receives the audit stream when auth.audit.path is empty
	// (default os.Stderr).
	stderr io.Writer
}

// invalidConfig lists the problems found while building the sources (a
// missing path, an unknown built-in catalogue): configuration errors, like
// those config.Load finds.
type invalidConfig struct{ problems []string }

func (e *invalidConfig) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.problems, "\n  - ")
}

// gateway is everything wired from a configuration.
type gateway struct {
	cfg     config.Config
	opts    wireOptions
	logger  *slog.Logger
	clock   func() time.Time
	sources []source
	modes   []string // an api source's mode, by source
	preload []bool   // loaded before the listener opens, by source
	closers []func()
	engine  *federate.Engine
	api     *federate.API
	metrics *metrics.Metrics
	access  *gatekeeper
	// store keeps what mcpfed owns (published servers, decisions, their
	// history); nil when nothing configured needs it.
	store store.Store
	// set is the rule of approved-only views; nil without a store or a
	// decisions source.
	set *curation.Set
	// managed is the source of published servers, nil without one.
	managed  *managed.Source
	handler  http.Handler
	warnings []string
	// drops tallies entries left out of answers, by source and reason
	// (the sources endpoint).
	drops federate.DropCounts
	// loopGrace bounds the wait for source loops and background work at
	// shutdown.
	loopGrace time.Duration
	closeOnce sync.Once
	closed    chan struct{}
}

// wire builds sources, engine and API from a valid configuration.
func wire(cfg config.Config, logger *slog.Logger, clock func() time.Time, opts ...wireOptions) (_ *gateway, err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g := &gateway{cfg: cfg, logger: logger, clock: clock, metrics: metrics.NewWith(reg, reg), loopGrace: defaultLoopGrace}
	if len(opts) > 0 {
		g.opts = opts[0]
	}
	if g.opts.stderr == nil {
		g.opts.stderr = os.Stderr
	}
	defer func() {
		if err != nil {
			g.closeSources()
			g.closeStore()
			if g.access != nil {
				g.access.close()
			}
		}
	}()
	g.warnings = append(g.warnings, cfg.Warnings()...)
	if g.access, err = newGatekeeper(cfg, reg, g.opts.stderr, logger, clock); err != nil {
		return nil, err
	}
	g.metrics.Cache().Started("response", "response")
	if err := g.openStore(); err != nil {
		return nil, err
	}
	g.newCurationSet()
	members, err := g.buildSources()
	if err != nil {
		return nil, err
	}
	reserved := map[string][]string{}
	order := make([]string, 0, len(cfg.Sources))
	for _, sc := range cfg.Sources {
		if !sc.Decisions { // no member of the engine
			reserved[sc.Name], order = sc.Namespaces, append(order, sc.Name)
		}
	}
	if k := soleKubeSource(cfg.Sources); k != "" {
		// Its entries' names: no other source may shadow the cluster's
		// servers (and take their deployed instances). Several clusters
		// share the names, so none holds them by default.
		reserved[k] = []string{kube.EntryPrefix + "*/*"}
	}
	res, err := filter.NewReservations(reserved, order)
	if err != nil {
		return nil, err
	}
	keys, from, err := config.CursorKeys(cfg, !g.opts.readOnly)
	if err != nil {
		return nil, &invalidConfig{[]string{"cursorKeyFile: " + err.Error()}}
	}
	if from == config.KeysInStateDir {
		g.warnings = append(g.warnings, "cursors carry live sources' positions and are signed with a random key kept in the state directory ("+config.CursorKeyFileName+"): replicas refuse each other's cursors until they share cursorKeyFile (MCPFED_CURSOR_KEY_FILE)")
	}
	if cfg.Admin.Resync && cfg.Admin.TokenFile == "" && len(cfg.Admin.Claims) == 0 {
		g.warnings = append(g.warnings, "the resync endpoint is enabled without a token (admin.allowUnauthenticated): anyone who reaches the port can make every source resync")
	}
	g.engine, err = federate.NewEngine(federate.EngineOptions{
		Members: members, Reservations: res, ObserveMerge: g.metrics.ObserveMerge,
		OutOfOrder: g.metrics.OutOfOrder, RequestTimeout: cfg.RequestTimeout, Clock: clock, Logger: logger,
		CursorKeys: keys,
		Dropped: func(source, reason string, n int) {
			g.metrics.Dropped(source, reason, n)
			g.drops.Add(source, reason, n)
		},
	})
	if err != nil {
		return nil, &invalidConfig{[]string{"cursorKeyFile: " + err.Error()}}
	}
	views := map[string]*federate.View{}
	var root *federate.View
	for _, vc := range cfg.Views {
		f, err := filter.New(vc.Filter)
		if err != nil {
			return nil, fmt.Errorf("view %q: %w", vc.Name, err)
		}
		v := &federate.View{Name: vc.Name, Filter: f, Sources: vc.Sources, Private: vc.Private()}
		if len(v.Sources) == 0 && len(cfg.DecisionSources()) > 0 {
			v.Sources = cfg.ServerSources()
		}
		g.curate(v, vc)
		if !vc.Access.Anonymous {
			v.Claims = vc.Access.Claims
		}
		if vc.Name == config.DefaultView {
			// The root, and also /registry/default/v0.1, where a
			// ToolHive registry named default is served.
			root = v
		}
		views[vc.Name] = v
	}
	var authorize func(http.ResponseWriter, *http.Request, string) bool
	if g.access.enforce {
		authorize = g.access.authorize
	}
	ver, rev, built := buildInfo()
	g.api, err = federate.NewAPI(federate.APIOptions{
		Engine:    g.engine,
		Root:      root,
		Views:     views,
		Authorize: authorize,
		MaxAge:    cfg.CacheMaxAge,
		Build:     federate.BuildInfo{Version: ver, GitCommit: rev, BuildTime: built},
		Attempted: g.attempted,
		Metrics:   g.metrics,
		ResponseCache: federate.ResponseCacheOptions{
			MaxEntries: cfg.ResponseCache.MaxEntries, MaxBytes: cfg.ResponseCache.MaxBytes, TTL: cfg.ResponseCache.TTL,
		},
		Deployed: g.deployed(),
		Admin:    g.adminOptions(),
		Clock:    clock,
		Logger:   logger,
	})
	if err != nil {
		return nil, err
	}
	api, err := g.withUI(g.api.Handler(), root, views, authorize)
	if err != nil {
		return nil, err
	}
	// The write APIs beside the read API: a request one of their patterns
	// matches goes to them, every other to the read API as before.
	writes := http.NewServeMux()
	if err := g.publishRoutes(writes); err != nil {
		return nil, err
	}
	g.curationRoutes(writes, root, views)
	h := g.access.wellKnown(g.access.adminAudit(g.access.withWrites(writes, api)))
	if cfg.AccessLog {
		h = metrics.AccessLog(logger, h)
	}
	g.handler = g.metrics.Middleware(h)
	return g, nil
}

// soleKubeSource names the one kubernetes source when there is exactly
// one and it reserves no namespaces of its own, else "".
func soleKubeSource(sources []config.SourceConfig) string {
	name, n := "", 0
	for _, sc := range sources {
		if sc.Kind == "kubernetes" {
			n++
			if len(sc.Namespaces) == 0 {
				name = sc.Name
			}
		}
	}
	if n != 1 {
		return ""
	}
	return name
}

// deployer is a source that knows the MCP servers running in a cluster.
type deployer interface {
	Instances() []upstream.Instance
}

// deployed returns the instances of every source that watches a cluster,
// or nil (the deployed endpoint is off) when no source does.
func (g *gateway) deployed() func() []upstream.Instance {
	var ds []deployer
	for _, s := range g.sources {
		if d, ok := s.(deployer); ok {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return nil
	}
	return func() []upstream.Instance {
		var out []upstream.Instance
		for _, d := range ds {
			out = append(out, d.Instances()...)
		}
		return out
	}
}

// buildSources builds every source, listing every problem found.
func (g *gateway) buildSources() ([]federate.Member, error) {
	var members []federate.Member
	var problems []string
	for i, sc := range g.cfg.Sources {
		b, err := g.build(sc)
		if err != nil {
			for _, p := range g.cfg.SourceProblems(i, err) {
				problems = append(problems, p.Error())
			}
			continue
		}
		g.metrics.SourceConfigured(sc.Name, sc.Kind, b.mode, sc.Required)
		g.sources = append(g.sources, b.src)
		g.modes = append(g.modes, b.mode)
		g.preload = append(g.preload, b.preload)
		if !b.decisions {
			members = append(members, b.member)
		}
	}
	if len(problems) > 0 {
		return nil, &invalidConfig{problems}
	}
	return members, nil
}

// buildProblems builds the sources that config.Load found nothing wrong
// with, read-only, to list what building finds (a missing path) together
// with the configuration's own problems; skip are the other sources.
func buildProblems(cfg config.Config, skip map[int]bool) []string {
	g := &gateway{cfg: cfg, opts: wireOptions{readOnly: true}, logger: slog.New(slog.DiscardHandler), clock: time.Now, metrics: metrics.New()}
	defer g.closeSources()
	var out []string
	for i, sc := range cfg.Sources {
		// A managed source has nothing to find before the store is open.
		if skip[i] || sc.Spec == nil || sc.Kind == managed.Kind {
			continue
		}
		if _, err := g.build(sc); err != nil {
			for _, p := range cfg.SourceProblems(i, err) {
				out = append(out, p.Error())
			}
		}
	}
	return out
}

// attempted reports whether the named source has started its first load
// attempt (readiness): a source that is not required does not hold a pod
// out of service while its first crawl runs for minutes. Status never
// blocks, so neither does /readyz.
func (g *gateway) attempted(name string) bool {
	for _, s := range g.sources {
		if s.Name() == name {
			st := s.Status()
			return !st.LastAttempt.IsZero() || st.Loading
		}
	}
	return false
}

// loadAll loads every source once, concurrently, and returns their statuses
// in configuration order once all have answered or ctx has ended, whichever
// is first: a load that ignores ctx does not hold the caller.
func (g *gateway) loadAll(ctx context.Context) []upstream.SourceStatus {
	var wg sync.WaitGroup
	for _, s := range g.sources {
		wg.Go(func() { _ = s.Load(ctx) }) // the outcome is in the status
	}
	if g.set != nil {
		wg.Go(func() {
			if err := g.set.Reload(ctx); err != nil {
				g.logger.Warn("curation decisions could not be read", "error", err)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	out := make([]upstream.SourceStatus, len(g.sources))
	for i, s := range g.sources {
		out[i] = s.Status()
	}
	return out
}

// close stops background work (the response cache's refreshes, live page
// caches, temporary clones) once the loops have ended, waiting at most
// loopGrace: a stuck close is logged and left behind.
func (g *gateway) close() { g.closeBy(time.Now().Add(g.loopGrace)) }

// closeBy closes once, waiting until deadline at most.
func (g *gateway) closeBy(deadline time.Time) {
	g.closeOnce.Do(func() {
		g.closed = make(chan struct{})
		go func() {
			defer close(g.closed)
			if g.api != nil {
				g.api.Close()
			}
			g.closeSources()
			g.closeStore()
			if g.access != nil {
				g.access.close()
			}
		}()
	})
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-g.closed:
	case <-t.C:
		g.logger.Error("background work did not stop in time; exiting without it")
	}
}

func (g *gateway) closeSources() {
	for _, c := range g.closers {
		c()
	}
	g.closers = nil
}
