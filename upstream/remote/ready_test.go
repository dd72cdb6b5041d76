package remote

import (
	"testing"
	"time"
)

// TestStaleServedWhileRateLimited: when the budget has no slot free, a
// page with a stale answer is served at once instead of every caller
// waiting for a slot; the upstream is not asked.
func TestStaleServedWhileRateLimited(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	clock := newClock()
	l := newLive(t, r, clock, func(o *LiveOptions) {
		o.RateLimit = RateLimitOptions{PerMinute: 20, Burst: 1} // then a 3 s wait, within the flight timeout
	})
	ctx := ctxTimeout(t, 5*time.Second)
	if _, err := l.Fetch(ctx, listReq()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(fresh + time.Second) // the answer is stale now
	start := time.Now()
	resp, err := l.Fetch(ctx, listReq())
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("waited %s for a rate-limit slot with a stale answer at hand", took)
	}
	if !resp.Stale || len(resp.Entries) == 0 {
		t.Errorf("stale=%v entries=%d", resp.Stale, len(resp.Entries))
	}
	if n := r.Requests(); n != 1 {
		t.Errorf("upstream asked %d times, want 1", n)
	}
}
