package remote

import (
	"context"
	"errors"
	"time"

	"github.com/mcpfed/mcpfed/cache"
	"github.com/mcpfed/mcpfed/upstream"
)

// PageCacheOptions bound and time a source's page cache.
type PageCacheOptions struct {
	MaxEntries int
	MaxBytes   int64
	// Fresh is how long an upstream answer is served without asking again.
	Fresh time.Duration
	// Stale is how long after that it may still be served when the upstream
	// fails or its breaker is open.
	Stale time.Duration
	// FlightTimeout bounds one upstream fetch shared by concurrent callers.
	FlightTimeout time.Duration
}

// Cached is the page cache decorator: a fresh answer is served from memory;
// otherwise one fetch per key is shared by every concurrent caller (and runs
// on even if the caller that started it gives up); when the upstream fails,
// a stale answer is served and one background refresh is started.
type Cached struct {
	next   upstream.Fetcher
	loader *cache.Loader[*upstream.Response]
}

// NewCached wraps next with a page cache.
func NewCached(next upstream.Fetcher, source string, o PageCacheOptions, clock func() time.Time, obs cache.Observer) *Cached {
	c := cache.New(cache.Options[*upstream.Response]{
		Name:       "page",
		MaxEntries: o.MaxEntries,
		MaxBytes:   o.MaxBytes,
		Size:       func(r *upstream.Response) int64 { return r.Size + 256 },
		Fresh:      o.Fresh,
		Stale:      o.Stale,
		Clock:      clock,
		Observer:   obs,
	})
	return &Cached{next: next, loader: cache.NewLoader(c, cache.LoaderOptions{Group: "page", Timeout: o.FlightTimeout, Observer: obs})}
}

// Fetch answers from the cache or through one shared upstream fetch. A 404
// is cached like an answer (a name lookup fans out to every source).
func (c *Cached) Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	resp, stale, err := c.loader.Load(ctx, r.Key(), func(ctx context.Context) (*upstream.Response, bool, error) {
		resp, err := c.next.Fetch(ctx, r)
		if errors.Is(err, upstream.ErrNotFound) {
			return &upstream.Response{NotFound: true}, true, nil
		}
		return resp, err == nil, err
	})
	if err != nil {
		return nil, err
	}
	if resp.NotFound {
		return nil, upstream.ErrNotFound
	}
	if stale {
		cp := *resp
		cp.Stale = true
		return &cp, nil
	}
	return resp, nil
}

// Close waits for background refreshes.
func (c *Cached) Close() { c.loader.Close() }
