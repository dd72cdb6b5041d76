package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is an injected clock, so ageing needs no sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countObserver records every event.
type countObserver struct {
	mu       sync.Mutex
	requests map[string]int // "cache/result"
	entries  int
	bytes    int64
	sizes    int // Size calls
	evicted  map[string]int
	shared   map[string]int
}

func newObserver() *countObserver {
	return &countObserver{requests: map[string]int{}, evicted: map[string]int{}, shared: map[string]int{}}
}

func (o *countObserver) Request(cache, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests[cache+"/"+result]++
}

func (o *countObserver) Size(cache string, entries int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.entries, o.bytes = entries, bytes
	o.sizes++
}

func (o *countObserver) Evicted(cache string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.evicted[cache]++
}

func (o *countObserver) Shared(group string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.shared[group]++
}

func (o *countObserver) request(cache, result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.requests[cache+"/"+result]
}

func (o *countObserver) size() (int, int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.entries, o.bytes
}

func (o *countObserver) evictions(cache string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.evicted[cache]
}

func (o *countObserver) shares(group string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.shared[group]
}

func strSize(s string) int64 { return int64(len(s)) }

func TestCacheEviction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		maxEntries  int
		maxBytes    int64
		steps       func(c *Cache[string])
		present     []string
		absent      []string
		wantEvicted int
		wantBytes   int64
	}{
		{
			name:       "entries: least recently used goes",
			maxEntries: 2,
			steps: func(c *Cache[string]) {
				c.Put("a", "1")
				c.Put("b", "2")
				c.Get("a") // a is now more recent than b
				c.Put("c", "3")
			},
			present:     []string{"a", "c"},
			absent:      []string{"b"},
			wantEvicted: 1,
			wantBytes:   2,
		},
		{
			name:       "entries: Peek does not refresh recency",
			maxEntries: 2,
			steps: func(c *Cache[string]) {
				c.Put("a", "1")
				c.Put("b", "2")
				c.Peek("a")
				c.Put("c", "3")
			},
			present:     []string{"b", "c"},
			absent:      []string{"a"},
			wantEvicted: 1,
			wantBytes:   2,
		},
		{
			name:       "entries: replacing a key evicts nothing",
			maxEntries: 2,
			steps: func(c *Cache[string]) {
				c.Put("a", "1")
				c.Put("b", "2")
				c.Put("a", "111")
			},
			present:   []string{"a", "b"},
			wantBytes: 4,
		},
		{
			name:       "bytes: evicts as many as needed",
			maxEntries: 10,
			maxBytes:   10,
			steps: func(c *Cache[string]) {
				c.Put("a", "1234")
				c.Put("b", "1234")
				c.Put("c", "12")
				c.Put("d", "123456789") // 4+4+2+9 > 10: a, b, c must go
			},
			present:     []string{"d"},
			absent:      []string{"a", "b", "c"},
			wantEvicted: 3,
			wantBytes:   9,
		},
		{
			name:       "bytes: growing a key evicts others",
			maxEntries: 10,
			maxBytes:   10,
			steps: func(c *Cache[string]) {
				c.Put("a", "1234")
				c.Put("b", "1234")
				c.Put("a", "12345678")
			},
			present:     []string{"a"},
			absent:      []string{"b"},
			wantEvicted: 1,
			wantBytes:   8,
		},
		{
			name:       "bytes: exactly MaxBytes fits",
			maxEntries: 10,
			maxBytes:   10,
			steps: func(c *Cache[string]) {
				c.Put("a", "1234567890")
			},
			present:   []string{"a"},
			wantBytes: 10,
		},
		{
			name:       "bytes: a value bigger than MaxBytes is not stored",
			maxEntries: 10,
			maxBytes:   10,
			steps: func(c *Cache[string]) {
				c.Put("a", "1234")
				c.Put("big", "12345678901")
			},
			present:   []string{"a"},
			absent:    []string{"big"},
			wantBytes: 4,
		},
		{
			name:       "bytes: a too-big value also drops the value it supersedes",
			maxEntries: 10,
			maxBytes:   10,
			steps: func(c *Cache[string]) {
				c.Put("a", "1234")
				c.Put("b", "12")
				c.Put("a", "12345678901")
			},
			present:   []string{"b"},
			absent:    []string{"a"},
			wantBytes: 2,
		},
		{
			name:       "remove",
			maxEntries: 10,
			maxBytes:   10,
			steps: func(c *Cache[string]) {
				c.Put("a", "1234")
				c.Put("b", "12")
				c.Remove("a")
				c.Remove("missing")
			},
			present:   []string{"b"},
			absent:    []string{"a"},
			wantBytes: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			obs := newObserver()
			c := New(Options[string]{
				Name: "test", MaxEntries: tt.maxEntries, MaxBytes: tt.maxBytes, Size: strSize,
				Fresh: time.Minute, Clock: newClock().Now, Observer: obs,
			})
			tt.steps(c)
			for _, k := range tt.present {
				if _, st := c.Peek(k); st != Fresh {
					t.Errorf("%s: state %v, want fresh", k, st)
				}
			}
			for _, k := range tt.absent {
				if v, st := c.Peek(k); st != Miss {
					t.Errorf("%s: state %v (%q), want miss", k, st, v)
				}
			}
			if got := obs.evictions("test"); got != tt.wantEvicted {
				t.Errorf("Evicted reported %d times, want %d", got, tt.wantEvicted)
			}
			wantLen := len(tt.present)
			if c.Len() != wantLen || c.Bytes() != tt.wantBytes {
				t.Errorf("Len, Bytes = %d, %d, want %d, %d", c.Len(), c.Bytes(), wantLen, tt.wantBytes)
			}
			if n, b := obs.size(); n != wantLen || b != tt.wantBytes {
				t.Errorf("last Size reported %d, %d, want %d, %d", n, b, wantLen, tt.wantBytes)
			}
		})
	}
}

