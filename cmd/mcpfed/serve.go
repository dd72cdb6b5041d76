package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// serve runs the gateway on cfg.Listen until ctx ends. If listening is
// non-nil it receives the bound address once the listener is open.
func serve(ctx context.Context, cfg Config, logger *slog.Logger, listening chan<- string) error {
	g, err := wire(cfg, logger, time.Now)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if listening != nil {
		listening <- ln.Addr().String()
	}
	logger.Info("mcpfed listening", "addr", ln.Addr().String(), "sources", len(g.sources))
	return g.serveOn(ctx, ln, logger)
}

// serveOn serves on ln until ctx ends, then shuts down gracefully: the
// listener closes at once and in-flight requests get up to
// cfg.ShutdownTimeout to finish. Source refresh loops stop after that.
func (g *gateway) serveOn(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	srcCtx, stopSources := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSources()
	loops := g.run(srcCtx)
	defer g.close()
	defer loops.Wait()

	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		stopSources()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests", "timeout", g.cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) && serveErr != nil {
		err = errors.Join(err, serveErr)
	}
	stopSources()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("mcpfed stopped")
	return nil
}
