package remote

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// stateLog records the breaker's reported transitions.
type stateLog struct {
	mu     sync.Mutex
	source []string
	states []gobreaker.State
}

func (s *stateLog) record(source string, to gobreaker.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.source = append(s.source, source)
	s.states = append(s.states, to)
}

func (s *stateLog) get() ([]string, []gobreaker.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.source), slices.Clone(s.states)
}

func newBreaker(next upstream.Fetcher, failures uint32, openFor time.Duration) (*Breaker, *stateLog) {
	log := &stateLog{}
	return NewBreaker(next, BreakerOptions{Source: "src", Failures: failures, OpenFor: openFor, OnStateChange: log.record}), log
}

func TestBreakerOpensAndFailsFast(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	b, log := newBreaker(newClient(t, r, nil), 3, time.Minute)
	ctx := ctxTimeout(t, 10*time.Second)

	r.Inject(upstreamtest.Fault{Status: 503})
	for i := range 3 {
		_, err := b.Fetch(ctx, listReq())
		var se *upstream.StatusError
		if !errors.As(err, &se) || se.Code != 503 {
			t.Fatalf("failure %d: Fetch = %v, want the upstream's 503", i+1, err)
		}
		if want := map[bool]gobreaker.State{true: gobreaker.StateOpen, false: gobreaker.StateClosed}[i == 2]; b.State() != want {
			t.Fatalf("after %d failures the breaker is %s, want %s", i+1, b.State(), want)
		}
	}

	// The upstream now answers slowly: an open breaker must not wait for it.
	r.ClearFaults()
	const latency = 2 * time.Second
	r.Inject(upstreamtest.Fault{Latency: latency})
	before := r.Requests()
	for range 3 {
		start := time.Now()
		_, err := b.Fetch(ctx, listReq())
		if elapsed := time.Since(start); elapsed > latency/10 {
			t.Errorf("an open breaker took %s to answer", elapsed)
		}
		if !errors.Is(err, upstream.ErrBreakerOpen) {
			t.Errorf("Fetch = %v, want ErrBreakerOpen", err)
		}
	}
	if n := r.Requests() - before; n != 0 {
		t.Errorf("the upstream received %d requests through an open breaker", n)
	}
	sources, states := log.get()
	if !slices.Equal(states, []gobreaker.State{gobreaker.StateOpen}) || !slices.Equal(sources, []string{"src"}) {
		t.Errorf("OnStateChange got %v %v, want [src] [open]", sources, states)
	}
}

func TestBreakerSuccessResetsTheCount(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	b, log := newBreaker(newClient(t, r, nil), 3, time.Minute)
	ctx := ctxTimeout(t, 10*time.Second)
	// Failures must be consecutive: fail, fail, succeed, fail, fail.
	for i, fail := range []bool{true, true, false, true, true} {
		if fail {
			r.Inject(upstreamtest.Fault{Status: 500, Times: 1})
		}
		if _, err := b.Fetch(ctx, listReq()); (err != nil) != fail {
			t.Fatalf("call %d: err = %v", i, err)
		}
	}
	if b.State() != gobreaker.StateClosed {
		t.Errorf("state = %s, want closed", b.State())
	}
	if _, states := log.get(); len(states) != 0 {
		t.Errorf("transitions %v, want none", states)
	}
}

