package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

func TestNewClientRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    ClientOptions
		want string
	}{
		{"empty url", ClientOptions{}, "absolute http:// or https:// URL"},
		{"relative url", ClientOptions{BaseURL: "/v0.1"}, "absolute http:// or https:// URL"},
		{"other scheme", ClientOptions{BaseURL: "ftp://example.com"}, "absolute http:// or https:// URL"},
		{"unparseable", ClientOptions{BaseURL: "https://bob:s3cret%zz@example.com"}, "not a valid URL"},
		{"query", ClientOptions{BaseURL: "https://example.com/?api_key=s3cret"}, "must not carry"},
		{"fragment", ClientOptions{BaseURL: "https://example.com/#s3cret"}, "must not carry"},
		{"user info", ClientOptions{BaseURL: "https://bob:s3cret@example.com"}, "must not carry"},
		{"user info and bad scheme", ClientOptions{BaseURL: "ftp://bob:s3cret@example.com"}, "absolute http:// or https:// URL"},
		{"api version", ClientOptions{BaseURL: "https://example.com", APIVersion: "v1"}, "apiVersion"},
		{"username without password", ClientOptions{BaseURL: "https://example.com", UsernameFile: "/u"}, "go together"},
		{"password without username", ClientOptions{BaseURL: "https://example.com", PasswordFile: "/p"}, "go together"},
		{"token and basic", ClientOptions{BaseURL: "https://example.com", TokenFile: "/t", UsernameFile: "/u", PasswordFile: "/p"}, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewClient(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewClient(%+v) = %v, want an error containing %q", tt.o, err, tt.want)
			}
			// Configuration errors are printed at start-up: a password or
			// key in the URL must not be echoed back.
			assertNoSecret(t, err, "s3cret")
		})
	}
}

