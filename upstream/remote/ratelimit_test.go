package remote

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

func TestRateLimiterPacing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		perMinute float64
		burst     int
		n         int
		atLeast   time.Duration
		atMost    time.Duration
	}{
		{"600/min burst 1", 600, 1, 4, 300 * time.Millisecond, 0},
		{"600/min burst 3 within the burst", 600, 3, 3, 0, 80 * time.Millisecond},
		{"600/min burst 3 beyond the burst", 600, 3, 5, 200 * time.Millisecond, 0},
		{"1200/min default burst", 1200, 0, 3, 100 * time.Millisecond, 0},
		{"unlimited", 0, 0, 20, 0, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			l := NewRateLimiter(newClient(t, r, nil), RateLimitOptions{PerMinute: tt.perMinute, Burst: tt.burst})
			ctx := ctxTimeout(t, 10*time.Second)
			start := time.Now()
			for i := range tt.n {
				if _, err := l.Fetch(ctx, listReq()); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			elapsed := time.Since(start)
			// rate.Limiter rounds token durations down to the nanosecond.
			if elapsed < tt.atLeast-2*time.Millisecond {
				t.Errorf("%d requests took %s, want at least %s", tt.n, elapsed, tt.atLeast)
			}
			if tt.atMost > 0 && elapsed > tt.atMost {
				t.Errorf("%d requests took %s, want at most %s", tt.n, elapsed, tt.atMost)
			}
			if got := r.Requests(); got != tt.n {
				t.Errorf("registry received %d requests, want %d", got, tt.n)
			}
		})
	}
}

// limiterCounts counts the limiter's callbacks.
type limiterCounts struct{ limited, retried atomic.Int32 }

func (c *limiterCounts) options(o RateLimitOptions) RateLimitOptions {
	o.OnLimited = func() { c.limited.Add(1) }
	o.OnRetry = func() { c.retried.Add(1) }
	return o
}

func TestRateLimiterRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fault      upstreamtest.Fault
		retries    int // the limiter's Retries (the configured default is 1)
		deadline   time.Duration
		wantErr    bool
		requests   int
		gap        time.Duration // least time between the 429 and the retry
		maxElapsed time.Duration
		limited    int32
		retried    int32
	}{
		{name: "retried once after Retry-After", fault: upstreamtest.Fault{Status: 429, RetryAfter: "1", Times: 1}, retries: 1,
			deadline: 5 * time.Second, requests: 2, gap: time.Second, maxElapsed: 3 * time.Second, limited: 1, retried: 1},
		{name: "no Retry-After waits a second", fault: upstreamtest.Fault{Status: 429, Times: 1}, retries: 1,
			deadline: 5 * time.Second, requests: 2, gap: time.Second, maxElapsed: 3 * time.Second, limited: 1, retried: 1},
		{name: "deadline too short fails at once", fault: upstreamtest.Fault{Status: 429, RetryAfter: "1", Times: 1}, retries: 1,
			deadline: 500 * time.Millisecond, wantErr: true, requests: 1, maxElapsed: 200 * time.Millisecond, limited: 1},
		{name: "Retry-After too long fails at once", fault: upstreamtest.Fault{Status: 429, RetryAfter: "120", Times: 1}, retries: 1,
			deadline: 5 * time.Second, wantErr: true, requests: 1, maxElapsed: 200 * time.Millisecond, limited: 1},
		{name: "retries disabled", fault: upstreamtest.Fault{Status: 429, RetryAfter: "1", Times: 1}, retries: 0,
			deadline: 5 * time.Second, wantErr: true, requests: 1, maxElapsed: 200 * time.Millisecond, limited: 1},
		{name: "negative retries are none", fault: upstreamtest.Fault{Status: 429, RetryAfter: "1", Times: 1}, retries: -1,
			deadline: 5 * time.Second, wantErr: true, requests: 1, maxElapsed: 200 * time.Millisecond, limited: 1},
		{name: "still limited after the retry", fault: upstreamtest.Fault{Status: 429, RetryAfter: "1"}, retries: 1,
			deadline: 5 * time.Second, wantErr: true, requests: 2, gap: time.Second, maxElapsed: 3 * time.Second, limited: 2, retried: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			r.Inject(tt.fault)
			var cnt limiterCounts
			l := NewRateLimiter(newClient(t, r, nil), cnt.options(RateLimitOptions{Retries: tt.retries}))
			start := time.Now()
			resp, err := l.Fetch(ctxTimeout(t, tt.deadline), listReq())
			elapsed := time.Since(start)
			if tt.wantErr {
				if !errors.Is(err, ErrRateLimited) {
					t.Errorf("Fetch = %v, want ErrRateLimited", err)
				}
				var se *upstream.StatusError
				if !errors.As(err, &se) || se.Code != 429 {
					t.Errorf("Fetch = %v, want the 429 kept in the chain", err)
				}
			} else if err != nil || len(resp.Entries) == 0 {
				t.Errorf("Fetch = %v, want the page after the retry", err)
			}
			if elapsed > tt.maxElapsed {
				t.Errorf("Fetch took %s, want at most %s", elapsed, tt.maxElapsed)
			}
			log := r.Log()
			if len(log) != tt.requests {
				t.Fatalf("registry received %d requests, want %d", len(log), tt.requests)
			}
			if tt.requests == 2 {
				if gap := log[1].Time.Sub(log[0].Time); gap < tt.gap {
					t.Errorf("the retry came %s after the 429, want at least %s", gap, tt.gap)
				}
			}
			if l, rt := cnt.limited.Load(), cnt.retried.Load(); l != tt.limited || rt != tt.retried {
				t.Errorf("OnLimited × %d, OnRetry × %d; want %d, %d", l, rt, tt.limited, tt.retried)
			}
		})
	}
}