func TestBreakerWhatCounts(t *testing.T) {
	t.Parallel()
	type call func(t *testing.T, f upstream.Fetcher, r *upstreamtest.Registry) error
	plain := func(req upstream.Request) call {
		return func(t *testing.T, f upstream.Fetcher, _ *upstreamtest.Registry) error {
			_, err := f.Fetch(ctxTimeout(t, 10*time.Second), req)
			return err
		}
	}
	tests := []struct {
		name    string
		prepare func(r *upstreamtest.Registry)
		// limited puts a rate limiter between breaker and client, as NewLive does.
		limited bool
		call    call
		is      func(error) bool
		counts  bool
	}{
		{
			name: "5xx", counts: true,
			prepare: func(r *upstreamtest.Registry) { r.Inject(upstreamtest.Fault{Status: 502}) },
			call:    plain(listReq()),
			is:      statusIs(502),
		},
		{
			name: "malformed answer", counts: true,
			prepare: func(r *upstreamtest.Registry) { r.Inject(upstreamtest.Fault{Malformed: true}) },
			call:    plain(listReq()),
			is:      func(err error) bool { return err != nil },
		},
		{
			name: "upstream timeout", counts: true,
			prepare: func(r *upstreamtest.Registry) { r.Inject(upstreamtest.Fault{Latency: 5 * time.Second}) },
			call: func(t *testing.T, f upstream.Fetcher, _ *upstreamtest.Registry) error {
				_, err := f.Fetch(ctxTimeout(t, 50*time.Millisecond), listReq())
				return err
			},
			is: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) },
		},
		{
			name:   "404",
			call:   plain(upstream.Request{Op: upstream.OpVersion, Name: "io.github.acme/missing", Version: "1.0.0"}),
			is:     func(err error) bool { return errors.Is(err, upstream.ErrNotFound) },
			counts: false,
		},
		{
			name: "422",
			call: plain(upstream.Request{Op: upstream.OpList, Limit: 500}), // the fake refuses limit > 100
			is:   statusIs(422),
		},
		{
			name:    "401",
			prepare: func(r *upstreamtest.Registry) { r.SetAuth(upstreamtest.Auth{Bearer: "something"}) },
			call:    plain(listReq()),
			is:      statusIs(401),
		},
		{
			name: "caller cancelled in flight",
			call: func(t *testing.T, f upstream.Fetcher, r *upstreamtest.Registry) error {
				// Cancel once the request has reached the fake, while it delays the answer.
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				in := r.Inject(upstreamtest.Fault{Latency: 5 * time.Second, Times: 1, Match: func(*http.Request) bool { cancel(); return true }})
				defer in.Remove()
				_, err := f.Fetch(ctx, listReq())
				return err
			},
			is: func(err error) bool { return errors.Is(err, context.Canceled) },
		},
		{
			name:    "rate limited",
			limited: true,
			prepare: func(r *upstreamtest.Registry) { r.Inject(upstreamtest.Fault{Status: 429, RetryAfter: "60"}) },
			call:    plain(listReq()), // a 60s Retry-After does not fit the 10s deadline
			is:      func(err error) bool { return errors.Is(err, ErrRateLimited) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			if tt.prepare != nil {
				tt.prepare(r)
			}
			var next upstream.Fetcher = newClient(t, r, nil)
			if tt.limited {
				next = NewRateLimiter(next, RateLimitOptions{Retries: 1})
			}
			b, log := newBreaker(next, 2, time.Minute)
			for i := range 4 {
				err := tt.call(t, b, r)
				if errors.Is(err, upstream.ErrBreakerOpen) {
					if !tt.counts {
						t.Fatalf("call %d: the breaker opened on %s", i, tt.name)
					}
					continue
				}
				if !tt.is(err) {
					t.Fatalf("call %d: err = %v, not the expected kind", i, err)
				}
			}
			want := gobreaker.StateClosed
			if tt.counts {
				want = gobreaker.StateOpen
			}
			if b.State() != want {
				t.Errorf("after 4 × %s the breaker is %s, want %s", tt.name, b.State(), want)
			}
			if _, states := log.get(); tt.counts != (len(states) > 0) {
				t.Errorf("transitions %v", states)
			}
		})
	}
}

func statusIs(code int) func(error) bool {
	return func(err error) bool {
		var se *upstream.StatusError
		return errors.As(err, &se) && se.Code == code
	}
}

