package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/upstream/remote"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// The fault scenarios: a dead upstream, a rate-limited one, the soak.

// ---------------------------------------------------------------- dead upstream

func scenarioDead(ctx context.Context, e *env, sr *ScenarioResult) error {
	queries := []string{"/v0.1/servers?limit=30", "/v0.1/servers?limit=30&version=latest", "/v0.1/servers?limit=30&search=weather"}
	next := func(w *Worker) Req { return Req{Path: queries[(w.ID+w.N)%len(queries)]} }
	sr.note("each setup: two healthy live upstreams (page cache warm, fresh 1m) and, in the dead setups, a third whose every answer is a TCP reset or a 503 (alternately); response cache off, so every request runs the federation. The setups run side by side and are measured in interleaved %s chunks", e.chunk)
	// The third setup is a diagnosis: the dead one again with
	// MCPFED_LOG_LEVEL=error, to see what the warning mcpfed logs for every
	// partial answer costs.
	type setup struct {
		name     string
		dead     bool
		extra    map[string]string
		fakes    []*upstreamtest.Registry
		names    []string
		srv      *server
		lines0   int
		results  map[int]*Result
		deadFake *upstreamtest.Registry
	}
	setups := []*setup{
		{name: "without dead", extra: map[string]string{"MCPFED_RESPONSE_CACHE_TTL": "0s"}},
		{name: "with dead", dead: true, extra: map[string]string{"MCPFED_RESPONSE_CACHE_TTL": "0s"}},
		{name: "with dead, log level error", dead: true, extra: map[string]string{"MCPFED_RESPONSE_CACHE_TTL": "0s", "MCPFED_LOG_LEVEL": "error"}},
	}
	defer func() {
		for _, su := range setups {
			if su.srv != nil {
				su.srv.kill()
			}
			closeAll(su.fakes)
		}
	}()
	for si, su := range setups {
		su.results = map[int]*Result{}
		var srcs []config.SourceConfig
		for i := range 2 {
			f, err := startFake(500, 2, uint64(21+i))
			if err != nil {
				return err
			}
			su.fakes = append(su.fakes, f)
			su.names = append(su.names, fmt.Sprintf("live-%c", 'a'+i))
			srcs = append(srcs, apiSource(su.names[i], false, remote.Spec{URL: f.URL, PageSize: e.pageSize}))
		}
		if su.dead {
			f, err := startFake(500, 2, 23)
			if err != nil {
				return err
			}
			var flip atomic.Uint64
			f.Inject(upstreamtest.Fault{Reset: true, Match: func(*http.Request) bool { return flip.Add(1)%2 == 0 }})
			f.Inject(upstreamtest.Fault{Status: http.StatusServiceUnavailable})
			su.fakes = append(su.fakes, f)
			su.names = append(su.names, "dead")
			su.deadFake = f
			srcs = append(srcs, apiSource("dead", false, remote.Spec{URL: f.URL, PageSize: e.pageSize}))
		}
		m, err := e.startMcpfed(ctx, fmt.Sprintf("dead%d", si), srcs, su.extra, time.Minute)
		if err != nil {
			return err
		}
		su.srv = m
		if su.dead {
			// Warm up until the breaker is open (state 2).
			open := false
			for i := 0; i < 15 && !open; i++ {
				w := e.load("warm-up", m, e.clients, time.Second, next)
				w.Warmup = 0
				if _, err := runLoad(ctx, w); err != nil {
					return err
				}
				v, ok := m.metric(ctx, "mcpfed_upstream_breaker_state", `source="dead"`)
				open = ok && v == 2
			}
			if !open {
				sr.note("%s: the dead upstream's breaker did not open during the warm-up", su.name)
			}
		}
	}
	for _, c := range e.phases() {
		var loads []Load
		for _, su := range setups {
			l := e.load(fmt.Sprintf("%s, c=%d", su.name, c), su.srv, c, e.dur, next)
			l.BeforeMeasure = func() {
				for _, f := range su.fakes {
					f.Reset()
				}
				su.srv.resetCPU()
				su.lines0 = su.srv.logLines()
			}
			loads = append(loads, l)
		}
		rs, err := runInterleaved(ctx, loads, e.chunk)
		if err != nil {
			return err
		}
		for i, su := range setups {
			r := rs[i]
			su.results[c] = r
			sr.Runs = append(sr.Runs, r)
			ps := su.srv.stats("mcpfed " + r.Label)
			sr.Processes = append(sr.Processes, ps)
			for j, f := range su.fakes {
				sr.upstream(r.Label, su.names[j], f, false)
			}
			lines := float64(su.srv.logLines()-su.lines0) / float64(max(r.Requests, 1))
			msg := fmt.Sprintf("%s: mcpfed CPU %s per request; %.2f log lines per request", r.Label, cpuPerRequest(ps, r), lines)
			if su.dead {
				st, _ := su.srv.metric(ctx, "mcpfed_upstream_breaker_state", `source="dead"`)
				msg += fmt.Sprintf("; breaker state of dead at the end: %.0f (2 = open)", st)
			}
			sr.note("%s", msg)
		}
	}
	for _, su := range setups {
		pm, err := su.srv.finish("mcpfed " + su.name + ", at stop")
		sr.Processes = append(sr.Processes, pm)
		if err != nil {
			sr.note("mcpfed %s: %v", su.name, err)
		}
	}
	without, with, quiet := setups[0], setups[1], setups[2]
	for _, c := range e.phases() {
		w, wo, q := with.results[c], without.results[c], quiet.results[c]
		if w == nil || wo == nil {
			continue
		}
		diff := w.P99Ms - wo.P99Ms
		sr.target(fmt.Sprintf("p99 with dead - without at c=%d", c), "≤ "+fmtDur(deadP99Target),
			fmt.Sprintf("%+.2fms (%s vs %s)", diff, fmtMs(w.P99Ms), fmtMs(wo.P99Ms)), diff <= ms(deadP99Target))
		sr.info(fmt.Sprintf("p50 with dead - without at c=%d", c), fmt.Sprintf("%+.2fms (%s vs %s)", w.P50Ms-wo.P50Ms, fmtMs(w.P50Ms), fmtMs(wo.P50Ms)))
		sr.info(fmt.Sprintf("throughput with/without dead at c=%d", c), fmt.Sprintf("%.2f (%.0f vs %.0f req/s)", w.Throughput/wo.Throughput, w.Throughput, wo.Throughput))
		failed := w.ErrorsTotal + w.non200()
		sr.target(fmt.Sprintf("failed answers with dead at c=%d", c), "0", strconv.FormatInt(failed, 10), failed == 0)
		if q != nil {
			sr.info(fmt.Sprintf("diagnosis: p99 with dead at log level error - without at c=%d", c),
				fmt.Sprintf("%+.2fms (%s vs %s; %.0f vs %.0f req/s)", q.P99Ms-wo.P99Ms, fmtMs(q.P99Ms), fmtMs(wo.P99Ms), q.Throughput, wo.Throughput))
		}
	}
	return nil
}