func TestRateLimiterHoldsRequestsAfter429(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	r.Inject(upstreamtest.Fault{Status: 429, RetryAfter: "1", Times: 1})
	l := NewRateLimiter(newClient(t, r, nil), RateLimitOptions{Retries: 1})
	// The caller cannot wait: the 429 comes back at once.
	if _, err := l.Fetch(ctxTimeout(t, 300*time.Millisecond), listReq()); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("Fetch = %v, want ErrRateLimited", err)
	}

	// Until Retry-After has passed nothing is sent: a caller that cannot
	// wait that long is refused without a request...
	start := time.Now()
	_, err := l.Fetch(ctxTimeout(t, 300*time.Millisecond), upstream.Request{Op: upstream.OpList, Limit: 2})
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "asked to wait") {
		t.Errorf("Fetch during Retry-After = %v, want ErrRateLimited", err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Errorf("refusal took %s, want it at once", time.Since(start))
	}
	// ...one that gives up while waiting gets its own error...
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := l.Fetch(ctx, listReq()); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch cancelled while waiting = %v, want context.Canceled", err)
	}
	if n := r.Requests(); n != 1 {
		t.Fatalf("registry received %d requests during Retry-After, want only the 429", n)
	}
	// ...and one that can wait is sent after it.
	if _, err := l.Fetch(ctxTimeout(t, 5*time.Second), listReq()); err != nil {
		t.Fatalf("Fetch after waiting: %v", err)
	}
	log := r.Log()
	if len(log) != 2 {
		t.Fatalf("registry received %d requests, want 2", len(log))
	}
	if gap := log[1].Time.Sub(log[0].Time); gap < time.Second {
		t.Errorf("the next request came %s after the 429, want at least Retry-After (1s)", gap)
	}
}

