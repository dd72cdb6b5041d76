package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/mcpfed/mcpfed"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/metrics"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/gitsource"
	"github.com/mcpfed/mcpfed/upstream/remote"
)

// source is what the process runs for each configured source: a loop that
// keeps it current, a one-off load (check), and its status.
type source interface {
	Name() string
	Load(ctx context.Context) error
	Run(ctx context.Context)
	Status() upstream.SourceStatus
}

// gateway is everything wired from a Config.
type gateway struct {
	cfg     Config
	sources []source
	lives   []*remote.Live
	engine  *federate.Engine
	api     *federate.API
	metrics *metrics.Metrics
	handler http.Handler
}

// wire builds sources, engine and API from a validated configuration.
func wire(cfg Config, logger *slog.Logger, clock func() time.Time) (*gateway, error) {
	g := &gateway{cfg: cfg, metrics: metrics.New()}
	var members []federate.Member
	reserved := map[string][]string{}
	var order []string
	g.metrics.Cache().Started("response", "response")
	for _, sc := range cfg.Sources {
		g.metrics.SourceConfigured(sc.Name, sc.Kind, sc.Mode, sc.Required)
		if sc.Kind == "api" && sc.Mode == "live" {
			g.metrics.Cache().Started("page", "page")
		}
		m, src, err := g.newSource(sc, logger, clock)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", sc.Name, err)
		}
		g.sources = append(g.sources, src)
		members = append(members, m)
		reserved[sc.Name] = sc.Namespaces
		order = append(order, sc.Name)
	}
	res, err := filter.NewReservations(reserved, order)
	if err != nil {
		return nil, err
	}
	g.engine = federate.NewEngine(federate.EngineOptions{
		Members: members, Reservations: res, ObserveMerge: g.metrics.ObserveMerge,
		OutOfOrder: g.metrics.OutOfOrder, RequestTimeout: cfg.RequestTimeout, Clock: clock, Logger: logger,
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
	g.api, err = federate.NewAPI(federate.APIOptions{
		Engine:    g.engine,
		Views:     views,
		MaxAge:    cfg.CacheMaxAge,
		Build:     federate.BuildInfo{Version: ver, GitCommit: commit, BuildTime: built},
		Attempted: g.attempted,
		Metrics:   g.metrics,
		ResponseCache: federate.ResponseCacheOptions{
			MaxEntries: cfg.ResponseCache.MaxEntries, MaxBytes: cfg.ResponseCache.MaxBytes, TTL: cfg.ResponseCache.TTL,
		},
		Admin:  g.adminOptions(),
		Clock:  clock,
		Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	h := g.api.Handler()
	if cfg.AccessLog {
		h = metrics.AccessLog(logger, h)
	}
	g.handler = g.metrics.Middleware(h)
	return g, nil
}

func (g *gateway) newSource(sc SourceConfig, logger *slog.Logger, clock func() time.Time) (federate.Member, source, error) {
	f, err := filter.New(sc.Filter)
	if err != nil {
		return federate.Member{}, nil, err
	}
	switch sc.Kind {
	case "file":
		stateDir := g.cfg.StateDir
		if strings.HasPrefix(sc.location(), upstream.BuiltinPrefix) {
			stateDir = "" // always at hand: nothing to persist
		}
		fs := upstream.NewFileSource(upstream.FileOptions{
			Name:     sc.Name,
			Path:     sc.location(),
			Interval: sc.Interval,
			MaxBytes: sc.MaxBytes,
			Admit:    f.Match,
			Builtin:  mcpfed.Builtin(),
			StateDir: stateDir,
			Clock:    clock,
			Logger:   logger,
			OnLoad:   g.metrics.SourceLoaded,
		})
		return federate.Member{Source: fs, Required: sc.Required}, fs, nil
	case "git":
		gs, err := gitsource.New(gitsource.Options{
			Name: sc.Name, Repository: sc.Repository, Branch: sc.Branch, Tag: sc.Tag, Commit: sc.Commit,
			Path: sc.Path, Interval: sc.Interval,
			UsernameFile: sc.UsernameFile, PasswordFile: sc.PasswordFile, TokenFile: sc.TokenFile,
			MaxFiles: sc.MaxFiles, MaxBytes: sc.MaxBytes,
			CloneDir: filepath.Join(g.cfg.StateDir, "git", sc.Name), StateDir: g.cfg.StateDir,
			Admit: f.Match, Clock: clock, Logger: logger, OnLoad: g.metrics.SourceLoaded,
		})
		if err != nil {
			return federate.Member{}, nil, err
		}
		return federate.Member{Source: gs, Required: sc.Required}, gs, nil
	case "api":
		if sc.Mode == "mirror" {
			m, err := g.newMirror(sc, f, logger, clock)
			if err != nil {
				return federate.Member{}, nil, err
			}
			return federate.Member{Source: m, Required: sc.Required}, m, nil
		}
		l, err := g.newLive(sc, f, logger, clock)
		if err != nil {
			return federate.Member{}, nil, err
		}
		g.lives = append(g.lives, l)
		lr := &liveRunner{live: l, clock: clock, metrics: g.metrics}
		return federate.Member{Live: filteredLive{l, f}, Required: sc.Required}, lr, nil
	}
	return federate.Member{}, nil, fmt.Errorf("kind %q is not supported", sc.Kind)
}

func (g *gateway) newLive(sc SourceConfig, f *filter.Filter, logger *slog.Logger, clock func() time.Time) (*remote.Live, error) {
	name := sc.Name
	g.metrics.SourceStarted(name)
	return remote.NewLive(remote.LiveOptions{
		Client: clientOptions(sc, logger, clock),
		Breaker: remote.BreakerOptions{
			Failures: sc.Breaker.Failures, OpenFor: sc.Breaker.OpenFor, HalfOpenRequests: sc.Breaker.HalfOpenRequests,
			OnStateChange: func(source string, to gobreaker.State) {
				logger.Warn("circuit breaker changed state", "source", source, "state", to.String())
				g.metrics.BreakerState(source, breakerGauge(to))
			},
		},
		RateLimit: g.rateLimitOptions(sc),
		PageCache: remote.PageCacheOptions{
			MaxEntries: sc.Cache.MaxEntries, MaxBytes: sc.Cache.MaxBytes, Fresh: sc.Cache.Fresh, Stale: sc.Cache.Stale,
			FlightTimeout: sc.Timeout,
		},
		PageSize:      sc.PageSize,
		Clock:         clock,
		Instrument:    g.metrics.InstrumentFetcher,
		CacheObserver: g.metrics.Cache().Instance(),
	})
}

func (g *gateway) newMirror(sc SourceConfig, f *filter.Filter, logger *slog.Logger, clock func() time.Time) (*remote.Mirror, error) {
	name := sc.Name
	g.metrics.SourceStarted(name)
	return remote.NewMirror(remote.MirrorOptions{
		Client:    clientOptions(sc, logger, clock),
		RateLimit: g.rateLimitOptions(sc),
		Interval:  sc.Interval, ResyncEvery: sc.ResyncEvery, Overlap: sc.Overlap, PageSize: sc.PageSize,
		MaxPages: sc.Crawl.MaxPages, MaxEntries: sc.Crawl.MaxEntries, MaxBytes: sc.Crawl.MaxBytes,
		StateDir: g.cfg.StateDir, Admit: f.Match, Clock: clock, Logger: logger, OnLoad: g.metrics.SourceLoaded,
		Instrument: g.metrics.InstrumentFetcher,
	})
}

// clientOptions is how an api source (live or mirror) talks to its upstream.
func clientOptions(sc SourceConfig, logger *slog.Logger, clock func() time.Time) remote.ClientOptions {
	return remote.ClientOptions{
		Source: sc.Name, BaseURL: sc.URL, APIVersion: sc.APIVersion,
		TokenFile: sc.TokenFile, UsernameFile: sc.UsernameFile, PasswordFile: sc.PasswordFile,
		Headers: sc.Headers, MaxBytes: sc.MaxBytes, Timeout: sc.Timeout, Clock: clock, Logger: logger,
	}
}

// rateLimitOptions is an api source's outbound budget, counted in metrics.
func (g *gateway) rateLimitOptions(sc SourceConfig) remote.RateLimitOptions {
	return remote.RateLimitOptions{
		PerMinute: sc.RateLimit.PerMinute, Burst: sc.RateLimit.Burst, Retries: *sc.RateLimit.Retries,
		OnLimited: func() { g.metrics.RateLimited(sc.Name) },
		OnRetry:   func() { g.metrics.Retried(sc.Name) },
	}
}

func breakerGauge(s gobreaker.State) int {
	switch s {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
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

// close stops background work once the loops have ended.
func (g *gateway) close() {
	g.api.Close()
	for _, l := range g.lives {
		l.Close()
	}
}
