package toolhivetest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// engineAPIVersion is the Docker Engine API version the runtime answers
// with; thv's Docker client negotiates down to it.
const engineAPIVersion = "1.47"

// maxRecorded bounds the requests a Runtime or Trap remembers.
const maxRecorded = 1000

// Runtime is a stand-in for a Docker-compatible container runtime on a
// Unix socket. thv checks for a runtime before most commands (it pings
// the daemon) and `thv serve` lists its containers; the runtime answers
// those with an empty daemon and refuses everything else, so thv can never
// start a container through it.
type Runtime struct {
	// Socket is the Unix socket's path, for TOOLHIVE_DOCKER_SOCKET.
	Socket string

	srv *http.Server
	rec recorder
}

// StartRuntime serves the runtime until the test ends.
func StartRuntime(t testing.TB) *Runtime {
	t.Helper()
	// A Unix socket path is limited to about 100 bytes; a test's temporary
	// directory can be longer than that.
	dir, err := os.MkdirTemp("", "thv-rt")
	if err != nil {
		t.Fatalf("toolhivetest: runtime directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	r := &Runtime{Socket: filepath.Join(dir, "docker.sock")}
	ln, err := net.Listen("unix", r.Socket)
	if err != nil {
		t.Fatalf("toolhivetest: runtime socket: %v", err)
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = r.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.srv.Shutdown(ctx); err != nil {
			_ = r.srv.Close()
		}
		<-done
	})
	return r
}

// Requests lists the requests served so far ("GET /v1.47/containers/json").
func (r *Runtime) Requests() []string { return r.rec.list() }

// Refused lists the requests answered with an error: calls thv made that
// a real daemon would have acted on.
func (r *Runtime) Refused() []string { return r.rec.refusedList() }

func (r *Runtime) serve(w http.ResponseWriter, req *http.Request) {
	// The client prefixes most paths with its API version (/v1.47/...).
	path := req.URL.Path
	if rest, ok := strings.CutPrefix(path, "/v"); ok {
		if i := strings.IndexByte(rest, '/'); i > 0 {
			path = rest[i:]
		}
	}
	w.Header().Set("Api-Version", engineAPIVersion)
	w.Header().Set("Ostype", "linux")
	read := req.Method == http.MethodGet || req.Method == http.MethodHead
	var status int
	var body string
	switch {
	case read && path == "/_ping":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		status, body = http.StatusOK, "OK"
	case read && path == "/version":
		status, body = http.StatusOK, `{"Version":"0.0.0-toolhivetest","ApiVersion":"`+engineAPIVersion+`","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64"}`
	case read && (path == "/containers/json" || path == "/networks" || path == "/images/json"):
		status, body = http.StatusOK, "[]"
	case read && path == "/volumes":
		status, body = http.StatusOK, `{"Volumes":[],"Warnings":[]}`
	default:
		status, body = http.StatusNotImplemented, `{"message":"toolhivetest: this runtime runs no containers"}`
	}
	r.rec.add(req.Method+" "+req.URL.Path, status >= 400)
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}

// Trap is an HTTP proxy that refuses every request and remembers where it
// was going. thv's HTTP_PROXY and HTTPS_PROXY point at it with loopback
// exempt (NO_PROXY), so whatever reaches it is an attempt to leave the
// machine.
type Trap struct {
	// URL is the proxy's address, http://127.0.0.1:<port>.
	URL string

	rec recorder
}

// StartTrap serves the trap until the test ends.
func StartTrap(t testing.TB) *Trap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("toolhivetest: trap: %v", err)
	}
	tr := &Trap{URL: "http://" + ln.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// A CONNECT (https) names its target in Host; a plain proxied
		// request carries the absolute URL.
		target := req.Host
		if req.URL.IsAbs() {
			target = req.URL.String()
		}
		tr.rec.add(req.Method+" "+target, true)
		http.Error(w, "toolhivetest: no network beyond loopback", http.StatusForbidden)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = srv.Close()
		}
		<-done
	})
	return tr
}

// Attempts lists the requests that tried to leave the machine.
func (tr *Trap) Attempts() []string { return tr.rec.list() }

// recorder remembers up to maxRecorded requests.
type recorder struct {
	mu      sync.Mutex
	all     []string
	refused []string
}

func (r *recorder) add(s string, refused bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.all) < maxRecorded {
		r.all = append(r.all, s)
	}
	if refused && len(r.refused) < maxRecorded {
		r.refused = append(r.refused, s)
	}
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.all...)
}

func (r *recorder) refusedList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.refused...)
}
