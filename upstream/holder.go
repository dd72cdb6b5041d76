package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStillFailing is returned by a load that found its input unchanged
// since a failed attempt: the earlier failure still stands.
var ErrStillFailing = errors.New("unchanged since the last failed load")

// SnapshotStore persists a source's last good snapshot and reads it back at
// start. now is the caller's clock: Load refuses a snapshot saved in the
// future.
type SnapshotStore interface {
	Save(snap *Snapshot, now time.Time) error
	Load(now time.Time) (*State, error)
}

// ReadOnly returns a store that restores from s and never saves: a source
// run by `mcpfed check` counts persisted state as the server would without
// changing it.
func ReadOnly(s SnapshotStore) SnapshotStore {
	if s == nil {
		return nil
	}
	return readOnlyStore{s}
}

type readOnlyStore struct{ SnapshotStore }

func (readOnlyStore) Save(*Snapshot, time.Time) error { return nil }

// HolderOptions configure a Holder.
type HolderOptions struct {
	// Name is the source's slug; Kind is file, git or api (mirror).
	Name, Kind string
	// Admit, when set, drops entries it returns false for (the source's filter).
	Admit func(*Entry) bool
	// Store persists the last good snapshot and restores it at start; nil
	// persists nothing.
	Store SnapshotStore
	// StateDir is a shortcut for Store: when Store is nil and StateDir is
	// set, the store is NewStateDirStore(StateDir, Name, Kind, 0).
	StateDir string
	// RecomputeLatest ignores isLatest as the data carries it (mirrors).
	RecomputeLatest bool
	Clock           func() time.Time
	Logger          *slog.Logger
	// OnLoad is called after every load attempt with the new status and how
	// long the attempt took (metrics).
	OnLoad func(SourceStatus, time.Duration)
}

// Holder is the part every snapshot source shares (file, git, mirror): the
// current snapshot swapped atomically, the load status, logging and metrics
// of each attempt, and persistence of the last good snapshot.
//
// Attempts are serialised by a one-slot semaphore that a waiter leaves when
// its context ends; the status has its own mutex, held only to copy or
// update it, so Status answers at once while a load runs, however long.
type Holder struct {
	o    HolderOptions
	snap atomic.Pointer[Snapshot]

	attempt chan struct{} // holds a token while an attempt runs

	mu     sync.Mutex // guards status only; never held across a load
	status SourceStatus
}

// NewHolder returns a holder with nothing to serve yet.
func NewHolder(o HolderOptions) *Holder {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Store == nil && o.StateDir != "" {
		o.Store = NewStateDirStore(o.StateDir, o.Name, o.Kind, 0)
	}
	return &Holder{o: o, attempt: make(chan struct{}, 1), status: SourceStatus{Name: o.Name, Kind: o.Kind}}
}

// Name is the source's slug.
func (h *Holder) Name() string { return h.o.Name }

// Snapshot returns the current snapshot, nil before the first good load.
func (h *Holder) Snapshot() *Snapshot { return h.snap.Load() }

// Status returns the load status. It never waits for a running load.
func (h *Holder) Status() SourceStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status
}

// Attempt runs one load attempt, serialised with the others: while another
// runs it waits, at most until ctx ends. load returns nil after installing
// new data (Install), ErrUnchanged when nothing changed, ErrStillFailing
// when a failed input has not changed, or the error. where names the input
// in error messages and logs; it must hold no secret.
func (h *Holder) Attempt(ctx context.Context, where string, load func(ctx context.Context, now time.Time) error) error {
	select {
	case h.attempt <- struct{}{}: // free: take it, whatever ctx says (the load reports it)
	default:
		select {
		case h.attempt <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("load source %q: waiting for the load already running: %w", h.o.Name, ctx.Err())
		}
	}
	defer func() { <-h.attempt }()

	now := h.o.Clock()
	h.mu.Lock()
	lastError := h.status.LastError
	h.status.Loading = true
	h.mu.Unlock()

	err := load(ctx, now)

	h.mu.Lock()
	// The attempt becomes visible when it ends: while a first load runs the
	// source is pending, not "ok" with nothing loaded.
	h.status.LastAttempt, h.status.Loading = now, false
	loaded, failed := false, false
	switch {
	case errors.Is(err, ErrUnchanged):
		// Still the last good data: an earlier failure no longer stands.
		err = nil
		h.status.LastSuccess, h.status.LastError = now, ""
	case errors.Is(err, ErrStillFailing):
		err = errors.New(lastError)
	case err != nil:
		err = fmt.Errorf("load source %q from %s: %w", h.o.Name, where, err)
		h.status.LastError = err.Error()
		failed = true
	default:
		snap := h.snap.Load()
		h.status.LastError, h.status.LastSuccess = "", now
		h.status.Entries, h.status.Revision, h.status.Loaded = snap.Len(), snap.Revision, true
		h.status.Skills, h.status.Plugins = snap.Artifacts(Skills).Len(), snap.Artifacts(Plugins).Len()
		loaded = true
	}
	status := h.status
	h.mu.Unlock()

	switch {
	case loaded:
		h.o.Logger.Info("source loaded", "source", h.o.Name, "entries", status.Entries, "skills", status.Skills, "plugins", status.Plugins, "revision", status.Revision)
	case failed && ctx.Err() != nil:
		// Stopped (shutdown) or out of time: not an upstream fault to alert on.
		h.o.Logger.Warn("source load interrupted", "source", h.o.Name, "error", err, "serving_last_good", status.Loaded)
	case failed:
		h.o.Logger.Error("source load failed", "source", h.o.Name, "error", err, "serving_last_good", status.Loaded)
	}
	if h.o.OnLoad != nil {
		h.o.OnLoad(status, h.o.Clock().Sub(now))
	}
	return err
}

