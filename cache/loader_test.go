package cache

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loaderFixture is a cache plus loader with a fake clock and a counting
// observer shared by both.
type loaderFixture struct {
	clock *fakeClock
	obs   *countObserver
	c     *Cache[string]
	l     *Loader[string]
}

func newLoaderFixture(t *testing.T, timeout time.Duration) *loaderFixture {
	t.Helper()
	f := &loaderFixture{clock: newClock(), obs: newObserver()}
	f.c = New(Options[string]{
		Name: "page", MaxEntries: 64, MaxBytes: 1 << 20, Size: strSize,
		Fresh: time.Minute, Stale: time.Hour, Clock: f.clock.Now, Observer: f.obs,
	})
	f.l = NewLoader(f.c, LoaderOptions{Group: "upstream", Timeout: timeout, Observer: f.obs})
	t.Cleanup(f.l.Close)
	return f
}

// countJoins makes the loader signal wg each time a caller has joined (or
// started) a flight, so a test can hold a flight until everyone is in it.
func (f *loaderFixture) countJoins(n int) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(n)
	f.l.joined = func(string) { wg.Done() }
	return &wg
}

func (f *loaderFixture) requests() [3]int {
	return [3]int{f.obs.request("page", "hit_fresh"), f.obs.request("page", "hit_stale"), f.obs.request("page", "miss")}
}

type outcome struct {
	v     string
	stale bool
	err   error
}

// loadAll runs n concurrent Loads and returns their outcomes.
func loadAll(ctx context.Context, l *Loader[string], n int, key string, load LoadFunc[string]) []outcome {
	out := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, stale, err := l.Load(ctx, key, load)
			out[i] = outcome{v, stale, err}
		})
	}
	wg.Wait()
	return out
}

func TestLoaderFreshHit(t *testing.T) {
	t.Parallel()
	f := newLoaderFixture(t, 0)
	f.c.Put("k", "cached")
	v, stale, err := f.l.Load(t.Context(), "k", func(context.Context) (string, bool, error) {
		t.Error("load called for a fresh key")
		return "", false, nil
	})
	if v != "cached" || stale || err != nil {
		t.Errorf("Load = %q, %v, %v", v, stale, err)
	}
	if got := f.requests(); got != [3]int{1, 0, 0} {
		t.Errorf("requests %v, want one hit_fresh", got)
	}
}

func TestLoaderSingleFlight(t *testing.T) {
	t.Parallel()
	const n = 200
	f := newLoaderFixture(t, 0)
	joined := f.countJoins(n)
	var loads atomic.Int32
	load := func(ctx context.Context) (string, bool, error) {
		loads.Add(1)
		joined.Wait() // hold the flight until all n callers share it
		return "loaded", true, nil
	}
	for i, o := range loadAll(t.Context(), f.l, n, "cold", load) {
		if o != (outcome{"loaded", false, nil}) {
			t.Fatalf("caller %d: %+v", i, o)
		}
	}
	if got := loads.Load(); got != 1 {
		t.Errorf("load called %d times, want 1", got)
	}
	if got := f.obs.shares("upstream"); got != n-1 {
		t.Errorf("Shared reported %d times, want %d", got, n-1)
	}
	if got := f.requests(); got != [3]int{0, 0, n} {
		t.Errorf("requests %v, want %d misses", got, n)
	}
	if v, st := f.c.Peek("cold"); v != "loaded" || st != Fresh {
		t.Errorf("cache holds %q, %v", v, st)
	}
}

func TestLoaderRechecksInsideFlight(t *testing.T) {
	t.Parallel()
	f := newLoaderFixture(t, 0)
	// A flight that finished between this caller's lookup and its own flight.
	f.l.beforeFlight = func(key string) { f.c.Put(key, "just stored") }
	v, stale, err := f.l.Load(t.Context(), "k", func(context.Context) (string, bool, error) {
		t.Error("load called although the re-check should have found a value")
		return "", false, nil
	})
	if v != "just stored" || stale || err != nil {
		t.Errorf("Load = %q, %v, %v", v, stale, err)
	}
	if got := f.requests(); got != [3]int{1, 0, 0} {
		t.Errorf("requests %v, want one hit_fresh", got)
	}
}

