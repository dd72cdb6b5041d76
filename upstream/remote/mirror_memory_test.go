package remote

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// heapSampler measures the live heap (after a collection) each time a page
// has been read, while the crawl holds everything it read so far.
type heapSampler struct {
	next upstream.Fetcher
	peak uint64
}

func (h *heapSampler) Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	resp, err := h.next.Fetch(ctx, r)
	h.peak = max(h.peak, liveHeap())
	runtime.KeepAlive(resp)
	return resp, err
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// deploymentMemory is the memory limit of the shipped deployment
// (deploy/kubernetes/deployment.yaml).
const deploymentMemory = 512 << 20

// TestMirrorEndlessUpstreamStopsAtByteBound: a crawl of an upstream whose
// pages never end stops with an error at crawl.maxBytes, having held no
// more than a small multiple of it; and the default bound, at that cost,
// leaves most of the deployment's memory to the rest. Not parallel: it
// measures the heap.
func TestMirrorEndlessUpstreamStopsAtByteBound(t *testing.T) {
	const bound = 8 << 20
	r := upstreamtest.New(t)
	// 100 entries of about 8 KiB: pages of about 800 KiB.
	r.Inject(upstreamtest.Fault{Endless: true, EndlessPad: 8 << 10})
	sampler := &heapSampler{}
	m := newMirror(t, r, time.Now, func(o *MirrorOptions) {
		o.MaxBytes = bound
		o.Instrument = func(_ string, next upstream.Fetcher) upstream.Fetcher { sampler.next = next; return sampler }
	})
	base := liveHeap()
	err := m.Load(ctxTimeout(t, 30*time.Second))
	if !errors.Is(err, ErrCrawlTooLarge) || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("Load = %v, want the byte bound", err)
	}
	st := m.LastCrawl()
	if st.Bytes <= bound || st.Bytes > bound+DefaultMaxBytes {
		t.Errorf("crawl read %d bytes, want it stopped by the first page past %d", st.Bytes, bound)
	}
	growth := float64(sampler.peak) - float64(base)
	factor := growth / float64(st.Bytes)
	t.Logf("crawl read %d pages, %d bytes; live heap grew by %.1f MiB at most (%.2f× the bytes read)", st.Requests, st.Bytes, growth/(1<<20), factor)
	if factor > 3 {
		t.Errorf("live heap grew %.2f× the bytes read, want at most 3×", factor)
	}
	// A full resync holds the old snapshot, the crawl and the new snapshot:
	// about 5× the bytes read (see DefaultCrawlMaxBytes). At that cost the
	// default bound must leave the deployment half its memory for caches
	// and the answers in flight.
	if need := 5 * float64(DefaultCrawlMaxBytes); need > deploymentMemory/2 {
		t.Errorf("DefaultCrawlMaxBytes (%d) may hold %.0f MiB, more than half the deployment's %d MiB", DefaultCrawlMaxBytes, need/(1<<20), deploymentMemory>>20)
	}
}