// Install finalises, filters and indexes a parsed document (its servers,
// and its skills and plugins, which the source's filter sees by
// Artifact.FilterEntry), swaps it in and persists it. Call it from within
// Attempt's load function.
func (h *Holder) Install(doc *Document, now time.Time) error {
	// Finalize first: the filter may select on the derived status.
	Finalize(doc.Entries, doc.LastUpdated)
	entries := doc.Entries
	if h.o.Admit != nil {
		entries = slices.DeleteFunc(slices.Clone(entries), func(e *Entry) bool { return !h.o.Admit(e) })
	}
	snap, err := BuildSnapshot(h.o.Name, entries, now, SnapshotOptions{
		RecomputeLatest: h.o.RecomputeLatest,
		Artifacts:       admitArtifacts(doc.Artifacts, h.o.Admit),
	})
	if err != nil {
		return err
	}
	h.snap.Store(snap)
	h.persist(snap, now)
	return nil
}

// admitArtifacts keeps the artifacts the source's filter admits, as it
// sees them (Artifact.FilterEntry: namespace/name as the name).
func admitArtifacts(byKind map[ArtifactKind][]*Artifact, admit func(*Entry) bool) map[ArtifactKind][]*Artifact {
	if admit == nil || len(byKind) == 0 {
		return byKind
	}
	out := make(map[ArtifactKind][]*Artifact, len(byKind))
	for kind, items := range byKind {
		out[kind] = slices.DeleteFunc(slices.Clone(items), func(a *Artifact) bool { return !admit(a.FilterEntry()) })
	}
	return out
}

// persist saves the snapshot through the store; a failure is logged, never
// fatal: serving goes on from memory.
func (h *Holder) persist(snap *Snapshot, now time.Time) {
	if h.o.Store == nil {
		return
	}
	if err := h.o.Store.Save(snap, now); err != nil {
		h.o.Logger.Warn("could not persist snapshot", "source", h.o.Name, "error", err)
	}
}

// Restore serves the persisted snapshot, if there is a valid one, until the
// first load replaces it. A corrupt, foreign or future-dated snapshot is
// ignored with a warning. It reports whether a snapshot was restored. It
// takes no attempt slot: a load that installs first wins, and Status never
// waits for the read.
func (h *Holder) Restore() bool {
	if h.o.Store == nil {
		return false
	}
	st, err := h.o.Store.Load(h.o.Clock())
	if err != nil {
		if !errors.Is(err, ErrNoState) {
			h.o.Logger.Warn("ignoring persisted snapshot", "source", h.o.Name, "error", err)
		}
		return false
	}
	// Swap and status under the status lock: an attempt that installs
	// after the swap updates the status after this does.
	h.mu.Lock()
	if !h.snap.CompareAndSwap(nil, st.Snapshot) {
		h.mu.Unlock()
		return false // a load got there first
	}
	h.status.Entries, h.status.Revision, h.status.Loaded = st.Snapshot.Len(), st.Snapshot.Revision, true
	h.status.Skills, h.status.Plugins = st.Snapshot.Artifacts(Skills).Len(), st.Snapshot.Artifacts(Plugins).Len()
	h.status.LastSuccess = st.SavedAt
	h.mu.Unlock()
	h.o.Logger.Info("serving persisted snapshot until the first sync", "source", h.o.Name, "entries", st.Snapshot.Len(),
		"skills", h.status.Skills, "plugins", h.status.Plugins, "saved_at", st.SavedAt)
	if st.WithoutArtifacts {
		h.o.Logger.Info("the persisted snapshot predates skills and plugins: none are served from it until the first sync", "source", h.o.Name)
	}
	return true
}

// RunLoop is the life of a snapshot source: serve the persisted snapshot
// (restore), load at once, then load every interval until ctx ends. A zero
// interval loads once.
func RunLoop(ctx context.Context, interval time.Duration, restore func() bool, load func(context.Context) error) {
	restore()
	_ = load(ctx) // reported through status, log and metrics
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = load(ctx)
		}
	}
}