// TestLoaderCallerGivesUp: the first caller's cancellation or deadline ends
// its own wait only; the detached flight completes for the other caller and
// fills the cache.
func TestLoaderCallerGivesUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		giveUp  func(cancel context.CancelFunc) // ends the first caller's ctx
		wantErr error
	}{
		{
			name:    "cancel",
			ctx:     context.WithCancel,
			giveUp:  func(cancel context.CancelFunc) { cancel() },
			wantErr: context.Canceled,
		},
		{
			name:    "deadline",
			ctx:     withManualDeadline,
			giveUp:  func(expire context.CancelFunc) { expire() },
			wantErr: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newLoaderFixture(t, 0)
			joined := f.countJoins(2)
			started, release := make(chan struct{}), make(chan struct{})
			var loadErr atomic.Value
			load := func(ctx context.Context) (string, bool, error) {
				close(started)
				<-release
				if err := ctx.Err(); err != nil {
					loadErr.Store(err)
					return "", false, err
				}
				return "value", true, nil
			}

			firstCtx, cancel := tt.ctx(t.Context())
			defer cancel()
			first := make(chan outcome)
			go func() {
				v, stale, err := f.l.Load(firstCtx, "k", load)
				first <- outcome{v, stale, err}
			}()
			<-started // the first caller leads the flight
			second := make(chan outcome)
			go func() {
				v, stale, err := f.l.Load(t.Context(), "k", load)
				second <- outcome{v, stale, err}
			}()
			joined.Wait()

			tt.giveUp(cancel)
			if o := <-first; !errors.Is(o.err, tt.wantErr) || o.v != "" {
				t.Errorf("first caller: %+v, want %v", o, tt.wantErr)
			}
			close(release) // only now does the flight finish
			if o := <-second; o != (outcome{"value", false, nil}) {
				t.Errorf("second caller: %+v", o)
			}
			f.l.Close()
			if err := loadErr.Load(); err != nil {
				t.Errorf("the flight's ctx ended with the first caller: %v", err)
			}
			if v, st := f.c.Peek("k"); v != "value" || st != Fresh {
				t.Errorf("cache holds %q, %v", v, st)
			}
			if got := f.obs.shares("upstream"); got != 1 {
				t.Errorf("Shared reported %d times, want 1", got)
			}
		})
	}
}

