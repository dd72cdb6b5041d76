package pgtest

import (
	"context"
	"testing"
)

// Stop shuts the server down as an administrator would (pg_ctl stop -m
// fast: sessions are terminated, committed work is checkpointed), for tests
// of what clients do while their database is gone. Resume starts it again.
func (c *Cluster) Stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.DataDir, "-m", "fast", "-w", "-t", "10").CombinedOutput(); err != nil {
		t.Fatalf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	select {
	case <-c.exited:
	case <-ctx.Done():
		t.Fatalf("pgtest: postgres still running %s after pg_ctl stop", stopTimeout)
	}
}

// Resume starts a stopped cluster again on the same port, so clients
// configured with its address reconnect, and waits until it accepts
// connections.
func (c *Cluster) Resume(t testing.TB) {
	t.Helper()
	select {
	case <-c.exited:
	default:
		t.Fatal("pgtest: Resume of a running cluster")
	}
	// The port was released when the server stopped; another process may
	// have taken it since, which a few tries cannot fix: fail plainly.
	if err := c.runOn(c.Port); err != nil {
		t.Fatalf("pgtest: resume on port %d: %v", c.Port, err)
	}
}
