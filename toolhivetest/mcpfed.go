package toolhivetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mcpfed/mcpfed/pgtest"
)

// Mcpfed is a running gateway.
type Mcpfed struct {
	// URL is its base URL, http://127.0.0.1:<port>.
	URL string

	logFile string
}

// Log returns the end of the gateway's log.
func (m *Mcpfed) Log() string {
	b, err := os.ReadFile(m.logFile)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return lastLines(string(b), 60)
}

// BuildMcpfed builds the gateway from this checkout into the test's
// temporary directory.
func BuildMcpfed(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	out := filepath.Join(t.TempDir(), "mcpfed")
	var err error
	// Twice: a build racing other go commands on a shared cache can fail
	// once spuriously.
	for range 2 {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/mcpfed/mcpfed/cmd/mcpfed")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err = runQuiet(ctx, cmd); err == nil {
			return out
		}
	}
	t.Fatalf("toolhivetest: build mcpfed: %v", err)
	return ""
}

// StartMcpfed runs bin with no configuration, serving its built-in
// catalogue (the ToolHive catalogue and the official registry's seed), on
// a free loopback port with a fresh state directory, and waits until
// /readyz answers 200.
func StartMcpfed(t testing.TB, bin string) *Mcpfed {
	t.Helper()
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m := &Mcpfed{URL: "http://127.0.0.1:" + strconv.Itoa(port), logFile: filepath.Join(dir, "mcpfed.log")}
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + dir,
		"MCPFED_LISTEN_ADDR=127.0.0.1:" + strconv.Itoa(port),
		"MCPFED_STATE_DIR=" + filepath.Join(dir, "state"),
		"MCPFED_LOG_FORMAT=text",
	}
	waitStarted(t, cmd, m.logFile, m.URL+"/readyz", m.Log)
	return m
}
