package curation

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream"
)

// DecisionStore is what a Set reads from the store: the decisions, and a
// signal after writes (store.Store has both).
type DecisionStore interface {
	Decisions(ctx context.Context) ([]store.Decision, error)
	Watch(ctx context.Context) <-chan struct{}
}

// SetOptions configure a Set.
type SetOptions struct {
	// Store holds the decisions made through the API; nil: none.
	Store DecisionStore
	// Documents name the decisions sources whose decisions the rule waits
	// for (read once, or restored) before it shows anything.
	Documents []string
	// OnChange, when set, is called after each new Rules is in place (to
	// drop what was cached from approved-only views). Calls may overlap;
	// read Rules for the current one.
	OnChange func()
	// RetryMin and RetryMax bound the wait before the store is read again
	// after a failure (defaults 1s and 30s).
	RetryMin, RetryMax time.Duration
	Logger             *slog.Logger
}

// Set holds the decisions of every origin (the store, each decisions
// source) and the Rules built from them, rebuilt when one changes and
// swapped atomically. Its methods are safe for concurrent use.
type Set struct {
	o     SetOptions
	rules atomic.Pointer[Rules]

	// reload serialises reads of the store, so an older read never
	// replaces a newer one.
	reload sync.Mutex

	mu         sync.Mutex // guards what follows; never held across I/O
	fromStore  []store.Decision
	storeRead  bool
	documents  map[string][]store.Decision
	generation uint64
}

// NewSet returns a Set that shows nothing until the store (if any) and
// every document have been read.
func NewSet(o SetOptions) *Set {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(30*time.Second, o.RetryMin)
	}
	s := &Set{o: o, documents: map[string][]store.Decision{}}
	s.mu.Lock()
	s.rebuildLocked()
	s.mu.Unlock()
	return s
}

// Rules is the current rule.
func (s *Set) Rules() *Rules { return s.rules.Load() }

// Admit is the current rule's Admit: the predicate of approved-only views.
func (s *Set) Admit(e *upstream.Entry) bool { return s.rules.Load().Admit(e) }

// Documents returns the decisions read from decisions sources, ordered by
// server name and versions.
func (s *Set) Documents() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for name, decs := range s.documents {
		for _, d := range decs {
			out = append(out, Record{Decision: d, Document: name})
		}
	}
	sortRecords(out)
	return out
}

// SetDocument replaces the decisions read from the named decisions source.
func (s *Set) SetDocument(name string, decs []store.Decision) {
	s.mu.Lock()
	if old, ok := s.documents[name]; ok && slices.Equal(old, decs) {
		s.mu.Unlock()
		return
	}
	s.documents[name] = slices.Clone(decs)
	s.rebuildLocked()
	s.mu.Unlock()
	s.changed()
}

// Reload reads the store's decisions now (after a write through the API,
// so the writer's next read sees it).
func (s *Set) Reload(ctx context.Context) error {
	if s.o.Store == nil {
		return nil
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	decs, err := s.o.Store.Decisions(ctx)
	if err != nil {
		return fmt.Errorf("read the decisions: %w", err)
	}
	s.mu.Lock()
	if s.storeRead && slices.Equal(s.fromStore, decs) {
		s.mu.Unlock()
		return nil
	}
	s.fromStore, s.storeRead = decs, true
	s.rebuildLocked()
	s.mu.Unlock()
	s.changed()
	return nil
}

// Run reads the store's decisions, then again after every write the store
// signals (any replica's), until ctx ends. A failed read is retried with
// a growing wait; the rule in place stays until a read succeeds.
func (s *Set) Run(ctx context.Context) {
	if s.o.Store == nil {
		return
	}
	watch := s.o.Store.Watch(ctx)
	wait := s.o.RetryMin
	for {
		var retry *time.Timer
		if err := s.Reload(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.o.Logger.Warn("cannot read the curation decisions; keeping the rule in place", "error", err, "retry_in", wait)
			retry = time.NewTimer(wait)
			wait = min(2*wait, s.o.RetryMax)
		} else {
			wait = s.o.RetryMin
		}
		if !s.wait(ctx, watch, retry) {
			return
		}
	}
}

// wait returns after a write signal or the retry timer (nil: none), false
// when ctx ends or the watch is closed.
func (s *Set) wait(ctx context.Context, watch <-chan struct{}, retry *time.Timer) bool {
	var timeout <-chan time.Time
	if retry != nil {
		defer retry.Stop()
		timeout = retry.C
	}
	select {
	case <-ctx.Done():
		return false
	case _, ok := <-watch:
		return ok
	case <-timeout:
		return true
	}
}

// rebuildLocked builds and swaps in the rule from what is held (s.mu held).
func (s *Set) rebuildLocked() {
	s.generation++
	ready := s.storeRead || s.o.Store == nil
	n := len(s.fromStore)
	for _, name := range s.o.Documents {
		decs, ok := s.documents[name]
		ready = ready && ok
		n += len(decs)
	}
	recs := make([]Record, 0, n)
	for _, d := range s.fromStore {
		recs = append(recs, Record{Decision: d})
	}
	for name, decs := range s.documents {
		for _, d := range decs {
			recs = append(recs, Record{Decision: d, Document: name})
		}
	}
	rules, errs := Build(recs, s.generation, ready)
	for _, err := range errs {
		s.o.Logger.Warn("curation decision not applied as written", "error", err)
	}
	s.rules.Store(rules)
}

func (s *Set) changed() {
	if s.o.OnChange != nil {
		s.o.OnChange()
	}
}
