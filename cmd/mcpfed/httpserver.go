package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/metrics"
)

// Defaults of the HTTP server (the configuration's http: block, MCPFED_HTTP_*).
const (
	// DefaultReadHeaderTimeout bounds reading a request's header: a client
	// that sends it a byte at a time is cut off.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds reading a whole request, header and body.
	// The read API takes no body, so this only cuts off slow senders; a
	// write's body (publish, a decision: bounded) must arrive within it too.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its header to the
	// last byte of its answer, handler included: requestTimeout (10s) for
	// the fan-out to live sources, then 20s to send the answer. The largest
	// measured answer is a 100-entry page of the built-in catalogue,
	// 1.45 MB (0.34 MB gzipped; a versions list is one server's versions,
	// smaller): 20s sends it at 600 kbit/s, or gzipped at 140 kbit/s. A
	// client that reads slower than that is cut off rather than holding a
	// connection and a slot for minutes.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout bounds a keep-alive connection between requests.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultMaxHeaderBytes bounds a request's header (net/http answers 431
	// beyond it).
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxInFlight bounds the API requests served at once; beyond it a
	// request gets 503 with Retry-After at once, before any work.
	DefaultMaxInFlight = 1024
)

// opsMaxInFlight bounds the probe and scrape endpoints on their own, so
// that a saturated API does not fail liveness (and get the pod restarted
// when it needs to drain) while a flood of probes cannot take the API's
// slots either.
const opsMaxInFlight = 64

// isOpsPath tells the paths served under opsMaxInFlight instead of
// MaxInFlight: liveness, readiness and the metrics scrape.
func isOpsPath(p string) bool {
	switch p {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// retryAfter is the Retry-After of a refusal for load: overload passes
// quickly or not at all, and a short wait spreads retries out.
const retryAfter = "1"

// serverOptions configures the HTTP server. A zero field takes its default.
type serverOptions struct {
	ReadTimeout, ReadHeaderTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes, MaxInFlight                               int
	// OnReject, when set, is called with the reason of each refused request
	// (metrics.Metrics.Rejected).
	OnReject func(reason string)
}

// errNegative is wrapped by validate's errors.
var errNegative = errors.New("must not be negative")

// validate reports every negative field, named as the configuration's
// http: block spells it.
func (o serverOptions) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		neg  bool
	}{
		{"http.readTimeout", o.ReadTimeout < 0}, {"http.readHeaderTimeout", o.ReadHeaderTimeout < 0},
		{"http.writeTimeout", o.WriteTimeout < 0}, {"http.idleTimeout", o.IdleTimeout < 0},
		{"http.maxHeaderBytes", o.MaxHeaderBytes < 0}, {"http.maxInFlight", o.MaxInFlight < 0},
	} {
		if f.neg {
			errs = append(errs, fmt.Errorf("%s %w (0 for the default)", f.name, errNegative))
		}
	}
	return errors.Join(errs...)
}

// validateWith reports validate's problems, and a write timeout (as set,
// or its default) that does not exceed requestTimeout: a request that uses
// its whole fan-out time could then never send its answer.
func (o serverOptions) validateWith(requestTimeout time.Duration) error {
	errs := []error{o.validate()}
	if wt := o.withDefaults().WriteTimeout; o.WriteTimeout >= 0 && wt <= requestTimeout {
		errs = append(errs, fmt.Errorf("http.writeTimeout %s must exceed requestTimeout %s (write e.g. %s)", wt, requestTimeout, requestTimeout+20*time.Second))
	}
	return errors.Join(errs...)
}

// withDefaults fills every zero field with its default.
func (o serverOptions) withDefaults() serverOptions {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.ReadTimeout, DefaultReadTimeout)
	def(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	def(&o.IdleTimeout, DefaultIdleTimeout)
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	return o
}

// newHTTPServer returns the server for h: every timeout set, the header
// bounded, and h behind a guard that refuses ambiguous request framing and
// requests beyond the in-flight cap. net/http's own error log goes to
// logger at warn level.
func newHTTPServer(o serverOptions, h http.Handler, logger *slog.Logger) *http.Server {
	o = o.withDefaults()
	return &http.Server{
		Handler:           newGuard(o, h),
		ReadTimeout:       o.ReadTimeout,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// guard answers what must not reach the handlers: ambiguous framing and
// load beyond the caps. It runs first, so a refusal costs no work.
type guard struct {
	next                http.Handler
	maxInFlight         int64
	inFlight, opsFlight atomic.Int64
	writeTimeout        time.Duration
	onReject            func(string)
}

func newGuard(o serverOptions, next http.Handler) *guard {
	onReject := o.OnReject
	if onReject == nil {
		onReject = func(string) {}
	}
	return &guard{next: next, maxInFlight: int64(o.MaxInFlight), writeTimeout: o.WriteTimeout, onReject: onReject}
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = metrics.AssignRequestID(w, r) // refusals carry an id too
	// net/http deletes Content-Length when Transfer-Encoding is present,
	// so a request that sent both shows here only as a chunked one. The
	// read API takes no request body: refusing every chunked request
	// refuses both orders of the smuggling pair, which a proxy in front may
	// frame differently from us. The write routes take a body, chunked or
	// not; their handlers bound it (publishing.maxBodyBytes, 16 KiB for a
	// decision).
	if len(r.TransferEncoding) > 0 && !takesBody(r) {
		g.onReject(metrics.RejectTransferEncoding)
		w.Header().Set("Connection", "close")
		federate.WriteProblem(w, http.StatusBadRequest, "Transfer-Encoding is not accepted: this API takes no request body (a request with both Content-Length and Transfer-Encoding is refused)")
		return
	}
	counter, limit := &g.inFlight, g.maxInFlight
	if isOpsPath(r.URL.Path) {
		counter, limit = &g.opsFlight, opsMaxInFlight
	}
	if counter.Add(1) > limit {
		counter.Add(-1)
		g.onReject(metrics.RejectInFlight)
		w.Header().Set("Retry-After", retryAfter)
		federate.WriteProblem(w, http.StatusServiceUnavailable, "too many requests in flight; retry after "+retryAfter+"s")
		return
	}
	defer counter.Add(-1)
	// The handler's work ends when its answer could no longer be written:
	// net/http does not cancel the context at the write deadline.
	ctx, cancel := context.WithTimeout(r.Context(), g.writeTimeout)
	defer cancel()
	g.next.ServeHTTP(w, r.WithContext(ctx))
}

// takesBody tells the write routes, which take a request body: publish,
// validate and the token exchanges (POST), status changes (PATCH) and
// curation decisions (PUT), under /v0.1 and /v0.
func takesBody(r *http.Request) bool {
	var rest string
	for _, prefix := range []string{"/v0.1/", "/v0/"} {
		if p, ok := strings.CutPrefix(r.URL.Path, prefix); ok {
			rest = p
			break
		}
	}
	if rest == "" {
		return false
	}
	switch r.Method {
	case http.MethodPost:
		switch rest {
		case "publish", "validate", "auth/none", "auth/github-oidc":
			return true
		}
	case http.MethodPatch:
		return strings.HasPrefix(rest, "servers/") && strings.HasSuffix(rest, "/status")
	case http.MethodPut:
		return strings.HasPrefix(rest, strings.TrimPrefix(federate.ExtensionPath, "/")+"/approvals/")
	}
	return false
}
