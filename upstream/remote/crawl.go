package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

// CrawlBounds bound one walk of an upstream's whole list: a mirror's crawl
// or poll, a live source's list index. Zero values take the defaults
// (DefaultCrawlMaxPages, DefaultCrawlMaxEntries, DefaultCrawlMaxBytes,
// DefaultCrawlTimeout). The byte bound is what bounds memory.
type CrawlBounds struct {
	MaxPages   int
	MaxEntries int
	MaxBytes   int64
	Timeout    time.Duration
}

// Validate names each problem as the configuration does (crawl.*).
func (b CrawlBounds) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		neg  bool
	}{
		{"crawl.maxPages", b.MaxPages < 0}, {"crawl.maxEntries", b.MaxEntries < 0},
		{"crawl.maxBytes", b.MaxBytes < 0}, {"crawl.timeout", b.Timeout < 0},
	} {
		if f.neg {
			errs = append(errs, fmt.Errorf("%s must not be negative", f.name))
		}
	}
	return errors.Join(errs...)
}

func (b *CrawlBounds) withDefaults() {
	setDefault(&b.MaxPages, DefaultCrawlMaxPages)
	setDefault(&b.MaxEntries, DefaultCrawlMaxEntries)
	setDefault(&b.MaxBytes, DefaultCrawlMaxBytes)
	setDefault(&b.Timeout, DefaultCrawlTimeout)
}

// crawl follows the cursor chain of one listing through fetch, within the
// bounds (the deadline is the caller's: ctx). An entry listed twice keeps
// its last copy. Entries the upstream sent but fetch dropped (invalid
// records) are counted in the stats, not hidden.
func crawl(ctx context.Context, fetch upstream.Fetcher, req upstream.Request, b CrawlBounds) (map[upstream.Key]*upstream.Entry, CrawlStats, error) {
	var st CrawlStats
	out := map[upstream.Key]*upstream.Entry{}
	seen := map[string]bool{"": true}
	for {
		if st.Requests >= b.MaxPages {
			return nil, st, fmt.Errorf("%w: more than %d pages", ErrCrawlTooLarge, b.MaxPages)
		}
		resp, err := fetch.Fetch(ctx, req)
		st.Requests++
		if err != nil {
			if cause := context.Cause(ctx); errors.Is(cause, ErrCrawlTimeout) {
				err = cause
			}
			return nil, st, fmt.Errorf("crawl page %d: %w", st.Requests, err)
		}
		st.Bytes += resp.Size
		st.Entries += len(resp.Entries)
		if resp.Dropped > 0 {
			st.Dropped += resp.Dropped
			st.DropReason = resp.DropReason
		}
		switch {
		case st.Bytes > b.MaxBytes:
			return nil, st, fmt.Errorf("%w: more than %d bytes", ErrCrawlTooLarge, b.MaxBytes)
		case st.Entries > b.MaxEntries:
			return nil, st, fmt.Errorf("%w: more than %d entries", ErrCrawlTooLarge, b.MaxEntries)
		}
		before := len(out)
		for _, e := range resp.Entries {
			out[e.Key()] = e
		}
		if resp.NextCursor == "" {
			return out, st, nil
		}
		if seen[resp.NextCursor] {
			// The cursor is the upstream's, of any length: not for logs.
			return nil, st, fmt.Errorf("crawl page %d: upstream repeated a cursor (%d bytes)", st.Requests, len(resp.NextCursor))
		}
		// Cursors are keyset positions: a page of versions all seen before
		// in this walk (or none at all), with yet another new cursor, goes
		// nowhere: endless empty pages must not cost crawl.maxPages requests.
		if len(out) == before {
			return nil, st, fmt.Errorf("crawl page %d: %w", st.Requests, ErrNoProgress)
		}
		seen[resp.NextCursor] = true
		req.Cursor = resp.NextCursor
	}
}
