package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/metrics"
)

// startHTTPServer serves h through newHTTPServer on a loopback listener.
func startHTTPServer(t *testing.T, o serverOptions, h http.Handler) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(o, h, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return srv, ln.Addr().String()
}

// rawRequest writes raw on a new connection and returns the first response.
func rawRequest(t *testing.T, addr, raw string) (*http.Response, *bufio.Reader, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response to %q: %v", raw[:min(len(raw), 60)], err)
	}
	return resp, br, c
}

// checkServerProblem: a problem document with the status and a request id.
func checkServerProblem(t *testing.T, resp *http.Response, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d", resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get(metrics.HeaderRequestID) == "" {
		t.Error("no X-Request-Id on a refusal")
	}
	var p struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || p.Status != status || p.Title == "" || p.Detail == "" {
		t.Errorf("problem %+v, %v", p, err)
	}
}

func TestHTTPServerOptions(t *testing.T) {
	t.Parallel()
	srv := newHTTPServer(serverOptions{}, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.ReadTimeout != DefaultReadTimeout || srv.ReadHeaderTimeout != DefaultReadHeaderTimeout ||
		srv.WriteTimeout != DefaultWriteTimeout || srv.IdleTimeout != DefaultIdleTimeout ||
		srv.MaxHeaderBytes != 64<<10 || srv.ErrorLog == nil {
		t.Errorf("defaults not applied: %+v", srv)
	}
	if g, ok := srv.Handler.(*guard); !ok || g.maxInFlight != DefaultMaxInFlight {
		t.Errorf("handler %T is not the guard with the default cap", srv.Handler)
	}
	for _, d := range []time.Duration{DefaultReadTimeout, DefaultReadHeaderTimeout, DefaultWriteTimeout, DefaultIdleTimeout} {
		if d <= 0 {
			t.Error("a default timeout is not set")
		}
	}
	o := serverOptions{ReadTimeout: time.Second, ReadHeaderTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second,
		IdleTimeout: 4 * time.Second, MaxHeaderBytes: 5, MaxInFlight: 6}
	srv = newHTTPServer(o, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.ReadTimeout != time.Second || srv.ReadHeaderTimeout != 2*time.Second || srv.WriteTimeout != 3*time.Second ||
		srv.IdleTimeout != 4*time.Second || srv.MaxHeaderBytes != 5 || srv.Handler.(*guard).maxInFlight != 6 {
		t.Errorf("options not applied: %+v", srv)
	}
	if err := o.validate(); err != nil {
		t.Error(err)
	}
	if err := (serverOptions{}).validateWith(10 * time.Second); err != nil {
		t.Errorf("the defaults against the default requestTimeout: %v", err)
	}
	if err := (serverOptions{WriteTimeout: 5 * time.Second}).validateWith(10 * time.Second); err == nil || !strings.Contains(err.Error(), "http.writeTimeout 5s must exceed requestTimeout 10s") {
		t.Errorf("a write timeout below the request timeout: %v", err)
	}
	if err := (serverOptions{}).validateWith(DefaultWriteTimeout); err == nil {
		t.Error("a requestTimeout as long as the default write timeout is accepted")
	}
	err := serverOptions{ReadTimeout: -1, MaxInFlight: -1}.validate()
	if !errors.Is(err, errNegative) || !strings.Contains(err.Error(), "http.readTimeout") || !strings.Contains(err.Error(), "http.maxInFlight") {
		t.Errorf("negative options: %v", err)
	}
}

// TestHTTPServerRefusesContentLengthWithTransferEncoding: a request framed
// both ways (a smuggling attempt) is refused in either order, the connection
// is closed, and what would be a smuggled second request is never served.
func TestHTTPServerRefusesContentLengthWithTransferEncoding(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	var rejected []string
	var mu sync.Mutex
	o := serverOptions{OnReject: func(r string) { mu.Lock(); rejected = append(rejected, r); mu.Unlock() }}
	_, addr := startHTTPServer(t, o, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct{ name, header string }{
		{"CL then TE", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"},
		{"TE then CL", "Transfer-Encoding: chunked\r\nContent-Length: 44\r\n"},
		{"TE only", "Transfer-Encoding: chunked\r\n"},
	} {
		raw := "POST /v0.1/servers HTTP/1.1\r\nHost: x\r\n" + tc.header + "\r\n0\r\n\r\n" + smuggled
		resp, br, _ := rawRequest(t, addr, raw)
		checkServerProblem(t, resp, http.StatusBadRequest)
		if !resp.Close {
			t.Errorf("%s: the connection stays open after the refusal", tc.name)
		}
		if _, err := http.ReadResponse(br, nil); err == nil {
			t.Errorf("%s: a second response on the connection", tc.name)
		}
	}
	if n := served.Load(); n != 0 {
		t.Errorf("the handler served %d requests", n)
	}
	resp, _, _ := rawRequest(t, addr, "POST /admin HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	if resp.StatusCode != http.StatusOK || served.Load() != 1 {
		t.Errorf("a request with Content-Length only: %d, served %d", resp.StatusCode, served.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(rejected) != 3 || rejected[0] != metrics.RejectTransferEncoding {
		t.Errorf("rejections reported: %v", rejected)
	}
}

// TestHTTPServerInFlightCap: beyond MaxInFlight requests, 503 with
// Retry-After at once; the probe endpoints keep answering; the slots come
// back when the requests end.
func TestHTTPServerInFlightCap(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "ok")
	})
	var rejects atomic.Int64
	_, addr := startHTTPServer(t, serverOptions{MaxInFlight: 2, OnReject: func(string) { rejects.Add(1) }}, h)
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			resp, err := client.Get("http://" + addr + "/slow")
			if err != nil {
				t.Error(err)
				return
			}
			_ = resp.Body.Close()
		})
	}
	for range 2 {
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the slow requests did not start")
		}
	}
	resp, err := client.Get("http://" + addr + "/v0.1/servers")
	if err != nil {
		t.Fatal(err)
	}
	checkServerProblem(t, resp, http.StatusServiceUnavailable)
	_ = resp.Body.Close()
	if resp.Header.Get("Retry-After") != retryAfter {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := client.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s while the API is saturated: %d", p, resp.StatusCode)
		}
	}
	close(release)
	wg.Wait()
	resp, err = client.Get("http://" + addr + "/v0.1/servers")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || rejects.Load() != 1 {
		t.Errorf("after the slow requests ended: %d, %d rejections", resp.StatusCode, rejects.Load())
	}
}

