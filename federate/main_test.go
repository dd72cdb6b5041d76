package federate

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (servers,
// client connections, gzip writers): the API runs inside a long-lived process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
