package remote

import (
	"runtime"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// TestLiveIndexMemory measures what a list index holds, and what a refresh
// holds at its peak (the old index, the crawl and the new index), against
// the bytes the crawl read: the figures behind the README's "what each
// costs" and DefaultCrawlMaxBytes. Not parallel: it measures the heap.
func TestLiveIndexMemory(t *testing.T) {
	clock := upstreamtest.NewManualClock(t0)
	r := upstreamtest.New(t, upstreamtest.WithClock(clock.Now))
	r.Generate(2500, 2, 7) // 5,000 entries, 50 pages of 100
	sampler := &heapSampler{}
	l := newLive(t, r, clock, func(o *LiveOptions) {
		o.Order = OrderUpstream
		o.Instrument = func(_ string, next upstream.Fetcher) upstream.Fetcher { sampler.next = next; return sampler }
	})
	base := liveHeap()
	snap, err := l.ListIndex(ctxTimeout(t, 60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	read := float64(l.IndexStatus().Crawl.Bytes)
	held := float64(liveHeap()) - float64(base)
	firstPeak := float64(sampler.peak) - float64(base)

	sampler.peak = 0
	l.indexBuilt = func([]*upstream.Entry) { sampler.peak = max(sampler.peak, liveHeap()) }
	if err := l.Resync(ctxTimeout(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	refreshPeak := float64(sampler.peak) - float64(base)
	runtime.KeepAlive(snap)
	runtime.KeepAlive(l)
	t.Logf("%d entries, %.1f MiB read: index holds %.1f MiB (%.2f×); first crawl peak %.1f MiB (%.2f×); refresh peak %.1f MiB (%.2f×)",
		snap.Len(), read/(1<<20), held/(1<<20), held/read, firstPeak/(1<<20), firstPeak/read, refreshPeak/(1<<20), refreshPeak/read)
	if held/read > 4 {
		t.Errorf("the index holds %.2f× the bytes read, want at most 4×", held/read)
	}
	if refreshPeak/read > 6 {
		t.Errorf("a refresh peaks at %.2f× the bytes read, want at most 6× (see DefaultCrawlMaxBytes)", refreshPeak/read)
	}
}
