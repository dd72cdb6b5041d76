package remote

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/mcpfed/mcpfed/upstream"
)

// emptyPages answers every list page with no entry and a new cursor.
type emptyPages struct{ n int }

func (f *emptyPages) Fetch(context.Context, upstream.Request) (*upstream.Response, error) {
	f.n++
	return &upstream.Response{NextCursor: strconv.Itoa(f.n)}, nil
}

// TestCrawlStopsOnEmptyPages: an upstream that hands endless empty pages,
// each with a new cursor, is no progress — one page of it, not
// crawl.maxPages requests.
func TestCrawlStopsOnEmptyPages(t *testing.T) {
	t.Parallel()
	f := &emptyPages{}
	b := CrawlBounds{}
	b.withDefaults()
	_, _, err := crawl(context.Background(), f, upstream.Request{Op: upstream.OpList, Limit: 100, IncludeDeleted: true}, b)
	if !errors.Is(err, ErrNoProgress) || f.n > 2 {
		t.Fatalf("err %v after %d requests, want ErrNoProgress at once", err, f.n)
	}
}
