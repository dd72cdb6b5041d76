package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// mcpfedPackage is the command the tests build.
const mcpfedPackage = "github.com/mcpfed/mcpfed/cmd/mcpfed"

// Build compiles mcpfed into dir (with the race detector when race is
// set, so the server's own races show up under `go test -race`) and
// returns the binary's path.
func Build(ctx context.Context, dir string, race bool) (string, error) {
	// go test puts its own GOROOT/bin first on PATH.
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build mcpfed: %w", err)
	}
	bin := filepath.Join(dir, "mcpfed")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, goBin, append(args, mcpfedPackage)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", mcpfedPackage, err, out)
	}
	return bin, nil
}

// Server is a running mcpfed binary.
type Server struct {
	// URL is the server's root, http://127.0.0.1:port.
	URL  string
	cmd  *exec.Cmd
	logs *boundedBuffer
	done chan error
}

// readyTimeout bounds the start: listening, then every source loaded.
const readyTimeout = 30 * time.Second

// StartServer runs bin serve with the configuration file config on a free
// port of 127.0.0.1, in an environment of its own (no MCPFED_* of the
// caller's), and waits until it is ready. env adds variables.
func StartServer(ctx context.Context, bin, config, home string, env ...string) (*Server, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + os.TempDir(),
		"MCPFED_CONFIG=" + config,
		"MCPFED_LISTEN_ADDR=127.0.0.1:0",
		"MCPFED_LOG_FORMAT=json",
	}, env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	s := &Server{cmd: cmd, logs: &boundedBuffer{max: 256 << 10}, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	addr := make(chan string, 1)
	go s.readLogs(pr, addr)
	go func() {
		err := cmd.Wait()
		pw.Close()
		s.done <- err
	}()

	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case err := <-s.done:
		return nil, fmt.Errorf("mcpfed exited before listening: %v\n%s", err, s.Logs())
	case <-ctx.Done():
		s.Stop()
		return nil, fmt.Errorf("mcpfed not listening in time: %w\n%s", ctx.Err(), s.Logs())
	}
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\n%s", err, s.Logs())
	}
	return s, nil
}

// readLogs keeps the server's log and sends the address of the
// "mcpfed listening" line.
func (s *Server) readLogs(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = s.logs.Write(append(line, '\n'))
		if sent {
			continue
		}
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "mcpfed listening" && rec.Addr != "" {
			addr <- rec.Addr
			sent = true
		}
	}
	_, _ = io.Copy(io.Discard, r) // a line over the scanner's limit: keep the pipe drained
}

func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mcpfed not ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Logs returns the server's log (its last 256 KiB).
func (s *Server) Logs() string { return s.logs.String() }

// Stop ends the server: SIGTERM, then SIGKILL after 10 s. It returns the
// exit error of a server that did not stop cleanly.
func (s *Server) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("mcpfed did not stop within 10s of SIGTERM")
	}
}
