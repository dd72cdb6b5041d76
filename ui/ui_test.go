package ui

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestNegotiation: on every UI path a browser gets HTML and any other
// client gets what the API answers; other paths always go to the API.
func TestNegotiation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	uiPaths := []string{
		"/", "/?q=weather", "/servers/io.github.acme%2Fweather", "/servers/io.github.acme/weather", "/sources",
		"/registry/second/", "/registry/second", "/registry/second/servers/net.second%2Fnotes", "/registry/second/sources",
	}
	apiPaths := []string{
		"/v0.1/servers", "/v0/servers", "/v0.1/servers/io.github.acme%2Fweather/versions", "/registry/second/v0.1/servers",
		"/healthz", "/openapi.yaml", "/metrics", "/servers", "/registry/", "/nope", "/registry/second/nope",
		"//servers/x", "/servers/a/../b", "/v0.1/x/io.github.mcpfed/sources",
	}
	accepts := []struct {
		name, accept string
		html         bool
	}{
		{"browser", acceptBrowser, true},
		{"html only", "text/html", true},
		{"xhtml", "application/xhtml+xml", true},
		{"json", acceptJSON, false},
		{"problem json", "application/problem+json", false},
		{"json preferred", "application/json, text/html;q=0.5", false},
		{"html refused", "text/html;q=0, */*", false},
		{"wildcard", "*/*", false},
		{"none", "", false},
	}
	isUI := map[string]bool{}
	for _, p := range uiPaths {
		isUI[p] = true
	}
	for _, a := range accepts {
		for _, path := range append(uiPaths, apiPaths...) {
			t.Run(a.name+" "+path, func(t *testing.T) {
				t.Parallel()
				rec := f.get(t, path, "Accept", a.accept)
				gotHTML := strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html")
				if want := a.html && isUI[path]; gotHTML != want {
					t.Fatalf("Accept %q: HTML %t, want %t (%d %s)", a.accept, gotHTML, want, rec.Code, rec.Body)
				}
				if !gotHTML && rec.Body.String() != apiBody {
					t.Errorf("not handed to the API: %d %s", rec.Code, rec.Body)
				}
			})
		}
	}
}

// TestOtherMethodsGoToTheAPI: only GET and HEAD pages are the UI's.
func TestOtherMethodsGoToTheAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		req := httptest.NewRequest(m, "/", nil)
		req.Header.Set("Accept", acceptBrowser)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		if rec.Body.String() != apiBody {
			t.Errorf("%s /: %d %s", m, rec.Code, rec.Body)
		}
	}
	req := httptest.NewRequest(http.MethodHead, "/", nil)
	req.Header.Set("Accept", acceptBrowser)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "0" {
		t.Errorf("HEAD /: %d, %d bytes, Content-Length %s", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
}

// TestSecurityHeaders: every answer of the UI, pages, errors and assets,
// carries the CSP and the other headers.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/", 200}, {"/servers/io.github.acme%2Fweather", 200}, {"/sources", 200}, {"/registry/second/", 200},
		{"/servers/com.none%2Fnone", 404}, {"/registry/nope/", 404}, {"/registry/private/", 401}, {"/?status=bogus", 400},
		{"/ui/assets/app.css", 200}, {"/ui/assets/app.js", 200}, {"/ui/assets/favicon.svg", 200}, {"/ui/assets/nope.js", 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			rec := f.get(t, tc.path)
			if rec.Code != tc.status {
				t.Fatalf("%d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			h := rec.Header()
			for k, want := range map[string]string{
				"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
				"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			for _, part := range []string{"default-src 'self'", "img-src 'self' https: data:", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(h.Get("Content-Security-Policy"), part) {
					t.Errorf("CSP lacks %s", part)
				}
			}
			if tc.status >= 400 && h.Get("Cache-Control") != "no-store" {
				t.Errorf("an error page is Cache-Control %q", h.Get("Cache-Control"))
			}
		})
	}
}

