package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/metrics"
	"github.com/mcpfed/mcpfed/upstream"
)

// source is what the process runs for each configured source.
type source interface {
	federate.SnapshotSource
	Load(ctx context.Context) error
	Run(ctx context.Context)
	Status() upstream.SourceStatus
}

// gateway is everything wired from a Config.
type gateway struct {
	cfg     Config
	sources []source
	engine  *federate.Engine
	metrics *metrics.Metrics
	handler http.Handler
}

// wire builds sources, engine and API from a validated configuration.
func wire(cfg Config, logger *slog.Logger, clock func() time.Time) (*gateway, error) {
	g := &gateway{cfg: cfg, metrics: metrics.New()}
	var members []federate.Member
	reserved := map[string][]string{}
	var order []string
	for _, sc := range cfg.Sources {
		src, err := newSource(sc, logger, clock, g.metrics)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", sc.Name, err)
		}
		g.sources = append(g.sources, src)
		members = append(members, federate.Member{Source: src, Required: sc.Required})
		reserved[sc.Name] = sc.Namespaces
		order = append(order, sc.Name)
	}
	res, err := filter.NewReservations(reserved, order)
	if err != nil {
		return nil, err
	}
	g.engine = federate.NewEngine(federate.EngineOptions{
		Members: members, Reservations: res, ObserveMerge: g.metrics.ObserveMerge, Clock: clock,
	})
	views := map[string]*federate.View{}
	for _, vc := range cfg.Views {
		f, err := filter.New(vc.Filter)
		if err != nil {
			return nil, fmt.Errorf("view %q: %w", vc.Name, err)
		}
		views[vc.Name] = &federate.View{Name: vc.Name, Filter: f}
	}
	ver, commit, built := buildInfo()
	api, err := federate.NewAPI(federate.APIOptions{
		Engine:    g.engine,
		Views:     views,
		MaxAge:    cfg.CacheMaxAge,
		Build:     federate.BuildInfo{Version: ver, GitCommit: commit, BuildTime: built},
		Attempted: g.attempted,
		Metrics:   g.metrics,
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	g.handler = g.metrics.Middleware(api.Handler())
	return g, nil
}

func newSource(sc SourceConfig, logger *slog.Logger, clock func() time.Time, m *metrics.Metrics) (source, error) {
	f, err := filter.New(sc.Filter)
	if err != nil {
		return nil, err
	}
	switch sc.Kind {
	case "file":
		return upstream.NewFileSource(upstream.FileOptions{
			Name:     sc.Name,
			Path:     sc.location(),
			Interval: sc.Interval,
			MaxBytes: sc.MaxBytes,
			Admit:    f.Match,
			Builtin:  mcpfed.Builtin(),
			Clock:    clock,
			Logger:   logger,
			OnLoad:   m.SourceLoaded,
		}), nil
	}
	return nil, fmt.Errorf("kind %q is not supported", sc.Kind)
}

func (g *gateway) attempted(name string) bool {
	for _, s := range g.sources {
		if s.Name() == name {
			return !s.Status().LastAttempt.IsZero()
		}
	}
	return false
}

// loadAll loads every source once, concurrently, and returns their statuses
// in configuration order.
func (g *gateway) loadAll(ctx context.Context) []upstream.SourceStatus {
	var wg sync.WaitGroup
	for _, s := range g.sources {
		wg.Go(func() { _ = s.Load(ctx) }) // the outcome is in the status
	}
	wg.Wait()
	out := make([]upstream.SourceStatus, len(g.sources))
	for i, s := range g.sources {
		out[i] = s.Status()
	}
	return out
}

// run starts every source's refresh loop; they stop when ctx ends.
func (g *gateway) run(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, s := range g.sources {
		wg.Go(func() { s.Run(ctx) })
	}
	return &wg
}
