package toolhivetest

import (
	"path/filepath"
	"testing"

	"github.com/mcpfed/mcpfed/mcpfedtest"
)

// Mcpfed is a running gateway; its Log returns the last 60 lines.
type Mcpfed = mcpfedtest.Process

// BuildMcpfed builds the gateway from this checkout into the test's
// temporary directory.
func BuildMcpfed(t testing.TB) string {
	t.Helper()
	return mcpfedtest.Build(t, mcpfedtest.NoCgo(), mcpfedtest.BuildTimeout(buildTimeout))
}

// StartMcpfed runs bin with no configuration, serving its built-in
// catalogue (the ToolHive catalogue and the official registry's seed), on
// a free loopback port with a fresh state directory, and waits until
// /readyz answers 200.
func StartMcpfed(t testing.TB, bin string) *Mcpfed {
	t.Helper()
	dir := t.TempDir()
	return mcpfedtest.Start(t, bin, []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + dir,
		"MCPFED_STATE_DIR=" + filepath.Join(dir, "state"),
		"MCPFED_LOG_FORMAT=text",
	}, mcpfedtest.ReadyTimeout(serveReadyTimeout), mcpfedtest.LogLines(60))
}
