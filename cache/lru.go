package cache

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Observer receives cache events, for metrics. A nil Observer is allowed.
//
// Size and Evicted are called with the cache's lock held, so that a gauge
// always ends at the cache's real size even under concurrent writers; an
// Observer must therefore be quick and must not call back into the cache.
type Observer interface {
	Request(cache, result string) // result is "hit_fresh", "hit_stale" or "miss"
	Size(cache string, entries int, bytes int64)
	Evicted(cache string)
	Shared(group string) // a caller that received another caller's in-flight result
}

// Request results reported to Observer.Request.
const (
	ResultHitFresh = "hit_fresh"
	ResultHitStale = "hit_stale"
	ResultMiss     = "miss"
)

// State of a lookup.
type State int

const (
	Miss  State = iota // nothing usable
	Fresh              // within Fresh of being stored
	Stale              // older than Fresh but within Fresh+Stale: usable only when a reload fails
)

// String returns the state's name, for logs and test failures.
func (s State) String() string {
	switch s {
	case Miss:
		return "miss"
	case Fresh:
		return "fresh"
	case Stale:
		return "stale"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Options configures a Cache.
type Options[V any] struct {
	Name       string           // metric label: "page", "response", ...
	MaxEntries int              // > 0
	MaxBytes   int64            // 0 = no byte bound
	Size       func(V) int64    // bytes of a value (required when MaxBytes > 0)
	Fresh      time.Duration    // freshness TTL
	Stale      time.Duration    // extra window for serve-stale; 0 = none
	Clock      func() time.Time // default time.Now
	Observer   Observer
}

// Cache is a bounded, concurrency-safe LRU whose entries age from Fresh to
// Stale to gone. Entries are expired lazily, when looked up: an expired entry
// that is never asked for again simply drifts to the back of the LRU and is
// the next to be evicted, so no janitor goroutine is needed.
type Cache[V any] struct {
	name       string
	maxEntries int
	maxBytes   int64
	size       func(V) int64
	fresh      time.Duration
	stale      time.Duration
	clock      func() time.Time
	obs        Observer

	mu    sync.Mutex
	lru   *simplelru.LRU[string, entry[V]]
	bytes int64
}

type entry[V any] struct {
	v      V
	stored time.Time
	size   int64
}

// New returns an empty cache. It panics on options that can only be a
// programming error (MaxEntries <= 0, MaxBytes without Size), so a
// misconfigured cache fails at start-up rather than silently never caching.
func New[V any](o Options[V]) *Cache[V] {
	if o.MaxEntries <= 0 {
		panic(fmt.Sprintf("cache %q: MaxEntries must be > 0, got %d", o.Name, o.MaxEntries))
	}
	if o.MaxBytes < 0 {
		panic(fmt.Sprintf("cache %q: MaxBytes must be >= 0, got %d", o.Name, o.MaxBytes))
	}
	if o.MaxBytes > 0 && o.Size == nil {
		panic(fmt.Sprintf("cache %q: MaxBytes needs a Size function", o.Name))
	}
	// Entry eviction is done here, not by simplelru (see Put), so the
	// callback is nil and the capacity only has to be large enough.
	l, err := simplelru.NewLRU[string, entry[V]](o.MaxEntries, nil)
	if err != nil {
		panic(fmt.Sprintf("cache %q: %v", o.Name, err))
	}
	c := &Cache[V]{
		name:       o.Name,
		maxEntries: o.MaxEntries,
		maxBytes:   o.MaxBytes,
		size:       o.Size,
		fresh:      o.Fresh,
		stale:      max(o.Stale, 0),
		clock:      o.Clock,
		obs:        o.Observer,
		lru:        l,
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	return c
}

// Name returns the cache's metric label.
func (c *Cache[V]) Name() string { return c.name }

// Get looks key up, marks it recently used and counts the request
// (hit_fresh, hit_stale or miss). Entries past Fresh+Stale are removed and
// reported as a Miss.
func (c *Cache[V]) Get(key string) (V, State) {
	v, st := c.lookup(key, true)
	c.request(st)
	return v, st
}

// Peek is Get without counting a request and without marking the entry
// recently used, for callers that only want to inspect the cache (the
// Loader, tests). Expired entries are still removed.
func (c *Cache[V]) Peek(key string) (V, State) {
	return c.lookup(key, false)
}

// lookup returns key's value and state; touch moves it to the LRU front.
func (c *Cache[V]) lookup(key string, touch bool) (V, State) {
	var zero V
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		e  entry[V]
		ok bool
	)
	if touch {
		e, ok = c.lru.Get(key)
	} else {
		e, ok = c.lru.Peek(key)
	}
	if !ok {
		return zero, Miss
	}
	st := c.state(e, now)
	if st == Miss {
		c.lru.Remove(key)
		c.bytes -= e.size
		c.reportSize()
		return zero, Miss
	}
	return e.v, st
}

// state ages an entry. The bounds are exclusive, as in HTTP freshness
// (fresh while age < max-age), so a zero Fresh means "never fresh".
func (c *Cache[V]) state(e entry[V], now time.Time) State {
	age := now.Sub(e.stored)
	switch {
	case age < c.fresh:
		return Fresh
	case age < c.fresh+c.stale:
		return Stale
	}
	return Miss
}

// Put stores v under key as fresh from now and evicts least-recently-used
// entries until the cache is within MaxEntries and MaxBytes. A value larger
// than MaxBytes on its own is not stored, and because it supersedes any older
// value under key, that older value is removed too.
func (c *Cache[V]) Put(key string, v V) {
	var n int64
	if c.size != nil {
		n = max(c.size(v), 0) // computed outside the lock: it may be costly
	}
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	old, had := c.lru.Peek(key)
	if c.maxBytes > 0 && n > c.maxBytes {
		if had {
			c.lru.Remove(key)
			c.bytes -= old.size
			c.reportSize()
		}
		return
	}
	if had {
		c.bytes -= old.size
	} else if c.lru.Len() >= c.maxEntries {
		// Make room ourselves rather than let simplelru evict silently:
		// the evicted entry's bytes must be subtracted and reported.
		c.evictOldest()
	}
	c.lru.Add(key, entry[V]{v: v, stored: now, size: n})
	c.bytes += n
	// The new entry is the most recent and fits on its own, so this stops
	// before reaching it.
	for c.maxBytes > 0 && c.bytes > c.maxBytes && c.lru.Len() > 1 {
		c.evictOldest()
	}
	c.reportSize()
}

func (c *Cache[V]) evictOldest() {
	if _, e, ok := c.lru.RemoveOldest(); ok {
		c.bytes -= e.size
		if c.obs != nil {
			c.obs.Evicted(c.name)
		}
	}
}

// Remove drops key, e.g. when the upstream says it is gone.
func (c *Cache[V]) Remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.lru.Peek(key); ok {
		c.lru.Remove(key)
		c.bytes -= e.size
		c.reportSize()
	}
}

// Len returns the number of stored entries, including expired ones not yet
// looked up again.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Bytes returns the total Size of the stored entries (0 without Size).
func (c *Cache[V]) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// reportSize must be called with c.mu held.
func (c *Cache[V]) reportSize() {
	if c.obs != nil {
		c.obs.Size(c.name, c.lru.Len(), c.bytes)
	}
}

func (c *Cache[V]) request(st State) {
	if c.obs == nil {
		return
	}
	switch st {
	case Fresh:
		c.obs.Request(c.name, ResultHitFresh)
	case Stale:
		c.obs.Request(c.name, ResultHitStale)
	default:
		c.obs.Request(c.name, ResultMiss)
	}
}