func TestCacheStates(t *testing.T) {
	t.Parallel()
	const fresh = 10 * time.Second
	tests := []struct {
		name    string
		stale   time.Duration
		age     time.Duration
		want    State
		wantLen int
	}{
		{"just stored", 20 * time.Second, 0, Fresh, 1},
		{"end of fresh", 20 * time.Second, fresh - time.Nanosecond, Fresh, 1},
		{"start of stale", 20 * time.Second, fresh, Stale, 1},
		{"end of stale", 20 * time.Second, fresh + 20*time.Second - time.Nanosecond, Stale, 1},
		{"expired", 20 * time.Second, fresh + 20*time.Second, Miss, 0},
		{"no stale window", 0, fresh, Miss, 0},
		{"negative stale is none", -time.Second, fresh, Miss, 0},
		{"clock went back", 0, -time.Second, Fresh, 1},
	}
	for _, tt := range tests {
		for _, peek := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/peek=%v", tt.name, peek), func(t *testing.T) {
				t.Parallel()
				clock := newClock()
				obs := newObserver()
				c := New(Options[string]{
					Name: "s", MaxEntries: 4, Fresh: fresh, Stale: tt.stale, Clock: clock.Now, Observer: obs,
				})
				c.Put("k", "v")
				clock.Advance(tt.age)
				get := c.Get
				if peek {
					get = c.Peek
				}
				v, st := get("k")
				if st != tt.want {
					t.Fatalf("state %v, want %v", st, tt.want)
				}
				if wantV := map[bool]string{true: "", false: "v"}[st == Miss]; v != wantV {
					t.Errorf("value %q, want %q", v, wantV)
				}
				if c.Len() != tt.wantLen {
					t.Errorf("Len %d, want %d", c.Len(), tt.wantLen)
				}
				if n, _ := obs.size(); n != tt.wantLen {
					t.Errorf("last Size reported %d entries, want %d", n, tt.wantLen)
				}
				requests := obs.request("s", "hit_fresh") + obs.request("s", "hit_stale") + obs.request("s", "miss")
				if wantReq := map[bool]int{true: 0, false: 1}[peek]; requests != wantReq {
					t.Errorf("%d requests counted, want %d", requests, wantReq)
				}
			})
		}
	}
}

