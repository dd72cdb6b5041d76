package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// TestWiredLiveSource: an api source from configuration is queried through
// the whole decorated chain, with its credentials and only its credentials,
// and every hop shows up in the metrics.
func TestWiredLiveSource(t *testing.T) {
	t.Parallel()
	up := upstreamtest.New(t, upstreamtest.WithAuth(upstreamtest.Auth{Bearer: "s3cret-token"}))
	up.LoadFile("../../testdata/catalog/official-seed.json")
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg, err := loadConfig(vars("MCPFED_SOURCES", `[
	  {"name":"acme","kind":"file","path":"../../testdata/toolhive/data-registry.json","namespaces":["com.acme/*"]},
	  {"name":"official","kind":"api","url":"`+up.URL+`","tokenFile":"`+token+`","required":true}
	]`), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.NewJSONHandler(&logs, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, st := range g.loadAll(ctx) {
		if st.State() != "ok" {
			t.Fatalf("%s: %s %s", st.Name, st.State(), st.LastError)
		}
	}
	srv := httptest.NewServer(g.handler)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v0.1/servers?limit=100", nil)
	req.Header.Set("Authorization", "Bearer client-own-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Federation-Complete") != "true" {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
	for _, want := range []string{`"com.acme/data-pipeline"`, `"io.github.domdomegg/airtable-mcp-server"`, `"source":"official"`, `"source":"acme"`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("answer lacks %s", want)
		}
	}
	for _, a := range up.Authorizations() {
		if a != "Bearer s3cret-token" {
			t.Errorf("upstream received Authorization %q", a)
		}
	}
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`mcpfed_upstream_request_duration_seconds_count{operation="list",outcome="ok",source="official"}`,
		`mcpfed_upstream_breaker_state{source="official"} 0`,
		`mcpfed_cache_requests_total{cache="page",result="miss"}`,
		`mcpfed_cache_requests_total{cache="response",result="miss"}`,
		`mcpfed_source_entries{source="acme"} 2`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(logs.String(), "s3cret-token") {
		t.Error("the upstream token appears in a log line")
	}
}

// TestCheckReportsLiveSource: check asks a live source once and reports it.
func TestCheckReportsLiveSource(t *testing.T) {
	t.Parallel()
	up := upstreamtest.New(t)
	up.LoadFile("../../testdata/catalog/official-seed.json")
	code, out, _ := runCmd(t, vars("MCPFED_LOG_LEVEL", "error", "MCPFED_SOURCES", `[{"name":"reg","kind":"api","url":"`+up.URL+`"},{"name":"dead","kind":"api","url":"http://127.0.0.1:1"}]`), "check")
	if code != exitFailure {
		t.Errorf("code = %d with a dead source", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if f := strings.Fields(lines[1]); len(f) < 4 || f[0] != "reg" || f[1] != "api/live" || f[2] != "4" || f[3] != "ok" {
		t.Errorf("live row = %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) < 4 || f[0] != "dead" || f[3] != "failed" {
		t.Errorf("dead row = %q", lines[2])
	}
}

// TestLogsCarryTheRequestID: a line logged while serving a request (here
// the warning about a live source that cannot be reached) names the
// request's id, with the access log off.
func TestLogsCarryTheRequestID(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	cfg, err := loadConfig(vars("MCPFED_ACCESS_LOG", "false", "MCPFED_SOURCES", `[
	  {"name":"seed","kind":"file","path":"builtin:official-seed"},
	  {"name":"dead","kind":"api","url":"http://127.0.0.1:1"}
	]`), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, newLogger(cfg, &logs), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.loadAll(ctx)
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v0.1/servers?limit=5", nil))
	id := rec.Header().Get("X-Request-Id")
	if id == "" || rec.Header().Get("X-Federation-Complete") != "false" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	if !strings.Contains(logs.String(), `"request_id":"`+id+`"`) {
		t.Errorf("no log line names request %s:\n%s", id, logs.String())
	}
}