func TestRateLimiterPassesOtherErrors(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	r.Inject(upstreamtest.Fault{Status: 503, RetryAfter: "30", Times: 1})
	var cnt limiterCounts
	l := NewRateLimiter(newClient(t, r, nil), cnt.options(RateLimitOptions{}))
	ctx := ctxTimeout(t, 5*time.Second)
	_, err := l.Fetch(ctx, listReq())
	if errors.Is(err, ErrRateLimited) || !statusIs(503)(err) {
		t.Errorf("Fetch = %v, want the 503 as is", err)
	}
	// A 503's Retry-After is the breaker's business, not a hold on requests.
	start := time.Now()
	if _, err := l.Fetch(ctx, upstream.Request{Op: upstream.OpVersion, Name: "io.github.acme/none", Version: "1"}); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("Fetch = %v, want ErrNotFound as is", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("the next request waited %s", time.Since(start))
	}
	if cnt.limited.Load() != 0 || cnt.retried.Load() != 0 {
		t.Errorf("callbacks fired for non-429 answers")
	}
}

// TestRetryAfterParsing: delay-seconds and HTTP dates, without overflow:
// values too large for time.Duration (from about 9.3e9 s) or int64 are the
// longest hold, never a negative or wrapped one; garbage is no hint.
func TestRetryAfterParsing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"2", 2 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"86400", maxRetryAfter},
		{"999999999", maxRetryAfter},
		{"9300000000", maxRetryAfter}, // overflows time.Duration when multiplied
		{"99999999999999999999999", maxRetryAfter},
		{"-5", 0},
		{"+5", 0},
		{"1.5", 0},
		{"soon", 0},
		{"0x10", 0},
		{t0.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{t0.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"Fri, 31 Dec 9999 23:59:59 GMT", maxRetryAfter},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, t0); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestRateLimiterCapsRetryAfter: an upstream asking to wait 999999999 s
// (or more than time.Duration holds) is asked again after MaxWait, by a
// caller without a deadline as by one with.
func TestRateLimiterCapsRetryAfter(t *testing.T) {
	t.Parallel()
	for _, ra := range []string{"999999999", "99999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		t.Run(ra, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			r.Inject(upstreamtest.Fault{Status: 429, RetryAfter: ra, Times: 1})
			l := NewRateLimiter(newClient(t, r, nil), RateLimitOptions{Retries: 1, MaxWait: 200 * time.Millisecond})
			start := time.Now()
			resp, err := l.Fetch(ctxTimeout(t, 5*time.Second), listReq())
			if err != nil || len(resp.Entries) == 0 {
				t.Fatalf("Fetch = %v, want the page after MaxWait", err)
			}
			if took := time.Since(start); took < 200*time.Millisecond || took > 2*time.Second {
				t.Errorf("Fetch took %s, want about MaxWait (200ms)", took)
			}
		})
	}
	t.Run("default MaxWait", func(t *testing.T) {
		t.Parallel()
		l := NewRateLimiter(nil, RateLimitOptions{})
		if l.o.MaxWait != DefaultMaxWait || DefaultMaxWait != 5*time.Minute {
			t.Errorf("MaxWait = %s, want the documented 5m", l.o.MaxWait)
		}
	})
}

// TestRateLimiterWaitsEndWithContext: a caller without a deadline waiting
// on a Retry-After hold, or on the budget, is released when its context
// ends.
func TestRateLimiterWaitsEndWithContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		o     RateLimitOptions
		fault upstreamtest.Fault
	}{
		{"Retry-After hold", RateLimitOptions{Retries: 1, MaxWait: time.Hour}, upstreamtest.Fault{Status: 429, RetryAfter: "999999999", Times: 1}},
		{"rate-limit slot", RateLimitOptions{PerMinute: 1}, upstreamtest.Fault{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			r.Inject(tt.fault)
			l := NewRateLimiter(newClient(t, r, nil), tt.o)
			// The first request takes the slot, or brings the 429.
			_, _ = l.Fetch(ctxTimeout(t, 5*time.Second), listReq())
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			start := time.Now()
			_, err := l.Fetch(ctx, listReq())
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Fetch = %v, want context.Canceled", err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Fetch returned %s after its context ended", took)
			}
		})
	}
}