func TestBreakerHalfOpenProbe(t *testing.T) {
	t.Parallel()
	const openFor = 100 * time.Millisecond
	tests := []struct {
		name  string
		probe upstream.Request
		fault *upstreamtest.Fault // on the probe
		want  gobreaker.State
	}{
		{"success closes", listReq(), nil, gobreaker.StateClosed},
		// A 404 is an answer: the upstream is up.
		{"404 closes", upstream.Request{Op: upstream.OpVersions, Name: "io.github.acme/missing"}, nil, gobreaker.StateClosed},
		{"failure reopens", listReq(), &upstreamtest.Fault{Status: 500, Times: 1}, gobreaker.StateOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			b, log := newBreaker(newClient(t, r, nil), 1, openFor)
			ctx := ctxTimeout(t, 10*time.Second)
			r.Inject(upstreamtest.Fault{Status: 500, Times: 1})
			opened := time.Now()
			if _, err := b.Fetch(ctx, listReq()); err == nil || b.State() != gobreaker.StateOpen {
				t.Fatalf("first failure: err %v, state %s", err, b.State())
			}
			// gobreaker times the open period with the wall clock.
			waitFor(t, 5*time.Second, "half-open", func() bool { return b.State() == gobreaker.StateHalfOpen })
			if waited := time.Since(opened); waited < openFor {
				t.Errorf("half-open after %s, before OpenFor %s", waited, openFor)
			}
			if tt.fault != nil {
				r.Inject(*tt.fault)
			}
			before := r.Requests()
			_, _ = b.Fetch(ctx, tt.probe)
			if n := r.Requests() - before; n != 1 {
				t.Errorf("the probe made %d requests, want 1", n)
			}
			if b.State() != tt.want {
				t.Errorf("after the probe the breaker is %s, want %s", b.State(), tt.want)
			}
			sources, states := log.get()
			if want := []gobreaker.State{gobreaker.StateOpen, gobreaker.StateHalfOpen, tt.want}; !slices.Equal(states, want) {
				t.Errorf("OnStateChange got %v, want %v", states, want)
			}
			for _, s := range sources {
				if s != "src" {
					t.Errorf("OnStateChange source %q, want src", s)
				}
			}
		})
	}
}

// gate holds the first call made after it is armed until released.
type gate struct {
	next    upstream.Fetcher
	armed   atomic.Bool
	once    sync.Once
	arrived chan struct{}
	release chan struct{}
}

func (g *gate) Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	if g.armed.Load() {
		g.once.Do(func() {
			close(g.arrived)
			<-g.release
		})
	}
	return g.next.Fetch(ctx, r)
}

func TestBreakerHalfOpenLetsOneProbeThrough(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	g := &gate{next: newClient(t, r, nil), arrived: make(chan struct{}), release: make(chan struct{})}
	b, _ := newBreaker(g, 1, 50*time.Millisecond)
	ctx := ctxTimeout(t, 10*time.Second)
	r.Inject(upstreamtest.Fault{Status: 500, Times: 1})
	_, _ = b.Fetch(ctx, listReq())
	waitFor(t, 5*time.Second, "half-open", func() bool { return b.State() == gobreaker.StateHalfOpen })

	// Hold the probe in flight until the second caller has been answered.
	g.armed.Store(true)
	probe := make(chan error, 1)
	go func() {
		_, err := b.Fetch(ctx, listReq())
		probe <- err
	}()
	<-g.arrived
	start := time.Now()
	_, err := b.Fetch(ctx, listReq())
	if !errors.Is(err, upstream.ErrBreakerOpen) || time.Since(start) > time.Second {
		t.Errorf("second caller while half-open: %v after %s, want ErrBreakerOpen at once", err, time.Since(start))
	}
	close(g.release)
	if err := <-probe; err != nil {
		t.Errorf("probe: %v", err)
	}
	if b.State() != gobreaker.StateClosed {
		t.Errorf("state = %s, want closed", b.State())
	}
	if n := r.Requests(); n != 2 {
		t.Errorf("requests = %d, want the failure and the probe only", n)
	}
}

func TestBreakerDefaults(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	r.Inject(upstreamtest.Fault{Status: 500})
	b := NewBreaker(newClient(t, r, nil), BreakerOptions{Source: "src"})
	ctx := ctxTimeout(t, 10*time.Second)
	for i := range 5 {
		if b.State() != gobreaker.StateClosed {
			t.Fatalf("open after %d failures, want 5 (the default)", i)
		}
		_, _ = b.Fetch(ctx, listReq())
	}
	if b.State() != gobreaker.StateOpen {
		t.Errorf("state after 5 failures = %s, want open", b.State())
	}
	if _, err := b.Fetch(ctx, listReq()); !errors.Is(err, upstream.ErrBreakerOpen) {
		t.Errorf("Fetch = %v, want ErrBreakerOpen", err)
	}
}
