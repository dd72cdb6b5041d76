package browsertest

import (
	"context"
	"os"
	"time"

	"github.com/mcpfed/mcpfed/mcpfedtest"
)

// readyTimeout bounds the start: listening, then every source loaded.
const readyTimeout = 30 * time.Second

// StartServer runs bin serve with the configuration file config on a free
// port of 127.0.0.1, in an environment of its own (no MCPFED_* of the
// caller's), and waits until it is ready. env adds variables. The caller
// stops the server; its Log is all the log kept (the last 256 KiB).
func StartServer(ctx context.Context, bin, config, home string, env ...string) (*mcpfedtest.Process, error) {
	return mcpfedtest.StartContext(ctx, bin, append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + os.TempDir(),
		"MCPFED_CONFIG=" + config,
		"MCPFED_LOG_FORMAT=json",
	}, env...), mcpfedtest.ReadyTimeout(readyTimeout), mcpfedtest.LogLines(0))
}
