package federate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestStatusOfAndProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err        error
		status     int
		showDetail bool
	}{
		{badRequest("limit %d", 0), 400, true},
		{fmt.Errorf("%w: server x", ErrNotFound), 404, true},
		{fmt.Errorf("merge: %w", context.DeadlineExceeded), 504, false},
		{requiredFailed("s", errors.New(`Get "http://10.0.0.7:8080/v0.1/servers": dial tcp 10.0.0.7:8080: connection refused`)), 502, false},
		{requiredFailed("s", fmt.Errorf("merge: %w", context.DeadlineExceeded)), 502, false},
		{errors.New("secret internal state"), 500, false},
	}
	for _, tt := range tests {
		if got := statusOf(tt.err); got != tt.status {
			t.Errorf("statusOf(%v) = %d, want %d", tt.err, got, tt.status)
		}
		rec := httptest.NewRecorder()
		writeError(rec, tt.err)
		if rec.Code != tt.status || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%v: %d %q", tt.err, rec.Code, rec.Header().Get("Content-Type"))
		}
		var p problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p.Status != tt.status || p.Title != http.StatusText(tt.status) || p.Detail == "" {
			t.Errorf("%v: problem %+v", tt.err, p)
		}
		// Internal errors go to the log; clients get no internals: a
		// failed source is named, its cause is not.
		if shown := strings.Contains(p.Detail, tt.err.Error()); shown != tt.showDetail {
			t.Errorf("%v: detail %q shown=%v, want %v", tt.err, p.Detail, shown, tt.showDetail)
		}
		var sf *sourceFailure
		if errors.As(tt.err, &sf) && (!strings.Contains(p.Detail, `"s"`) || strings.Contains(p.Detail, "10.0.0.7") || strings.Contains(p.Detail, "deadline")) {
			t.Errorf("%v: detail %q, want the source's name and nothing of the cause", tt.err, p.Detail)
		}
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	get := e.get(t, "/v0.1/servers?limit=5")
	head := e.do(t, http.MethodHead, "/v0.1/servers?limit=5")
	if head.status != 200 || len(head.raw) != 0 {
		t.Fatalf("HEAD: %d with %d body bytes", head.status, len(head.raw))
	}
	if head.header.Get("ETag") != get.header.Get("ETag") || head.header.Get("Content-Length") != get.header.Get("Content-Length") {
		t.Errorf("HEAD headers differ from GET: %v vs %v", head.header, get.header)
	}
}