// ---------------------------------------------------------------- rate limited

func scenarioRateLimited(ctx context.Context, e *env, sr *ScenarioResult) error {
	base, err := startFake(500, 2, 31)
	if err != nil {
		return err
	}
	defer base.Close()
	limited, err := startFake(500, 2, 32)
	if err != nil {
		return err
	}
	defer limited.Close()
	const perMinute = 60
	srcs := []config.SourceConfig{
		apiSource("limited", false, remote.Spec{URL: limited.URL, RateLimit: remote.RateLimitSpec{PerMinute: perMinute}, Cache: remote.PageCacheSpec{Fresh: 2 * time.Second, Stale: time.Hour}}),
		apiSource("base", true, remote.Spec{Mode: remote.ModeMirror, URL: base.URL, Interval: time.Hour}),
	}
	sr.note("limited: live, rateLimit.perMinute %d (burst 1), page cache fresh 2s / stale 1h; base: a mirror. Half the requests ask one list page (cached, refreshed through the limiter every 2s), half a new search each (needs the upstream)", perMinute)
	m, err := e.startMcpfed(ctx, "ratelimit", srcs, nil, time.Minute)
	if err != nil {
		return err
	}
	defer m.kill()
	var seq atomic.Int64
	var issued sync.Map // search term → time the client asked
	next := func(*Worker) Req {
		k := seq.Add(1)
		if k%2 == 0 {
			return Req{Path: "/v0.1/servers?limit=30", Class: "cached list page"}
		}
		term := "zz" + strconv.FormatInt(k, 36)
		issued.Store(term, time.Now())
		return Req{Path: "/v0.1/servers?limit=30&search=" + term, Class: "new search"}
	}
	l := e.load("mcpfed", m, e.clients, e.dur, next)
	l.BeforeMeasure = m.resetCPU
	r, err := runLoad(ctx, l)
	if err != nil {
		return err
	}
	sr.Runs = append(sr.Runs, r)
	elapsed := time.Since(m.started)
	got := sr.upstream("since mcpfed started", "limited", limited, false).Requests
	// Which requests spent the budget, and did anyone still wait for them?
	// mcpfed gives up on a client's fan-out after its request timeout
	// (10s by default); an upstream search arriving later was fetched for
	// nobody.
	lists, searches, late := 0, 0, 0
	for _, q := range limited.Log() {
		term := q.URL.Query().Get("search")
		if term == "" {
			lists++
			continue
		}
		searches++
		if t0, ok := issued.Load(term); ok && q.Time.Sub(t0.(time.Time)) > 10*time.Second {
			late++
		}
	}
	sr.note("the limited upstream's %d requests: %d list page (re)fetches, %d searches, of which %d reached it more than 10s (mcpfed's request timeout) after the client asked, i.e. after mcpfed had already answered that client without them", got, lists, searches, late)
	outcomes := m.metricsBy(ctx, "mcpfed_upstream_request_duration_seconds_count", "outcome", `source="limited"`)
	sr.note("limited upstream calls by outcome (mcpfed_upstream_request_duration_seconds_count): %s", fmtCounts(outcomes))
	pm, err := m.finish("mcpfed")
	sr.Processes = append(sr.Processes, pm)
	if err != nil {
		sr.note("mcpfed: %v", err)
	}
	budget := 1 + int(elapsed.Seconds()*perMinute/60)
	sr.target("limited upstream requests ≤ budget", fmt.Sprintf("≤ %d (burst 1 + %.1fs × 1/s)", budget, elapsed.Seconds()), strconv.Itoa(got), got <= budget)
	failed := r.ErrorsTotal + r.non200()
	sr.target("answers still flow: every answer 200", "0 failed", fmt.Sprintf("%d failed; 200s: %s", failed, countsString(r.Answers)), failed == 0)
	// Flowing means more than a 200 in the end: a page mcpfed holds (fresh
	// or stale) should never queue behind the limiter for seconds.
	if c := r.Classes["cached list page"]; c != nil {
		sr.target("cached list page never waits on the limiter: max latency", "≤ "+fmtDur(rateLimitedMax),
			fmt.Sprintf("max %s (p50 %s, p99 %s)", fmtMs(c.MaxMs), fmtMs(c.P50Ms), fmtMs(c.P99Ms)), c.MaxMs <= ms(rateLimitedMax))
	}
	if c := r.Classes["new search"]; c != nil {
		sr.info("new search latency", fmt.Sprintf("p50 %s, p99 %s, max %s", fmtMs(c.P50Ms), fmtMs(c.P99Ms), fmtMs(c.MaxMs)))
	}
	sr.info("throughput", fmt.Sprintf("%.1f req/s with %d clients", r.Throughput, r.Clients))
	return nil
}

