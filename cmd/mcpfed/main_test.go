package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/upstream"
)

// testStateDir keeps the tests' persisted snapshots out of the user's cache.
var testStateDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcpfed-state-")
	if err != nil {
		panic(err)
	}
	testStateDir = dir
	code := m.Run()
	if code == 0 {
		// net/http lingers 500 ms after answering 431 (closeWriteAndWait):
		// bounded, and not ours.
		if err := goleak.Find(goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func runCmd(t *testing.T, env func() map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, env)
	return code, out.String(), errOut.String()
}

func TestVersionAndUsage(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(t, vars(), "version")
	if code != exitOK || !strings.HasPrefix(out, "mcpfed dev\ncommit ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: code %d, out %q", code, out)
	}
	if code, _, errOut := runCmd(t, vars(), "frobnicate"); code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: code %d, %q", code, errOut)
	}
	if code, _, _ := runCmd(t, vars(), "check", "-no-such-flag"); code != exitUsage {
		t.Errorf("bad flag: code %d", code)
	}
}

func TestInvalidConfigurationExitsNonZeroListingProblems(t *testing.T) {
	t.Parallel()
	code, _, errOut := runCmd(t, vars("MCPFED_SOURCES", `[{"name":"A","kind":"file"},{"name":"b","kind":"nope","path":"/x"}]`), "serve")
	if code != exitUsage {
		t.Fatalf("code = %d", code)
	}
	for _, want := range []string{"invalid configuration", `sources[0].name: "A" must be a slug`, "sources[0]: path or url is required", `sources[1].kind: "nope" is not file, git, api, kubernetes or managed`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestCheckBuiltinCatalogue(t *testing.T) {
	t.Parallel()
	code, out, _ := runCmd(t, vars(), "check")
	if code != exitOK {
		t.Fatalf("check failed (%d):\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SOURCE") {
		t.Fatalf("table:\n%s", out)
	}
	for i, want := range [][]string{{"toolhive", "file", "111", "ok"}, {"official-seed", "file", "4", "ok"}} {
		if f := strings.Fields(lines[i+1]); len(f) < 4 || strings.Join(f[:4], " ") != strings.Join(want, " ") {
			t.Errorf("row %d = %q, want %v", i+1, lines[i+1], want)
		}
	}
}

func TestCheckReportsBrokenSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	copyFile(t, "../../testdata/toolhive/data-registry.json", good)
	if err := os.WriteFile(bad, []byte(`{"data":{"servers":[{"name":"com.acme/x","description":"d"}]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := vars("MCPFED_SOURCES", `[{"name":"good","kind":"file","path":"`+good+`"},{"name":"bad","kind":"file","path":"`+bad+`"}]`, "MCPFED_LOG_LEVEL", "error")
	code, out, _ := runCmd(t, env, "check")
	if code != exitFailure {
		t.Errorf("code = %d, want %d", code, exitFailure)
	}
	if !strings.Contains(out, "good") || !strings.Contains(out, "failed") || !strings.Contains(out, bad) || !strings.Contains(out, `data.servers[0]`) || !strings.Contains(out, `missing "version"`) {
		t.Errorf("table does not explain the failure:\n%s", out)
	}
}

// TestSnapshotRoundTrips: the snapshot command's output is itself a valid
// file source holding the same entries.
func TestSnapshotRoundTrips(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "snap.json")
	if code, _, errOut := runCmd(t, vars("MCPFED_LOG_LEVEL", "error"), "snapshot", "-o", out); code != exitOK {
		t.Fatalf("snapshot: %d %s", code, errOut)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := upstream.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Format != upstream.FormatServerList || len(doc.Entries) != 115 {
		t.Fatalf("format %s with %d entries, want server-list with 115", doc.Format, len(doc.Entries))
	}
	for _, e := range doc.Entries {
		if !e.HasOfficialMeta() {
			t.Fatalf("%s@%s lost its official block", e.Name, e.Version)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServeBuiltinCatalogue is what `make run` promises: with no
// configuration the service answers with real servers.
func TestServeBuiltinCatalogue(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(vars("MCPFED_LISTEN_ADDR", "127.0.0.1:0"), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), listening) }()
	addr := <-listening
	waitReady(t, addr)

	resp, err := http.Get("http://" + addr + "/v0.1/servers?limit=5")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Servers []struct {
			Server struct{ Name string } `json:"server"`
		} `json:"servers"`
		Metadata struct {
			NextCursor string `json:"nextCursor"`
			Count      int    `json:"count"`
		} `json:"metadata"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.Servers) != 5 || list.Metadata.Count != 5 || list.Metadata.NextCursor == "" {
		t.Fatalf("list: %v %+v", err, list)
	}
	for _, path := range []string{"/metrics", "/v0/servers?limit=1", "/openapi.yaml"} {
		r, err := http.Get("http://" + addr + path)
		if err != nil || r.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", path, err, r.Status)
		}
		if r != nil {
			r.Body.Close()
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve returned %v", err)
	}
}

func waitReady(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("not ready in time")
}

// TestGracefulShutdownFinishesInFlightRequests: a request that is being
// served when shutdown starts completes; new connections are refused.
func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(vars(), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	api := g.handler
	g.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
			_, _ = io.WriteString(w, "finished")
			return
		}
		api.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.serveOn(ctx, ln, slog.New(slog.DiscardHandler)) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		r, err := http.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		got <- result{string(b), err}
	}()
	<-entered
	cancel() // shutdown begins while /slow is in flight
	time.Sleep(50 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("listener still accepts connections during shutdown")
	}
	close(release)
	if r := <-got; r.err != nil || r.body != "finished" {
		t.Errorf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-done; err != nil {
		t.Errorf("serveOn: %v", err)
	}
}

// TestServeAnswersCompletelyFromTheFirstRequest is `make run`: the
// embedded catalogue is loaded before the listener opens, so the very first
// request gets a complete answer and the service is ready.
func TestServeAnswersCompletelyFromTheFirstRequest(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(vars("MCPFED_LISTEN_ADDR", "127.0.0.1:0"), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), listening) }()
	addr := <-listening
	resp, err := http.Get("http://" + addr + "/v0.1/servers?limit=100")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Federation-Complete") != "true" || !strings.Contains(string(body), `"source":"official-seed"`) {
		t.Errorf("first answer: %s complete=%q", resp.Status, resp.Header.Get("X-Federation-Complete"))
	}
	if r, err := http.Get("http://" + addr + "/readyz"); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("not ready at once: %v %v", err, r)
	} else {
		r.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// stuckSource is a source whose loop ignores its context until released.
type stuckSource struct {
	running, release chan struct{}
}

func (s *stuckSource) Name() string                  { return "stuck" }
func (s *stuckSource) Load(context.Context) error    { <-s.release; return nil }
func (s *stuckSource) Restore() bool                 { return false }
func (s *stuckSource) Resync(context.Context) error  { return nil }
func (s *stuckSource) Status() upstream.SourceStatus { return upstream.SourceStatus{Name: "stuck"} }
func (s *stuckSource) Run(context.Context) {
	close(s.running)
	<-s.release
}

// TestShutdownIsBoundedWhateverALoaderDoes: a loop that ignores its
// context does not keep the process: serve returns within shutdownTimeout
// plus the loops' grace, naming the source left behind.
func TestShutdownIsBoundedWhateverALoaderDoes(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(vars("MCPFED_SHUTDOWN_TIMEOUT", "200ms"), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	g, err := wire(cfg, logger, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	stuck := &stuckSource{running: make(chan struct{}), release: make(chan struct{})}
	defer close(stuck.release)
	g.sources = append(g.sources, stuck)
	g.loopGrace = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.serveOn(ctx, ln, logger) }()
	<-stuck.running
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(cfg.ShutdownTimeout + g.loopGrace + 2*time.Second):
		t.Fatal("serve did not return")
	}
	if took := time.Since(start); took > cfg.ShutdownTimeout+g.loopGrace+time.Second {
		t.Errorf("shutdown took %s", took)
	}
	if !strings.Contains(logs.String(), "sources did not stop in time") || !strings.Contains(logs.String(), "stuck") {
		t.Errorf("the source left behind is not logged:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStatusAnswersWhileASourceLoads: readiness, health and the sources
// endpoint answer at once while a load is stuck in a read.
func TestStatusAnswersWhileASourceLoads(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	cfg, err := loadConfig(vars("MCPFED_SOURCES", `[
	  {"name":"slow","kind":"file","url":"`+slow.URL+`/registry.json","loadTimeout":"1m"},
	  {"name":"seed","kind":"file","path":"builtin:official-seed"}
	]`), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.serveOn(ctx, ln, slog.New(slog.DiscardHandler)) }()
	client := &http.Client{Timeout: time.Second}
	for _, path := range []string{"/healthz", "/readyz", "/v0.1" + federate.ExtensionPath + "/sources"} {
		start := time.Now()
		r, err := client.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Errorf("GET %s while a source loads: %v", path, err)
			continue
		}
		r.Body.Close()
		if took := time.Since(start); took > time.Second {
			t.Errorf("GET %s took %s", path, took)
		}
	}
	// A source that is not required and is still in its first load (a
	// first crawl can take minutes) does not hold the pod out of service;
	// its state says it is loading.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := client.Get("http://" + ln.Addr().String() + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 while a source that is not required loads: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := g.sources[0].Status(); !st.Loading || st.State() != "loading" {
		t.Errorf("status of the loading source: %+v (%s)", st, st.State())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serveOn: %v", err)
	}
}

// TestCheckStatesItsTimeBound: check stops at -timeout, says so, and
// reports the source that did not finish.
func TestCheckStatesItsTimeBound(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	env := vars("MCPFED_LOG_LEVEL", "error", "MCPFED_SOURCES", `[{"name":"slow","kind":"file","url":"`+slow.URL+`/r.json","loadTimeout":"1m"}]`)
	start := time.Now()
	code, out, _ := runCmd(t, env, "check", "-timeout", "300ms")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("check took %s with -timeout 300ms", took)
	}
	if code != exitFailure || !strings.Contains(out, "check stopped after 300ms (-timeout)") || !strings.Contains(out, "slow") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if code, _, errOut := runCmd(t, vars(), "check", "-h"); code != exitOK || !strings.Contains(errOut, "-timeout") || !strings.Contains(errOut, "2m0s") {
		t.Errorf("check -h does not state the bound (%d):\n%s", code, errOut)
	}
}

// TestEveryKindHasABuilder: each kind the configuration accepts can be run.
func TestEveryKindHasABuilder(t *testing.T) {
	t.Parallel()
	for _, k := range config.Kinds() {
		if _, ok := builders()[k.Name]; !ok {
			t.Errorf("kind %s has no builder", k.Name)
		}
	}
	if len(builders()) != len(config.Kinds()) {
		t.Errorf("%d builders for %d kinds", len(builders()), len(config.Kinds()))
	}
}

// TestCursorsHoldAcrossReplicas: two processes with the same sources sign
// cursors alike (the derived key), so a walk continues on either; another
// cursorKeyFile refuses them.
func TestCursorsHoldAcrossReplicas(t *testing.T) {
	t.Parallel()
	newGateway := func(kv ...string) *gateway {
		cfg, err := loadConfig(vars(kv...), flagValues{})
		if err != nil {
			t.Fatal(err)
		}
		g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.close)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.loadAll(ctx)
		return g
	}
	get := func(g *gateway, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		g.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	a, b := newGateway(), newGateway()
	keys := writeKeyFile(t, strings.Repeat("k", 40))
	c := newGateway("MCPFED_CURSOR_KEY_FILE", keys)
	first := get(a, "/v0.1/servers?limit=2")
	var page struct {
		Metadata struct{ NextCursor string } `json:"metadata"`
	}
	if err := json.Unmarshal(first.Body.Bytes(), &page); err != nil || page.Metadata.NextCursor == "" {
		t.Fatalf("no cursor: %v %s", err, first.Body)
	}
	next := "/v0.1/servers?limit=2&cursor=" + page.Metadata.NextCursor
	if ra, rb := get(a, next), get(b, next); ra.Code != http.StatusOK || rb.Code != http.StatusOK || ra.Body.String() != rb.Body.String() {
		t.Errorf("the second page differs between replicas: %d %d", ra.Code, rb.Code)
	}
	if rc := get(c, next); rc.Code != http.StatusBadRequest {
		t.Errorf("a cursor signed with another key: %d, want 400", rc.Code)
	}
}

func writeKeyFile(t *testing.T, keys ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cursor-keys")
	if err := os.WriteFile(p, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