func TestClientForwardsListParameters(t *testing.T) {
	t.Parallel()
	// Cursors are opaque: take a real one from a registry with the same
	// data (the fake's cursors are keyset positions, valid on any copy).
	first, err := newClient(t, newRegistry(t), nil).Fetch(ctxTimeout(t, 5*time.Second), upstream.Request{Op: upstream.OpList, Limit: 1})
	if err != nil || first.NextCursor == "" {
		t.Fatalf("first page: %v, cursor %q", err, first.NextCursor)
	}
	cursor := first.NextCursor
	since := time.Date(2025, 6, 7, 10, 11, 12, 345000000, time.FixedZone("CEST", 2*3600))

	tests := []struct {
		name string
		req  upstream.Request
		want url.Values
	}{
		{"no parameters", upstream.Request{Op: upstream.OpList}, url.Values{}},
		{"cursor", upstream.Request{Op: upstream.OpList, Cursor: cursor}, url.Values{"cursor": {cursor}}},
		{"limit", upstream.Request{Op: upstream.OpList, Limit: 7}, url.Values{"limit": {"7"}}},
		{"search", upstream.Request{Op: upstream.OpList, Search: "alpha"}, url.Values{"search": {"alpha"}}},
		{"search with reserved characters", upstream.Request{Op: upstream.OpList, Search: "a&b=c d+e/%"}, url.Values{"search": {"a&b=c d+e/%"}}},
		// Sent in UTC, with the fraction kept, whatever the caller's zone.
		{"updated_since", upstream.Request{Op: upstream.OpList, UpdatedSince: since}, url.Values{"updated_since": {"2025-06-07T08:11:12.345Z"}}},
		{"version latest", upstream.Request{Op: upstream.OpList, Version: "latest"}, url.Values{"version": {"latest"}}},
		{"version exact", upstream.Request{Op: upstream.OpList, Version: "1.0.0"}, url.Values{"version": {"1.0.0"}}},
		{"include_deleted", upstream.Request{Op: upstream.OpList, IncludeDeleted: true}, url.Values{"include_deleted": {"true"}}},
		{"everything", upstream.Request{Op: upstream.OpList, Cursor: cursor, Limit: 2, Search: "acme", UpdatedSince: since, Version: "latest", IncludeDeleted: true},
			url.Values{"cursor": {cursor}, "limit": {"2"}, "search": {"acme"}, "updated_since": {"2025-06-07T08:11:12.345Z"}, "version": {"latest"}, "include_deleted": {"true"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			if _, err := newClient(t, r, nil).Fetch(ctxTimeout(t, 5*time.Second), tt.req); err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			log := r.Log()
			if len(log) != 1 {
				t.Fatalf("registry received %d requests, want 1", len(log))
			}
			got := log[0].URL
			if got.EscapedPath() != "/v0.1/servers" {
				t.Errorf("path = %q, want /v0.1/servers", got.EscapedPath())
			}
			if q := got.Query(); !reflect.DeepEqual(q, tt.want) {
				t.Errorf("query = %v, want %v", q, tt.want)
			}
		})
	}
}

func TestClientBaseURLAndAPIVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		prefix     string
		trailing   bool
		apiVersion string
		wantPath   string
	}{
		{"default", "", false, "", "/v0.1/servers"},
		{"v0", "", false, "v0", "/v0/servers"},
		{"prefix", "/acme", false, "", "/acme/v0.1/servers"},
		{"deep prefix and trailing slash", "/org/registry", true, "v0.1", "/org/registry/v0.1/servers"},
		{"prefix and v0", "/acme", true, "v0", "/acme/v0/servers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t, upstreamtest.WithPrefix(tt.prefix))
			c := newClient(t, r, func(o *ClientOptions) {
				if tt.trailing {
					o.BaseURL += "/"
				}
				o.APIVersion = tt.apiVersion
			})
			resp, err := c.Fetch(ctxTimeout(t, 5*time.Second), listReq())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if len(resp.Entries) != 4 {
				t.Errorf("got %v, want the 4 records", entryKeys(resp))
			}
			if n := r.CountPath(tt.wantPath); n != 1 {
				t.Errorf("requests to %s = %d, want 1 (log %v)", tt.wantPath, n, r.Log())
			}
			if c.Host() != r.Server.Listener.Addr().String() {
				t.Errorf("Host() = %q", c.Host())
			}
		})
	}
}

func TestClientEscapesNamesAndVersions(t *testing.T) {
	t.Parallel()
	const name = "io.github.acme/weather"
	r := upstreamtest.New(t)
	r.Put(upstreamtest.ServerJSON(name, "1.0.0+build.5"), upstreamtest.Official{})
	r.Put(upstreamtest.ServerJSON(name, "0.9.0"), upstreamtest.Official{})
	r.Put(upstreamtest.ServerJSON(name, "0.8.0"), upstreamtest.Official{Status: upstreamtest.StatusDeleted})
	c := newClient(t, r, nil)

	tests := []struct {
		name      string
		req       upstream.Request
		wantPath  string
		wantQuery string
		want      []string
	}{
		{"version with plus", upstream.Request{Op: upstream.OpVersion, Name: name, Version: "1.0.0+build.5"},
			"/v0.1/servers/io.github.acme%2Fweather/versions/1.0.0%2Bbuild.5", "", []string{name + "@1.0.0+build.5"}},
		{"latest", upstream.Request{Op: upstream.OpVersion, Name: name, Version: "latest"},
			"/v0.1/servers/io.github.acme%2Fweather/versions/latest", "", []string{name + "@1.0.0+build.5"}},
		{"deleted version", upstream.Request{Op: upstream.OpVersion, Name: name, Version: "0.8.0", IncludeDeleted: true},
			"/v0.1/servers/io.github.acme%2Fweather/versions/0.8.0", "include_deleted=true", []string{name + "@0.8.0"}},
		{"versions", upstream.Request{Op: upstream.OpVersions, Name: name},
			"/v0.1/servers/io.github.acme%2Fweather/versions", "", []string{name + "@0.9.0", name + "@1.0.0+build.5"}},
		{"versions with deleted", upstream.Request{Op: upstream.OpVersions, Name: name, IncludeDeleted: true},
			"/v0.1/servers/io.github.acme%2Fweather/versions", "include_deleted=true", []string{name + "@0.8.0", name + "@0.9.0", name + "@1.0.0+build.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The fake routes on the escaped path and decodes once, so a
			// found record proves the name and version survived exactly.
			resp, err := c.Fetch(ctxTimeout(t, 5*time.Second), tt.req)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			got := entryKeys(resp)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("entries = %v, want %v", got, tt.want)
			}
			n := 0
			for _, q := range r.Log() {
				if q.URL.EscapedPath() == tt.wantPath && q.URL.RawQuery == tt.wantQuery {
					n++
				}
			}
			if n != 1 {
				t.Errorf("requests to %s?%s = %d, want 1", tt.wantPath, tt.wantQuery, n)
			}
		})
	}
}

