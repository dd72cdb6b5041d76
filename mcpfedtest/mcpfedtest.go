// Package mcpfedtest builds the mcpfed binary from this checkout and runs
// it for tests: on a free port of 127.0.0.1, with its log kept, ready once
// /readyz answers 200, and stopped (SIGTERM, then SIGKILL of its process
// group) when the test ends.
//
//	bin := mcpfedtest.Build(t, mcpfedtest.NoCgo())
//	p := mcpfedtest.Start(t, bin, []string{"PATH=/usr/bin:/bin", "HOME=" + dir})
//	resp, err := http.Get(p.URL + "/v0.1/servers")
//
// Build and Start fail the test; BuildContext and StartContext return
// errors, for a TestMain that has no testing.TB.
package mcpfedtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Package is the command Build compiles.
const Package = "github.com/mcpfed/mcpfed/cmd/mcpfed"

// Defaults of the options.
const (
	DefaultBuildTimeout = 10 * time.Minute
	DefaultReadyTimeout = time.Minute
	DefaultLogLines     = 100
)

// StopTimeout is how long Stop waits after SIGTERM before it kills the
// process group.
const StopTimeout = 10 * time.Second

// logMax bounds the log a Process keeps in memory (its end).
const logMax = 256 << 10

// A BuildOption changes how Build compiles mcpfed.
type BuildOption func(*buildOptions)

type buildOptions struct {
	race    bool
	noCgo   bool
	timeout time.Duration
}

// Race builds with the race detector when on (for instance under
// `go test -race`, which then shares its build cache with the build).
func Race(on bool) BuildOption { return func(o *buildOptions) { o.race = on } }

// NoCgo builds with CGO_ENABLED=0.
func NoCgo() BuildOption { return func(o *buildOptions) { o.noCgo = true } }

// BuildTimeout bounds Build (DefaultBuildTimeout without it); BuildContext
// takes its bound from its context.
func BuildTimeout(d time.Duration) BuildOption { return func(o *buildOptions) { o.timeout = d } }

// Build compiles mcpfed into the test's temporary directory and returns
// the binary's path. It fails the test when the build does.
func Build(t testing.TB, opts ...BuildOption) string {
	t.Helper()
	o := buildOptions{timeout: DefaultBuildTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	bin, err := BuildContext(ctx, t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("mcpfedtest: %v", err)
	}
	return bin
}

// BuildContext compiles mcpfed into dir and returns the binary's path.
func BuildContext(ctx context.Context, dir string, opts ...BuildOption) (string, error) {
	var o buildOptions
	for _, opt := range opts {
		opt(&o)
	}
	// go test puts its own GOROOT/bin first on PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build mcpfed: %w", err)
	}
	bin := filepath.Join(dir, "mcpfed")
	args := []string{"build", "-o", bin}
	if o.race {
		args = append(args, "-race")
	}
	args = append(args, Package)
	env := os.Environ()
	if o.noCgo {
		env = append(env, "CGO_ENABLED=0")
	}
	// Twice: a build racing other go commands on a shared cache can fail
	// once spuriously ("could not import ... (open : no such file)").
	for range 2 {
		cmd := exec.CommandContext(ctx, goTool, args...)
		cmd.Env = env
		if err = RunQuiet(ctx, cmd); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("build mcpfed: %w", err)
	}
	return bin, nil
}

// RunQuiet runs cmd, whose output it takes; on failure the error carries
// the end of the output. ctx is the one cmd was made with.
func RunQuiet(ctx context.Context, cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, LastLines(out.String(), 40))
	}
	return nil
}

// LastLines returns the last n lines of s (all of it when n <= 0), without
// a final newline.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// A StartOption changes how Start runs mcpfed.
type StartOption func(*startOptions)

type startOptions struct {
	readyTimeout time.Duration
	logLines     int
}

// ReadyTimeout bounds the wait for /readyz (DefaultReadyTimeout without
// it): listening, then every required source loaded.
func ReadyTimeout(d time.Duration) StartOption {
	return func(o *startOptions) { o.readyTimeout = d }
}

// LogLines is how many lines Log returns (DefaultLogLines without it);
// n <= 0 returns all the log kept, its last 256 KiB.
func LogLines(n int) StartOption { return func(o *startOptions) { o.logLines = n } }