// deadlineCtx is a context whose deadline passes when the test says so, so
// deadline tests need no sleeps and cannot expire early on a slow machine.
type deadlineCtx struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func withManualDeadline(parent context.Context) (context.Context, context.CancelFunc) {
	c := &deadlineCtx{Context: parent, done: make(chan struct{})}
	return c, func() { c.once.Do(func() { close(c.done) }) }
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return time.Now().Add(time.Hour), true }
func (c *deadlineCtx) Done() <-chan struct{}       { return c.done }
func (c *deadlineCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// TestLoaderCallerDeadlineAlone: a caller alone on a slow flight returns at
// its deadline; the flight still fills the cache for the next caller.
func TestLoaderCallerDeadlineAlone(t *testing.T) {
	t.Parallel()
	f := newLoaderFixture(t, 0)
	started, release := make(chan struct{}), make(chan struct{})
	var loads atomic.Int32
	load := func(ctx context.Context) (string, bool, error) {
		if loads.Add(1) == 1 {
			close(started)
		}
		select {
		case <-release:
			return "slow", true, nil
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
	}
	ctx, expire := withManualDeadline(t.Context())
	defer expire()
	done := make(chan error)
	go func() {
		_, _, err := f.l.Load(ctx, "k", load)
		done <- err
	}()
	<-started // the flight is under way
	expire()
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	// A caller whose ctx is already over does not start a flight.
	if _, _, err := f.l.Load(ctx, "other", load); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	close(release)
	f.l.Close()
	v, stale, err := f.l.Load(t.Context(), "k", load)
	if v != "slow" || stale || err != nil {
		t.Errorf("after the flight: %q, %v, %v", v, stale, err)
	}
	if got := loads.Load(); got != 1 {
		t.Errorf("load called %d times, want 1", got)
	}
}

func TestLoaderStale(t *testing.T) {
	t.Parallel()
	errDown := errors.New("upstream down")
	tests := []struct {
		name      string
		callers   int
		seed      bool // put "old" then age it into the stale window
		refreshOK bool // whether the background refresh succeeds
		want      outcome
		wantLoads int32
		wantCache string // value in the cache afterwards, "" for none
		wantState State
		wantReq   [3]int // hit_fresh, hit_stale, miss
	}{
		{
			name: "one caller, refresh refills", callers: 1, seed: true, refreshOK: true,
			want: outcome{"old", true, nil}, wantLoads: 2, wantCache: "new", wantState: Fresh,
			wantReq: [3]int{0, 1, 0},
		},
		{
			name: "many callers, one refresh", callers: 50, seed: true, refreshOK: true,
			want: outcome{"old", true, nil}, wantLoads: 2, wantCache: "new", wantState: Fresh,
			wantReq: [3]int{0, 50, 0},
		},
		{
			name: "failed refresh keeps stale and does not retry", callers: 50, seed: true, refreshOK: false,
			want: outcome{"old", true, nil}, wantLoads: 2, wantCache: "old", wantState: Stale,
			wantReq: [3]int{0, 50, 0},
		},
		{
			name: "no stale value: error", callers: 50, seed: false,
			want: outcome{"", false, errDown}, wantLoads: 1, wantState: Miss,
			wantReq: [3]int{0, 0, 50},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newLoaderFixture(t, 0)
			if tt.seed {
				f.c.Put("k", "old")
				f.clock.Advance(2 * time.Minute) // past Fresh, within Stale
			}
			joined := f.countJoins(tt.callers)
			var loads atomic.Int32
			load := func(ctx context.Context) (string, bool, error) {
				switch loads.Add(1) {
				case 1:
					joined.Wait() // every caller is in the failing flight
					return "", false, errDown
				default:
					if tt.refreshOK {
						return "new", true, nil
					}
					return "", false, errDown
				}
			}
			for i, o := range loadAll(t.Context(), f.l, tt.callers, "k", load) {
				if o.v != tt.want.v || o.stale != tt.want.stale || !errors.Is(o.err, tt.want.err) {
					t.Fatalf("caller %d: %+v, want %+v", i, o, tt.want)
				}
			}
			f.l.Close() // waits for the refresh
			if got := loads.Load(); got != tt.wantLoads {
				t.Errorf("load called %d times, want %d", got, tt.wantLoads)
			}
			if v, st := f.c.Peek("k"); v != tt.wantCache || st != tt.wantState {
				t.Errorf("cache holds %q, %v; want %q, %v", v, st, tt.wantCache, tt.wantState)
			}
			if got := f.requests(); got != tt.wantReq {
				t.Errorf("requests %v, want %v", got, tt.wantReq)
			}
		})
	}
}

// TestLoaderRefreshNotDuplicated: while a refresh runs, a new caller waits
// for it instead of loading again or starting a second refresh.
func TestLoaderRefreshNotDuplicated(t *testing.T) {
	t.Parallel()
	f := newLoaderFixture(t, 0)
	f.c.Put("k", "old")
	f.clock.Advance(2 * time.Minute)
	joined := f.countJoins(2)
	refreshing, release := make(chan struct{}), make(chan struct{})
	var loads atomic.Int32
	load := func(ctx context.Context) (string, bool, error) {
		if loads.Add(1) == 2 {
			close(refreshing)
			<-release
		}
		return "", false, errors.New("down")
	}
	if o := loadAll(t.Context(), f.l, 1, "k", load)[0]; o != (outcome{"old", true, nil}) {
		t.Fatalf("first caller: %+v", o)
	}
	<-refreshing
	second := make(chan outcome)
	go func() { second <- loadAll(t.Context(), f.l, 1, "k", load)[0] }()
	joined.Wait()
	close(release)
	if o := <-second; o != (outcome{"old", true, nil}) {
		t.Errorf("second caller: %+v", o)
	}
	f.l.Close()
	if got := loads.Load(); got != 2 {
		t.Errorf("load called %d times, want 2 (one flight, one refresh)", got)
	}
	if got := f.obs.shares("upstream"); got != 1 {
		t.Errorf("Shared reported %d times, want 1 (the second caller joined the refresh)", got)
	}
}

func TestLoaderNoStore(t *testing.T) {
	t.Parallel()
	const n = 20
	f := newLoaderFixture(t, 0)
	joined := f.countJoins(n)
	var loads atomic.Int32
	load := func(ctx context.Context) (string, bool, error) {
		if loads.Add(1) == 1 {
			joined.Wait()
		}
		return "partial", false, nil
	}
	for i, o := range loadAll(t.Context(), f.l, n, "k", load) {
		if o != (outcome{"partial", false, nil}) {
			t.Fatalf("caller %d: %+v", i, o)
		}
	}
	if f.c.Len() != 0 {
		t.Errorf("a store=false value was cached")
	}
	f.l.joined = nil
	if v, _, _ := f.l.Load(t.Context(), "k", load); v != "partial" || loads.Load() != 2 {
		t.Errorf("next Load: %q after %d loads, want a second load", v, loads.Load())
	}
	if got := f.obs.shares("upstream"); got != n-1 {
		t.Errorf("Shared reported %d times, want %d", got, n-1)
	}
}

func TestLoaderTimeout(t *testing.T) {
	t.Parallel()
	f := newLoaderFixture(t, 20*time.Millisecond)
	hang := func(ctx context.Context) (string, bool, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the flight has no deadline")
		}
		<-ctx.Done()
		return "", false, ctx.Err()
	}
	start := time.Now()
	_, _, err := f.l.Load(t.Context(), "k", hang) // the caller itself would wait forever
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestLoaderPanic(t *testing.T) {
	t.Parallel()
	f := newLoaderFixture(t, 0)
	_, _, err := f.l.Load(t.Context(), "k", func(context.Context) (string, bool, error) {
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("err %v, want the panic as an error", err)
	}
}

func TestLoaderCloseStopsRefreshes(t *testing.T) {
	t.Parallel()
	f := newLoaderFixture(t, 0)
	f.c.Put("k", "old")
	f.clock.Advance(2 * time.Minute)
	f.l.Close()
	var loads atomic.Int32
	load := func(context.Context) (string, bool, error) {
		loads.Add(1)
		return "", false, errors.New("down")
	}
	if o := loadAll(t.Context(), f.l, 1, "k", load)[0]; o != (outcome{"old", true, nil}) {
		t.Errorf("after Close: %+v", o)
	}
	f.l.Close()
	if got := loads.Load(); got != 1 {
		t.Errorf("load called %d times, want 1 (no refresh after Close)", got)
	}
}

func BenchmarkLoadFreshHit(b *testing.B) {
	c := New(Options[string]{Name: "bench", MaxEntries: 1024, Fresh: time.Hour, Observer: nopObserver{}})
	l := NewLoader(c, LoaderOptions{Group: "bench", Observer: nopObserver{}})
	defer l.Close()
	c.Put("k", "value")
	load := func(context.Context) (string, bool, error) { return "value", true, nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, stale, err := l.Load(ctx, "k", load); stale || err != nil {
			b.Fatal(stale, err)
		}
	}
}

func BenchmarkLoadFreshHitParallel(b *testing.B) {
	c := New(Options[string]{Name: "bench", MaxEntries: 1024, Fresh: time.Hour, Observer: nopObserver{}})
	l := NewLoader(c, LoaderOptions{Group: "bench", Observer: nopObserver{}})
	defer l.Close()
	c.Put("k", "value")
	load := func(context.Context) (string, bool, error) { return "value", true, nil }
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, stale, err := l.Load(ctx, "k", load); stale || err != nil {
				b.Error(stale, err)
				return
			}
		}
	})
}