func TestCacheObserverCounts(t *testing.T) {
	t.Parallel()
	clock := newClock()
	obs := newObserver()
	c := New(Options[string]{
		Name: "page", MaxEntries: 8, MaxBytes: 100, Size: strSize,
		Fresh: time.Minute, Stale: time.Hour, Clock: clock.Now, Observer: obs,
	})
	steps := []struct {
		do                 func()
		fresh, stale, miss int
		wantEntries        int
		wantBytes          int64
	}{
		{do: func() { c.Get("a") }, miss: 1},
		{do: func() { c.Put("a", "12345") }, miss: 1, wantEntries: 1, wantBytes: 5},
		{do: func() { c.Get("a") }, fresh: 1, miss: 1, wantEntries: 1, wantBytes: 5},
		{do: func() { c.Put("b", "123") }, fresh: 1, miss: 1, wantEntries: 2, wantBytes: 8},
		{do: func() { clock.Advance(2 * time.Minute); c.Get("a") }, fresh: 1, stale: 1, miss: 1, wantEntries: 2, wantBytes: 8},
		{do: func() { c.Peek("a"); c.Peek("zzz") }, fresh: 1, stale: 1, miss: 1, wantEntries: 2, wantBytes: 8},
		{do: func() { c.Remove("b") }, fresh: 1, stale: 1, miss: 1, wantEntries: 1, wantBytes: 5},
		{do: func() { clock.Advance(time.Hour); c.Get("a") }, fresh: 1, stale: 1, miss: 2, wantEntries: 0, wantBytes: 0},
	}
	for i, s := range steps {
		s.do()
		got := [3]int{obs.request("page", "hit_fresh"), obs.request("page", "hit_stale"), obs.request("page", "miss")}
		if want := [3]int{s.fresh, s.stale, s.miss}; got != want {
			t.Errorf("step %d: hit_fresh, hit_stale, miss = %v, want %v", i, got, want)
		}
		if n, b := obs.size(); n != s.wantEntries || b != s.wantBytes {
			t.Errorf("step %d: Size reported %d, %d, want %d, %d", i, n, b, s.wantEntries, s.wantBytes)
		}
	}
}

func TestCacheNilObserverAndDefaults(t *testing.T) {
	t.Parallel()
	c := New(Options[int]{MaxEntries: 1, Fresh: time.Hour}) // real clock, no Size
	c.Put("a", 1)
	c.Put("b", 2)
	if _, st := c.Get("a"); st != Miss {
		t.Errorf("a: %v, want miss", st)
	}
	if v, st := c.Get("b"); st != Fresh || v != 2 {
		t.Errorf("b: %v %v", v, st)
	}
	if c.Bytes() != 0 {
		t.Errorf("Bytes %d without Size", c.Bytes())
	}
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    Options[string]
	}{
		{"no entries", Options[string]{MaxEntries: 0}},
		{"negative bytes", Options[string]{MaxEntries: 1, MaxBytes: -1, Size: strSize}},
		{"bytes without size", Options[string]{MaxEntries: 1, MaxBytes: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Error("New did not panic")
				}
			}()
			New(tt.o)
		})
	}
}

// TestCacheConcurrent is for the race detector: the bounds must hold under
// concurrent writers and the byte count must match the entries.
func TestCacheConcurrent(t *testing.T) {
	t.Parallel()
	obs := newObserver()
	c := New(Options[string]{
		Name: "c", MaxEntries: 16, MaxBytes: 64, Size: strSize, Fresh: time.Minute, Observer: obs,
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprint((g*7 + i) % 40)
				switch i % 4 {
				case 0, 1:
					c.Put(k, fmt.Sprintf("%0*d", i%12, i))
				case 2:
					c.Get(k)
				case 3:
					c.Remove(k)
				}
			}
		})
	}
	wg.Wait()
	if c.Len() > 16 || c.Bytes() > 64 {
		t.Errorf("bounds broken: %d entries, %d bytes", c.Len(), c.Bytes())
	}
	var sum int64
	for k := range 40 {
		if v, st := c.Peek(fmt.Sprint(k)); st != Miss {
			sum += strSize(v)
		}
	}
	if sum != c.Bytes() {
		t.Errorf("Bytes %d, entries add up to %d", c.Bytes(), sum)
	}
	if n, b := obs.size(); n != c.Len() || b != c.Bytes() {
		t.Errorf("last Size reported %d, %d; cache has %d, %d", n, b, c.Len(), c.Bytes())
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := New(Options[string]{
		Name: "bench", MaxEntries: 1024, MaxBytes: 1 << 20, Size: strSize,
		Fresh: time.Hour, Observer: nopObserver{},
	})
	keys := make([]string, 256)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
		c.Put(keys[i], "value")
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, st := c.Get(keys[i&255]); st != Fresh {
			b.Fatal(st)
		}
		i++
	}
}

type nopObserver struct{}

func (nopObserver) Request(string, string)  {}
func (nopObserver) Size(string, int, int64) {}
func (nopObserver) Evicted(string)          {}
func (nopObserver) Shared(string)           {}
