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

// HolderOptions configure a Holder.
type HolderOptions struct {
	// Name is the source's slug; Kind is file, git or api (mirror).
	Name, Kind string
	// Admit, when set, drops entries it returns false for (the source's filter).
	Admit func(*Entry) bool
	// StateDir, when set, is where the last good snapshot is persisted and
	// restored from at start.
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
type Holder struct {
	o    HolderOptions
	snap atomic.Pointer[Snapshot]

	mu     sync.Mutex // serialises attempts and guards status
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
	return &Holder{o: o, status: SourceStatus{Name: o.Name, Kind: o.Kind}}
}

// Name is the source's slug.
func (h *Holder) Name() string { return h.o.Name }

// Snapshot returns the current snapshot, nil before the first good load.
func (h *Holder) Snapshot() *Snapshot { return h.snap.Load() }

// Status returns the load status.
func (h *Holder) Status() SourceStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status
}

// Attempt runs one load attempt, serialised with the others. load returns
// nil after installing new data (Install), ErrUnchanged when nothing
// changed, ErrStillFailing when a failed input has not changed, or the
// error. where names the input in error messages.
func (h *Holder) Attempt(ctx context.Context, where string, load func(ctx context.Context, now time.Time) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.o.Clock()
	h.status.LastAttempt = now
	err := load(ctx, now)
	switch {
	case errors.Is(err, ErrUnchanged):
		// Still the last good data: an earlier failure no longer stands.
		err = nil
		h.status.LastSuccess, h.status.LastError = now, ""
	case errors.Is(err, ErrStillFailing):
		err = errors.New(h.status.LastError)
	case err != nil:
		err = fmt.Errorf("load source %q from %s: %w", h.o.Name, where, err)
		h.status.LastError = err.Error()
		h.o.Logger.Error("source load failed", "source", h.o.Name, "error", err, "serving_last_good", h.status.Loaded)
	default:
		snap := h.snap.Load()
		h.status.LastError, h.status.LastSuccess = "", now
		h.status.Entries, h.status.Revision, h.status.Loaded = snap.Len(), snap.Revision, true
		h.o.Logger.Info("source loaded", "source", h.o.Name, "entries", snap.Len(), "revision", snap.Revision)
	}
	if h.o.OnLoad != nil {
		h.o.OnLoad(h.status, h.o.Clock().Sub(now))
	}
	return err
}

// Install finalises, filters and indexes a parsed document, swaps it in and
// persists it. Call it from within Attempt's load function.
func (h *Holder) Install(doc *Document, now time.Time) error {
	// Finalize first: the filter may select on the derived status.
	Finalize(doc.Entries, doc.LastUpdated, h.snap.Load(), now)
	entries := doc.Entries
	if h.o.Admit != nil {
		entries = slices.DeleteFunc(slices.Clone(entries), func(e *Entry) bool { return !h.o.Admit(e) })
	}
	snap, err := BuildSnapshot(h.o.Name, entries, now, SnapshotOptions{RecomputeLatest: h.o.RecomputeLatest})
	if err != nil {
		return err
	}
	h.snap.Store(snap)
	h.persist(snap, now)
	return nil
}

// persist writes the snapshot to the state directory; a failure is logged,
// never fatal: serving goes on from memory.
func (h *Holder) persist(snap *Snapshot, now time.Time) {
	if h.o.StateDir == "" {
		return
	}
	if err := SaveState(h.o.StateDir, h.o.Name, h.o.Kind, snap, now); err != nil {
		h.o.Logger.Warn("could not persist snapshot", "source", h.o.Name, "error", err)
	}
}

// Restore serves the persisted snapshot, if there is a valid one, until the
// first load replaces it. A corrupt or foreign state file is ignored with a
// warning. It reports whether a snapshot was restored.
func (h *Holder) Restore() bool {
	if h.o.StateDir == "" {
		return false
	}
	st, err := LoadState(h.o.StateDir, h.o.Name, h.o.Kind)
	if err != nil {
		if !errors.Is(err, ErrNoState) {
			h.o.Logger.Warn("ignoring persisted snapshot", "source", h.o.Name, "error", err)
		}
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.snap.Load() != nil {
		return false // a load got there first
	}
	h.snap.Store(st.Snapshot)
	h.status.Entries, h.status.Revision, h.status.Loaded = st.Snapshot.Len(), st.Snapshot.Revision, true
	h.status.LastSuccess = st.SavedAt
	h.o.Logger.Info("serving persisted snapshot until the first sync", "source", h.o.Name, "entries", st.Snapshot.Len(), "saved_at", st.SavedAt)
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
