package federate

// Integration tests of federation under load and failure: singleflight of
// cold requests, the circuit breaker, serve-stale, the outbound rate limit
// and every fault the fake registry can inject.

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/mcpfed/mcpfed/upstream/remote"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// TestConcurrentColdRequestsFetchEachPageOnce: a burst of identical
// requests on a cold gateway costs each upstream page one request, with or
// without the response cache (page cache singleflight alone must hold).
func TestConcurrentColdRequestsFetchEachPageOnce(t *testing.T) {
	t.Parallel()
	const clients = 200
	for _, rc := range []struct {
		name string
		opts ResponseCacheOptions
	}{
		{"response-cache", ResponseCacheOptions{MaxEntries: 100, TTL: time.Minute}},
		{"no-response-cache", ResponseCacheOptions{}},
	} {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			alpha, _ := newFake(t)
			beta, _ := newFake(t)
			alpha.Generate(20, 2, 5)
			beta.Generate(20, 2, 6)
			e := newFedEnv(t, fedOptions{
				members: []Member{
					{Live: newLive(t, "alpha", alpha, nil)},
					{Live: newLive(t, "beta", beta, nil)},
				},
				responseCache: rc.opts,
			})
			name := alpha.Records()[0].Name
			for _, p := range []string{
				// Four or more upstream pages of each source (page size 10).
				"/v0.1/servers?limit=100",
				"/v0.1/servers/" + escName(name) + "/versions",
			} {
				bodies := burst(t, e, p, clients)
				for i, b := range bodies {
					if !bytes.Equal(b, bodies[0]) {
						t.Fatalf("%s: answer %d differs from answer 0", p, i)
					}
				}
				validateJSON(t, e.schemaFor(p), bodies[0])
				wantComplete(t, p, e.get(t, p))
			}
			for _, reg := range []*upstreamtest.Registry{alpha, beta} {
				counts := map[string]int{}
				for _, q := range reg.Log() {
					counts[q.Key]++
				}
				lists := 0
				for k, n := range counts {
					if n != 1 {
						t.Errorf("%s was fetched %d times, want once", k, n)
					}
					if strings.HasSuffix(strings.SplitN(k, "?", 2)[0], "/servers") {
						lists++
					}
				}
				if lists < 4 {
					t.Errorf("only %d upstream list pages: the burst did not walk several pages", lists)
				}
			}
		})
	}
}