// Process is a running mcpfed.
type Process struct {
	// URL is its root, http://127.0.0.1:<port>.
	URL string

	cmd      *exec.Cmd
	logLines int
	log      *TailBuffer
	exited   chan struct{}
	waitErr  error // set before exited is closed
	stopOnce sync.Once
	stopErr  error
}

// Start runs `bin serve` in the environment env (and nothing of the
// test's own) on a free port of 127.0.0.1, stops it when the test ends,
// and waits until /readyz answers 200. env must not set
// MCPFED_LISTEN_ADDR: Start sets it. It fails the test, with the end of
// the log, when mcpfed exits or is not ready in time.
func Start(t testing.TB, bin string, env []string, opts ...StartOption) *Process {
	t.Helper()
	p, err := StartContext(context.Background(), bin, env, opts...)
	if err != nil {
		t.Fatalf("mcpfedtest: %v", err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

// StartContext is Start for callers without a testing.TB: the caller
// stops the Process. ctx bounds the start only.
func StartContext(ctx context.Context, bin string, env []string, opts ...StartOption) (*Process, error) {
	o := startOptions{readyTimeout: DefaultReadyTimeout, logLines: DefaultLogLines}
	for _, opt := range opts {
		opt(&o)
	}
	cmd := exec.Command(bin, "serve")
	// Port 0: mcpfed picks a free port and logs it, so no other process
	// can take the port between choosing it and listening on it.
	cmd.Env = append(append([]string(nil), env...), "MCPFED_LISTEN_ADDR=127.0.0.1:0")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &Process{cmd: cmd, logLines: o.logLines, log: &TailBuffer{Max: logMax}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	addr := make(chan string, 1)
	logged := make(chan struct{})
	go func() { p.readLog(pr, addr); close(logged) }()
	go func() {
		p.waitErr = cmd.Wait()
		pw.Close()
		<-logged // all the output is in the log before exited is closed
		close(p.exited)
	}()

	ctx, cancel := context.WithTimeout(ctx, o.readyTimeout)
	defer cancel()
	select {
	case a := <-addr:
		p.URL = "http://" + a
	case <-p.exited:
		return nil, fmt.Errorf("mcpfed exited during start (%v):\n%s", p.waitErr, p.Log())
	case <-ctx.Done():
		_ = p.Stop()
		return nil, fmt.Errorf("mcpfed not listening after %s (%w):\n%s", o.readyTimeout, ctx.Err(), p.Log())
	}
	if err := p.waitReady(ctx); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("%w:\n%s", err, p.Log())
	}
	return p, nil
}

// readLog keeps the output in the log and sends the address of the
// "mcpfed listening" line.
func (p *Process) readLog(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = p.log.Write(append(line, '\n'))
		if sent {
			continue
		}
		if a := listeningAddr(line); a != "" {
			addr <- a
			sent = true
		}
	}
	_, _ = io.Copy(p.log, r) // a line over the scanner's limit: keep the pipe drained
}

// listeningAddr returns the address of a "mcpfed listening" log line in
// either log format (MCPFED_LOG_FORMAT json or text), or "".
func listeningAddr(line []byte) string {
	var rec struct{ Msg, Addr string }
	if json.Unmarshal(line, &rec) == nil {
		if rec.Msg == "mcpfed listening" {
			return rec.Addr
		}
		return ""
	}
	if !bytes.Contains(line, []byte(`msg="mcpfed listening"`)) {
		return ""
	}
	for _, f := range strings.Fields(string(line)) {
		if a, ok := strings.CutPrefix(f, "addr="); ok {
			return a
		}
	}
	return ""
}

func (p *Process) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("mcpfed exited during start (%v)", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("mcpfed not ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Log returns the end of the process's output (stdout and stderr): its
// last LogLines lines.
func (p *Process) Log() string { return LastLines(p.log.String(), p.logLines) }

// Stop ends the process, once: SIGTERM, then SIGKILL of its process group
// after StopTimeout. It returns the exit error of a process that did not
// stop cleanly.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			p.stopErr = p.waitErr
		case <-time.After(StopTimeout):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
			p.stopErr = fmt.Errorf("mcpfed did not stop within %s of SIGTERM", StopTimeout)
		}
	})
	return p.stopErr
}

// TailBuffer is an io.Writer that keeps the last Max bytes written to it;
// it is safe for concurrent use.
type TailBuffer struct {
	Max int

	mu  sync.Mutex
	buf []byte
}

func (b *TailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.Max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String returns what the buffer holds.
func (b *TailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
