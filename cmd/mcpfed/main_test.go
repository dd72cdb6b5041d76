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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

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
		if err := goleak.Find(); err != nil {
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
	if code != exitOK || !strings.HasPrefix(out, "mcpfed dev\n") || !strings.Contains(out, "go1.") {
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
	for _, want := range []string{"invalid configuration", `name "A" must be a slug`, "needs path", `kind "nope"`} {
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
