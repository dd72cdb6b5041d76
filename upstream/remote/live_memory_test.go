package remote

import (
	"runtime"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// TestPageCacheBoundsTheHeap: a full page cache holds no more memory than
// its byte bound says: entries cost more than their bytes on the wire, and
// the bound counts them. Not parallel: it measures the heap.
func TestPageCacheBoundsTheHeap(t *testing.T) {
	const bound = 2 << 20
	clock := upstreamtest.NewManualClock(t0)
	r := upstreamtest.New(t, upstreamtest.WithClock(clock.Now))
	r.Generate(5000, 1, 5) // 50 pages of 100, about 6 MB on the wire
	l := newLive(t, r, clock, func(o *LiveOptions) { o.PageCache.MaxBytes, o.PageCache.MaxEntries = bound, 10000 })
	base := liveHeap()
	req := upstream.Request{Op: upstream.OpList, Limit: 100, IncludeDeleted: true}
	var wire int64
	for {
		resp, err := l.Fetch(ctxTimeout(t, 5*time.Second), req)
		if err != nil {
			t.Fatal(err)
		}
		wire += resp.Size
		if resp.NextCursor == "" {
			break
		}
		req.Cursor = resp.NextCursor
	}
	growth := int64(liveHeap()) - int64(base)
	runtime.KeepAlive(l)
	t.Logf("read %d bytes of pages; the cache holds %.1f MiB of heap with a bound of %.1f MiB", wire, float64(growth)/(1<<20), float64(bound)/(1<<20))
	if wire <= bound {
		t.Fatalf("only %d bytes read: the test must overflow the cache", wire)
	}
	if limit := int64(bound) + bound/4; growth > limit {
		t.Errorf("page cache holds %d bytes of heap, want at most %d (its bound and a quarter)", growth, limit)
	}
}
