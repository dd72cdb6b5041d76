package remote

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// newMirror mirrors r with the fake's own transport; mod adjusts options.
func newMirror(t *testing.T, r *upstreamtest.Registry, clock func() time.Time, mod func(*MirrorOptions)) *Mirror {
	t.Helper()
	o := MirrorOptions{
		Client: ClientOptions{Source: "official", BaseURL: r.URL, Transport: r.Client().Transport, Clock: clock, Timeout: 5 * time.Second},
		Clock:  clock,
	}
	if mod != nil {
		mod(&o)
	}
	m, err := NewMirror(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// assertMirrors compares the mirror's snapshot with the upstream's records:
// the same versions, statuses, times and isLatest flags.
func assertMirrors(t *testing.T, step string, m *Mirror, r *upstreamtest.Registry) {
	t.Helper()
	snap := m.Snapshot()
	recs := r.Records()
	if snap.Len() != len(recs) {
		t.Fatalf("%s: mirror holds %d versions, upstream %d", step, snap.Len(), len(recs))
	}
	for i, rec := range recs {
		e := snap.At(i)
		got := fmt.Sprintf("%s@%s %s pub=%s upd=%s latest=%t", e.Name, e.Version, e.Status, e.PublishedAt.UTC(), e.UpdatedAt.UTC(), e.IsLatest)
		o := rec.Official
		want := fmt.Sprintf("%s@%s %s pub=%s upd=%s latest=%t", rec.Name, rec.Version, o.Status, o.PublishedAt.UTC(), o.UpdatedAt.UTC(), o.IsLatest)
		if got != want {
			t.Errorf("%s: entry %d\n got  %s\n want %s", step, i, got, want)
		}
	}
}

// TestMirrorFollowsScriptedChanges: after every poll the mirror equals the
// upstream, including isLatest moves that updated_since does not show.
func TestMirrorFollowsScriptedChanges(t *testing.T) {
	t.Parallel()
	clock := upstreamtest.NewManualClock(t0)
	r := upstreamtest.New(t, upstreamtest.WithClock(clock.Now))
	r.LoadFile("../../testdata/catalog/official-seed.json")
	r.Generate(150, 2, 7) // more than one page
	m := newMirror(t, r, clock.Now, func(o *MirrorOptions) { o.Overlap = time.Second })
	ctx := ctxTimeout(t, 30*time.Second)

	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.LastCrawl(); !st.Full || st.Requests < 4 {
		t.Errorf("first sync should be a full crawl of several pages: %+v", st)
	}
	assertMirrors(t, "initial crawl", m, r)

	steps := []struct {
		name   string
		change func()
	}{
		{"new server", func() { r.Put(upstreamtest.ServerJSON("com.example/new", "1.0.0"), upstreamtest.Official{}) }},
		{"new version moves latest", func() { r.Put(upstreamtest.ServerJSON("com.example/new", "1.1.0"), upstreamtest.Official{}) }},
		{"deprecation", func() { r.SetStatus("com.example/new", "1.0.0", upstreamtest.StatusDeprecated) }},
		{"deletion of the latest moves it back", func() { r.SetStatus("com.example/new", "1.1.0", upstreamtest.StatusDeleted) }},
		{"status message", func() {
			r.Update("io.github.domdomegg/airtable-mcp-server", "1.7.2", func(o *upstreamtest.Official) { o.StatusMessage = "use 1.7.3" })
		}},
		{"every version deleted", func() { r.SetStatus("com.example/new", "", upstreamtest.StatusDeleted) }},
		{"non-semver version", func() { r.Put(upstreamtest.ServerJSON("com.example/dated", "2026.01"), upstreamtest.Official{}) }},
	}
	for _, st := range steps {
		clock.Advance(time.Minute)
		st.change()
		clock.Advance(time.Minute)
		r.Reset()
		if err := m.Load(ctx); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if c := m.LastCrawl(); c.Full || c.Requests != 1 || c.Changed == 0 {
			t.Errorf("%s: a poll should be one request with changes: %+v", st.name, c)
		}
		if !strings.Contains(r.Log()[0].URL.RawQuery, "updated_since=") {
			t.Errorf("%s: poll without updated_since: %s", st.name, r.Log()[0].URL)
		}
		assertMirrors(t, st.name, m, r)
	}

	// Unchanged upstream: one small request, no new snapshot.
	rev := m.Snapshot().Revision
	clock.Advance(time.Hour)
	r.Reset()
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if c := m.LastCrawl(); c.Requests != 1 || c.Changed != 0 || r.Requests() != 1 {
		t.Errorf("unchanged poll: %+v, %d requests", c, r.Requests())
	}
	if m.Snapshot().Revision != rev {
		t.Error("an unchanged poll rebuilt the snapshot")
	}
	if st := m.Status(); st.State() != "ok" || st.Revision != rev {
		t.Errorf("status after unchanged poll: %+v", st)
	}
}

// TestMirrorResyncCatchesHardDeletes: a version removed upstream without a
// status change is invisible to polls; the periodic full crawl drops it.
func TestMirrorResyncCatchesHardDeletes(t *testing.T) {
	t.Parallel()
	clock := upstreamtest.NewManualClock(t0)
	r := upstreamtest.New(t, upstreamtest.WithClock(clock.Now))
	r.Generate(20, 1, 3)
	m := newMirror(t, r, clock.Now, func(o *MirrorOptions) { o.ResyncEvery = 6 * time.Hour })
	ctx := ctxTimeout(t, 10*time.Second)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	gone := r.Records()[0]
	r.Delete(gone.Name, gone.Version)
	clock.Advance(time.Hour)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Snapshot().Get(gone.Name, gone.Version) == nil {
		t.Fatal("a poll cannot see a hard delete; the entry should still be there")
	}
	clock.Advance(6 * time.Hour)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if !m.LastCrawl().Full || m.Snapshot().Get(gone.Name, gone.Version) != nil {
		t.Error("the resync did not drop the hard-deleted entry")
	}
	assertMirrors(t, "after resync", m, r)

	// A manual resync crawls in full at once.
	r.Reset()
	if err := m.Resync(ctx); err != nil || !m.LastCrawl().Full {
		t.Errorf("manual resync: %v %+v", err, m.LastCrawl())
	}
}

// TestMirrorKeepsLastGoodOnFailedCrawl: a crawl that fails half way (or
// passes its bounds, or loops) swaps nothing in.
func TestMirrorKeepsLastGoodOnFailedCrawl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault upstreamtest.Fault
		mod   func(*MirrorOptions)
		want  string
	}{
		{"5xx on page 2", upstreamtest.Fault{Skip: 1, Status: 503}, nil, "HTTP 503"},
		{"cursor loop", upstreamtest.Fault{CursorLoop: true}, nil, "repeated a cursor"},
		{"too many pages", upstreamtest.Fault{}, func(o *MirrorOptions) { o.MaxPages = 2 }, "more than 2 pages"},
		{"too many entries", upstreamtest.Fault{}, func(o *MirrorOptions) { o.MaxEntries = 50 }, "more than 50 entries"},
		{"too many bytes", upstreamtest.Fault{}, func(o *MirrorOptions) { o.MaxBytes = 10_000 }, "more than 10000 bytes"},
		{"pages without progress", upstreamtest.Fault{Skip: 1, NoProgress: true}, nil, "no forward progress"},
		{"endless pages", upstreamtest.Fault{Endless: true}, func(o *MirrorOptions) { o.MaxPages = 50 }, "more than 50 pages"},
		{"slow upstream", upstreamtest.Fault{Skip: 1, Latency: 5 * time.Second}, func(o *MirrorOptions) { o.CrawlTimeout = 300 * time.Millisecond }, "crawl.timeout 300ms passed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := upstreamtest.NewManualClock(t0)
			r := upstreamtest.New(t, upstreamtest.WithClock(clock.Now))
			r.Generate(120, 1, 5)
			m := newMirror(t, r, clock.Now, func(o *MirrorOptions) {
				o.PageSize = 30
				o.ResyncEvery = time.Minute
			})
			ctx := ctxTimeout(t, 10*time.Second)
			if err := m.Load(ctx); err != nil {
				t.Fatal(err)
			}
			good := m.Snapshot()
			r.Put(upstreamtest.ServerJSON("com.example/later", "1.0.0"), upstreamtest.Official{})
			if tc.mod != nil {
				tc.mod(&m.o)
			}
			r.Inject(tc.fault)
			clock.Advance(2 * time.Minute) // a full crawl is due
			err := m.Load(ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if m.Snapshot() != good {
				t.Error("a failed crawl replaced the snapshot")
			}
			if st := m.Status(); st.State() != "stale" {
				t.Errorf("state = %s", st.State())
			}
		})
	}
}

