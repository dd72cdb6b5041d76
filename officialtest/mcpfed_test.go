package officialtest

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/mcpfed/mcpfed/mcpfedtest"
)

// buildMcpfed builds the gateway binary from this checkout.
func buildMcpfed(t *testing.T) string {
	t.Helper()
	return mcpfedtest.Build(t, mcpfedtest.NoCgo(), mcpfedtest.BuildTimeout(buildTimeout))
}

// mcpfed is a running gateway with one api source.
type mcpfed = mcpfedtest.Process

// startMcpfed runs bin serving upstream as a required api source in mode
// (live or mirror) on a free loopback port, and waits until /readyz
// answers 200 (for a mirror: its first crawl is done). Response caching is
// off so every answer comes from the source as it is now.
func startMcpfed(t *testing.T, bin, upstream, mode string) *mcpfed {
	t.Helper()
	dir := t.TempDir()
	sources, _ := json.Marshal([]map[string]any{{ // plain values: cannot fail
		"name": "official", "kind": "api", "mode": mode, "url": upstream, "required": true,
	}})
	return mcpfedtest.Start(t, bin, []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + dir,
		"MCPFED_STATE_DIR=" + filepath.Join(dir, "state"),
		"MCPFED_SOURCES=" + string(sources),
		"MCPFED_LOG_FORMAT=text",
		"MCPFED_ACCESS_LOG=false",
		"MCPFED_RESPONSE_CACHE_TTL=0s",
	}, mcpfedtest.ReadyTimeout(readyTimeout))
}
