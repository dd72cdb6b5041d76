package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/metrics"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/remote"
)

// warmRetry is how often a live source's first page is retried at start.
const warmRetry = 5 * time.Second

// liveRunner gives a live source the lifecycle of the others: Run warms its
// page cache (and makes a required source ready), Load asks once (check).
// Its status has its own mutex, never held across a fetch.
type liveRunner struct {
	live    *remote.Live
	clock   func() time.Time
	metrics *metrics.Metrics
	// timeout bounds one attempt (the source's request timeout).
	timeout time.Duration

	mu     sync.Mutex
	status upstream.SourceStatus
}

func (r *liveRunner) Name() string { return r.live.Name() }

// Load fetches the first page once and records the outcome.
func (r *liveRunner) Load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	start := r.clock()
	resp, err := r.live.Fetch(ctx, r.live.FirstPage())
	r.mu.Lock()
	st := &r.status
	st.Name, st.Kind, st.LastAttempt = r.live.Name(), "api", start
	if err != nil {
		st.LastError = err.Error()
	} else {
		st.LastError, st.LastSuccess, st.Loaded, st.Entries = "", start, true, len(resp.Entries)
	}
	snapshot := *st
	r.mu.Unlock()
	r.metrics.SourceLoaded(snapshot, r.clock().Sub(start))
	return err
}

// Restore has nothing to restore: a live source keeps no state.
func (r *liveRunner) Restore() bool { return false }

// Run retries the first page until it succeeds or ctx ends.
func (r *liveRunner) Run(ctx context.Context) {
	for {
		if r.Load(ctx) == nil {
			return
		}
		t := time.NewTimer(warmRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Resync has nothing to do: a live source is queried on demand.
func (r *liveRunner) Resync(context.Context) error {
	return fmt.Errorf("%q is a live source, queried on demand: %w", r.Name(), upstream.ErrNotResyncable)
}

// Status is the last attempt's outcome and the breaker's state.
func (r *liveRunner) Status() upstream.SourceStatus {
	r.mu.Lock()
	st := r.status
	r.mu.Unlock()
	st.Name, st.Kind = r.live.Name(), "api"
	st.Breaker = r.live.Breaker().State().String()
	return st
}

// filteredLive applies a source's own filter to what its upstream returns
// (a live source has no load step to filter at). Filtering a page can leave
// it short or empty; the merge reads on, within the source's page bound.
type filteredLive struct {
	*remote.Live
	f *filter.Filter
}

func (l filteredLive) Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	resp, err := l.Live.Fetch(ctx, r)
	if err != nil || l.f == nil {
		return resp, err
	}
	kept := make([]*upstream.Entry, 0, len(resp.Entries))
	for _, e := range resp.Entries {
		if l.f.Match(e) {
			kept = append(kept, e)
		}
	}
	out := *resp
	out.Entries = kept
	return &out, nil
}
