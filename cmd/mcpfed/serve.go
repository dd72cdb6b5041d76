package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/config"
)

// defaultLoopGrace is how long source loops get to stop after the HTTP
// server has drained: SIGTERM returns within shutdownTimeout + 5s whatever
// a loader is doing.
const defaultLoopGrace = 5 * time.Second

// serve wires cfg and runs the gateway until ctx ends. If listening is
// non-nil it receives the bound address once the listener is open.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, listening chan<- string) error {
	g, err := wire(cfg, logger, time.Now)
	if err != nil {
		return err
	}
	return g.serve(ctx, listening)
}

// serve loads the embedded sources, then listens on cfg.Listen until ctx
// ends: the first request is answered from everything that is always at
// hand, as completely as any later one. The gateway is closed on return.
func (g *gateway) serve(ctx context.Context, listening chan<- string) error {
	for _, w := range g.warnings {
		g.logger.Warn(w)
	}
	var wg sync.WaitGroup
	for i, s := range g.sources {
		if g.preload[i] {
			wg.Go(func() {
				if err := s.Load(ctx); err != nil {
					g.logger.Error("built-in catalogue did not load", "source", s.Name(), "error", err)
				}
			})
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		g.close()
		return nil // stopped before listening
	}
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		g.close()
		return fmt.Errorf("listen on %s: %w", g.cfg.Listen, err)
	}
	if listening != nil {
		listening <- ln.Addr().String()
	}
	g.logger.Info("mcpfed listening", "addr", ln.Addr().String(), "sources", len(g.sources))
	return g.serveOn(ctx, ln, g.logger)
}

// httpOptions are the HTTP server's bounds from the http: block.
func httpOptions(h config.HTTPConfig) serverOptions {
	return serverOptions{
		ReadTimeout: h.ReadTimeout, ReadHeaderTimeout: h.ReadHeaderTimeout, WriteTimeout: h.WriteTimeout,
		IdleTimeout: h.IdleTimeout, MaxHeaderBytes: h.MaxHeaderBytes, MaxInFlight: h.MaxInFlight,
	}
}

// serverOptions are the HTTP server's options, counted in metrics.
func (g *gateway) serverOptions() serverOptions {
	o := httpOptions(g.cfg.HTTP)
	o.OnReject = g.metrics.Rejected
	return o
}

// serveOn serves on ln until ctx ends, then shuts down: the listener
// closes at once, in-flight requests get up to cfg.ShutdownTimeout to
// finish, then the source loops are stopped and they and the background
// work are waited for at most loopGrace together; what is still running
// then is logged and left behind (the process is about to exit).
func (g *gateway) serveOn(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	srcCtx, stopSources := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSources()
	loops := g.startLoops(srcCtx)
	// Issuers are fetched once in the background: one that does not answer
	// is logged and retried when a token arrives.
	go g.access.discover(srcCtx)

	srv := newHTTPServer(g.serverOptions(), g.handler, logger)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(problemListener(ln)) }()
	select {
	case err := <-served:
		stopSources()
		deadline := time.Now().Add(g.loopGrace)
		loops.wait(deadline, logger)
		g.closeBy(deadline)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests", "timeout", g.cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.Join(err, srv.Close()) // cut what did not finish in time
	}
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) && serveErr != nil {
		err = errors.Join(err, serveErr)
	}
	stopSources()
	deadline := time.Now().Add(g.loopGrace)
	loops.wait(deadline, logger)
	g.closeBy(deadline)
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("mcpfed stopped")
	return nil
}

// curationLoop names the curation decisions' loop among the sources'.
const curationLoop = "curation decisions"

// loops tracks the sources' refresh loops.
type loops struct {
	mu      sync.Mutex
	running map[string]bool
	done    chan struct{}
}

// startLoops starts every source's refresh loop; they stop when ctx ends.
func (g *gateway) startLoops(ctx context.Context) *loops {
	l := &loops{running: map[string]bool{}, done: make(chan struct{})}
	for _, s := range g.sources {
		l.running[s.Name()] = true
	}
	var wg sync.WaitGroup
	for _, s := range g.sources {
		wg.Go(func() {
			s.Run(ctx)
			l.mu.Lock()
			delete(l.running, s.Name())
			l.mu.Unlock()
		})
	}
	if g.set != nil {
		// The decisions of approved-only views: the store's, reread on
		// every write it reports (the decisions sources run above).
		l.running[curationLoop] = true
		wg.Go(func() {
			g.set.Run(ctx)
			l.mu.Lock()
			delete(l.running, curationLoop)
			l.mu.Unlock()
		})
	}
	go func() {
		wg.Wait()
		close(l.done)
	}()
	return l
}

// wait waits for the loops to end, until deadline at most; it reports
// whether they did, and logs the sources whose loops were still running.
func (l *loops) wait(deadline time.Time, logger *slog.Logger) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-l.done:
		return true
	case <-t.C:
	}
	l.mu.Lock()
	names := make([]string, 0, len(l.running))
	for n := range l.running {
		names = append(names, n)
	}
	l.mu.Unlock()
	slices.Sort(names)
	logger.Error("sources did not stop in time; exiting without them", "sources", names)
	return false
}
