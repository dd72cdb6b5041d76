package federate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

const adminToken = "s3cret-admin-token"

func adminReports() []SourceReport {
	return []SourceReport{
		{Name: "toolhive", Kind: "file", State: "ok", Entries: 3},
		{Name: "mirror", Kind: "api", State: "failed", LastError: `crawl https://user@registry.internal:8443/v0.1/servers: dial tcp 10.1.2.3:8443: i/o timeout`},
	}
}

func adminEnv(t *testing.T, admin AdminOptions) *env {
	t.Helper()
	th, ov, sd := threeSources(t)
	if admin.Sources == nil {
		admin.Sources = adminReports
	}
	return newEnv(t, envOptions{members: members(th, ov, sd), admin: admin})
}

const sourcesPath = "/v0.1" + ExtensionPath + "/sources"

// TestSourcesEndpointShowsErrorsToAdminsOnly: error texts (which name
// internal hosts) go only to a request bearing the admin token; everyone
// else sees states.
func TestSourcesEndpointShowsErrorsToAdminsOnly(t *testing.T) {
	t.Parallel()
	withToken := adminEnv(t, AdminOptions{Token: func() (string, error) { return adminToken, nil }})
	noToken := adminEnv(t, AdminOptions{})
	brokenToken := adminEnv(t, AdminOptions{Token: func() (string, error) { return "", errors.New("token file gone") }})
	tests := []struct {
		name      string
		e         *env
		header    []string
		wantError bool
	}{
		{"admin", withToken, []string{"Authorization", "Bearer " + adminToken}, true},
		{"anonymous", withToken, nil, false},
		{"wrong token", withToken, []string{"Authorization", "Bearer nope"}, false},
		{"token as basic auth", withToken, []string{"Authorization", "Basic " + adminToken}, false},
		{"no token configured", noToken, []string{"Authorization", "Bearer " + adminToken}, false},
		{"token unreadable", brokenToken, []string{"Authorization", "Bearer "}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.e.get(t, sourcesPath, tt.header...)
			if r.status != http.StatusOK {
				t.Fatalf("status %d", r.status)
			}
			var body struct{ Sources []SourceReport }
			if err := json.Unmarshal(r.body, &body); err != nil || len(body.Sources) != 2 {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if body.Sources[1].State != "failed" {
				t.Errorf("state %q, want failed: states are for everyone", body.Sources[1].State)
			}
			if shown := body.Sources[1].LastError != ""; shown != tt.wantError {
				t.Errorf("lastError shown=%t, want %t: %s", shown, tt.wantError, r.body)
			}
			if !tt.wantError && strings.Contains(string(r.body), "10.1.2.3") {
				t.Errorf("internal address shown: %s", r.body)
			}
		})
	}
}