// ---------------------------------------------------------------- soak

func scenarioSoak(ctx context.Context, e *env, sr *ScenarioResult) error {
	flappy, err := startFake(500, 2, 41)
	if err != nil {
		return err
	}
	defer flappy.Close()
	base, err := startFake(300, 2, 42)
	if err != nil {
		return err
	}
	defer base.Close()

	// Healthy until the measured phase starts, then in periods of flap:
	// healthy, 503, healthy, TCP reset, …
	const flap = 5 * time.Second
	var flapStart atomic.Int64
	period := func() int {
		s := flapStart.Load()
		if s == 0 {
			return 0
		}
		return int(time.Since(time.Unix(0, s)) / flap)
	}
	f503 := flappy.Inject(upstreamtest.Fault{Status: http.StatusServiceUnavailable, Match: func(*http.Request) bool { return period()%4 == 1 }})
	fReset := flappy.Inject(upstreamtest.Fault{Reset: true, Match: func(*http.Request) bool { return period()%4 == 3 }})

	srcs := []config.SourceConfig{
		apiSource("flappy", false, remote.Spec{URL: flappy.URL, Cache: remote.PageCacheSpec{Fresh: 2 * time.Second, Stale: time.Hour}, Breaker: remote.BreakerSpec{Failures: 5, OpenFor: 5 * time.Second}}),
		apiSource("base", true, remote.Spec{Mode: remote.ModeMirror, URL: base.URL, Interval: time.Hour}),
	}
	sr.note("flappy: live, page cache fresh 2s / stale 1h, breaker 5 failures / open 5s; it flaps in %s periods: healthy, 503, healthy, TCP reset, … ; base: a mirror", flap)
	m, err := e.startMcpfed(ctx, "soak", srcs, nil, time.Minute)
	if err != nil {
		return err
	}
	defer m.kill()

	// A name the flapping upstream holds, and a second-page cursor.
	_, _, body, err := get(ctx, flappy.URL+"/v0.1/servers?limit=1")
	if err != nil {
		return err
	}
	var first struct {
		Servers []struct {
			Server struct {
				Name string `json:"name"`
			} `json:"server"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(body, &first); err != nil || len(first.Servers) == 0 {
		return fmt.Errorf("flappy upstream: no first server: %v", err)
	}
	name := url.PathEscape(first.Servers[0].Server.Name)
	_, _, body, err = get(ctx, m.URL+"/v0.1/servers?limit=30")
	if err != nil {
		return err
	}
	var page struct {
		Metadata struct {
			NextCursor string `json:"nextCursor"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &page); err != nil || page.Metadata.NextCursor == "" {
		return errors.New("mcpfed: the first page has no nextCursor")
	}
	queries := []Req{
		{Path: "/v0.1/servers?limit=30", Class: "list"},
		{Path: "/v0.1/servers?limit=100", Class: "list"},
		{Path: "/v0.1/servers?limit=30&cursor=" + url.QueryEscape(page.Metadata.NextCursor), Class: "list page 2"},
		{Path: "/v0.1/servers?limit=30&version=latest", Class: "list"},
		{Path: "/v0.1/servers?limit=30&search=weather", Class: "search"},
		{Path: "/v0.1/servers?limit=30&search=git&version=latest", Class: "search"},
		{Path: "/v0.1/servers/" + name + "/versions", Class: "versions"},
		{Path: "/v0.1/servers/" + name + "/versions/latest", Class: "version"},
	}
	for _, q := range queries {
		code, _, b, err := get(ctx, m.URL+q.Path)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("warming %s: %d %s", q.Path, code, b)
		}
	}
	var issued atomic.Int64
	next := func(w *Worker) Req {
		issued.Add(1)
		return queries[w.Rng.IntN(len(queries))]
	}

	var samplerWG sync.WaitGroup
	samplerCtx, stopSampler := context.WithCancel(ctx)
	defer stopSampler()
	every := max(e.soakDur/30, time.Second)
	sample := func(start time.Time) {
		s := Sample{AtSec: time.Since(start).Seconds(), FDs: procFDs(m.pid), Requests: issued.Load()}
		if kb, err := procStatusKB(m.pid, "VmRSS"); err == nil {
			s.RSSMB = float64(kb) / 1024
		}
		s.Goroutines, _ = m.metric(samplerCtx, "go_goroutines")
		sr.Samples = append(sr.Samples, s)
	}
	l := e.load("mcpfed soak", m, e.clients, e.soakDur, next)
	l.BeforeMeasure = func() {
		flappy.Reset()
		m.resetCPU()
		start := time.Now()
		flapStart.Store(start.UnixNano())
		samplerWG.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			sample(start)
			for {
				select {
				case <-samplerCtx.Done():
					return
				case <-t.C:
					sample(start)
				}
			}
		})
	}
	r, err := runLoad(ctx, l)
	stopSampler()
	samplerWG.Wait()
	if err != nil {
		return err
	}
	sr.Runs = append(sr.Runs, r)
	sr.upstream("soak", "flappy", flappy, false)
	sr.note("flappy: %d requests answered 503, %d reset, the rest served", f503.Hits(), fReset.Hits())
	outcomes := m.metricsBy(ctx, "mcpfed_upstream_request_duration_seconds_count", "outcome", `source="flappy"`)
	sr.note("flappy upstream calls by outcome (mcpfed_upstream_request_duration_seconds_count, whole run): %s", fmtCounts(outcomes))
	cacheRes := m.metricsBy(ctx, "mcpfed_cache_requests_total", "result", `cache="page"`)
	sr.note("page cache lookups: %s", fmtCounts(cacheRes))
	pm, err := m.finish("mcpfed")
	sr.Processes = append(sr.Processes, pm)
	if err != nil {
		sr.note("mcpfed: %v", err)
	}
	sr.target("5xx answers from mcpfed", "0", strconv.FormatInt(r.Status5xx, 10), r.Status5xx == 0)
	sr.target("transport errors", "0", strconv.FormatInt(r.ErrorsTotal, 10), r.ErrorsTotal == 0)
	sr.info("200 answers", countsString(r.Answers))
	if n := len(sr.Samples); n >= 2 {
		f, l := sr.Samples[0], sr.Samples[n-1]
		sr.info("mcpfed RSS first → last sample", fmt.Sprintf("%.1f → %.1f MB (peak %.1f MB)", f.RSSMB, l.RSSMB, pm.PeakRSSMB))
		sr.info("mcpfed goroutines first → last sample", fmt.Sprintf("%.0f → %.0f", f.Goroutines, l.Goroutines))
	}
	return nil
}
