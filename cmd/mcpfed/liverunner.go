package main

import (
	"context"
	"fmt"
	"sync"
	"time"

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
	// timeout bounds one attempt: the source's request timeout, or its
	// crawl timeout when lists are answered from an index it must build.
	timeout, crawlTimeout time.Duration

	mu     sync.Mutex
	status upstream.SourceStatus
}

func (r *liveRunner) Name() string { return r.live.Name() }

// Load fetches the first page once (in index mode: builds or refreshes the
// index of the full list) and records the outcome.
func (r *liveRunner) Load(ctx context.Context) error {
	timeout := r.timeout
	if r.live.OrderMode() == remote.OrderModeIndex {
		timeout = r.crawlTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := r.clock()
	entries, err := r.first(ctx)
	r.mu.Lock()
	st := &r.status
	st.Name, st.Kind, st.LastAttempt = r.live.Name(), "api", start
	if err != nil {
		st.LastError = err.Error()
	} else {
		st.LastError, st.LastSuccess, st.Loaded, st.Entries = "", start, true, entries
	}
	snapshot := *st
	r.mu.Unlock()
	r.metrics.SourceLoaded(snapshot, r.clock().Sub(start))
	return err
}

// first reads what a list query would read first: the first upstream page,
// or the index when the source answers lists from one.
func (r *liveRunner) first(ctx context.Context) (int, error) {
	if r.live.OrderMode() == remote.OrderModeIndex {
		idx, err := r.live.Index(ctx)
		if err != nil || idx == nil {
			return 0, err
		}
		return idx.Snapshot.Len(), nil
	}
	resp, err := r.live.Fetch(ctx, r.live.FirstPage())
	if err != nil {
		return 0, err
	}
	return len(resp.Entries), nil
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

// Resync rebuilds a live source's index; forwarding every query, a source
// in byte order has nothing to resync (upstream.ErrNotResyncable).
func (r *liveRunner) Resync(ctx context.Context) error {
	if err := r.live.Resync(ctx); err != nil {
		return fmt.Errorf("resync %q: %w", r.Name(), err)
	}
	return nil
}

// Status is the last attempt's outcome and the breaker's state.
func (r *liveRunner) Status() upstream.SourceStatus {
	r.mu.Lock()
	st := r.status
	r.mu.Unlock()
	st.Name, st.Kind = r.live.Name(), "api"
	st.Breaker = r.live.Breaker().State().String()
	st.Order = r.live.OrderMode()
	if st.Order == remote.OrderModeIndex {
		// The index is refreshed in the background: its state, not the
		// warm-up's, is what the source serves now.
		ix := r.live.IndexStatus()
		if ix.Entries > 0 {
			st.Entries = ix.Entries
		}
		if ix.LastError != "" {
			st.LastError = "list index: " + ix.LastError
		}
	}
	return st
}