// TestMirrorRestartServesPersistedCopy: with the upstream down at restart,
// the persisted snapshot is served; when it is back, a poll (not a crawl)
// catches up.
func TestMirrorRestartServesPersistedCopy(t *testing.T) {
	t.Parallel()
	clock := upstreamtest.NewManualClock(t0)
	r := upstreamtest.New(t, upstreamtest.WithClock(clock.Now))
	r.Generate(40, 2, 9)
	stateDir := t.TempDir()
	mod := func(o *MirrorOptions) { o.StateDir = stateDir }
	ctx := ctxTimeout(t, 10*time.Second)
	first := newMirror(t, r, clock.Now, mod)
	if err := first.Load(ctx); err != nil {
		t.Fatal(err)
	}

	down := r.Inject(upstreamtest.Fault{Status: 503})
	clock.Advance(time.Minute)
	second := newMirror(t, r, clock.Now, mod)
	if !second.Restore() || second.Snapshot().Revision != first.Snapshot().Revision {
		t.Fatal("persisted snapshot not restored")
	}
	if err := second.Load(ctx); err == nil {
		t.Fatal("sync against a dead upstream succeeded")
	}
	if second.Snapshot() == nil || second.Status().State() != "stale" {
		t.Fatalf("the restored copy is not served: %+v", second.Status())
	}
	down.Remove()
	r.Put(upstreamtest.ServerJSON("com.example/while-away", "1.0.0"), upstreamtest.Official{})
	clock.Advance(time.Minute)
	r.Reset()
	if err := second.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if c := second.LastCrawl(); c.Full || c.Requests != 1 {
		t.Errorf("after restore the mirror should poll, not crawl: %+v", c)
	}
	assertMirrors(t, "caught up after restart", second, r)
}

