package federate

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestMalformedPaths: a path with an empty or dot segment is a 400 problem
// under every prefix, not the mux's redirect (307 with HTML) to a path the
// client did not ask for; env.check asserts the problem document.
func TestMalformedPaths(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	for _, prefix := range []string{"/v0.1", "/v0", "/registry/all/v0.1", "/registry/gh/v0"} {
		for _, rest := range []string{
			"/servers//versions",
			"//servers",
			"/servers/io.github.mcpfed%2Fmulti//versions",
			"/servers/io.github.mcpfed%2Fmulti/versions//1.0.0",
			"/servers/./versions",
			"/servers/io.github.mcpfed%2Fmulti/../x/versions",
		} {
			p := prefix + rest
			r := e.get(t, p)
			if r.status != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", p, r.status)
			}
		}
	}
	// A trailing slash is an empty last segment, not a malformed path:
	// no route (404, as in the official registry), not a 400.
	if r := e.get(t, "/v0.1/servers/io.github.mcpfed%2Fmulti/versions/"); r.status != http.StatusNotFound {
		t.Errorf("trailing slash: status %d, want 404", r.status)
	}
	if r := e.get(t, "//healthz"); r.status != http.StatusBadRequest {
		t.Errorf("//healthz: status %d, want 400", r.status)
	}
}

// TestMalformedEscapeReachingTheHandler: net/http refuses a request line
// with a malformed escape itself (its own text/plain 400); a request that
// reaches the handler another way (a front end passing the raw target on)
// gets a problem document under every prefix.
func TestMalformedEscapeReachingTheHandler(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	api, err := NewAPI(APIOptions{Engine: e.engine})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.Close)
	for _, prefix := range []string{"/v0.1", "/v0", "/registry/all/v0.1"} {
		raw := prefix + "/servers/%zz/versions"
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RequestURI = raw
		req.URL = &url.URL{Path: raw}
		rec := httptest.NewRecorder()
		api.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %q, want a 400 problem", raw, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}
