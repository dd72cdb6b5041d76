package officialtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/pgtest"
)

// buildMcpfed builds the gateway binary from this checkout.
func buildMcpfed(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	out := filepath.Join(t.TempDir(), "mcpfed")
	var err error
	// Twice: a build racing other go commands on a shared cache can fail
	// once spuriously ("could not import ... (open : no such file)").
	for range 2 {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/mcpfed/mcpfed/cmd/mcpfed")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if _, err = runQuiet(ctx, cmd); err == nil {
			return out
		}
	}
	t.Fatalf("build mcpfed: %v", err)
	return ""
}

// mcpfed is a running gateway with one api source.
type mcpfed struct {
	URL     string
	logFile string
}

func (m *mcpfed) Log() string {
	b, err := os.ReadFile(m.logFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return lastLines(string(b), 100)
}

// startMcpfed runs bin serving upstream as a required api source in mode
// (live or mirror) on a free loopback port, and waits until /readyz
// answers 200 (for a mirror: its first crawl is done). Response caching is
// off so every answer comes from the source as it is now.
func startMcpfed(t *testing.T, bin, upstream, mode string) *mcpfed {
	t.Helper()
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sources, _ := json.Marshal([]map[string]any{{ // plain values: cannot fail
		"name": "official", "kind": "api", "mode": mode, "url": upstream, "required": true,
	}})
	m := &mcpfed{URL: "http://127.0.0.1:" + strconv.Itoa(port), logFile: filepath.Join(dir, "mcpfed.log")}
	log, err := os.Create(m.logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + dir,
		"MCPFED_LISTEN_ADDR=127.0.0.1:" + strconv.Itoa(port),
		"MCPFED_STATE_DIR=" + filepath.Join(dir, "state"),
		"MCPFED_SOURCES=" + string(sources),
		"MCPFED_LOG_FORMAT=text",
		"MCPFED_ACCESS_LOG=false",
		"MCPFED_RESPONSE_CACHE_TTL=0s",
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("run mcpfed: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			return
		case <-time.After(stopTimeout):
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(m.URL + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m
			}
		}
		select {
		case <-exited:
			t.Fatalf("mcpfed exited during start:\n%s", m.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("mcpfed not ready after %s:\n%s", readyTimeout, m.Log())
	return nil
}
