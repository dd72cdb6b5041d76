package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNetHTTPErrorsAreProblems: requests net/http refuses before any
// handler runs are answered as problem documents too.
func TestNetHTTPErrorsAreProblems(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Connection", "close")
		fmt.Fprint(w, "ok")
	})
	srv := newHTTPServer(serverOptions{MaxHeaderBytes: 4 << 10}, h, slog.New(slog.DiscardHandler))
	go srv.Serve(problemListener(ln))
	t.Cleanup(func() { srv.Close() })

	tests := []struct {
		name    string
		request string
		status  int
		detail  string
	}{
		{"malformed escape", "GET /v0.1/servers/%zz/versions HTTP/1.1\r\nHost: x\r\n\r\n", 400, "percent-escapes"},
		{"header too large", "GET /v0.1/servers HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431, ""},
		{"unsupported transfer encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "Unsupported transfer encoding"},
		{"malformed request line", "GARBAGE\r\n\r\n", 400, "could not be parsed"},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, tc.request); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var p struct {
				Title  string `json:"title"`
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tc.status || p.Status != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %q %+v", resp.StatusCode, resp.Header.Get("Content-Type"), p)
			}
			if !strings.Contains(p.Detail, tc.detail) || resp.Header.Get("X-Request-Id") == "" {
				t.Fatalf("detail %q (want %q), request id %q", p.Detail, tc.detail, resp.Header.Get("X-Request-Id"))
			}
		})
	}

	// A handler's own text/plain answer with Connection: close is untouched
	// (it carries a Date header, which net/http's error answers do not).
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("handler answer rewritten: %q %q", body, resp.Header.Get("Content-Type"))
	}
}