func TestClientRejectsBadRequests(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	c := newClient(t, r, nil)
	for _, req := range []upstream.Request{
		{Op: upstream.OpVersions},
		{Op: upstream.OpVersion, Version: "1.0.0"},
		{Op: "delete"},
	} {
		if _, err := c.Fetch(ctxTimeout(t, 5*time.Second), req); err == nil {
			t.Errorf("Fetch(%+v) succeeded, want an error", req)
		}
	}
	if n := r.Requests(); n != 0 {
		t.Errorf("registry received %d requests for invalid requests, want 0", n)
	}
}

func TestClientNotFound(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	c := newClient(t, r, nil)
	for _, req := range []upstream.Request{
		{Op: upstream.OpVersions, Name: "io.github.acme/missing"},
		{Op: upstream.OpVersion, Name: "io.github.acme/missing", Version: "latest"},
		{Op: upstream.OpVersion, Name: nameAlpha, Version: "9.9.9"},
	} {
		_, err := c.Fetch(ctxTimeout(t, 5*time.Second), req)
		if !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("Fetch(%+v) = %v, want ErrNotFound", req, err)
		}
		var se *upstream.StatusError
		if errors.As(err, &se) {
			t.Errorf("a 404 is ErrNotFound, not %v", se)
		}
	}
}