// TestHTTPServerOpsCapIsSeparate: the probe endpoints have their own bound.
func TestHTTPServerOpsCapIsSeparate(t *testing.T) {
	t.Parallel()
	g := newGuard(serverOptions{MaxInFlight: 1}.withDefaults(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	g.opsFlight.Store(opsMaxInFlight)
	rec := &headerRecorder{h: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, "http://x/healthz", nil)
	g.ServeHTTP(rec, req)
	if rec.code != http.StatusServiceUnavailable {
		t.Errorf("/healthz beyond its own bound: %d", rec.code)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://x/v0.1/servers", nil)
	rec = &headerRecorder{h: http.Header{}}
	g.ServeHTTP(rec, req)
	if rec.code != 0 && rec.code != http.StatusOK {
		t.Errorf("the API while probes are saturated: %d", rec.code)
	}
}

type headerRecorder struct {
	h    http.Header
	code int
}

func (r *headerRecorder) Header() http.Header         { return r.h }
func (r *headerRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (r *headerRecorder) WriteHeader(code int)        { r.code = code }

func TestHTTPServerHeaderTooLarge(t *testing.T) {
	t.Parallel()
	_, addr := startHTTPServer(t, serverOptions{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	header := func(n int) string {
		return "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", n) + "\r\n\r\n"
	}
	if resp, _, _ := rawRequest(t, addr, header(60<<10)); resp.StatusCode != http.StatusOK {
		t.Errorf("a 60 KiB header: %d", resp.StatusCode)
	}
	if resp, _, _ := rawRequest(t, addr, header(70<<10)); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 70 KiB header: %d, want 431", resp.StatusCode)
	}
}

// closedWithin reports whether the server closes c within d while the
// client keeps trickling bytes (when trickle is set) and never reads
// anything but the end of the connection.
func closedWithin(c net.Conn, d time.Duration, trickle bool) bool {
	deadline := time.Now().Add(d)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = c.SetReadDeadline(deadline)
		_, _ = io.Copy(io.Discard, c) // ends at EOF or reset (closed), or the deadline
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			return time.Now().Before(deadline)
		case <-tick.C:
			if trickle {
				_, _ = c.Write([]byte("a"))
			}
		}
	}
}

// TestHTTPServerCutsOffSlowClients: a client that sends its header or its
// body a byte at a time, or never reads the answer, loses its connection
// at the timeouts instead of holding it.
func TestHTTPServerCutsOffSlowClients(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	handlerDone := make(chan error, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/upload":
			_, err := io.Copy(io.Discard, r.Body)
			handlerDone <- err
		case "/big":
			chunk := make([]byte, 64<<10)
			var err error
			for err == nil {
				_, err = w.Write(chunk)
			}
			<-r.Context().Done() // the handler's work ends at the write deadline too
			handlerDone <- err
		}
	})
	o := serverOptions{ReadTimeout: timeout, ReadHeaderTimeout: timeout, WriteTimeout: timeout, IdleTimeout: timeout}
	_, addr := startHTTPServer(t, o, h)
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	const within = 3 * time.Second

	t.Run("header a byte at a time", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		if !closedWithin(c, within, true) {
			t.Error("still connected")
		}
	})
	t.Run("body a byte at a time", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
		if !closedWithin(c, within, true) {
			t.Error("still connected")
		}
		select {
		case err := <-handlerDone:
			if err == nil {
				t.Error("the handler read the whole body")
			}
		case <-time.After(within):
			t.Error("the handler is still reading")
		}
	})
	t.Run("never reads", func(t *testing.T) {
		c := dial()
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10) // fill up quickly
		}
		_, _ = io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		select {
		case err := <-handlerDone:
			if err == nil {
				t.Error("every write succeeded")
			}
		case <-time.After(within):
			t.Error("the handler is still writing")
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%v", err)
		}
		if !closedWithin(c, within, false) {
			t.Error("an idle connection is kept")
		}
	})
}

