package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/metrics"
)

// net/http answers a request it cannot parse (a malformed escape in the
// path, a header over MaxHeaderBytes, an unsupported transfer encoding)
// itself, before any handler runs, with a text/plain body written straight
// to the connection. These are the only responses it writes with exactly
// this header block (a handler's response always carries a Date header), so
// they are recognised on the connection and rewritten as the problem
// documents every other error is.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// problemListener wraps ln so that net/http's own error answers become
// RFC 9457 problem documents with a request id.
func problemListener(ln net.Listener) net.Listener { return problemLn{ln} }

type problemLn struct{ net.Listener }

func (l problemLn) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c}, nil
}

// problemConn rewrites a write that is one of net/http's error answers.
// Everything else passes through untouched.
type problemConn struct {
	net.Conn
}

func (c *problemConn) Write(p []byte) (int, error) {
	if rewritten, ok := rewriteNetHTTPError(p); ok {
		if _, err := c.Conn.Write(rewritten); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// rewriteNetHTTPError turns "HTTP/1.1 400 Bad Request: invalid URL
// escape…<headers>400 Bad Request: …" into a problem document.
func rewriteNetHTTPError(p []byte) ([]byte, bool) {
	statusLine, rest, ok := bytes.Cut(p, []byte(netHTTPErrorHeaders))
	if !ok || !bytes.HasPrefix(statusLine, []byte("HTTP/1.1 ")) || bytes.ContainsAny(statusLine, "\r\n") {
		return nil, false
	}
	codeText, _, _ := bytes.Cut(statusLine[len("HTTP/1.1 "):], []byte(" "))
	code, err := strconv.Atoi(string(codeText))
	if err != nil || code < 400 || code > 599 {
		return nil, false
	}
	// The body repeats the status line ("400 Bad Request: <why>") or is the
	// bare status; a bare 400 is a request line net/http could not parse.
	detail := strings.TrimPrefix(string(rest), string(codeText)+" "+http.StatusText(code))
	detail = strings.TrimSpace(strings.TrimPrefix(detail, ":"))
	if detail == "" && code == http.StatusBadRequest {
		detail = "the request could not be parsed: a malformed request line (check the path's percent-escapes: a literal % is written %25) or header"
	} else if detail == "" {
		detail = http.StatusText(code)
	}
	body := federate.ProblemBody(code, detail)
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\nCache-Control: no-store\r\nX-Request-Id: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		code, http.StatusText(code), metrics.NewRequestID(), len(body))
	b.Write(body)
	return b.Bytes(), true
}
