package metrics

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mcpfed/mcpfed/upstream"
)

func TestMiddlewareLabelsByRouteTemplate(t *testing.T) {
	t.Parallel()
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("/v0.1/servers/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r, "/v0.1/servers/{serverName}/versions")
		w.WriteHeader(http.StatusNotFound)
	})
	h := m.Middleware(mux)
	for _, path := range []string{"/v0.1/servers/a%2Fb/versions", "/v0.1/servers/c%2Fd/versions", "/nowhere/secret-name"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	if n := testutil.CollectAndCount(m.httpDuration); n != 2 {
		t.Errorf("%d series, want 2 (one route template, one 'other')", n)
	}
	out := gather(t, m)
	for _, want := range []string{
		`mcpfed_http_request_duration_seconds_count{code="404",handler="/v0.1/servers/{serverName}/versions",method="GET"} 2`,
		`mcpfed_http_request_duration_seconds_count{code="404",handler="other",method="GET"} 1`,
		"mcpfed_http_requests_in_flight 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(out, "a%2Fb") || strings.Contains(out, "secret-name") {
		t.Error("a server name or path leaked into a label")
	}
}

func TestSourceAndMergeMetrics(t *testing.T) {
	t.Parallel()
	m := New()
	ok := upstream.SourceStatus{Name: "acme", Kind: "file", Entries: 7, LastAttempt: time.Unix(100, 0), LastSuccess: time.Unix(100, 0)}
	m.SourceLoaded(ok, 20*time.Millisecond)
	bad := ok
	bad.LastError = "broken"
	m.SourceLoaded(bad, time.Millisecond)
	m.Partial("/v0.1/servers")
	m.ObserveMerge(time.Millisecond)
	out := gather(t, m)
	for _, want := range []string{
		`mcpfed_source_entries{source="acme"} 7`,
		`mcpfed_source_last_success_timestamp_seconds{source="acme"} 100`,
		`mcpfed_source_sync_failures_total{source="acme"} 1`,
		`mcpfed_source_sync_duration_seconds_count{kind="file",source="acme"} 2`,
		`mcpfed_partial_responses_total{handler="/v0.1/servers"} 1`,
		"mcpfed_merge_duration_seconds_count 1",
		"go_goroutines",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func gather(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	m := New()
	var logs strings.Builder
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	h := m.Middleware(AccessLog(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r, "/v0.1/servers")
		if RequestID(r.Context()) == "" {
			t.Error("no request id in the context")
		}
		_, _ = w.Write([]byte("hello"))
	})))
	for _, tc := range []struct{ sent, want string }{
		{"abc-123", "abc-123"},
		{"bad id with spaces", ""},
		{"", ""},
	} {
		req := httptest.NewRequest(http.MethodGet, "/v0.1/servers?search=x", nil)
		req.Header.Set("Authorization", "Bearer very-secret")
		if tc.sent != "" {
			req.Header.Set(HeaderRequestID, tc.sent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(HeaderRequestID)
		if tc.want != "" && got != tc.want || tc.want == "" && (got == "" || got == tc.sent) {
			t.Errorf("sent %q: response id %q", tc.sent, got)
		}
	}
	out := logs.String()
	for _, want := range []string{`"msg":"request"`, `"request_id":"abc-123"`, `"route":"/v0.1/servers"`, `"status":200`, `"bytes":5`, `"method":"GET"`} {
		if !strings.Contains(out, want) {
			t.Errorf("access log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "very-secret") {
		t.Error("a credential reached the log")
	}
}

// TestCacheInstancesAddUp: page caches of several sources share the
// cache="page" series; their sizes add up instead of overwriting.
func TestCacheInstancesAddUp(t *testing.T) {
	t.Parallel()
	m := New()
	a, b := m.Cache().Instance(), m.Cache().Instance()
	a.Size("page", 3, 300)
	b.Size("page", 5, 500)
	a.Size("page", 1, 100) // a shrank
	m.Cache().Started("response", "response")
	m.SourceConfigured("official", "api", "mirror", true)
	out := gather(t, m)
	for _, want := range []string{
		`mcpfed_cache_entries{cache="page"} 6`,
		`mcpfed_cache_bytes{cache="page"} 600`,
		`mcpfed_cache_requests_total{cache="response",result="hit_stale"} 0`,
		`mcpfed_singleflight_shared_total{group="response"} 0`,
		`mcpfed_source_info{kind="api",mode="mirror",required="true",source="official"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
