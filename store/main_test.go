package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mcpfed/mcpfed/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// backend makes fresh, empty stores of one driver.
type backend struct {
	name string
	// fresh returns the configuration of a new empty store.
	fresh func(t *testing.T) (Config, Options)
}

func sqliteBackend() backend {
	return backend{name: "sqlite", fresh: func(t *testing.T) (Config, Options) {
		return Config{Driver: DriverSQLite}, Options{StateDir: t.TempDir()}
	}}
}

var dbSeq atomic.Int64

// newDatabase creates an empty database on the shared cluster.
func newDatabase(t *testing.T, c *pgtest.Cluster) (name, url string) {
	name = fmt.Sprintf("store_%d", dbSeq.Add(1))
	return name, c.CreateDatabase(t, name, pgtest.CollationC)
}

func postgresBackend(c *pgtest.Cluster) backend {
	return backend{name: "postgres", fresh: func(t *testing.T) (Config, Options) {
		_, url := newDatabase(t, c)
		return Config{Driver: DriverPostgres, URL: url}, Options{}
	}}
}

// tickClock moves one second at every reading, so writes have distinct,
// ordered times.
type tickClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTickClock() *tickClock {
	return &tickClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *tickClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openT(t *testing.T, cfg Config, opts Options) Store {
	t.Helper()
	s, err := Open(ctxT(t), cfg, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func serverJSON(name, version string) []byte {
	return fmt.Appendf(nil, `{"name": %q, "version": %q, "description": "test"}`, name, version)
}

func mustPublish(t *testing.T, s Store, name, version string) Server {
	t.Helper()
	sv, err := s.Publish(ctxT(t), Server{Name: name, Version: version, Server: serverJSON(name, version)}, "alice")
	if err != nil {
		t.Fatalf("Publish %s %s: %v", name, version, err)
	}
	return sv
}

// waitSignal fails unless ch receives within d.
func waitSignal(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: watch channel closed", what)
		}
	case <-time.After(d):
		t.Fatalf("%s: no signal within %s", what, d)
	}
}

// drain empties a pending signal.
func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// eventually retries fn until it succeeds or d passes; every failure must
// be ErrUnavailable.
func eventually(t *testing.T, d time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s: %v, want ErrUnavailable while the database is away", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func latestOf(servers []Server, name string) []string {
	var out []string
	for _, s := range servers {
		if s.Name == name && s.IsLatest {
			out = append(out, s.Version)
		}
	}
	return out
}
