package remote

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/credential"
	"github.com/mcpfed/mcpfed/upstream"
)

func TestValidateHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		headers  map[string]string
		withCred bool
		want     []string // fragments, one per expected problem; none: valid
	}{
		{"none", nil, false, nil},
		{"api key", map[string]string{"X-Api-Key": "k", "x-org": "acme"}, true, nil},
		{"authorization without credential files", map[string]string{"Authorization": "Bearer k"}, false, nil},
		{"authorization with credential files", map[string]string{"authorization": "Bearer k"}, true, []string{`"authorization" cannot be set with tokenFile`}},
		{"host", map[string]string{"Host": "evil.example"}, false, []string{`"Host" cannot be set`}},
		{"lower-case host", map[string]string{"host": "evil.example"}, false, []string{`"host" cannot be set`}},
		{"hop-by-hop", map[string]string{
			"Connection": "close", "Keep-Alive": "1", "Proxy-Authorization": "x", "Proxy-Connection": "x",
			"TE": "trailers", "Trailer": "x", "Transfer-Encoding": "chunked", "Upgrade": "h2c",
		}, false, []string{`"Connection"`, `"Keep-Alive"`, `"Proxy-Authorization"`, `"Proxy-Connection"`, `"TE"`, `"Trailer"`, `"Transfer-Encoding"`, `"Upgrade"`}},
		{"content length", map[string]string{"Content-Length": "0"}, false, []string{`"Content-Length" cannot be set`}},
		{"invalid names", map[string]string{"X Key": "v", "": "v", "X:Y": "v", "Ä": "v"}, false,
			[]string{`"X Key" is not a valid header name`, `"" is not a valid header name`, `"X:Y" is not a valid`, `"Ä" is not a valid`}},
		{"value with a line break", map[string]string{"X-Api-Key": "s3cret\r\nHost: evil"}, false, []string{`"X-Api-Key" has an invalid value`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateHeaders(tt.headers, tt.withCred)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("ValidateHeaders = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateHeaders = nil, want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("ValidateHeaders listed %d problems, want %d: %v", len(lines), len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ValidateHeaders = %v, want it to contain %q", err, w)
				}
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "headers: ") {
					t.Errorf("problem %q does not name the option", l)
				}
			}
			assertNoSecret(t, err, "s3cret")
		})
	}
	// NewClient enforces the same rules.
	if _, err := NewClient(ClientOptions{BaseURL: "https://example.com", Headers: map[string]string{"Host": "x"}}); err == nil {
		t.Error("NewClient accepted a Host header")
	}
}

func TestValidateBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, want string }{
		{"https://registry.example.com", ""},
		{"http://127.0.0.1:8080/acme", ""},
		{"https://registry.example.com/", ""},
		{"https://bob:s3cret@registry.example.com", "tokenFile"},
		{"https://s3cret@registry.example.com", "tokenFile"},
		{"https://registry.example.com/?token=s3cret", "tokenFile"},
		{"https://registry.example.com/?", "query"},
		{"https://registry.example.com/#s3cret", "fragment"},
		{"https://bob:s3cret%zz@example.com", "not a valid URL"},
		{"ftp://bob:s3cret@example.com", "http:// or https://"},
		{"registry.example.com", "http:// or https://"},
		{"", "http:// or https://"},
	}
	for _, tt := range tests {
		err := ValidateBaseURL(tt.url)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateBaseURL(%q) = %v, want nil", tt.url, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ValidateBaseURL(%q) = %v, want an error containing %q", tt.url, err, tt.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "url ") {
			t.Errorf("ValidateBaseURL(%q) = %v: the message must name the option", tt.url, err)
		}
		assertNoSecret(t, err, "s3cret")
	}
}

// TestClientReadsCredentialsThroughOneReader: a token file that is a FIFO
// (or a device) is refused without blocking, by credential.ReadFile.
func TestClientReadsCredentialsThroughOneReader(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/zero"} {
		r := newRegistry(t)
		c := newClient(t, r, func(o *ClientOptions) { o.TokenFile = path })
		start := time.Now()
		_, err := c.Fetch(ctxTimeout(t, 5*time.Second), listReq())
		if err == nil || !strings.Contains(err.Error(), credential.ErrNotRegular.Error()) {
			t.Errorf("Fetch with token file %s = %v, want %v", path, err, credential.ErrNotRegular)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("reading %s took %s", path, took)
		}
		if n := r.Requests(); n != 0 {
			t.Errorf("registry received %d requests without credentials", n)
		}
	}
}

// TestClientErrorsOmitQueries: a transport error repeats the request URL;
// its query (cursor, search) stays out of error texts.
func TestClientErrorsOmitQueries(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := NewClient(ClientOptions{Source: "gone", BaseURL: "http://" + addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Fetch(context.Background(), upstream.Request{Op: upstream.OpList, Search: "s3cret-search", Cursor: "s3cret-cursor"})
	if err == nil {
		t.Fatal("Fetch from a closed port succeeded")
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not say where", err)
	}
	assertNoSecret(t, err, "s3cret")
}
