package toolhivetest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestToolHiveGateSkips(t *testing.T) {
	t.Setenv(EnvGate, "")
	skipped, returned := false, false
	t.Run("gated", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		requireGate(t)
		returned = true
	})
	if !skipped || returned {
		t.Fatalf("without %s=1: skipped=%v, returned=%v; want a skip", EnvGate, skipped, returned)
	}
}

func TestToolHiveValidVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"v0.47.0", true},
		{"v1.2.3-rc.1+build", true},
		{"", false},
		{"0.47.0", false},
		{"v", false},
		{"-v0.1.0", false},
		{"v0.1.0/../x", false},
		{"v0.1.0 -x", false},
	} {
		if got := validVersion(tc.in); got != tc.want {
			t.Errorf("validVersion(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
}

// unixClient talks HTTP to the runtime's socket, as thv's Docker client
// does.
func unixClient(socket string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

func TestToolHiveRuntimeAnswersReadsRefusesTheRest(t *testing.T) {
	t.Parallel()
	rt := StartRuntime(t)
	c := unixClient(rt.Socket)
	defer c.CloseIdleConnections()
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodHead, "/_ping", http.StatusOK, ""},
		{http.MethodGet, "/_ping", http.StatusOK, "OK"},
		{http.MethodGet, "/v1.47/version", http.StatusOK, `"ApiVersion":"1.47"`},
		{http.MethodGet, "/v1.47/containers/json?all=1", http.StatusOK, "[]"},
		{http.MethodGet, "/v1.47/volumes", http.StatusOK, `"Volumes":[]`},
		{http.MethodPost, "/v1.47/containers/create", http.StatusNotImplemented, "runs no containers"},
		{http.MethodGet, "/v1.47/containers/abc/json", http.StatusNotImplemented, "runs no containers"},
	} {
		req, err := http.NewRequest(tc.method, "http://docker"+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) || resp.Header.Get("Api-Version") != engineAPIVersion {
			t.Errorf("%s %s = %d %q (Api-Version %q); want %d containing %q",
				tc.method, tc.path, resp.StatusCode, body, resp.Header.Get("Api-Version"), tc.status, tc.body)
		}
	}
	if got := rt.Requests(); len(got) != 7 {
		t.Errorf("Requests() = %v; want 7", got)
	}
	want := []string{"POST /v1.47/containers/create", "GET /v1.47/containers/abc/json"}
	if got := rt.Refused(); !slices.Equal(got, want) {
		t.Errorf("Refused() = %v; want %v", got, want)
	}
}

func TestToolHiveTrapRecordsAndRefuses(t *testing.T) {
	t.Parallel()
	trap := StartTrap(t)
	proxy, err := url.Parse(trap.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The names are never resolved: the proxy is asked, and refuses.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://example.invalid/updates")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("proxied GET: status %d; want 403", resp.StatusCode)
	}
	if _, err := c.Get("https://example.invalid/metrics"); err == nil {
		t.Error("proxied https GET succeeded; want the CONNECT refused")
	}
	want := []string{"GET http://example.invalid/updates", "CONNECT example.invalid:443"}
	if got := trap.Attempts(); !slices.Equal(got, want) {
		t.Errorf("Attempts() = %v; want %v", got, want)
	}
}

func TestToolHiveJSONEqual(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, true},
		{`{"a":1}`, `{"a":2}`, false},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`not json`, `not json`, true},
	} {
		if got := jsonEqual([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("jsonEqual(%s, %s) = %v; want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
