package curation

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/store"
)

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSetFollowsTheStore: a write by any replica reaches the rule through
// the store's signal, each a new generation, announced by OnChange.
func TestSetFollowsTheStore(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	var changes atomic.Int64
	set := NewSet(SetOptions{Store: st, OnChange: func() { changes.Add(1) }})
	a := entry("io.github.acme/a", "1.0.0")
	if set.Admit(a) || set.Rules().Ready() {
		t.Fatal("admits before the store is read")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { set.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	eventually(t, "ready", func() bool { return set.Rules().Ready() })
	gen := set.Rules().Generation()
	st.writeBehind(store.Decision{ServerName: "io.github.acme/a", Versions: "*", Decision: Approved})
	eventually(t, "an approval applied", func() bool { return set.Admit(a) })
	if set.Rules().Generation() <= gen || changes.Load() < 2 {
		t.Errorf("generation %d after %d, %d changes", set.Rules().Generation(), gen, changes.Load())
	}
	st.writeBehind(store.Decision{ServerName: "io.github.acme/a", Versions: "1.0.0", Decision: Denied})
	eventually(t, "a denial applied", func() bool { return !set.Admit(a) })
}

// TestSetKeepsTheRuleWhileTheStoreIsDown: a failed read keeps the rule in
// place and is retried, with a growing wait, until the store answers.
func TestSetKeepsTheRuleWhileTheStoreIsDown(t *testing.T) {
	t.Parallel()
	st := &fakeStore{decisions: []store.Decision{{ServerName: "io.github.acme/a", Versions: "*", Decision: Approved}}}
	set := NewSet(SetOptions{Store: st, RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond})
	if err := set.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.setFail(store.ErrUnavailable)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { set.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	before := st.readCount()
	eventually(t, "retries", func() bool { return st.readCount() > before+3 })
	if !set.Admit(entry("io.github.acme/a", "1.0.0")) {
		t.Fatal("the rule was dropped while the store was down")
	}
	st.setFail(nil)
	st.writeBehind(store.Decision{ServerName: "io.github.acme/b", Versions: "*", Decision: Approved})
	eventually(t, "recovered", func() bool { return set.Admit(entry("io.github.acme/b", "1.0.0")) })
}

// TestSetWaitsForEveryDocument: the rule shows nothing until the store
// and every decisions source have been read; a document's denial then
// wins over the store's approval.
func TestSetWaitsForEveryDocument(t *testing.T) {
	t.Parallel()
	st := &fakeStore{decisions: []store.Decision{{ServerName: "io.github.acme/a", Versions: "*", Decision: Approved}}}
	set := NewSet(SetOptions{Store: st, Documents: []string{"reviews", "security"}})
	a := entry("io.github.acme/a", "1.0.0")
	_ = set.Reload(context.Background())
	set.SetDocument("reviews", nil)
	if set.Admit(a) {
		t.Fatal("admitted before every document was read")
	}
	gen := set.Rules().Generation()
	set.SetDocument("security", []store.Decision{{ServerName: "io.github.acme/a", Versions: "1.0.0", Decision: Denied, Who: "sec"}})
	if set.Admit(a) || !set.Admit(entry("io.github.acme/a", "1.0.1")) {
		t.Fatal("the document's denial does not win")
	}
	set.SetDocument("security", []store.Decision{{ServerName: "io.github.acme/a", Versions: "1.0.0", Decision: Denied, Who: "sec"}})
	if set.Rules().Generation() != gen+1 {
		t.Errorf("an unchanged document rebuilt the rule: %d → %d", gen, set.Rules().Generation())
	}
	docs := set.Documents()
	if len(docs) != 1 || docs[0].Document != "security" || docs[0].Who != "sec" {
		t.Errorf("documents %+v", docs)
	}
}

// TestSetWithoutStore: no store configured: documents alone decide.
func TestSetWithoutStore(t *testing.T) {
	t.Parallel()
	set := NewSet(SetOptions{})
	if !set.Rules().Ready() {
		t.Fatal("a set with nothing to wait for is not ready")
	}
	if err := set.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	set.Run(context.Background()) // returns at once
	set.SetDocument("d", []store.Decision{{ServerName: "io.github.acme/a", Versions: "1.x", Decision: Approved}})
	if !set.Admit(entry("io.github.acme/a", "1.4.0")) {
		t.Fatal("a document approval is not applied")
	}
}

// TestSetConcurrentUse: Admit runs while decisions change (go test -race).
func TestSetConcurrentUse(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	set := NewSet(SetOptions{Store: st})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { set.Run(ctx) })
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				set.Admit(entry("io.github.acme/a", "1.0.0"))
			}
		})
	}
	for i := range 50 {
		v := Approved
		if i%2 == 1 {
			v = Denied
		}
		st.writeBehind(store.Decision{ServerName: "io.github.acme/a", Versions: "*", Decision: v})
		set.SetDocument("d", []store.Decision{{ServerName: "io.github.acme/b", Versions: "*", Decision: v}})
	}
	cancel()
	wg.Wait()
}
