package toolhivetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/mcpfedtest"
	"github.com/mcpfed/mcpfed/pgtest"
)

const (
	// commandTimeout bounds one thv command.
	commandTimeout = 2 * time.Minute
	// serveReadyTimeout bounds how long `thv serve` may take to answer.
	serveReadyTimeout = time.Minute
	// stopTimeout is how long a stopped process gets before SIGKILL.
	stopTimeout = 10 * time.Second
)

// CLI runs thv as one user: its own HOME and XDG directories (so its
// config.yaml, registry cache and state are the test's alone), the
// Runtime's socket, no update check or usage metrics, and the Trap as its
// HTTP proxy for anything but loopback.
type CLI struct {
	// Bin is the thv binary; Home the user's home directory.
	Bin, Home string

	env []string
}

// NewCLI returns a user with an empty home under the test's temporary
// directory.
func NewCLI(t testing.TB, bin string, rt *Runtime, trap *Trap) *CLI {
	t.Helper()
	home := t.TempDir()
	xdg := map[string]string{
		"XDG_CONFIG_HOME": ".config",
		"XDG_DATA_HOME":   ".local/share",
		"XDG_STATE_HOME":  ".local/state",
		"XDG_CACHE_HOME":  ".cache",
		"XDG_RUNTIME_DIR": "run",
		"TMPDIR":          "tmp",
	}
	env := []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + home,
		"TOOLHIVE_DOCKER_SOCKET=" + rt.Socket,
		"TOOLHIVE_SKIP_UPDATE_CHECK=true",
		"TOOLHIVE_USAGE_METRICS_ENABLED=false",
		"NO_PROXY=127.0.0.1,localhost,::1", "no_proxy=127.0.0.1,localhost,::1",
		"HTTP_PROXY=" + trap.URL, "HTTPS_PROXY=" + trap.URL,
		"http_proxy=" + trap.URL, "https_proxy=" + trap.URL,
	}
	for name, rel := range xdg {
		dir := filepath.Join(home, rel)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatalf("toolhivetest: %v", err)
		}
		env = append(env, name+"="+dir)
	}
	return &CLI{Bin: bin, Home: home, env: env}
}

// Run runs thv with args and returns its standard output; a non-zero exit
// is an error carrying standard error.
func (c *CLI) Run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.Bin, args...)
	cmd.Dir = c.Home
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return stdout.String(), fmt.Errorf("thv %s: %w\n%s", strings.Join(args, " "), err, mcpfedtest.LastLines(stderr.String(), 20))
	}
	return stdout.String(), nil
}

// SetRegistry points the user's thv at a registry API. An http:// URL
// or a loopback one needs --allow-private-ip: without it thv accepts only
// https:// and public addresses.
func (c *CLI) SetRegistry(ctx context.Context, url string) error {
	_, err := c.Run(ctx, "config", "set-registry", url, "--allow-private-ip")
	return err
}

// Server is a running `thv serve`: ToolHive's local API, which also
// proxies the configured registry under /registry/{name}/v0.1.
type Server struct {
	// URL is its base URL, http://127.0.0.1:<port>.
	URL string

	logFile string
}

// Log returns the end of the server's output.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return mcpfedtest.LastLines(string(b), 60)
}

// Serve runs `thv serve` on a free loopback port until the test ends and
// waits until it answers.
func (c *CLI) Serve(t testing.TB) *Server {
	t.Helper()
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), logFile: filepath.Join(c.Home, "thv-serve.log")}
	cmd := exec.Command(c.Bin, "serve", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Dir = c.Home
	cmd.Env = c.env
	waitStarted(t, cmd, s.logFile, s.URL+"/api/v1beta/version", s.Log)
	return s
}

// waitStarted starts cmd with its output in logFile, stops it (SIGTERM,
// then SIGKILL of its process group) when the test ends, and waits until
// readyURL answers 200. log describes the process when it does not.
func waitStarted(t testing.TB, cmd *exec.Cmd, logFile, readyURL string, log func() string) {
	t.Helper()
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("toolhivetest: start %s: %v", cmd.Path, err)
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
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(serveReadyTimeout)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(readyURL); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("toolhivetest: %s exited during start:\n%s", filepath.Base(cmd.Path), log())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("toolhivetest: %s not ready after %s:\n%s", filepath.Base(cmd.Path), serveReadyTimeout, log())
}
