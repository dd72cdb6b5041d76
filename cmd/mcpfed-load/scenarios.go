package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/upstream/remote"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// Targets of the issue.
const (
	fanoutLatency   = 20 * time.Millisecond
	fanoutSlack     = 5 * time.Millisecond // cold fan-out: at most slowest upstream + this
	herdSize        = 1000
	searchP50Target = 20 * time.Millisecond
	searchRSSTarget = 400 // MB
	deadP99Target   = time.Millisecond
	rateLimitedMax  = time.Second // my reading of "answers still flow"
	lowConcurrency  = 1           // the second phase of latency scenarios: service time, no queueing
)

// startFake starts a fake registry on 127.0.0.1 holding n*versions
// generated entries.
func startFake(n, versions int, seed uint64) (*upstreamtest.Registry, error) {
	r, err := upstreamtest.Start(upstreamtest.WithLogLimit(4096))
	if err != nil {
		return nil, err
	}
	if err := checkLoopback(r.URL); err != nil {
		r.Close()
		return nil, err
	}
	if n > 0 {
		r.Generate(n, versions, seed)
	}
	return r, nil
}

// upstream records what a fake received (pages: per path and query, from
// its request log, which holds the most recent 4096 requests).
func (sr *ScenarioResult) upstream(phase, name string, r *upstreamtest.Registry, pages bool) UpstreamStat {
	u := UpstreamStat{Phase: phase, Upstream: name, Requests: r.Requests()}
	if pages {
		u.Pages = map[string]int{}
		for _, q := range r.Log() {
			u.Pages[q.Key]++
		}
	}
	sr.Upstreams = append(sr.Upstreams, u)
	return u
}

func (e *env) load(label string, s *server, clients int, d time.Duration, next func(*Worker) Req) Load {
	return Load{Label: label, Base: s.URL, PID: s.pid, Clients: clients, Duration: d, Warmup: e.warmup, Timeout: e.timeout, Next: next}
}

// phases returns the client counts of a latency scenario: -c, and a low
// concurrency where the machine is not saturated (unless -c is that low).
func (e *env) phases() []int {
	if e.clients > lowConcurrency {
		return []int{e.clients, lowConcurrency}
	}
	return []int{e.clients}
}

func cpuPerRequest(ps ProcStats, r *Result) string {
	if r.Requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0fµs", ps.CPUSec*1e6/float64(r.Requests))
}

func fmtDur(d time.Duration) string { return fmtMs(ms(d)) }

// ---------------------------------------------------------------- hot

func scenarioHot(ctx context.Context, e *env, sr *ScenarioResult) error {
	up, err := startFake(1000, 3, 1)
	if err != nil {
		return err
	}
	defer up.Close()
	m, err := e.startMcpfed(ctx, "hot", []config.SourceConfig{apiSource("origin", true, remote.Spec{Mode: remote.ModeMirror, URL: up.URL, Interval: time.Hour})}, nil, 2*time.Minute)
	if err != nil {
		return err
	}
	defer m.kill()
	sr.upstream("mirror crawl at start", "origin", up, false)
	const path = "/v0.1/servers?limit=30"
	code, hdr, body, err := get(ctx, m.URL+path)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, code, body)
	}
	etag, ctype := hdr.Get("Etag"), hdr.Get("Content-Type")
	sr.note("GET %s: %d bytes, Content-Type %q, ETag %s, X-Federation-Complete %q, Cache-Control %q; the bare server sends the same bytes with ETag, Content-Type and Content-Length",
		path, len(body), ctype, etag, hdr.Get("X-Federation-Complete"), hdr.Get("Cache-Control"))
	expect := func(resp *http.Response, n int64) bool {
		return n == int64(len(body)) && resp.Header.Get("Etag") == etag
	}
	next := func(*Worker) Req { return Req{Path: path} }

	b, err := e.startBare(ctx, body, etag, ctype)
	if err != nil {
		return err
	}
	defer b.kill()
	lm := e.load("mcpfed", m, e.clients, e.dur, next)
	lm.Expect = expect
	lm.BeforeMeasure = func() { up.Reset(); m.resetCPU() }
	lb := e.load("bare net/http", b, e.clients, e.dur, next)
	lb.Expect = expect
	lb.BeforeMeasure = b.resetCPU
	rs, err := runInterleaved(ctx, []Load{lm, lb}, e.chunk)
	if err != nil {
		return err
	}
	rm, rb := rs[0], rs[1]
	sr.Runs = append(sr.Runs, rm, rb)
	sr.note("mcpfed and the bare server run side by side and are measured in interleaved %s chunks", e.chunk)
	during := sr.upstream("during the load", "origin", up, false)
	pm, err := m.finish("mcpfed")
	sr.Processes = append(sr.Processes, pm)
	if err != nil {
		sr.note("mcpfed: %v", err)
	}
	pb, err := b.finish("bare net/http")
	sr.Processes = append(sr.Processes, pb)
	if err != nil {
		sr.note("bare server: %v", err)
	}

	sr.info("throughput mcpfed/bare", fmt.Sprintf("%.2f (%.0f vs %.0f req/s)", rm.Throughput/rb.Throughput, rm.Throughput, rb.Throughput))
	sr.info("p50 mcpfed/bare", fmt.Sprintf("%.2fx (%s vs %s)", rm.P50Ms/rb.P50Ms, fmtMs(rm.P50Ms), fmtMs(rb.P50Ms)))
	sr.info("p99 mcpfed/bare", fmt.Sprintf("%.2fx (%s vs %s)", rm.P99Ms/rb.P99Ms, fmtMs(rm.P99Ms), fmtMs(rb.P99Ms)))
	sr.info("server CPU per request mcpfed/bare", fmt.Sprintf("%s vs %s", cpuPerRequest(pm, rm), cpuPerRequest(pb, rb)))
	sr.target("upstream requests while hot", "0", strconv.Itoa(during.Requests), during.Requests == 0)
	failed := rm.ErrorsTotal + rm.non200() + rm.BadBodies
	sr.target("failed answers (errors, non-200, wrong bodies)", "0", strconv.FormatInt(failed, 10), failed == 0)
	return nil
}

