package cache

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultLoadTimeout bounds a flight when LoaderOptions.Timeout is not set:
// a flight outlives its callers, so something must stop it.
const DefaultLoadTimeout = 30 * time.Second

// LoadFunc loads a value. store=false means: share the value with the callers
// waiting on this flight but do not cache it (e.g. a partial answer).
type LoadFunc[V any] func(ctx context.Context) (v V, store bool, err error)

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	Group    string        // singleflight group name for Observer.Shared
	Timeout  time.Duration // the flight's own timeout (default 30s)
	Observer Observer
}

// Loader fills a Cache through one flight per key, so a burst of requests
// for a cold or expiring key costs the upstream one call, and serves a
// stale value when the upstream fails.
//
// Load reports one Request per call to the cache's Observer: hit_fresh when
// it returns a fresh value, hit_stale when it falls back to a stale one, and
// miss otherwise (loaded, failed or abandoned). Callers of Load therefore
// should not also count through Cache.Get.
type Loader[V any] struct {
	c       *Cache[V]
	group   string
	timeout time.Duration
	obs     Observer
	sf      singleflight.Group

	mu         sync.Mutex
	refreshing map[string]struct{} // keys with a background refresh running
	closed     bool
	wg         sync.WaitGroup // refreshes and flights in progress

	// Test hooks, nil in production.
	beforeFlight func(key string) // after the fast path missed, before joining a flight
	joined       func(key string) // after joining a flight, before waiting on it
}

// NewLoader returns a Loader that fills c.
func NewLoader[V any](c *Cache[V], o LoaderOptions) *Loader[V] {
	if c == nil {
		panic("cache: NewLoader needs a cache")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultLoadTimeout
	}
	return &Loader[V]{
		c:          c,
		group:      o.Group,
		timeout:    o.Timeout,
		obs:        o.Observer,
		refreshing: make(map[string]struct{}),
	}
}

// Cache returns the cache the loader fills.
func (l *Loader[V]) Cache() *Cache[V] { return l.c }

// result is what a flight hands to its callers. state says where the value
// came from: Fresh (found by the re-check), Miss (loaded now) or Stale (the
// load failed and the stale value stands in).
type result[V any] struct {
	v     V
	state State
}

// Load returns (value, stale, err):
//   - a Fresh cached value: returned at once (stale=false).
//   - otherwise one flight per key loads it for all concurrent callers. Inside
//     the flight the cache is checked again (a flight that finished just before
//     may have filled it) before calling load. The flight runs detached from the
//     first caller's cancellation (context.WithoutCancel + its own Timeout): if
//     that caller gives up, the flight still completes and fills the cache for
//     the others. Each caller waits only as long as its own ctx allows
//     (returning ctx.Err() when it ends).
//   - if load fails and a Stale value exists: return it with stale=true and
//     err=nil, and start at most one background refresh for that key at a time
//     (the refresh also runs detached with Timeout; a refresh already running
//     for the key is not duplicated). If no stale value exists, return the error.
//   - values with store=false are returned to every waiter of the flight but
//     not cached.
//
// A caller whose ctx is already done when no fresh value exists gets ctx.Err()
// without starting a flight: nobody would wait for it. A panic in load is
// returned as an error, because it happens on the flight's goroutine where
// nothing else could recover it.
func (l *Loader[V]) Load(ctx context.Context, key string, load LoadFunc[V]) (V, bool, error) {
	if v, st := l.c.lookup(key, true); st == Fresh {
		l.c.request(Fresh)
		return v, false, nil
	}
	var zero V
	if err := ctx.Err(); err != nil {
		l.c.request(Miss)
		return zero, false, err
	}
	if l.beforeFlight != nil {
		l.beforeFlight(key)
	}
	// led is set only if this caller's function is the one the flight runs;
	// the channel receive below orders the write before the read.
	led := false
	ch := l.sf.DoChan(key, func() (any, error) {
		led = true
		return l.flight(ctx, key, load, false)
	})
	if l.joined != nil {
		l.joined(key)
	}
	select {
	case r := <-ch:
		if !led && l.obs != nil {
			l.obs.Shared(l.group)
		}
		if r.Err != nil {
			l.c.request(Miss)
			return zero, false, r.Err
		}
		res := r.Val.(result[V])
		l.c.request(res.state)
		return res.v, res.state == Stale, nil
	case <-ctx.Done():
		l.c.request(Miss)
		return zero, false, ctx.Err()
	}
}

// flight runs once per key at a time, for whoever is waiting. parent is the
// context of the caller that started it, kept for its values only. A refresh
// flight does not start another refresh when it fails, so a dead upstream is
// retried on demand, not in a loop.
func (l *Loader[V]) flight(parent context.Context, key string, load LoadFunc[V], refresh bool) (result[V], error) {
	if l.track() {
		defer l.wg.Done()
	}
	// groupcache's re-check: the previous flight may have filled the cache
	// between our caller's lookup and this flight starting.
	if v, st := l.c.lookup(key, true); st == Fresh {
		return result[V]{v: v, state: Fresh}, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), l.timeout)
	defer cancel()
	v, store, err := safeLoad(ctx, load)
	if err == nil {
		if store {
			l.c.Put(key, v)
		}
		return result[V]{v: v, state: Miss}, nil
	}
	// Look again rather than reuse what the caller saw: the stale value may
	// have expired during the load, or been replaced by a Put.
	sv, st := l.c.lookup(key, true)
	switch st {
	case Fresh:
		return result[V]{v: sv, state: Fresh}, nil
	case Stale:
		if !refresh {
			l.startRefresh(parent, key, load)
		}
		return result[V]{v: sv, state: Stale}, nil
	}
	return result[V]{}, err
}

// track registers a flight with Close, unless Close has begun: a WaitGroup
// must not grow from zero while it is being waited on.
func (l *Loader[V]) track() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	return true
}

// startRefresh reloads key in the background unless a refresh for it is
// already running or the loader is closed. The refresh is itself a flight on
// key, so callers arriving meanwhile wait for it instead of loading again.
// It must be called from inside a flight for key.
func (l *Loader[V]) startRefresh(parent context.Context, key string, load LoadFunc[V]) {
	l.mu.Lock()
	if _, running := l.refreshing[key]; running || l.closed {
		l.mu.Unlock()
		return
	}
	l.refreshing[key] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	// Detach the current, failing flight from key so the refresh below
	// starts a new flight instead of joining this one and getting its error.
	l.sf.Forget(key)
	parent = context.WithoutCancel(parent)
	go func() {
		defer l.wg.Done()
		defer func() {
			l.mu.Lock()
			delete(l.refreshing, key)
			l.mu.Unlock()
		}()
		<-l.sf.DoChan(key, func() (any, error) {
			return l.flight(parent, key, load, true)
		})
	}()
}

// safeLoad calls load, turning a panic into an error.
func safeLoad[V any](ctx context.Context, load LoadFunc[V]) (v V, store bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			var zero V
			v, store, err = zero, false, fmt.Errorf("cache: load panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return load(ctx)
}

// Close waits for background refreshes, and for flights whose callers may
// have given up, to finish (tests, shutdown); each is bounded by Timeout.
// Load keeps working afterwards but starts no more refreshes.
func (l *Loader[V]) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wg.Wait()
}