// TestHTTPServerRequestContextEndsAtWriteTimeout: handler work is bounded
// by the write deadline, after which no answer can be sent.
func TestHTTPServerRequestContextEndsAtWriteTimeout(t *testing.T) {
	t.Parallel()
	got := make(chan time.Duration, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dl, ok := r.Context().Deadline()
		if !ok {
			got <- 0
			return
		}
		got <- time.Until(dl)
	})
	_, addr := startHTTPServer(t, serverOptions{WriteTimeout: 5 * time.Second}, h)
	resp, _, _ := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = resp.Body.Close()
	if d := <-got; d <= 0 || d > 5*time.Second {
		t.Errorf("the request context's deadline is %s away, want at most the write timeout", d)
	}
}

// TestTakesBody: only the write routes are exempt from the refusal of
// chunked requests.
func TestTakesBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{http.MethodPost, "/v0.1/publish", true},
		{http.MethodPost, "/v0/publish", true},
		{http.MethodPost, "/v0.1/validate", true},
		{http.MethodPost, "/v0/auth/none", true},
		{http.MethodPost, "/v0/auth/github-oidc", true},
		{http.MethodPatch, "/v0.1/servers/io.x/y/versions/1.0.0/status", true},
		{http.MethodPatch, "/v0/servers/io.x%2Fy/status", true},
		{http.MethodPut, "/v0.1/x/io.github.mcpfed/approvals/io.x/y", true},
		{http.MethodGet, "/v0.1/publish", false},
		{http.MethodGet, "/v0.1/servers", false},
		{http.MethodPost, "/v0.1/servers", false},
		{http.MethodPost, "/registry/a/v0.1/publish", false},
		{http.MethodPatch, "/v0.1/servers/io.x/y", false},
		{http.MethodDelete, "/v0.1/x/io.github.mcpfed/approvals/io.x/y", false},
		{http.MethodPost, "/v0.1/x/io.github.mcpfed/sources/a/resync", false},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if got := takesBody(r); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
}
