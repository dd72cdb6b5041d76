package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMiddlewareGivesRequestIDWithoutAccessLog: the id is on every response
// and in the handler's context even when the access log is off.
func TestMiddlewareGivesRequestIDWithoutAccessLog(t *testing.T) {
	t.Parallel()
	m := New()
	var seen string
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = RequestID(r.Context())
		w.WriteHeader(http.StatusNotFound)
	}))
	for _, tc := range []struct {
		name, sent string
		keep       bool
	}{
		{"well formed kept", "trace-1.2:3_x", true},
		{"spaces replaced", "bad id", false},
		{"too long replaced", strings.Repeat("a", 129), false},
		{"absent generated", "", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/nowhere", nil)
		if tc.sent != "" {
			req.Header.Set(HeaderRequestID, tc.sent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(HeaderRequestID)
		if got == "" || got != seen {
			t.Errorf("%s: response id %q, context id %q", tc.name, got, seen)
		}
		if (got == tc.sent) != tc.keep {
			t.Errorf("%s: sent %q, got %q", tc.name, tc.sent, got)
		}
	}
}

// TestAssignRequestIDKeepsAnEarlierID: a guard in front of Middleware that
// assigned an id shares it with Middleware (one id per request).
func TestAssignRequestIDKeepsAnEarlierID(t *testing.T) {
	t.Parallel()
	m := New()
	var inner string
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner = RequestID(r.Context()) }))
	rec := httptest.NewRecorder()
	req := AssignRequestID(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	outer := RequestID(req.Context())
	h.ServeHTTP(rec, req)
	if outer == "" || inner != outer || rec.Header().Get(HeaderRequestID) != outer {
		t.Errorf("outer %q, inner %q, header %q", outer, inner, rec.Header().Get(HeaderRequestID))
	}
}

func TestRequestIDHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(RequestIDHandler(RequestIDHandler(slog.NewJSONHandler(&buf, nil)))) // wrapped twice: one attribute
	ctx := WithRequestID(context.Background(), "req-7")
	logger.InfoContext(ctx, "with id")
	logger.Info("without context")
	logger.With("source", "acme").WarnContext(ctx, "with attrs")
	logger.WithGroup("g").InfoContext(ctx, "in group", "k", 1)
	logger.InfoContext(context.Background(), "other context")

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if strings.Count(l, `"request_id"`) > 1 {
			t.Errorf("request_id twice: %s", l)
		}
		lines = append(lines, rec)
	}
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"req-7", "", "req-7", "", ""} {
		got, _ := lines[i]["request_id"].(string)
		if got != want {
			t.Errorf("%s: request_id %q, want %q", lines[i]["msg"], got, want)
		}
	}
	if lines[2]["source"] != "acme" {
		t.Errorf("WithAttrs lost: %v", lines[2])
	}
	g, _ := lines[3]["g"].(map[string]any)
	if g["k"] != 1.0 || g["request_id"] != "req-7" {
		t.Errorf("WithGroup lost or id missing: %v", lines[3])
	}
	if !logger.Handler().Enabled(ctx, slog.LevelInfo) || logger.Handler().Enabled(ctx, slog.LevelDebug) {
		t.Error("Enabled does not follow the wrapped handler")
	}
}

// TestRequestIDReachesHandlerLogs: a handler logging with its request's
// context through a wrapped logger writes the id the client got.
func TestRequestIDReachesHandlerLogs(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(RequestIDHandler(slog.NewJSONHandler(&buf, nil)))
	h := New().Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.WarnContext(r.Context(), "upstream slow")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	id := rec.Header().Get(HeaderRequestID)
	if id == "" || !strings.Contains(buf.String(), `"request_id":"`+id+`"`) {
		t.Errorf("id %q not in the log:\n%s", id, buf.String())
	}
}

func TestRejected(t *testing.T) {
	t.Parallel()
	m := New()
	m.Rejected(RejectInFlight)
	m.Rejected(RejectInFlight)
	out := gather(t, m)
	for _, want := range []string{
		`mcpfed_http_requests_rejected_total{reason="in_flight"} 2`,
		`mcpfed_http_requests_rejected_total{reason="transfer_encoding"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s:\n%s", want, out)
		}
	}
}