// TestPrivateView: a view that needs a token is refused without one (401
// with the hook's challenge) and with the wrong one (403), as HTML; with
// the token its pages are private.
func TestPrivateView(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, path := range []string{"/registry/private/", "/registry/private/servers/io.github.acme%2Fweather", "/registry/private/sources"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			rec := f.get(t, path)
			if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != `Bearer realm="mcpfed"` {
				t.Fatalf("no token: %d, WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(rec.Body.String(), "bearer token") {
				t.Errorf("the refusal is not an HTML page: %s %s", rec.Header().Get("Content-Type"), rec.Body)
			}
			if strings.Contains(rec.Body.String(), "weather") {
				t.Error("the refusal shows catalogue data")
			}
			rec = f.get(t, path, "Authorization", "Bearer "+otherToken)
			if rec.Code != http.StatusForbidden || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("wrong token: %d %s", rec.Code, rec.Header().Get("Content-Type"))
			}
			rec = f.get(t, path, "Authorization", "Bearer "+goodToken)
			if rec.Code != http.StatusOK {
				t.Fatalf("good token: %d %s", rec.Code, rec.Body)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "private, max-age=60" && cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			if !strings.Contains(rec.Header().Get("Vary"), "Authorization") {
				t.Errorf("Vary %q", rec.Header().Get("Vary"))
			}
		})
	}
}

// TestETag: pages and assets revalidate with If-None-Match, gzipped or not.
func TestETag(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, path := range []string{"/", "/?q=weather&status=active", "/servers/io.github.acme%2Fweather", "/ui/assets/app.css"} {
		for _, enc := range []string{"", "gzip"} {
			t.Run(path+" "+enc, func(t *testing.T) {
				t.Parallel()
				rec := f.get(t, path, "Accept-Encoding", enc)
				etag := rec.Header().Get("ETag")
				if rec.Code != http.StatusOK || etag == "" {
					t.Fatalf("%d, ETag %q", rec.Code, etag)
				}
				if enc == "gzip" && rec.Header().Get("Content-Encoding") == "gzip" {
					zr, err := gzip.NewReader(rec.Body)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := io.ReadAll(zr); err != nil {
						t.Fatal(err)
					}
				}
				again := f.get(t, path, "Accept-Encoding", enc, "If-None-Match", etag)
				if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
					t.Fatalf("If-None-Match %s: %d", etag, again.Code)
				}
				if other := f.get(t, path, "If-None-Match", `"other"`); other.Code != http.StatusOK {
					t.Fatalf("a foreign ETag: %d", other.Code)
				}
			})
		}
	}
}

// TestPagesAreCacheable: complete pages carry Cache-Control and Vary as
// the API's answers do (and Accept: the same URL is JSON for a client).
func TestPagesAreCacheable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rec := f.get(t, "/")
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("Cache-Control %q", cc)
	}
	if v := rec.Header().Get("Vary"); v != "Accept, Accept-Encoding" {
		t.Errorf("Vary %q", v)
	}
	if rec := f.get(t, "/sources"); rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("sources: Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
}

// TestAssets: the embedded files, versioned links cached for good, and
// nothing but GET and HEAD.
func TestAssets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	doc := f.page(t, "/")
	var links []string
	for _, n := range findAll(doc, func(n *html.Node) bool { return n.Data == "link" || n.Data == "script" }) {
		for _, k := range []string{"href", "src"} {
			if v, ok := attr(n, k); ok {
				links = append(links, v)
			}
		}
	}
	if len(links) != 3 {
		t.Fatalf("asset links %v", links)
	}
	for _, l := range links {
		if !strings.HasPrefix(l, AssetPrefix) {
			t.Errorf("asset %s is not mcpfed's", l)
		}
		rec := f.get(t, l, "Accept", "*/*")
		if rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d %s", l, rec.Code, rec.Header().Get("Cache-Control"))
		}
	}
	if rec := f.get(t, "/ui/assets/app.js", "Accept", "*/*"); rec.Header().Get("Cache-Control") != "no-cache" ||
		rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("unversioned: %s %s", rec.Header().Get("Cache-Control"), rec.Header().Get("Content-Type"))
	}
	req := httptest.NewRequest(http.MethodPost, "/ui/assets/app.js", nil)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}