func TestClientStatusErrors(t *testing.T) {
	t.Parallel()
	httpDate := func(d time.Duration) string { return t0.Add(d).UTC().Format(http.TimeFormat) }
	tests := []struct {
		name       string
		status     int
		retryAfter string
		want       time.Duration
	}{
		{"500", 500, "", 0},
		{"502", 502, "", 0},
		{"503 seconds", 503, "7", 7 * time.Second},
		{"429 seconds", 429, "1", time.Second},
		{"429 seconds with spaces", 429, " 3 ", 3 * time.Second},
		{"429 http date", 429, httpDate(90 * time.Second), 90 * time.Second},
		{"429 past date", 429, httpDate(-time.Hour), 0},
		{"429 garbage", 429, "soon", 0},
		{"429 negative", 429, "-5", 0},
		{"401", 401, "", 0},
		{"422", 422, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRegistry(t)
			r.Inject(upstreamtest.Fault{Status: tt.status, RetryAfter: tt.retryAfter})
			_, err := newClient(t, r, nil).Fetch(ctxTimeout(t, 5*time.Second), listReq())
			var se *upstream.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("Fetch = %v, want a *StatusError", err)
			}
			if se.Code != tt.status || se.RetryAfter != tt.want {
				t.Errorf("StatusError = {%d, %s}, want {%d, %s}", se.Code, se.RetryAfter, tt.status, tt.want)
			}
			if errors.Is(err, upstream.ErrNotFound) {
				t.Errorf("%d must not be ErrNotFound", tt.status)
			}
			if !strings.Contains(err.Error(), r.Server.Listener.Addr().String()) {
				t.Errorf("error %q does not name the upstream host", err)
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	const (
		token1, token2, token3 = "s3cret-token-one", "s3cret-token-two", "s3cret-token-three"
		apiKey                 = "s3cret-api-key"
	)
	secrets := []string{token1, token2, token3, apiKey, "pa55-one", "pa55-two"}

	t.Run("bearer from a rotating file", func(t *testing.T) {
		t.Parallel()
		tokenFile := tempFile(t, "token", token1+"\n") // a trailing newline is not part of the token
		r := newRegistry(t, upstreamtest.WithAuth(upstreamtest.Auth{Bearer: token1}))
		c := newClient(t, r, func(o *ClientOptions) {
			o.TokenFile = tokenFile
			o.Headers = map[string]string{"X-Api-Key": apiKey, "X-Org": "acme"}
		})
		ctx := ctxTimeout(t, 5*time.Second)
		if _, err := c.Fetch(ctx, listReq()); err != nil {
			t.Fatalf("Fetch with %s: %v", token1, err)
		}
		// Rotation: the file's new content applies to the next request.
		writeFile(t, tokenFile, token2)
		r.SetAuth(upstreamtest.Auth{Bearer: token2})
		if _, err := c.Fetch(ctx, listReq()); err != nil {
			t.Fatalf("Fetch after rotation: %v", err)
		}
		// The upstream moved on before the file did: a 401, without the token in it.
		r.SetAuth(upstreamtest.Auth{Bearer: token3})
		_, err := c.Fetch(ctx, listReq())
		var se *upstream.StatusError
		if !errors.As(err, &se) || se.Code != 401 || !se.ClientFault() {
			t.Errorf("Fetch with a stale token = %v, want a 401 StatusError", err)
		}
		assertNoSecret(t, err, secrets...)

		want := []string{"Bearer " + token1, "Bearer " + token2, "Bearer " + token2}
		if got := r.Authorizations(); !slices.Equal(got, want) {
			t.Errorf("Authorization headers = %q, want %q", got, want)
		}
		for _, q := range r.Log() {
			if q.Header.Get("X-Api-Key") != apiKey || q.Header.Get("X-Org") != "acme" {
				t.Errorf("request %d headers = %v, want the extra headers", q.Seq, q.Header)
			}
			if q.Header.Get("Accept") != "application/json" {
				t.Errorf("Accept = %q", q.Header.Get("Accept"))
			}
		}
	})

	t.Run("basic from rotating files", func(t *testing.T) {
		t.Parallel()
		userFile, passFile := tempFile(t, "user", "alice"), tempFile(t, "pass", "pa55-one\n")
		r := newRegistry(t, upstreamtest.WithAuth(upstreamtest.Auth{Username: "alice", Password: "pa55-one"}))
		c := newClient(t, r, func(o *ClientOptions) { o.UsernameFile, o.PasswordFile = userFile, passFile })
		ctx := ctxTimeout(t, 5*time.Second)
		if _, err := c.Fetch(ctx, listReq()); err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		writeFile(t, passFile, "pa55-two")
		r.SetAuth(upstreamtest.Auth{Username: "alice", Password: "pa55-two"})
		if _, err := c.Fetch(ctx, listReq()); err != nil {
			t.Fatalf("Fetch after rotation: %v", err)
		}
		writeFile(t, passFile, "pa55-one")
		_, err := c.Fetch(ctx, listReq())
		if err == nil {
			t.Fatal("Fetch with the old password succeeded")
		}
		assertNoSecret(t, err, secrets...)
	})

	t.Run("unreadable credential files", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		tests := []struct {
			name string
			mod  func(*ClientOptions)
			want string
		}{
			{"missing token file", func(o *ClientOptions) { o.TokenFile = dir + "/none" }, "secret file"},
			{"empty token file", func(o *ClientOptions) { o.TokenFile = tempFile(t, "empty", "  \n") }, "is empty"},
			{"missing password file", func(o *ClientOptions) {
				o.UsernameFile, o.PasswordFile = tempFile(t, "u", "alice"), dir+"/none"
			}, "secret file"},
			{"empty username file", func(o *ClientOptions) {
				o.UsernameFile, o.PasswordFile = tempFile(t, "u0", ""), tempFile(t, "p0", "pa55-one")
			}, "is empty"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := newRegistry(t)
				_, err := newClient(t, r, tt.mod).Fetch(ctxTimeout(t, 5*time.Second), listReq())
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Fetch = %v, want an error containing %q", err, tt.want)
				}
				assertNoSecret(t, err, secrets...)
				// Without credentials, nothing is sent at all.
				if n := r.Requests(); n != 0 {
					t.Errorf("registry received %d requests, want 0", n)
				}
			})
		}
	})
}

