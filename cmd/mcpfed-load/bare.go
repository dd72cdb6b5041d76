package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The bare server is this program started again with these variables set:
// a plain net/http handler that writes the bytes mcpfed answered, the limit
// mcpfed's hot path is compared with. It runs as its own process, as mcpfed
// does, so neither shares a Go runtime (scheduler, GC) with the load driver.
const (
	bareAddrEnv  = "MCPFEDLOAD_BARE_ADDR"
	bareBodyEnv  = "MCPFEDLOAD_BARE_BODY"
	bareETagEnv  = "MCPFEDLOAD_BARE_ETAG"
	bareCTypeEnv = "MCPFEDLOAD_BARE_CTYPE"
)

// isBareChild reports whether this process was started as the bare server.
func isBareChild() bool { return os.Getenv(bareAddrEnv) != "" }

// runBare serves the body until SIGTERM; it returns the exit code.
func runBare() int {
	addr := os.Getenv(bareAddrEnv)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		os.Stderr.WriteString("bare server: refusing a non-loopback address\n")
		return 2
	}
	body, err := os.ReadFile(os.Getenv(bareBodyEnv))
	if err != nil {
		os.Stderr.WriteString("bare server: " + err.Error() + "\n")
		return 1
	}
	etag, ctype, length := os.Getenv(bareETagEnv), os.Getenv(bareCTypeEnv), strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hd := w.Header()
		hd.Set("Content-Type", ctype)
		if etag != "" {
			hd.Set("Etag", etag)
		}
		hd.Set("Content-Length", length)
		_, _ = w.Write(body)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		os.Stderr.WriteString("bare server: " + err.Error() + "\n")
		return 1
	}
	// The same server timeouts as mcpfed's.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		os.Stderr.WriteString("bare server: " + err.Error() + "\n")
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return 1
	}
	return 0
}