// burst sends n identical requests at once and returns their bodies; every
// answer must be a 200.
func burst(t *testing.T, e *env, p string, n int) [][]byte {
	t.Helper()
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		bodies = make([][]byte, n)
		errs   = make([]string, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := e.client.Get(e.server.URL + p)
			if err != nil {
				errs[i] = err.Error()
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			switch {
			case err != nil:
				errs[i] = err.Error()
			case resp.StatusCode != http.StatusOK:
				errs[i] = resp.Status + " " + string(b)
			}
			bodies[i] = b
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != "" {
			t.Fatalf("%s: request %d: %s", p, i, err)
		}
	}
	return bodies
}

// TestBreakerOpensOnDeadUpstream: once a dead upstream's breaker opens,
// answers come at once without it (partial), the upstream is not asked
// again until the breaker lets a probe through, and when it is back the
// answers are complete again.
func TestBreakerOpensOnDeadUpstream(t *testing.T) {
	t.Parallel()
	for _, death := range []struct {
		name  string
		fault upstreamtest.Fault
	}{
		{"5xx", upstreamtest.Fault{Status: http.StatusInternalServerError}},
		{"reset", upstreamtest.Fault{Reset: true}},
	} {
		t.Run(death.name, func(t *testing.T) {
			t.Parallel()
			const openFor = 1500 * time.Millisecond
			dead, _ := newFake(t)
			good, _ := newFake(t)
			dead.Generate(10, 2, 8)
			good.Generate(10, 2, 9)
			deadLive := newLive(t, "dead", dead, func(o *remote.LiveOptions) {
				o.Breaker = remote.BreakerOptions{Failures: 2, OpenFor: openFor, HalfOpenRequests: 1}
			})
			e := newFedEnv(t, fedOptions{members: []Member{{Live: deadLive}, {Live: newLive(t, "good", good, nil)}}})
			goodName := good.Records()[0].Name

			dead.Inject(death.fault)
			wantPartial(t, "while failing", e.get(t, "/v0.1/servers?limit=100"), "dead")
			// The breaker opens during the second failure, not before.
			opened := time.Now()
			wantPartial(t, "while failing", e.get(t, "/v0.1/servers?limit=100"), "dead")
			if st := deadLive.Breaker().State(); st != gobreaker.StateOpen {
				t.Fatalf("breaker %s after 2 failures, want open", st)
			}
			asked := dead.Requests()
			// Were the upstream asked now, every answer would wait 10s.
			dead.Inject(upstreamtest.Fault{Latency: 10 * time.Second})
			for _, p := range []string{
				"/v0.1/servers?limit=100",
				"/v0.1/servers?limit=3&search=acme",
				"/v0.1/servers?version=latest",
				"/v0.1/servers/" + escName(goodName) + "/versions",
				"/v0.1/servers/" + escName(goodName) + "/versions/latest",
			} {
				r, took := timedGet(t, e, p)
				if took > 500*time.Millisecond {
					t.Errorf("%s took %s with the breaker open", p, took)
				}
				wantPartial(t, p, r, "dead")
			}
			r, took := timedGet(t, e, "/v0.1/servers/io.github.x%2Fnowhere/versions")
			if r.status != http.StatusNotFound || r.header.Get(HeaderComplete) != "false" || took > 500*time.Millisecond {
				t.Errorf("unknown name with the breaker open: %d %s=%q in %s", r.status, HeaderComplete, r.header.Get(HeaderComplete), took)
			}
			if time.Since(opened) >= openFor {
				t.Fatalf("the checks outlasted OpenFor (%s): the test is too slow to judge", openFor)
			}
			if n := dead.Requests(); n != asked {
				t.Errorf("the dead upstream got %d requests while its breaker was open", n-asked)
			}

			// It comes back; after OpenFor the breaker lets a probe through.
			dead.ClearFaults()
			deadline := time.Now().Add(5 * time.Second)
			for deadLive.Breaker().State() == gobreaker.StateOpen {
				if time.Now().After(deadline) {
					t.Fatal("the breaker never left the open state")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if time.Since(opened) < openFor {
				t.Errorf("the breaker left the open state after %s, before OpenFor", time.Since(opened))
			}
			wantComplete(t, "after recovery", e.get(t, "/v0.1/servers?limit=100"))
			if dead.Requests() == asked {
				t.Error("no probe reached the upstream")
			}
			if st := deadLive.Breaker().State(); st != gobreaker.StateClosed {
				t.Errorf("breaker %s after a good probe, want closed", st)
			}
		})
	}
}

// TestStaleWhileUpstreamDown: while an upstream is down, what its page
// cache still holds past freshness is served — a complete answer, marked
// stale and never cached — even for a required source; past the stale
// window a required source with nothing left fails the request.
func TestStaleWhileUpstreamDown(t *testing.T) {
	t.Parallel()
	reg, _ := newFake(t)
	reg.Generate(12, 2, 10)
	clock := upstreamtest.NewManualClock(fedT0) // mcpfed's own clock
	live := newLive(t, "official", reg, func(o *remote.LiveOptions) {
		o.Clock = clock.Now
		o.PageCache.Fresh, o.PageCache.Stale = time.Minute, time.Hour
	})
	e := newFedEnv(t, fedOptions{
		members:       []Member{{Live: live, Required: true}},
		responseCache: ResponseCacheOptions{MaxEntries: 100, TTL: 10 * time.Second},
		clock:         clock.Now,
	})
	name := reg.Records()[0].Name
	paths := []string{
		"/v0.1/servers?limit=100",
		"/v0.1/servers/" + escName(name) + "/versions",
		"/v0.1/servers/" + escName(name) + "/versions/latest",
	}
	fresh := map[string][]byte{}
	for _, p := range paths {
		r := e.get(t, p)
		wantComplete(t, p, r)
		fresh[p] = r.body
	}
	freshWalk := keys(walk(t, e, "/v0.1", nil, 7))

	reg.Inject(upstreamtest.Fault{Status: http.StatusServiceUnavailable})
	clock.Advance(2 * time.Minute) // past freshness (and the response cache's TTL)
	asked := reg.Requests()
	for _, p := range paths {
		for range 2 {
			r := e.get(t, p)
			if r.status != http.StatusOK {
				t.Fatalf("%s: status %d: %s", p, r.status, r.body)
			}
			if got := r.header.Get(HeaderComplete); got != "true" {
				t.Errorf("%s: %s = %q, want true: stale data is complete", p, HeaderComplete, got)
			}
			if got := r.header.Get(HeaderStaleSources); got != "official" {
				t.Errorf("%s: %s = %q, want official", p, HeaderStaleSources, got)
			}
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store", p, got)
			}
			if !bytes.Equal(r.body, fresh[p]) {
				t.Errorf("%s: stale answer differs from the fresh one", p)
			}
		}
	}
	diffKeys(t, keys(walk(t, e, "/v0.1", nil, 7)), freshWalk)
	if reg.Requests() == asked {
		t.Error("the upstream was not asked: the answers were fresh, not stale-on-error")
	}

	// Back up: current, complete answers at once — had a stale answer been
	// kept by the response cache (its TTL has not run out), this would
	// still be stale.
	reg.ClearFaults()
	for _, p := range paths {
		wantComplete(t, p, e.get(t, p))
	}

	// Down again and past the stale window: nothing left to serve.
	reg.Inject(upstreamtest.Fault{Status: http.StatusServiceUnavailable})
	clock.Advance(2 * time.Hour)
	for _, p := range paths {
		if r := e.get(t, p); r.status != http.StatusBadGateway {
			t.Errorf("%s: status %d past the stale window, want 502", p, r.status)
		}
	}
}

// TestStaleBehindOpenBreaker: an open breaker answers from stale cache at
// once, without asking the upstream.
func TestStaleBehindOpenBreaker(t *testing.T) {
	t.Parallel()
	reg, _ := newFake(t)
	reg.Generate(5, 2, 12)
	clock := upstreamtest.NewManualClock(fedT0)
	live := newLive(t, "official", reg, func(o *remote.LiveOptions) {
		o.Clock = clock.Now
		o.Breaker = remote.BreakerOptions{Failures: 1, OpenFor: time.Minute}
	})
	e := newFedEnv(t, fedOptions{members: []Member{{Live: live, Required: true}}, clock: clock.Now})
	const p = "/v0.1/servers?limit=100"
	wantComplete(t, p, e.get(t, p))
	reg.Inject(upstreamtest.Fault{Status: http.StatusServiceUnavailable})
	clock.Advance(2 * time.Minute)
	if r := e.get(t, p); r.header.Get(HeaderStaleSources) != "official" {
		t.Fatalf("first failure: %d %q", r.status, r.header.Get(HeaderStaleSources))
	}
	// The failed refresh in the background may still be under way.
	waitFor(t, func() bool { return live.Breaker().State() == gobreaker.StateOpen })
	asked := reg.Requests()
	reg.Inject(upstreamtest.Fault{Latency: 10 * time.Second})
	r, took := timedGet(t, e, p)
	if r.status != http.StatusOK || r.header.Get(HeaderStaleSources) != "official" || took > 500*time.Millisecond {
		t.Errorf("open breaker: %d stale=%q in %s, want a stale 200 at once", r.status, r.header.Get(HeaderStaleSources), took)
	}
	if reg.Requests() != asked {
		t.Error("the upstream was asked while its breaker was open")
	}
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOutboundRateLimit: requests to an upstream keep to its budget, and a
// 429's Retry-After holds every request back until it has passed.
func TestOutboundRateLimit(t *testing.T) {
	t.Parallel()
	t.Run("budget across pages", func(t *testing.T) {
		t.Parallel()
		reg, _ := newFake(t)
		reg.Generate(20, 2, 13)
		live := newLive(t, "official", reg, func(o *remote.LiveOptions) {
			o.RateLimit = remote.RateLimitOptions{PerMinute: 600, Burst: 1} // one per 100ms
		})
		e := newFedEnv(t, fedOptions{members: []Member{{Live: live, Required: true}}})
		// One answer that needs every upstream page, one after the other.
		r, took := timedGet(t, e, "/v0.1/servers?limit=100&include_deleted=true")
		wantComplete(t, "walk", r)
		k := reg.Requests()
		if k < 4 {
			t.Fatalf("only %d upstream requests", k)
		}
		if min := time.Duration(k-1) * 100 * time.Millisecond; took < min {
			t.Errorf("%d upstream requests in %s, want at least %s", k, took, min)
		}
	})
	t.Run("budget across requests", func(t *testing.T) {
		t.Parallel()
		reg, _ := newFake(t)
		reg.Generate(20, 2, 14)
		live := newLive(t, "official", reg, func(o *remote.LiveOptions) {
			o.RateLimit = remote.RateLimitOptions{PerMinute: 600, Burst: 1}
		})
		e := newFedEnv(t, fedOptions{members: []Member{{Live: live, Required: true}}})
		// Distinct cold pages asked at once still leave one per 100ms.
		searches := []string{"acme", "globex", "initech", "umbrella", "hooli"}
		start := time.Now()
		var wg sync.WaitGroup
		for _, s := range searches {
			wg.Go(func() {
				resp, err := e.client.Get(e.server.URL + "/v0.1/servers?limit=1&search=" + s)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		if k := reg.Requests(); k < len(searches) {
			t.Fatalf("%d upstream requests for %d distinct pages", k, len(searches))
		}
		if min := time.Duration(len(searches)-1) * 100 * time.Millisecond; took < min {
			t.Errorf("%d cold pages in %s, want at least %s", len(searches), took, min)
		}
	})
	t.Run("429 Retry-After within the deadline", func(t *testing.T) {
		t.Parallel()
		reg, _ := newFake(t)
		reg.Generate(3, 1, 15)
		reg.Inject(upstreamtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1", Times: 1})
		live := newLive(t, "official", reg, nil) // one retry
		e := newFedEnv(t, fedOptions{members: []Member{{Live: live, Required: true}}})
		r, took := timedGet(t, e, "/v0.1/servers")
		wantComplete(t, "after 429", r)
		log := reg.Log()
		if len(log) != 2 || log[0].Key != log[1].Key {
			t.Fatalf("upstream log %v, want the same page twice", log)
		}
		if gap := log[1].Time.Sub(log[0].Time); gap < 950*time.Millisecond || took < time.Second-50*time.Millisecond {
			t.Errorf("retried %s after a 429 with Retry-After: 1 (answer in %s)", gap, took)
		}
	})
	t.Run("429 Retry-After beyond the deadline", func(t *testing.T) {
		t.Parallel()
		reg, _ := newFake(t)
		good, _ := newFake(t)
		reg.Generate(3, 1, 16)
		good.Generate(3, 1, 17)
		reg.Inject(upstreamtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "60", Times: 1})
		live := newLive(t, "limited", reg, func(o *remote.LiveOptions) { o.Breaker.Failures = 1 })
		e := newFedEnv(t, fedOptions{
			members: []Member{{Live: live}, {Live: newLive(t, "good", good, nil)}},
			timeout: 2 * time.Second,
		})
		for _, p := range []string{"/v0.1/servers", "/v0.1/servers?version=latest", "/v0.1/servers/io.github.x%2Fy/versions"} {
			r, took := timedGet(t, e, p)
			if took > time.Second {
				t.Errorf("%s took %s: a Retry-After beyond the deadline must fail at once", p, took)
			}
			if r.header.Get(HeaderFailedSources) != "limited" {
				t.Errorf("%s: %d failed=%q, want limited reported failed", p, r.status, r.header.Get(HeaderFailedSources))
			}
		}
		if n := reg.Requests(); n != 1 {
			t.Errorf("the upstream got %d requests within its Retry-After, want only the first", n)
		}
		if st := live.Breaker().State(); st != gobreaker.StateClosed {
			t.Errorf("breaker %s: being rate limited is not the upstream failing", st)
		}
	})
}

// faultCases are every misbehaviour of the fake, with client limits small
// enough (timeout 300ms, 64 KiB bodies) for each to be an error quickly.
var faultCases = []struct {
	name  string
	fault upstreamtest.Fault
}{
	{"latency beyond the timeout", upstreamtest.Fault{Latency: 10 * time.Second}},
	{"500", upstreamtest.Fault{Status: http.StatusInternalServerError}},
	{"503 with Retry-After", upstreamtest.Fault{Status: http.StatusServiceUnavailable, RetryAfter: "1"}},
	{"429 with Retry-After", upstreamtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "30"}},
	{"connection reset", upstreamtest.Fault{Reset: true}},
	{"cut mid-body", upstreamtest.Fault{CutAfter: 40}},
	{"malformed JSON", upstreamtest.Fault{Malformed: true}},
	{"oversized body", upstreamtest.Fault{Oversize: 1 << 20}},
	{"wrong content type", upstreamtest.Fault{ContentType: "text/html", Body: []byte("<html><body>down for maintenance</body></html>")}},
	{"HTML with a JSON content type", upstreamtest.Fault{Body: []byte("<html><body>down for maintenance</body></html>")}},
	{"slow drip", upstreamtest.Fault{DripChunk: 32, DripPause: 50 * time.Millisecond}},
	{"cursor loop", upstreamtest.Fault{Path: "/v0.1/servers", CursorLoop: true}},
	{"cursor loop one page back", upstreamtest.Fault{Path: "/v0.1/servers", CursorLoop: true, LoopBack: 1}},
}

// TestUpstreamFaults: whatever an upstream does, a request ends quickly
// with a clear answer: partial (200, the source named as failed, the other
// sources' entries all there) when the source is optional, 502
// problem+json when it is required. Never a panic, a hang or an endless
// walk.
func TestUpstreamFaults(t *testing.T) {
	t.Parallel()
	for _, fc := range faultCases {
		for _, required := range []bool{false, true} {
			t.Run(fc.name+map[bool]string{false: "/optional", true: "/required"}[required], func(t *testing.T) {
				t.Parallel()
				bad, _ := newFake(t)
				good, _ := newFake(t)
				bad.Generate(15, 2, 18)
				good.Generate(10, 2, 19)
				// bad holds one of good's names too, so a lookup of it needs
				// bad's answer (a 404 would be read before any body fault).
				goodName := good.Records()[0].Name
				bad.Put(upstreamtest.ServerJSON(goodName, "9.9.9"), upstreamtest.Official{})
				bad.Inject(fc.fault)
				badLive := newLive(t, "bad", bad, func(o *remote.LiveOptions) {
					o.Client.Timeout = 300 * time.Millisecond
					o.Client.MaxBytes = 64 << 10
					o.PageCache.FlightTimeout = time.Second
				})
				e := newFedEnv(t, fedOptions{
					members: []Member{{Live: badLive, Required: required}, {Live: newLive(t, "good", good, nil)}},
					timeout: 2 * time.Second,
				})
				paths := []string{
					"/v0.1/servers?limit=100",
					"/v0.1/servers?version=latest&limit=7",
					"/v0.1/servers/" + escName(goodName) + "/versions",
					"/v0.1/servers/" + escName(goodName) + "/versions/latest",
				}
				// A cursor loop shows only to a request that reads past the
				// upstream's first page (10 entries): limit=7 may not.
				listOnly := fc.fault.CursorLoop
				for _, p := range paths {
					if listOnly && strings.Contains(p, "limit=7") {
						continue
					}
					r, took := timedGet(t, e, p)
					if took > 4*time.Second {
						t.Errorf("%s took %s", p, took)
					}
					isList := !strings.Contains(p, "/versions")
					switch {
					case listOnly && !isList:
						wantComplete(t, p, r) // the fault does not touch lookups
					case required:
						if r.status != http.StatusBadGateway {
							t.Errorf("%s: status %d, want 502: %s", p, r.status, r.body)
						}
					default:
						wantPartial(t, p, r, "bad")
					}
				}
				if required {
					return
				}
				// A whole walk ends, and has all of good's entries in order
				// (but the shared name, which bad owns when it answers).
				var want []key
				for _, rec := range good.Records() {
					if rec.Official.Status != upstreamtest.StatusDeleted && rec.Name != goodName {
						want = append(want, key{rec.Name, rec.Version, "good"})
					}
				}
				var got []key
				for _, k := range keys(walk(t, e, "/v0.1", nil, 7)) {
					if k.Source == "good" && k.Name != goodName {
						got = append(got, k)
					}
				}
				diffKeys(t, got, want)
			})
		}
	}
}

// TestOutOfOrderUpstream: with order bytes, entries an upstream sends out
// of order are dropped and reported to the OutOfOrder and Dropped hooks;
// the answers that drop them say so (incomplete, the source named,
// no-store) and are not cached; the walk stays sorted.
// A versions answer in the wrong order is put back in order.
func TestOutOfOrderUpstream(t *testing.T) {
	t.Parallel()
	bad, _ := newFake(t)
	good, _ := newFake(t)
	bad.Generate(15, 3, 20)
	good.Generate(10, 2, 21)
	bad.Inject(upstreamtest.Fault{OutOfOrder: true})
	var reported, dropped atomic.Int64
	badLive := newLive(t, "bad", bad, func(o *remote.LiveOptions) { o.Order = remote.OrderBytes })
	e := newFedEnv(t, fedOptions{
		members:       []Member{{Live: badLive}, {Live: newLive(t, "good", good, nil)}},
		responseCache: ResponseCacheOptions{MaxEntries: 100, TTL: time.Minute},
		outOfOrder: func(source string, n int) {
			if source != "bad" {
				t.Errorf("OutOfOrder(%q, %d): good is in order", source, n)
			}
			reported.Add(int64(n))
		},
		dropped: func(source, reason string, n int) {
			if source != "bad" || reason != DropOutOfOrder {
				t.Errorf("Dropped(%q, %q, %d): want bad, %s", source, reason, n, DropOutOfOrder)
			}
			dropped.Add(int64(n))
		},
	})
	for _, limit := range []int{7, 100} {
		got := keys(walk(t, e, "/v0.1", url.Values{"include_deleted": {"true"}}, limit))
		if !slices.IsSortedFunc(got, func(a, b key) int {
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			return strings.Compare(a.Version, b.Version)
		}) {
			t.Errorf("limit=%d: the merged walk is not sorted: %v", limit, got)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Name == got[i-1].Name && got[i].Version == got[i-1].Version {
				t.Errorf("limit=%d: %v served twice", limit, got[i])
			}
		}
	}
	if reported.Load() == 0 || dropped.Load() != reported.Load() {
		t.Errorf("OutOfOrder hook told of %d entries, Dropped of %d: want the same, not 0", reported.Load(), dropped.Load())
	}
	if badLive.OrderMode() != remote.OrderModeBytes {
		t.Error("order bytes switched to the index")
	}
	// The first page meets the reversed pages: it is incomplete, and asked
	// again it is computed again (the hook counts again), never cached.
	for range 2 {
		before := dropped.Load()
		r := e.get(t, "/v0.1/servers?limit=100&include_deleted=true")
		if r.header.Get(HeaderComplete) != "false" || r.header.Get(HeaderDroppedSources) != "bad" ||
			r.header.Get("Cache-Control") != "no-store" || r.header.Get(HeaderFailedSources) != "" {
			t.Errorf("page with entries dropped: %s=%q %s=%q %s=%q Cache-Control=%q", HeaderComplete, r.header.Get(HeaderComplete),
				HeaderDroppedSources, r.header.Get(HeaderDroppedSources), HeaderFailedSources, r.header.Get(HeaderFailedSources), r.header.Get("Cache-Control"))
		}
		if dropped.Load() == before {
			t.Error("an answer with entries dropped was served from the response cache")
		}
	}

	// Versions come newest publication first whatever order the upstream used.
	name := bad.Records()[0].Name
	p := "/v0.1/servers/" + escName(name) + "/versions?include_deleted=true"
	items := decodeList(t, e.get(t, p)).Servers
	if len(items) != 3 {
		t.Fatalf("%s: %d versions, want 3", p, len(items))
	}
	for i := 1; i < len(items); i++ {
		if items[i].Meta.Official.PublishedAt.After(items[i-1].Meta.Official.PublishedAt) {
			t.Errorf("%s: not newest publication first: %v", p, versionsOf(items))
		}
	}
}