// hostRecorder is a second host that must never be contacted.
type hostRecorder struct {
	mu      sync.Mutex
	hits    int
	headers []http.Header
}

func (h *hostRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	h.mu.Lock()
	h.hits++
	h.headers = append(h.headers, req.Header.Clone())
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"servers":[],"metadata":{}}`)
}

func TestClientRedirects(t *testing.T) {
	t.Parallel()
	const token, apiKey = "s3cret-redirect-token", "s3cret-redirect-key"
	tokenFile := tempFile(t, "token", token)

	tests := []struct {
		name   string
		status int
		// elsewhere sends the client to the other host; otherwise the
		// redirect stays on the same host and is followed.
		elsewhere bool
	}{
		{"301 to another host", http.StatusMovedPermanently, true},
		{"302 to another host", http.StatusFound, true},
		{"307 to another host", http.StatusTemporaryRedirect, true},
		{"308 to another host", http.StatusPermanentRedirect, true},
		{"302 on the same host", http.StatusFound, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			other := &hostRecorder{}
			otherSrv := httptest.NewServer(other)
			t.Cleanup(otherSrv.Close)
			var frontMu sync.Mutex
			var frontAuth []string
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				frontMu.Lock()
				frontAuth = append(frontAuth, req.Header.Get("Authorization"))
				frontMu.Unlock()
				switch {
				case strings.HasPrefix(req.URL.Path, "/moved/"):
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprint(w, `{"servers":[],"metadata":{}}`)
				case tt.elsewhere:
					http.Redirect(w, req, otherSrv.URL+req.URL.RequestURI(), tt.status)
				default:
					http.Redirect(w, req, "/moved"+req.URL.RequestURI(), tt.status)
				}
			}))
			t.Cleanup(front.Close)
			c, err := NewClient(ClientOptions{
				Source: "src", BaseURL: front.URL, TokenFile: tokenFile,
				Headers: map[string]string{"X-Api-Key": apiKey}, Transport: front.Client().Transport,
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Fetch(ctxTimeout(t, 5*time.Second), listReq())
			other.mu.Lock()
			defer other.mu.Unlock()
			if !tt.elsewhere {
				if err != nil {
					t.Fatalf("same-host redirect: %v", err)
				}
				frontMu.Lock()
				defer frontMu.Unlock()
				if want := []string{"Bearer " + token, "Bearer " + token}; !slices.Equal(frontAuth, want) {
					t.Errorf("Authorization on the same host = %q, want %q", frontAuth, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "redirect") {
				t.Errorf("Fetch = %v, want a refused redirect", err)
			}
			assertNoSecret(t, err, token, apiKey)
			if other.hits != 0 {
				t.Errorf("the other host received %d requests (headers %v), want none", other.hits, other.headers)
			}
		})
	}
}

func TestClientBadAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault upstreamtest.Fault
		body  string // served by a plain handler instead of the fake when set
		ctype string
		req   upstream.Request
		mod   func(*ClientOptions)
		ctx   func() (context.Context, context.CancelFunc)
		want  string
	}{
		{name: "malformed JSON", fault: upstreamtest.Fault{Malformed: true}, want: "decode list"},
		{name: "malformed JSON of one version", fault: upstreamtest.Fault{Malformed: true},
			req: upstream.Request{Op: upstream.OpVersion, Name: nameAlpha, Version: "1.0.0"}, want: "decode version"},
		{name: "wrong content type", fault: upstreamtest.Fault{ContentType: "text/html", Body: []byte("<html>busy</html>")}, want: `content type "text/html"`},
		{name: "no content type", body: `{"servers":[]}`, ctype: "-", want: "content type"},
		{name: "oversized body", fault: upstreamtest.Fault{Oversize: 1 << 20}, mod: func(o *ClientOptions) { o.MaxBytes = 64 << 10 }, want: "exceeds the limit of 65536 bytes"},
		{name: "no servers array", fault: upstreamtest.Fault{Body: []byte(`{"metadata":{"count":0}}`)}, want: `no "servers" array`},
		{name: "null servers", fault: upstreamtest.Fault{Body: []byte(`{"servers":null}`)}, want: `no "servers" array`},
		{name: "servers not an array", fault: upstreamtest.Fault{Body: []byte(`{"servers":{}}`)}, want: "cannot unmarshal"},
		{name: "item without server", fault: upstreamtest.Fault{Body: []byte(`{"servers":[{"_meta":{}}]}`)}, want: `servers[0] has no "server"`},
		{name: "version without server", fault: upstreamtest.Fault{Body: []byte(`{}`)},
			req: upstream.Request{Op: upstream.OpVersion, Name: nameAlpha, Version: "1.0.0"}, want: `has no "server"`},
		{name: "trailing data", fault: upstreamtest.Fault{Body: []byte(`{"servers":[]} {"servers":[]}`)}, want: "unexpected data after"},
		{name: "empty body", fault: upstreamtest.Fault{Body: []byte{}}, want: "EOF"},
		{name: "slow drip beyond Timeout", fault: upstreamtest.Fault{DripChunk: 8, DripPause: 50 * time.Millisecond},
			mod: func(o *ClientOptions) { o.Timeout = 300 * time.Millisecond }, want: "Timeout"},
		{name: "latency beyond Timeout", fault: upstreamtest.Fault{Latency: 10 * time.Second},
			mod: func(o *ClientOptions) { o.Timeout = 200 * time.Millisecond }, want: "Timeout"},
		{name: "connection reset", fault: upstreamtest.Fault{Reset: true}, want: "fetch list from"},
		{name: "body cut short", fault: upstreamtest.Fault{CutAfter: 20}, want: "unexpected EOF"},
		{name: "caller deadline", fault: upstreamtest.Fault{Latency: 10 * time.Second},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			want: "context deadline exceeded"},
		{name: "caller cancelled", fault: upstreamtest.Fault{Latency: 10 * time.Second},
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			},
			want: "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c *Client
			if tt.body != "" {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					if tt.ctype == "-" {
						w.Header()["Content-Type"] = nil // no sniffing either
					}
					fmt.Fprint(w, tt.body)
				}))
				t.Cleanup(srv.Close)
				var err error
				if c, err = NewClient(ClientOptions{BaseURL: srv.URL, Transport: srv.Client().Transport}); err != nil {
					t.Fatal(err)
				}
			} else {
				r := newRegistry(t)
				r.Inject(tt.fault)
				c = newClient(t, r, tt.mod)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			req := tt.req
			if req.Op == "" {
				req = listReq()
			}
			start := time.Now()
			resp, err := c.Fetch(ctx, req)
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("Fetch took %s: a bad answer must fail fast", elapsed)
			}
			if err == nil {
				t.Fatalf("Fetch = %v entries, want an error", entryKeys(resp))
			}
			t.Logf("error: %v", err)
			if resp != nil {
				t.Errorf("Fetch returned a response with its error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Fetch = %q, want it to contain %q", err, tt.want)
			}
			if errors.Is(err, upstream.ErrNotFound) {
				t.Errorf("a bad answer is not ErrNotFound: %v", err)
			}
		})
	}
}

func TestClientSkipsInvalidEntries(t *testing.T) {
	t.Parallel()
	r := upstreamtest.New(t)
	r.Put(upstreamtest.ServerJSON("io.github.acme/a", "1.0.0"), upstreamtest.Official{})
	// The fake serves anything it can key, so these reach the client.
	r.Put(json.RawMessage(`{"name":"io.github.acme/b","version":"1.0.0"}`), upstreamtest.Official{})                 // no description
	r.Put(json.RawMessage(`{"name":"io.github.acme/c","version":"1.0.0","description":5}`), upstreamtest.Official{}) // not a string
	r.Put(upstreamtest.ServerJSON("io.github.acme/d", "1.0.0"), upstreamtest.Official{})
	r.Put(json.RawMessage(`{"name":"no-namespace","version":"1.0.0","description":"x"}`), upstreamtest.Official{})
	r.Put(upstreamtest.ServerJSON("io.github.acme/e", "1.0.0"), upstreamtest.Official{Status: "retired"}) // unknown status

	var logBuf bytes.Buffer
	c := newClient(t, r, func(o *ClientOptions) { o.Logger = slog.New(slog.NewTextHandler(&logBuf, nil)) })
	resp, err := c.Fetch(ctxTimeout(t, 5*time.Second), listReq())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if got, want := entryKeys(resp), []string{"io.github.acme/a@1.0.0", "io.github.acme/d@1.0.0"}; !slices.Equal(got, want) {
		t.Errorf("entries = %v, want %v", got, want)
	}
	// One line for the page, with the count: never a line per record.
	if n := strings.Count(logBuf.String(), "skipping invalid upstream entries"); n != 1 || !strings.Contains(logBuf.String(), "skipped=4") || resp.Dropped != 4 {
		t.Errorf("logged %d lines (dropped %d), want one line counting 4:\n%s", n, resp.Dropped, logBuf.String())
	}
	if !strings.Contains(logBuf.String(), "source=src") {
		t.Errorf("the warning does not name the source:\n%s", logBuf.String())
	}
}

// wireMeta is the part of a ServerResponse `_meta` these tests check,
// decoded independently of the package's own types.
type wireMeta struct {
	Meta map[string]json.RawMessage `json:"_meta"`
}

type wireOfficial struct {
	Status        string    `json:"status"`
	StatusMessage string    `json:"statusMessage"`
	PublishedAt   time.Time `json:"publishedAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
	IsLatest      bool      `json:"isLatest"`
}

