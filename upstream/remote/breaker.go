package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/mcpfed/mcpfed/upstream"
)

// BreakerOptions configure a circuit breaker.
type BreakerOptions struct {
	Source string
	// Failures is how many consecutive failures open the breaker (default
	// DefaultBreakerFailures).
	Failures uint32
	// OpenFor is how long it stays open before letting a probe through
	// (half-open; default 30s).
	OpenFor time.Duration
	// HalfOpenRequests is how many probes may pass while half-open (default 1).
	HalfOpenRequests uint32
	// OnStateChange reports transitions (metrics, logs).
	OnStateChange func(source string, to gobreaker.State)
}

// Breaker stops calling an upstream that keeps failing: while open it answers
// ErrBreakerOpen at once, so nothing on the request path waits on a source
// known to be down (the page cache then serves stale data where it has some).
type Breaker struct {
	next upstream.Fetcher
	cb   *gobreaker.CircuitBreaker[*upstream.Response]
}

// NewBreaker wraps next.
func NewBreaker(next upstream.Fetcher, o BreakerOptions) *Breaker {
	o.withDefaults()
	st := gobreaker.Settings{
		Name:        o.Source,
		MaxRequests: o.HalfOpenRequests,
		Timeout:     o.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= o.Failures },
		// Only the upstream's own failures count: a 404 or another client
		// error is an answer; a caller that went away, or a request held
		// back by the rate limit, says nothing about the upstream's health.
		IsSuccessful: func(err error) bool { return err == nil || !countsAsFailure(err) },
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled) || errors.Is(err, ErrRateLimited)
		},
	}
	if o.OnStateChange != nil {
		st.OnStateChange = func(name string, _, to gobreaker.State) { o.OnStateChange(name, to) }
	}
	return &Breaker{next: next, cb: gobreaker.NewCircuitBreaker[*upstream.Response](st)}
}

func countsAsFailure(err error) bool {
	if errors.Is(err, upstream.ErrNotFound) {
		return false
	}
	var se *upstream.StatusError
	if errors.As(err, &se) && se.ClientFault() {
		return false
	}
	return true
}

// Fetch passes the request on unless the breaker is open.
func (b *Breaker) Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	resp, err := b.cb.Execute(func() (*upstream.Response, error) { return b.next.Fetch(ctx, r) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, fmt.Errorf("%s: %w", b.cb.Name(), upstream.ErrBreakerOpen)
	}
	return resp, err
}

// Fault counts err as a failure of the upstream, found after its answer was
// taken as a success (the answer was well formed, its content was not).
func (b *Breaker) Fault(err error) {
	if err == nil {
		return
	}
	_, _ = b.cb.Execute(func() (*upstream.Response, error) { return nil, err })
}

// State is the breaker's current state.
func (b *Breaker) State() gobreaker.State { return b.cb.State() }