// ---------------------------------------------------------------- live fan-out

// liveFakes starts three fakes behind latency and their live sources.
func liveFakes(latency time.Duration, seed uint64, pageSize int) ([]*upstreamtest.Registry, []config.SourceConfig, error) {
	var ups []*upstreamtest.Registry
	var srcs []config.SourceConfig
	for i := range 3 {
		r, err := startFake(500, 2, seed+uint64(i))
		if err != nil {
			for _, u := range ups {
				u.Close()
			}
			return nil, nil, err
		}
		if latency > 0 {
			r.Inject(upstreamtest.Fault{Latency: latency})
		}
		ups = append(ups, r)
		srcs = append(srcs, apiSource(fmt.Sprintf("live-%c", 'a'+i), false, remote.Spec{URL: r.URL, PageSize: pageSize}))
	}
	return ups, srcs, nil
}

func closeAll(ups []*upstreamtest.Registry) {
	for _, u := range ups {
		u.Close()
	}
}

// directLatency times n sequential cold requests straight to a fake.
func directLatency(ctx context.Context, r *upstreamtest.Registry, n int) (*Hist, error) {
	h := &Hist{}
	for i := range n {
		t0 := time.Now()
		code, _, _, err := get(ctx, r.URL+"/v0.1/servers?limit=100&include_deleted=true&search=zzdirect"+strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("direct request: status %d", code)
		}
		h.Record(time.Since(t0))
	}
	return h, nil
}

