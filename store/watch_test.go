package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/pgtest"
)

func TestNotifier(t *testing.T) {
	t.Parallel()
	n := newNotifier()
	w := n.watch(context.Background())
	pending := func() bool {
		select {
		case <-w:
			return true
		default:
			return false
		}
	}
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"first revision read is the baseline", func() { n.observe(5) }, false},
		{"same revision", func() { n.observe(5) }, false},
		{"higher revision", func() { n.observe(7) }, true},
		{"lower revision (a restored backup)", func() { n.observe(3) }, true},
		{"a commit always signals", func() { n.committed(3) }, true},
		{"a commit keeps the highest", func() { n.committed(2); n.observe(3) }, true},
		{"signals fold into one", func() { n.committed(8); n.committed(9) }, true},
		{"then nothing is pending", func() {}, false},
	}
	for _, st := range steps {
		st.do()
		if got := pending(); got != st.want {
			t.Errorf("%s: signalled %v, want %v", st.name, got, st.want)
		}
	}
	n.close()
	if _, ok := <-w; ok {
		t.Error("channel open after close")
	}
	if _, ok := <-n.watch(context.Background()); ok {
		t.Error("watch after close returned an open channel")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := <-newNotifier().watch(ctx); ok {
		t.Error("watch with an ended context returned an open channel")
	}
}

// A PostgreSQL nobody listens on: Open fails fast with ErrUnavailable.
func TestOpenUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Open(ctxT(t), Config{Driver: DriverPostgres, URL: fmt.Sprintf("postgres://app@127.0.0.1:%d/x?sslmode=disable", port)}, Options{})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Open: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > connectTimeout+time.Second {
		t.Errorf("Open took %s", d)
	}
	err = Migrate(ctxT(t), Config{Driver: DriverPostgres, URL: fmt.Sprintf("postgres://app@127.0.0.1:%d/x", port)}, Options{}, MigrateStatus, 0, nil)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Migrate: %v, want ErrUnavailable", err)
	}
}
