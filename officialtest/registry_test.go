package officialtest

import (
	"os"
	"testing"
)

// gate skips the slow integration tests unless asked for.
func gate(t *testing.T) {
	t.Helper()
	if os.Getenv("MCPFED_TEST_OFFICIAL") != "1" {
		t.Skip("set MCPFED_TEST_OFFICIAL=1 (make test-official) to run the official registry integration tests")
	}
}
