package upstreamtest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Registry is a running fake registry. Create it with New.
type Registry struct {
	// URL is the base URL clients are configured with: scheme, 127.0.0.1
	// host and port, and the path prefix (no trailing slash).
	URL string
	// Server is the underlying test server.
	Server *httptest.Server

	t                 reporter
	prefix            string
	now               func() time.Time
	emptyTrailingPage bool

	done      chan struct{} // closed by Close: aborts sleeps and drips
	closeOnce sync.Once

	data      dataset
	artifacts artifactData

	faultMu   sync.Mutex
	faults    []*Injection
	repeatSeq atomic.Int64 // NoProgress cursors
	auth      Auth

	obs observer
}

// Option configures New.
type Option func(*Registry)

// WithPrefix mounts the registry under a path prefix, e.g. "/acme" serves
// /acme/v0.1/servers. URL includes it.
func WithPrefix(prefix string) Option {
	return func(r *Registry) {
		prefix = strings.TrimRight(prefix, "/")
		if prefix != "" && !strings.HasPrefix(prefix, "/") {
			prefix = "/" + prefix
		}
		r.prefix = prefix
	}
}

// WithClock sets the clock used for publishedAt, updatedAt and
// statusChangedAt when a mutation does not give them (default time.Now).
// ManualClock.Now fits.
func WithClock(now func() time.Time) Option {
	return func(r *Registry) { r.now = now }
}

// WithAuth makes every request require the given credentials from the start.
func WithAuth(a Auth) Option {
	return func(r *Registry) { r.auth = a }
}

// WithFault installs a fault before the first request is served.
func WithFault(f Fault) Option {
	return func(r *Registry) { r.faults = append(r.faults, &Injection{r: r, f: f}) }
}

// WithLogLimit bounds the request log (default 10,000), so load tests do not
// grow it without end: it holds at most n requests, and always the n/2 most
// recent. Counters are not bounded.
func WithLogLimit(n int) Option {
	return func(r *Registry) { r.obs.limit = n }
}

// WithEmptyTrailingPage mimics the official registry's paging exactly: it
// sets nextCursor whenever a page is full, so a listing whose length is a
// multiple of limit ends with an empty page. By default the last page has no
// nextCursor.
func WithEmptyTrailingPage() Option {
	return func(r *Registry) { r.emptyTrailingPage = true }
}

// reporter is where dataset methods report a misuse: the test, or (for
// programs such as the load command) a panic.
type reporter interface {
	Helper()
	Fatalf(format string, args ...any)
}

// New starts a registry on 127.0.0.1 and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Registry {
	t.Helper()
	r, err := start(t, opts)
	if err != nil {
		t.Fatalf("upstreamtest: %v", err)
		return nil
	}
	t.Cleanup(r.Close)
	return r
}

// Start starts a registry on 127.0.0.1 for a program (the load command);
// the caller closes it. Misuse of the dataset methods panics.
func Start(opts ...Option) (*Registry, error) {
	return start(panicReporter{}, opts)
}

func start(t reporter, opts []Option) (*Registry, error) {
	r := &Registry{
		t:    t,
		now:  time.Now,
		done: make(chan struct{}),
		obs:  observer{limit: 10000},
	}
	r.data.init()
	for _, o := range opts {
		o(r)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	r.Server = &httptest.Server{Listener: ln, Config: &http.Server{Handler: r}}
	r.Server.Start()
	r.URL = r.Server.URL + r.prefix
	return r, nil
}

type panicReporter struct{}

func (panicReporter) Helper() {}

func (panicReporter) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Close stops the server. In-flight delayed or dripping responses are cut
// short so Close never waits on a fault. Safe to call more than once.
func (r *Registry) Close() {
	r.closeOnce.Do(func() {
		close(r.done)
		r.Server.Close()
	})
}

// Client returns an HTTP client for the registry whose idle connections are
// closed with it (leaving no goroutines behind).
func (r *Registry) Client() *http.Client { return r.Server.Client() }

// clock returns the registry's current time as the official registry stores
// it: UTC, microsecond precision, no monotonic reading.
func (r *Registry) clock() time.Time {
	return r.now().UTC().Truncate(time.Microsecond)
}

// ManualClock is a clock that moves only when told, for deterministic
// timestamps. Pass its Now to WithClock.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a clock standing at start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *ManualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t.
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