func decodeMeta(t *testing.T, encoded []byte) (wireOfficial, string, map[string]json.RawMessage) {
	t.Helper()
	var m wireMeta
	if err := json.Unmarshal(encoded, &m); err != nil {
		t.Fatalf("encoded entry %s: %v", encoded, err)
	}
	var off wireOfficial
	if err := json.Unmarshal(m.Meta[upstream.OfficialMetaKey], &off); err != nil {
		t.Fatalf("official block of %s: %v", encoded, err)
	}
	var prov struct {
		Source string `json:"source"`
	}
	if err := json.Unmarshal(m.Meta[upstream.ProvenanceMetaKey], &prov); err != nil {
		t.Fatalf("provenance of %s: %v", encoded, err)
	}
	return off, prov.Source, m.Meta
}

func TestClientKeepsOfficialMeta(t *testing.T) {
	t.Parallel()
	const name = "io.github.acme/meta"
	p1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p2 := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	r := upstreamtest.New(t)
	r.Put(upstreamtest.ServerJSON(name, "1.0.0"), upstreamtest.Official{
		Status: upstreamtest.StatusDeprecated, StatusMessage: "use 2.0.0",
		PublishedAt: p1, UpdatedAt: p1.Add(time.Hour),
		ExtraMeta: map[string]json.RawMessage{"com.example/extra": json.RawMessage(`{"k":1}`)},
	})
	r.Put(upstreamtest.ServerJSON(name, "2.0.0"), upstreamtest.Official{PublishedAt: p2})
	c := newClient(t, r, nil)

	for _, req := range []upstream.Request{
		{Op: upstream.OpList},
		{Op: upstream.OpVersions, Name: name},
		{Op: upstream.OpVersion, Name: name, Version: "1.0.0"},
	} {
		resp, err := c.Fetch(ctxTimeout(t, 5*time.Second), req)
		if err != nil {
			t.Fatalf("Fetch(%s): %v", req.Op, err)
		}
		if resp.Size <= 0 || !resp.FetchedAt.Equal(t0) {
			t.Errorf("%s: Size %d, FetchedAt %v: want the body size and the injected clock", req.Op, resp.Size, resp.FetchedAt)
		}
		for _, e := range resp.Entries {
			rec, ok := r.Get(e.Name, e.Version)
			if !ok {
				t.Fatalf("%s: unknown entry %s@%s", req.Op, e.Name, e.Version)
			}
			want := rec.Official
			if string(e.Status) != string(want.Status) || e.IsLatest != want.IsLatest || e.StatusMessage != want.StatusMessage ||
				!e.PublishedAt.Equal(want.PublishedAt) || !e.UpdatedAt.Equal(want.UpdatedAt) || !e.HasOfficialMeta() {
				t.Errorf("%s: %s@%s = {%s %v %q %v %v}, want the upstream's {%s %v %q %v %v}", req.Op, e.Name, e.Version,
					e.Status, e.IsLatest, e.StatusMessage, e.PublishedAt, e.UpdatedAt,
					want.Status, want.IsLatest, want.StatusMessage, want.PublishedAt, want.UpdatedAt)
			}
			if e.Source != "src" {
				t.Errorf("%s: Source = %q, want src", req.Op, e.Source)
			}
			off, source, meta := decodeMeta(t, e.Encoded)
			if off.IsLatest != want.IsLatest || off.Status != string(want.Status) || !off.PublishedAt.Equal(want.PublishedAt) {
				t.Errorf("%s: served official block %+v, want %+v", req.Op, off, want)
			}
			if source != "src" {
				t.Errorf("%s: provenance source = %q, want src", req.Op, source)
			}
			if e.Version == "1.0.0" && string(meta["com.example/extra"]) != `{"k":1}` {
				t.Errorf("%s: unknown _meta key lost: %s", req.Op, e.Encoded)
			}
		}
	}
}

