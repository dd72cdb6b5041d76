package remote

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// TestMain fails the package if a flight, refresh, limiter wait or HTTP
// connection outlives its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is the injected clock's time: whole seconds (HTTP dates have no
// fraction) and years away from the wall clock, so a component that mixes
// the injected clock with real deadlines or timers shows up in a test.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func fixedClock() time.Time { return t0 }

// Server names of the standard dataset, in the upstream's order.
const (
	nameAlpha = "io.github.acme/alpha"
	nameBeta  = "io.github.acme/beta"
	nameGamma = "io.github.acme/gamma"
)

// newRegistry starts a fake registry holding a small dataset: three names,
// alpha with two versions.
func newRegistry(t *testing.T, opts ...upstreamtest.Option) *upstreamtest.Registry {
	t.Helper()
	clock := upstreamtest.NewManualClock(t0.Add(-24 * time.Hour))
	r := upstreamtest.New(t, append([]upstreamtest.Option{upstreamtest.WithClock(clock.Now)}, opts...)...)
	r.Put(upstreamtest.ServerJSON(nameAlpha, "1.0.0"), upstreamtest.Official{})
	clock.Advance(time.Minute)
	r.Put(upstreamtest.ServerJSON(nameAlpha, "1.1.0"), upstreamtest.Official{})
	r.Put(upstreamtest.ServerJSON(nameBeta, "0.1.0"), upstreamtest.Official{})
	r.Put(upstreamtest.ServerJSON(nameGamma, "2.0.0"), upstreamtest.Official{})
	return r
}

// newClient returns a client of r on r's own transport (whose connections
// close with r), with the fixed clock; mod adjusts the options.
func newClient(t *testing.T, r *upstreamtest.Registry, mod func(*ClientOptions)) *Client {
	t.Helper()
	o := ClientOptions{Source: "src", BaseURL: r.URL, Transport: r.Client().Transport, Clock: fixedClock, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&o)
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// ctxTimeout is a context for one call; every call in these tests is bounded.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func listReq() upstream.Request { return upstream.Request{Op: upstream.OpList} }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tempFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	writeFile(t, p, content)
	return p
}

// assertNoSecret fails if an error message carries a credential.
func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q leaks a secret", err)
		}
	}
}

func entryKeys(resp *upstream.Response) []string {
	if resp == nil {
		return nil
	}
	out := make([]string, len(resp.Entries))
	for i, e := range resp.Entries {
		out[i] = e.Name + "@" + e.Version
	}
	return out
}

// waitFor polls cond until it holds or d passes: for state that only moves
// with the wall clock (gobreaker's open period), where no event can be awaited.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}
