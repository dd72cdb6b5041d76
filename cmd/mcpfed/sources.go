package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sony/gobreaker/v2"

	"github.com/mcpfed/mcpfed"
	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/gitsource"
	"github.com/mcpfed/mcpfed/upstream/managed"
	"github.com/mcpfed/mcpfed/upstream/remote"
)

// builder makes a configured source runnable: what each kind's spec
// (beside its component) cannot know — the process's metrics, state
// directory, clock and logger — is added here, one builder per kind.
type builder func(g *gateway, sc config.SourceConfig, f *filter.Filter) (built, error)

// built is a source ready to run, and the engine's view of it.
type built struct {
	member federate.Member
	src    source
	// mode is an api source's (live or mirror), for metrics and reports.
	mode string
	// preload: always at hand (the embedded catalogue), so loaded before
	// the listener opens.
	preload bool
	// decisions: a source of curation decisions, not of servers: run,
	// reported and resynced like the others but no member of the engine.
	decisions bool
}

// builders are the constructions of the kinds config.Kinds declares.
func builders() map[string]builder {
	return map[string]builder{
		"file": specBuilder((*gateway).newFile),
		"git":  specBuilder((*gateway).newGit),
		"api":  specBuilder((*gateway).newAPI),

		"kubernetes": specBuilder((*gateway).newKube),
		managed.Kind: specBuilder((*gateway).newManaged),
	}
}

// specBuilder adapts a builder of one spec type.
func specBuilder[S config.Spec](b func(*gateway, config.SourceConfig, S, *filter.Filter) (built, error)) builder {
	return func(g *gateway, sc config.SourceConfig, f *filter.Filter) (built, error) {
		spec, ok := sc.Spec.(S)
		if !ok {
			return built{}, fmt.Errorf("kind %s: no settings (%T)", sc.Kind, sc.Spec)
		}
		return b(g, sc, spec, f)
	}
}

// build makes the source of sc.
func (g *gateway) build(sc config.SourceConfig) (built, error) {
	if sc.Decisions {
		return g.newDecisions(sc)
	}
	b, ok := builders()[sc.Kind]
	if !ok {
		return built{}, fmt.Errorf("kind %q is not built by this program", sc.Kind)
	}
	f, err := filter.New(sc.Filter)
	if err != nil {
		return built{}, fmt.Errorf("filter: %w", err)
	}
	return b(g, sc, f)
}

func (g *gateway) newFile(sc config.SourceConfig, spec *upstream.FileSpec, f *filter.Filter) (built, error) {
	o := spec.Options(sc.Name)
	o.Builtin = mcpfed.Builtin()
	o.Admit, o.Clock, o.Logger, o.OnLoad = f.Match, g.clock, g.logger, g.metrics.SourceLoaded
	o.StateDir, o.ReadOnly = g.cfg.StateDir, g.opts.readOnly
	fs, err := upstream.NewFileSource(o)
	if err != nil {
		return built{}, err
	}
	embedded := strings.HasPrefix(o.Path, upstream.BuiltinPrefix)
	return built{member: federate.Member{Source: fs, Required: sc.Required}, src: fs, preload: embedded}, nil
}

func (g *gateway) newGit(sc config.SourceConfig, spec *gitsource.Spec, f *filter.Filter) (built, error) {
	o := spec.Options(sc.Name)
	o.CloneDir = filepath.Join(g.cfg.StateDir, "git", sc.Name)
	o.StateDir, o.ReadOnly = g.cfg.StateDir, g.opts.readOnly
	o.Admit, o.Clock, o.Logger, o.OnLoad = f.Match, g.clock, g.logger, g.metrics.SourceLoaded
	gs, err := gitsource.New(o)
	if err != nil {
		return built{}, err
	}
	g.closers = append(g.closers, func() { _ = gs.Close() })
	return built{member: federate.Member{Source: gs, Required: sc.Required}, src: gs}, nil
}

func (g *gateway) newAPI(sc config.SourceConfig, spec *remote.Spec, f *filter.Filter) (built, error) {
	g.metrics.SourceStarted(sc.Name)
	limit := spec.RateLimitOptions()
	limit.OnLimited = func() { g.metrics.RateLimited(sc.Name) }
	limit.OnRetry = func() { g.metrics.Retried(sc.Name) }
	client := spec.ClientOptions(sc.Name)
	client.Clock, client.Logger = g.clock, g.logger
	if spec.IsMirror() {
		o := spec.MirrorOptions(sc.Name)
		o.Client, o.RateLimit = client, limit
		o.StateDir, o.ReadOnly = g.cfg.StateDir, g.opts.readOnly
		o.Admit, o.Clock, o.Logger, o.OnLoad, o.Instrument = f.Match, g.clock, g.logger, g.metrics.SourceLoaded, g.metrics.InstrumentFetcher
		m, err := remote.NewMirror(o)
		if err != nil {
			return built{}, err
		}
		return built{member: federate.Member{Source: m, Required: sc.Required}, src: m, mode: spec.Mode}, nil
	}
	g.metrics.Cache().Started("page", "page")
	o := spec.LiveOptions(sc.Name)
	o.Client, o.RateLimit = client, limit
	o.Breaker.OnStateChange = func(source string, to gobreaker.State) {
		g.logger.Warn("circuit breaker changed state", "source", source, "state", to.String())
		g.metrics.BreakerState(source, breakerGauge(to))
	}
	o.Admit, o.Clock, o.Instrument, o.CacheObserver = f.Match, g.clock, g.metrics.InstrumentFetcher, g.metrics.Cache().Instance()
	l, err := remote.NewLive(o)
	if err != nil {
		return built{}, err
	}
	g.closers = append(g.closers, l.Close)
	lr := &liveRunner{live: l, clock: g.clock, metrics: g.metrics, timeout: spec.Timeout, crawlTimeout: spec.Crawl.Timeout}
	return built{member: federate.Member{Live: l, Admit: f.Match, Required: sc.Required}, src: lr, mode: spec.Mode}, nil
}

// newManaged builds the source of what is published to this mcpfed: the
// store's servers, reloaded on every write the store reports.
func (g *gateway) newManaged(sc config.SourceConfig, _ *managed.Spec, f *filter.Filter) (built, error) {
	if g.store == nil {
		return built{}, errNoStore
	}
	m, err := managed.New(managed.Options{
		Name: sc.Name, Store: g.store, Admit: f.Match, StateDir: g.cfg.StateDir, ReadOnly: g.opts.readOnly,
		Clock: g.clock, Logger: g.logger, OnLoad: g.metrics.SourceLoaded,
	})
	if err != nil {
		return built{}, err
	}
	g.managed = m
	return built{member: federate.Member{Source: m, Required: sc.Required}, src: m}, nil
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
