package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mcpfed/mcpfed/deploy"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// deployDir is the deploy directory, from this package's directory.
const deployDir = "../../deploy"

// TestDeployMetricsAreExported drives a gateway wired like the Kubernetes
// example (a file source, a live registry, a mirror) through every path the
// dashboard and the alert rules watch — lists, versions, 404, 400, cache
// hits and evictions, shared flights, a 429 with Retry-After, a failing
// live source giving partial answers until its breaker opens — then scrapes
// /metrics: every metric the dashboard or the rules use must be there.
func TestDeployMetricsAreExported(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	files := configMapFiles(t)
	dir := t.TempDir()
	approved := filepath.Join(dir, "approved.json")
	if err := os.WriteFile(approved, []byte(files["approved.json"]), 0o600); err != nil {
		t.Fatal(err)
	}
	org := upstreamtest.New(t)
	org.LoadFile("../../testdata/catalog/official-seed.json")
	partner := upstreamtest.New(t)
	partner.LoadFile("../../testdata/toolhive/data-registry.json")
	official := upstreamtest.New(t)
	official.LoadFile("../../testdata/catalog/official-seed.json")

	cfg, err := loadConfig(vars(
		"MCPFED_RESPONSE_CACHE_MAX_ENTRIES", "2", // evictions
		"MCPFED_SOURCES", `[
		  {"name":"approved","kind":"file","path":"`+approved+`"},
		  {"name":"org","kind":"api","url":"`+org.URL+`","rateLimit":{"retries":1}},
		  {"name":"partner","kind":"api","url":"`+partner.URL+`","breaker":{"failures":2,"openFor":"1m"}},
		  {"name":"official","kind":"api","mode":"mirror","url":"`+official.URL+`","interval":"1h"}
		]`), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	for _, st := range g.loadAll(ctx) {
		if st.State() != "ok" || st.Entries == 0 {
			t.Fatalf("%s: %s, %d entries %s", st.Name, st.State(), st.Entries, st.LastError)
		}
	}
	srv := httptest.NewServer(g.handler)
	defer srv.Close()

	get := func(path string, wantCode int, wantComplete string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != wantCode {
			t.Errorf("GET %s: %s, want %d", path, resp.Status, wantCode)
		}
		if got := resp.Header.Get("X-Federation-Complete"); wantComplete != "" && got != wantComplete {
			t.Errorf("GET %s: X-Federation-Complete %q, want %s (failed: %s)", path, got, wantComplete, resp.Header.Get("X-Federation-Failed-Sources"))
		}
	}
	const name = "io.github.domdomegg%2Fairtable-mcp-server"

	// Complete answers: lists (a page cache hit for the second, which asks
	// the upstreams for the same first page; a response cache hit for the
	// third), versions, one version, a 404, a 400, the probes.
	get("/v0.1/servers?limit=5", 200, "true")
	get("/v0.1/servers?limit=7", 200, "true")
	get("/v0.1/servers?limit=5", 200, "true")
	get("/v0.1/servers/"+name+"/versions", 200, "true")
	get("/v0.1/servers/"+name+"/versions/latest", 200, "true")
	get("/v0/servers/"+name+"/versions/latest", 200, "true")
	get("/v0.1/servers/io.github.nobody%2Fnothing/versions", 404, "")
	get("/v0.1/servers?limit=0", 400, "")
	get("/healthz", 200, "")
	get("/readyz", 200, "")

	// Identical concurrent requests share one computation.
	slow := org.Inject(upstreamtest.Fault{Latency: 300 * time.Millisecond})
	for try := 0; try < 5 && !strings.Contains(scrape(t, g), "mcpfed_singleflight_shared_total{"); try++ {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { get(fmt.Sprintf("/v0.1/servers?search=shared-%d", try), 200, "true") })
		}
		wg.Wait()
	}
	slow.Remove()

	// A 429 with Retry-After: waited out and retried.
	org.Inject(upstreamtest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1", Times: 1})
	get("/v0.1/servers?search=airtable", 200, "true")

	// A live source failing: partial answers, then its breaker opens.
	partner.Inject(upstreamtest.Fault{Status: http.StatusServiceUnavailable})
	for i := range 4 {
		get(fmt.Sprintf("/v0.1/servers?search=partial-%d", i), 200, "false")
	}

	out := scrape(t, g)
	for _, want := range []string{
		`mcpfed_upstream_breaker_state{source="partner"} 2`,
		`mcpfed_upstream_request_duration_seconds_count{operation="list",outcome="breaker_open",source="partner"}`,
		`mcpfed_upstream_request_duration_seconds_count{operation="list",outcome="server_error",source="partner"}`,
		`mcpfed_upstream_rate_limited_total{source="org"} 1`,
		`mcpfed_upstream_retries_total{source="org"} 1`,
		`mcpfed_partial_responses_total{handler="/v0.1/servers"} 4`,
		`mcpfed_cache_requests_total{cache="page",result="hit_fresh"}`,
		`mcpfed_cache_requests_total{cache="response",result="hit_fresh"}`,
		`mcpfed_cache_evictions_total{cache="response"}`,
		`mcpfed_http_request_duration_seconds_count{code="400",handler="/v0.1/servers",method="GET"} 1`,
		`mcpfed_http_request_duration_seconds_count{code="404",handler="/v0.1/servers/{serverName}/versions",method="GET"} 1`,
		`mcpfed_source_sync_duration_seconds_count{kind="api",source="official"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Every metric the dashboard and the rules use is exported.
	exported := metricFamilies(out)
	refs, err := deploy.References(deployDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) < 20 {
		t.Fatalf("only %d metrics referenced under %s", len(refs), deployDir)
	}
	for metric, files := range refs {
		if !exported[metric] {
			t.Errorf("%s, used by %s, is not exported by mcpfed", metric, strings.Join(files, ", "))
		}
	}
}

// scrape returns the exposition text of GET /metrics.
func scrape(t *testing.T, g *gateway) string {
	t.Helper()
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

// metricFamilies returns the names of the metric families present in a
// text exposition: a histogram or summary is one family (its _bucket, _sum
// and _count series carry its name with a suffix).
func metricFamilies(exposition string) map[string]bool {
	out := map[string]bool{}
	for line := range strings.SplitSeq(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, _, ok := strings.Cut(rest, " "); ok {
				out[name] = true
			}
		}
	}
	return out
}

func TestMetricFamilies(t *testing.T) {
	t.Parallel()
	got := metricFamilies("# HELP a_seconds x\n# TYPE a_seconds histogram\na_seconds_bucket{le=\"1\"} 0\n# TYPE b_total counter\nb_total 1\n")
	if len(got) != 2 || !got["a_seconds"] || !got["b_total"] {
		t.Errorf("got %v", got)
	}
}

// configMapFiles returns the data of the example ConfigMap.
func configMapFiles(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(deployDir, "kubernetes", "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["config.yaml"] == "" || cm.Data["approved.json"] == "" {
		t.Fatalf("the ConfigMap lacks config.yaml or approved.json: %v", slices.Sorted(maps.Keys(cm.Data)))
	}
	return cm.Data
}

// TestDeployConfigurationIsValid loads the example configurations the way
// the container does: the Kubernetes ConfigMap with the Deployment's
// environment, and the compose file; and parses the ConfigMap's catalogue.
func TestDeployConfigurationIsValid(t *testing.T) {
	t.Parallel()
	files := configMapFiles(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(files["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(filepath.Join(deployDir, "kubernetes", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
					Containers                    []struct {
						Env []struct{ Name, Value string }
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal(raw, &dep); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["MCPFED_CONFIG"] != "/etc/mcpfed/config.yaml" {
		t.Errorf("MCPFED_CONFIG = %q", env["MCPFED_CONFIG"])
	}
	env["MCPFED_CONFIG"], env["MCPFED_STATE_DIR"] = cfgPath, dir
	cfg, err := loadConfig(func() map[string]string { return env }, flagValues{})
	if err != nil {
		t.Fatalf("the Kubernetes configuration is invalid: %v", err)
	}
	if len(cfg.Sources) != 3 || cfg.LogFormat != "json" {
		t.Errorf("%d sources, log format %s", len(cfg.Sources), cfg.LogFormat)
	}
	if grace := time.Duration(dep.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second; grace <= cfg.ShutdownTimeout {
		t.Errorf("terminationGracePeriodSeconds %s does not outlast shutdownTimeout %s", grace, cfg.ShutdownTimeout)
	}
	doc, err := upstream.Parse([]byte(files["approved.json"]))
	if err != nil || len(doc.Entries) == 0 {
		t.Errorf("approved.json: %v", err)
	}

	compose := filepath.Join(deployDir, "compose", "mcpfed.yaml")
	if _, err := loadConfig(plainVars("MCPFED_CONFIG", compose, "MCPFED_STATE_DIR", dir), flagValues{}); err != nil {
		t.Errorf("%s: %v", compose, err)
	}
}