// TestOperatorEndpointsSendNoCORS: a page in a browser gets no CORS grant
// for the operator endpoints, preflight included (env.check asserts the
// absence on every answer).
func TestOperatorEndpointsSendNoCORS(t *testing.T) {
	t.Parallel()
	e := adminEnv(t, AdminOptions{Resync: func(context.Context, string) (SourceReport, error) { return SourceReport{}, nil }})
	for _, p := range []string{sourcesPath, sourcesPath + "/toolhive/resync", "/v0" + ExtensionPath + "/sources", "/healthz", "/readyz", "/metrics"} {
		for _, method := range []string{http.MethodGet, http.MethodOptions, http.MethodPost} {
			r := e.do(t, method, p, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
			for h := range r.header {
				if strings.HasPrefix(h, "Access-Control-") {
					t.Errorf("%s %s: %s: %q", method, p, h, r.header.Get(h))
				}
			}
		}
	}
}

// TestResyncNeverBlocks: the resync endpoint answers within its wait
// whatever the resync does: 202 while it runs, 409 for a second one, the
// report when it finishes in time, and problems that name no internals.
func TestResyncNeverBlocks(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	resync := func(ctx context.Context, name string) (SourceReport, error) {
		switch name {
		case "slow":
			select {
			case <-release:
			case <-ctx.Done():
				return SourceReport{}, ctx.Err()
			}
			return SourceReport{Name: name, State: "ok", LastError: "old error at /var/lib/mcpfed/state"}, nil
		case "broken":
			return SourceReport{}, errors.New("load /etc/mcpfed/private/catalog.json: permission denied")
		case "live":
			return SourceReport{}, fmt.Errorf("%w: queried on demand", ErrNotResyncable)
		case "toolhive":
			return SourceReport{Name: name, State: "ok", Entries: 111}, nil
		}
		return SourceReport{}, ErrNotFound
	}
	e := adminEnv(t, AdminOptions{Resync: resync, ResyncWait: 50 * time.Millisecond,
		Token: func() (string, error) { return adminToken, nil }})
	auth := []string{"Authorization", "Bearer " + adminToken}
	post := func(name string, header ...string) response {
		start := time.Now()
		r := e.do(t, http.MethodPost, sourcesPath+"/"+name+"/resync", header...)
		if d := time.Since(start); d > time.Second {
			t.Errorf("resync of %s answered after %s", name, d)
		}
		return r
	}
	if r := post("slow"); r.status != http.StatusUnauthorized {
		t.Errorf("without the token: status %d, want 401", r.status)
	}
	if r := post("slow", auth...); r.status != http.StatusAccepted || r.header.Get("Location") != sourcesPath {
		t.Errorf("slow resync: status %d, Location %q, want 202 pointing at the sources", r.status, r.header.Get("Location"))
	}
	if r := post("slow", auth...); r.status != http.StatusConflict {
		t.Errorf("second resync while one runs: status %d, want 409", r.status)
	}
	close(release)
	if r := post("toolhive", auth...); r.status != http.StatusOK || !strings.Contains(string(r.body), `"entries":111`) {
		t.Errorf("quick resync: %d %s", r.status, r.body)
	}
	if r := post("broken", auth...); r.status != http.StatusBadGateway || strings.Contains(string(r.body), "/etc/mcpfed") {
		t.Errorf("failed resync: %d %s, want 502 without the cause", r.status, r.body)
	}
	if r := post("live", auth...); r.status != http.StatusConflict {
		t.Errorf("live source: status %d, want 409", r.status)
	}
	if r := post("nope", auth...); r.status != http.StatusNotFound {
		t.Errorf("unknown source: status %d, want 404", r.status)
	}
	if r := e.do(t, http.MethodGet, sourcesPath+"/toolhive/resync", auth...); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET resync: status %d, want 405", r.status)
	}
}

// TestResyncEndsWithTheAPI: a resync still running when the API closes
// is cancelled, and Close waits for it (no goroutine outlives the API).
func TestResyncEndsWithTheAPI(t *testing.T) {
	t.Parallel()
	started, ended := make(chan struct{}), make(chan struct{})
	api, err := NewAPI(APIOptions{Engine: mustEngine(t, EngineOptions{}), Admin: AdminOptions{
		Sources:    func() []SourceReport { return nil },
		ResyncWait: time.Millisecond,
		Resync: func(ctx context.Context, _ string) (SourceReport, error) {
			close(started)
			<-ctx.Done()
			close(ended)
			return SourceReport{}, ctx.Err()
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	done, ok := api.startResync(context.Background(), "slow")
	if !ok {
		t.Fatal("resync not started")
	}
	<-started
	api.Close()
	select {
	case <-ended:
	default:
		t.Fatal("Close returned before the resync ended")
	}
	if res := <-done; !errors.Is(res.err, context.Canceled) {
		t.Errorf("resync result %v, want cancelled", res.err)
	}
	if _, ok := api.startResync(context.Background(), "slow"); ok {
		t.Error("a resync started after Close")
	}
}