// TestMirrorPollCost measures what keeping a 10,000-entry mirror current
// costs, against a full crawl (the figures in the note).
func TestMirrorPollCost(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,000-entry upstream")
	}
	t.Parallel()
	clock := upstreamtest.NewManualClock(t0)
	r := upstreamtest.New(t, upstreamtest.WithClock(clock.Now))
	r.Generate(5000, 2, 11)
	m := newMirror(t, r, clock.Now, nil)
	ctx := ctxTimeout(t, 60*time.Second)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	full := m.LastCrawl()
	clock.Advance(5 * time.Minute)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	poll := m.LastCrawl()
	t.Logf("10,000 entries: full crawl %d requests, %d bytes; unchanged poll %d request, %d bytes", full.Requests, full.Bytes, poll.Requests, poll.Bytes)
	// The poll asks for what changed since the last update seen, less the
	// overlap; the generated data's newest minute comes back and is
	// recognised as unchanged.
	if full.Requests != 100 || poll.Requests != 1 || poll.Changed != 0 || poll.Bytes*50 > full.Bytes {
		t.Errorf("full %+v, poll %+v", full, poll)
	}
	if m.Snapshot().Len() != 10000 {
		t.Errorf("mirror holds %d entries", m.Snapshot().Len())
	}
	// Without the overlap's re-reads, an unchanged upstream answers an empty page.
	m.o.Overlap = time.Nanosecond
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	bare := m.LastCrawl()
	t.Logf("unchanged poll without overlap: %d request, %d bytes", bare.Requests, bare.Bytes)
	if bare.Requests != 1 || bare.Entries > 1 || bare.Bytes > 1000 { // the newest entry sits on the boundary
		t.Errorf("bare poll %+v", bare)
	}
}

// TestMirrorHugeRetryAfterBlocksNothing: a mirror told `429 Retry-After:
// 999999999` waits at most rateLimit.maxWait; meanwhile its status answers
// at once, a resync gives up with its own deadline, and shutdown ends the
// wait.
func TestMirrorHugeRetryAfterBlocksNothing(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	r.Inject(upstreamtest.Fault{Status: 429, RetryAfter: "999999999"})
	m := newMirror(t, r, time.Now, func(o *MirrorOptions) { o.RateLimit.Retries = 1 })
	if m.o.RateLimit.MaxWait != DefaultMaxWait {
		t.Fatalf("MaxWait = %s, want the default", m.o.RateLimit.MaxWait)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("Run did not end within 2s of shutdown while waiting on Retry-After")
		}
	}()
	waitFor(t, 5*time.Second, "the 429", func() bool { return r.Requests() >= 1 })

	start := time.Now()
	st := m.Status()
	if took := time.Since(start); took > time.Second {
		t.Errorf("Status took %s while the crawl waits", took)
	}
	if st.Loaded {
		t.Errorf("status = %+v, want not loaded", st)
	}
	start = time.Now()
	if err := m.Resync(ctxTimeout(t, 300*time.Millisecond)); err == nil {
		t.Error("Resync succeeded while the upstream refuses")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Resync took %s with a 300ms deadline", took)
	}
}