func scenarioColdFanout(ctx context.Context, e *env, sr *ScenarioResult) error {
	ups, srcs, err := liveFakes(fanoutLatency, 11, e.pageSize)
	if err != nil {
		return err
	}
	defer closeAll(ups)
	// No response cache, and every request distinct, so every request
	// misses the page cache and fans out to all three upstreams.
	m, err := e.startMcpfed(ctx, "cold", srcs, map[string]string{"MCPFED_RESPONSE_CACHE_TTL": "0s"}, time.Minute)
	if err != nil {
		return err
	}
	defer m.kill()
	var slowest time.Duration
	for i, u := range ups {
		h, err := directLatency(ctx, u, 30)
		if err != nil {
			return err
		}
		sr.note("%s answered directly (30 sequential requests, no load): p50 %s, max %s", srcs[i].Name, fmtDur(h.Quantile(0.5)), fmtDur(h.Max()))
		slowest = max(slowest, h.Quantile(0.5))
	}
	limit := slowest + fanoutSlack
	sr.note("slowest upstream p50 = %s, so the target is %s (slowest + %s)", fmtDur(slowest), fmtDur(limit), fanoutSlack)

	var seq atomic.Int64
	since := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	next := func(*Worker) Req {
		k := seq.Add(1)
		if k%2 == 0 {
			return Req{Path: "/v0.1/servers?limit=30&search=zz" + strconv.FormatInt(k, 36), Class: "search, no match"}
		}
		ts := since.Add(time.Duration(k) * time.Microsecond).Format(time.RFC3339Nano)
		return Req{Path: "/v0.1/servers?limit=30&updated_since=" + url.QueryEscape(ts), Class: "updated_since, 30 entries"}
	}
	ports := []int{}
	for _, u := range ups {
		ports = append(ports, portOf(u.URL))
	}
	for _, c := range e.phases() {
		label := fmt.Sprintf("mcpfed c=%d", c)
		l := e.load(label, m, c, e.dur, next)
		l.BeforeMeasure = func() {
			for _, u := range ups {
				u.Reset()
			}
			m.resetCPU()
		}
		r, err := runLoad(ctx, l)
		if err != nil {
			return err
		}
		sr.Runs = append(sr.Runs, r)
		ps := m.stats(label)
		sr.Processes = append(sr.Processes, ps)
		total := 0
		for i, u := range ups {
			total += sr.upstream(label, srcs[i].Name, u, false).Requests
		}
		sr.note("%s: %.2f upstream requests per mcpfed request per upstream (1.00 = every request fanned out once); mcpfed CPU %s per request, %.2f cores busy; %d sockets in TIME_WAIT on the upstream ports after the phase",
			label, float64(total)/float64(3*max(r.Requests, 1)), cpuPerRequest(ps, r), ps.Cores, timeWait(ports...))
		pageBytes, _ := m.metric(ctx, "mcpfed_cache_bytes", `cache="page"`)
		pageEntries, _ := m.metric(ctx, "mcpfed_cache_entries", `cache="page"`)
		heap, _ := m.metric(ctx, "go_memstats_heap_inuse_bytes")
		sr.note("%s: page cache holds %.0f pages, %.1f MB as accounted (mcpfed_cache_bytes); Go heap in use %.1f MB; RSS %.1f MB",
			label, pageEntries, pageBytes/(1<<20), heap/(1<<20), ps.RSSMB)
		sr.target(fmt.Sprintf("p50 at c=%d ≤ slowest+5ms", c), "≤ "+fmtDur(limit), fmtMs(r.P50Ms), r.P50Ms <= ms(limit))
		sr.target(fmt.Sprintf("p99 at c=%d ≤ slowest+5ms", c), "≤ "+fmtDur(limit), fmtMs(r.P99Ms), r.P99Ms <= ms(limit))
		failed := r.ErrorsTotal + r.non200()
		sr.target(fmt.Sprintf("failed answers at c=%d", c), "0", strconv.FormatInt(failed, 10), failed == 0)
	}
	pm, err := m.finish("mcpfed at stop")
	sr.Processes = append(sr.Processes, pm)
	if err != nil {
		sr.note("mcpfed: %v", err)
	}
	return nil
}

// ---------------------------------------------------------------- thundering herd