func TestClientDerivesMissingOfficialMeta(t *testing.T) {
	t.Parallel()
	// A registry that speaks the API but sends no registry-managed block
	// (an older or minimal implementation).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprint(w, `{"servers":[{"server":{"name":"io.github.acme/plain","version":"1.0.0","description":"no meta"}},`+
			`{"server":{"name":"io.github.acme/plain2","version":"1.0.0","description":"null meta"},"_meta":null}],"metadata":{"nextCursor":"abc"}}`)
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(ClientOptions{Source: "plain", BaseURL: srv.URL, Transport: srv.Client().Transport, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Fetch(ctxTimeout(t, 5*time.Second), listReq())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if resp.NextCursor != "abc" || len(resp.Entries) != 2 {
		t.Fatalf("response = %v, cursor %q", entryKeys(resp), resp.NextCursor)
	}
	for _, e := range resp.Entries {
		// Dated by the data's own fixed date, never by when this process
		// (the injected clock) first saw it: replicas must agree.
		if e.HasOfficialMeta() || e.Status != "active" || !e.PublishedAt.Equal(upstream.UndatedTime) || e.Source != "plain" {
			t.Errorf("%s: status %q, published %v, source %q: want a derived active block at upstream.UndatedTime",
				e.Name, e.Status, e.PublishedAt, e.Source)
		}
		off, source, _ := decodeMeta(t, e.Encoded)
		if off.Status != "active" || !off.PublishedAt.Equal(upstream.UndatedTime) || source != "plain" {
			t.Errorf("%s: served %s", e.Name, e.Encoded)
		}
	}
}
