package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcpfed/mcpfed/upstream"
)

// RateLimitOptions configure the outbound rate limit of one source.
type RateLimitOptions struct {
	// PerMinute requests (0: unlimited). The official registry allows 60.
	PerMinute float64
	// Burst is how many requests may go at once (default 1).
	Burst int
	// Retries is how many times a 429 is retried after its Retry-After,
	// when that fits the caller's deadline (0: never; the configuration
	// layer applies DefaultRetries when the field is absent).
	Retries int
	// MaxWait caps how long one Retry-After holds requests (default
	// DefaultMaxWait): an upstream asking for days is asked again after
	// MaxWait, not obeyed.
	MaxWait time.Duration
	// Clock dates Retry-After holds; waits themselves run on real timers
	// and deadlines, so only a clock that tracks the wall clock fits.
	Clock func() time.Time
	// OnLimited is called for every 429 received; OnRetry for every retry.
	OnLimited func()
	OnRetry   func()
}

// RateLimiter keeps a source within its outbound budget and honours the
// upstream's own 429 Retry-After: until then no request is sent at all.
type RateLimiter struct {
	next upstream.Fetcher
	o    RateLimitOptions
	lim  *rate.Limiter

	mu        sync.Mutex
	notBefore time.Time
}

// ErrRateLimited is returned when the upstream asked to wait longer than the
// caller can.
var ErrRateLimited = errors.New("rate limited by upstream")

// NewRateLimiter wraps next. Invalid options (see Validate) are taken as
// their defaults.
func NewRateLimiter(next upstream.Fetcher, o RateLimitOptions) *RateLimiter {
	o.withDefaults()
	limit := rate.Inf
	if o.PerMinute > 0 {
		limit = rate.Limit(o.PerMinute / 60)
	}
	return &RateLimiter{next: next, o: o, lim: rate.NewLimiter(limit, o.Burst)}
}

// Fetch waits for the budget (and any Retry-After), then passes the request on.
func (l *RateLimiter) Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	for attempt := 0; ; attempt++ {
		if err := l.wait(ctx); err != nil {
			return nil, err
		}
		resp, err := l.next.Fetch(ctx, r)
		var se *upstream.StatusError
		if !errors.As(err, &se) || se.Code != 429 {
			return resp, err
		}
		if l.o.OnLimited != nil {
			l.o.OnLimited()
		}
		wait := se.RetryAfter
		if wait <= 0 {
			wait = time.Second
		}
		wait = min(wait, l.o.MaxWait)
		l.mu.Lock()
		if until := l.o.Clock().Add(wait); until.After(l.notBefore) {
			l.notBefore = until
		}
		l.mu.Unlock()
		if attempt >= l.o.Retries || !l.fits(ctx, wait) {
			return nil, fmt.Errorf("%w: %w", ErrRateLimited, err)
		}
		if l.o.OnRetry != nil {
			l.o.OnRetry()
		}
	}
}

// wait blocks until the upstream's Retry-After has passed and the limiter
// grants a token, or fails at once if the caller cannot wait that long.
// Every wait ends when ctx does, and none is longer than MaxWait plus one
// rate-limit interval.
func (l *RateLimiter) wait(ctx context.Context) error {
	l.mu.Lock()
	// The hold is capped again here: a clock moved back must not stretch it.
	pause := min(l.notBefore.Sub(l.o.Clock()), l.o.MaxWait)
	l.mu.Unlock()
	if pause > 0 {
		if !l.fits(ctx, pause) {
			return fmt.Errorf("%w: upstream asked to wait %s", ErrRateLimited, pause.Round(time.Millisecond))
		}
		t := time.NewTimer(pause)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := l.lim.Wait(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrRateLimited, err)
	}
	return nil
}

// fits reports whether waiting d leaves the caller's deadline intact.
// Context deadlines are wall-clock times, so they are measured with
// time.Until, not with the injected clock.
func (l *RateLimiter) fits(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return !ok || d < time.Until(dl)
}

// Ready reports whether a request could go now, without waiting for the
// budget or an upstream's Retry-After.
func (l *RateLimiter) Ready() bool {
	l.mu.Lock()
	held := l.notBefore.After(l.o.Clock()) // the clock the hold was dated with
	l.mu.Unlock()
	return !held && l.lim.Tokens() >= 1
}