func scenarioHerd(ctx context.Context, e *env, sr *ScenarioResult) error {
	const path = "/v0.1/servers?limit=50&search=weather"
	sr.note("%d concurrent GET %s, once, on pre-opened connections; 3 live upstreams with %s latency; the page is cold (never asked before)", herdSize, path, fanoutLatency)
	variants := []struct {
		label string
		extra map[string]string
	}{
		{"response cache off", map[string]string{"MCPFED_RESPONSE_CACHE_TTL": "0s"}},
		{"response cache on", nil},
	}
	for vi, v := range variants {
		err := func() error {
			ups, srcs, err := liveFakes(fanoutLatency, 11, e.pageSize)
			if err != nil {
				return err
			}
			defer closeAll(ups)
			m, err := e.startMcpfed(ctx, fmt.Sprintf("herd%d", vi), srcs, v.extra, time.Minute)
			if err != nil {
				return err
			}
			defer m.kill()
			for _, u := range ups {
				u.Reset()
			}
			m.resetCPU()
			r, err := herd(ctx, m.URL, path, herdSize, e.timeout)
			if err != nil {
				return err
			}
			r.Label = "herd, " + v.label
			sr.Runs = append(sr.Runs, r)
			worst, pages, missing := 0, 0, 0
			for i, u := range ups {
				st := sr.upstream(r.Label, srcs[i].Name, u, true)
				if st.Requests == 0 {
					missing++
				}
				for _, c := range st.Pages {
					worst = max(worst, c)
					pages++
				}
			}
			shared := m.metricsBy(ctx, "mcpfed_singleflight_shared_total", "group")
			sr.note("%s: callers served by another's flight (mcpfed_singleflight_shared_total): %s", v.label, fmtCounts(shared))
			ps, err := m.finish("mcpfed, " + v.label)
			sr.Processes = append(sr.Processes, ps)
			if err != nil {
				sr.note("mcpfed: %v", err)
			}
			got := fmt.Sprintf("%d pages, at most %d request(s) each", pages, worst)
			if missing > 0 {
				got += fmt.Sprintf(", %d upstream(s) never asked", missing)
			}
			sr.target("upstream requests per page, "+v.label, "1", got, worst == 1 && missing == 0)
			failed := r.ErrorsTotal + r.non200()
			sr.target("failed answers, "+v.label, "0", strconv.FormatInt(failed, 10), failed == 0)
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

func fmtCounts(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		if k == "" {
			k = "-"
		}
		s += fmt.Sprintf("%s=%.0f", k, m[k])
	}
	return s
}

// ---------------------------------------------------------------- search over 100k

func scenarioSearch(ctx context.Context, e *env, sr *ScenarioResult) error {
	t0 := time.Now()
	up, err := startFake(50000, 2, 42)
	if err != nil {
		return err
	}
	defer up.Close()
	sr.note("fake upstream: 50,000 names × 2 versions = 100,000 entries generated in %s", time.Since(t0).Round(time.Millisecond))
	t1 := time.Now()
	m, err := e.startMcpfed(ctx, "search", []config.SourceConfig{apiSource("big", true, remote.Spec{Mode: remote.ModeMirror, URL: up.URL, Interval: time.Hour})},
		map[string]string{"MCPFED_RESPONSE_CACHE_TTL": "0s"}, 5*time.Minute)
	if err != nil {
		return err
	}
	defer m.kill()
	ready := time.Since(t1)
	crawl := sr.upstream("mirror crawl at start", "big", up, false)
	atReady := m.stats("mcpfed when ready (mirror crawled)")
	sr.Processes = append(sr.Processes, atReady)
	sr.note("mirror ready after %s (%d upstream requests); response cache off, so every request searches", ready.Round(time.Millisecond), crawl.Requests)

	classes := []struct {
		class string
		path  func(w *Worker) string
	}{
		{"few: -NNNNN (2 entries, full scan)", func(w *Worker) string {
			return "/v0.1/servers?limit=30&search=-" + strconv.Itoa(10000+w.Rng.IntN(40000))
		}},
		{"none: qqxj (full scan)", func(*Worker) string { return "/v0.1/servers?limit=30&search=qqxj" }},
		{"many: weather (1/16 of names)", func(*Worker) string { return "/v0.1/servers?limit=30&search=weather" }},
		{"many: git, version=latest", func(*Worker) string { return "/v0.1/servers?limit=30&search=git&version=latest" }},
		{"description: secure (1/6)", func(*Worker) string { return "/v0.1/servers?limit=30&search=secure" }},
	}
	next := func(w *Worker) Req {
		c := classes[w.Rng.IntN(len(classes))]
		return Req{Path: c.path(w), Class: c.class}
	}
	for _, c := range e.phases() {
		label := fmt.Sprintf("mcpfed c=%d", c)
		l := e.load(label, m, c, e.dur, next)
		l.BeforeMeasure = func() { up.Reset(); m.resetCPU() }
		r, err := runLoad(ctx, l)
		if err != nil {
			return err
		}
		sr.Runs = append(sr.Runs, r)
		ps := m.stats(label)
		sr.Processes = append(sr.Processes, ps)
		sr.upstream(label, "big", up, false)
		sr.note("%s: mcpfed CPU %s per request, %.2f cores busy", label, cpuPerRequest(ps, r), ps.Cores)
		sr.target(fmt.Sprintf("search p50 at c=%d", c), "≤ "+fmtDur(searchP50Target), fmtMs(r.P50Ms), r.P50Ms <= ms(searchP50Target))
		failed := r.ErrorsTotal + r.non200()
		sr.target(fmt.Sprintf("failed answers at c=%d", c), "0", strconv.FormatInt(failed, 10), failed == 0)
	}
	entries, _ := m.metric(ctx, "mcpfed_source_entries", `source="big"`)
	heap, _ := m.metric(ctx, "go_memstats_heap_inuse_bytes")
	next2, _ := m.metric(ctx, "go_memstats_next_gc_bytes")
	sr.note("mirror holds %.0f entries; Go heap in use %.0f MB, next GC at %.0f MB heap", entries, heap/(1<<20), next2/(1<<20))
	pm, err := m.finish("mcpfed at stop")
	sr.Processes = append(sr.Processes, pm)
	if err != nil {
		sr.note("mcpfed: %v", err)
	}
	sr.target("mcpfed peak RSS (100k entries)", fmt.Sprintf("≤ %d MB", searchRSSTarget), fmt.Sprintf("%.0f MB", pm.PeakRSSMB), pm.PeakRSSMB > 0 && pm.PeakRSSMB <= searchRSSTarget)
	return nil
}
