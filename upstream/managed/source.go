// Package managed is the managed source (kind: managed): the server
// versions published to this mcpfed (package publish), kept in the store
// and served like any snapshot source. The snapshot is rebuilt from
// store.Store.Servers whenever the store reports a write (Watch: this
// process's writes, and on PostgreSQL every replica's); while the store
// cannot be read the last snapshot keeps being served from memory, and
// from the state directory after a restart.
package managed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	v0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
	"github.com/modelcontextprotocol/registry/pkg/model"

	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream"
)

// Kind is the source kind's name.
const Kind = "managed"

// Bounds of the source's loop.
const (
	DefaultLoadTimeout = 30 * time.Second
	// DefaultRetry is the first wait after a failed load; it doubles up to
	// maxRetry while the store stays unreadable.
	DefaultRetry = time.Second
	maxRetry     = 30 * time.Second
)

// Options build a Source.
type Options struct {
	// Name is the source's slug.
	Name  string
	Store store.Store
	// Admit, when set, drops entries it returns false for (the source's filter).
	Admit func(*upstream.Entry) bool
	// SnapshotStore persists the last snapshot; nil with StateDir set is
	// the state directory's store. ReadOnly restores and never saves.
	SnapshotStore upstream.SnapshotStore
	StateDir      string
	ReadOnly      bool
	// LoadTimeout bounds one load (default 30 s).
	LoadTimeout time.Duration
	// Retry is the first wait after a failed load (default 1 s).
	Retry  time.Duration
	Clock  func() time.Time
	Logger *slog.Logger
	// OnLoad is called after every load attempt (metrics).
	OnLoad func(upstream.SourceStatus, time.Duration)
}

// Source serves the store's published versions as a snapshot.
type Source struct {
	*upstream.Holder
	o Options
	// loaded is the store revision the snapshot was built from (-1:
	// none). Guarded by the holder's attempt serialisation.
	loaded int64
}

// New returns an unloaded source; call Run (or Load).
func New(o Options) (*Source, error) {
	if o.Name == "" {
		return nil, errors.New("managed source: a name is required")
	}
	if o.Store == nil {
		return nil, fmt.Errorf("managed source %q: a store is required", o.Name)
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = DefaultLoadTimeout
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SnapshotStore == nil && o.StateDir != "" {
		o.SnapshotStore = upstream.NewStateDirStore(o.StateDir, o.Name, Kind, 0)
	}
	if o.ReadOnly {
		o.SnapshotStore = upstream.ReadOnly(o.SnapshotStore)
	}
	h := upstream.NewHolder(upstream.HolderOptions{
		Name: o.Name, Kind: Kind, Admit: o.Admit, Store: o.SnapshotStore,
		Clock: o.Clock, Logger: o.Logger, OnLoad: o.OnLoad,
	})
	return &Source{Holder: h, o: o, loaded: -1}, nil
}

// Run serves the persisted snapshot, loads, then reloads after every write
// the store reports until ctx ends. A failed load is retried with a
// growing wait (the store may come back without a write to report).
func (s *Source) Run(ctx context.Context) {
	s.Restore()
	changed := s.o.Store.Watch(ctx)
	wait := s.o.Retry
	var retry *time.Timer
	var retryC <-chan time.Time
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	load := func() {
		if err := s.Load(ctx); err != nil && ctx.Err() == nil {
			if retry == nil {
				retry = time.NewTimer(wait)
			} else {
				retry.Reset(wait)
			}
			retryC = retry.C
			wait = min(2*wait, maxRetry)
			return
		}
		wait, retryC = s.o.Retry, nil
	}
	load()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changed:
			if !ok {
				return // the store closes the channel when ctx ends
			}
			load()
		case <-retryC:
			retryC = nil
			load()
		}
	}
}

// Load rebuilds the snapshot when the store's revision moved since the
// last build (nil when unchanged).
func (s *Source) Load(ctx context.Context) error { return s.load(ctx, false) }

// Resync rebuilds the snapshot from the store whatever its revision.
func (s *Source) Resync(ctx context.Context) error { return s.load(ctx, true) }

func (s *Source) load(ctx context.Context, force bool) error {
	return s.Attempt(ctx, "the store", func(ctx context.Context, now time.Time) error {
		ctx, cancel := context.WithTimeout(ctx, s.o.LoadTimeout)
		defer cancel()
		// The revision is read first: a write landing between the two
		// reads is then in the servers but not in the revision, and the
		// next notification rebuilds once more (never the reverse).
		rev, err := s.o.Store.Revision(ctx)
		if err != nil {
			return fmt.Errorf("read the store's revision: %w", err)
		}
		if !force && rev == s.loaded && s.Snapshot() != nil {
			return upstream.ErrUnchanged
		}
		servers, err := s.o.Store.Servers(ctx)
		if err != nil {
			return fmt.Errorf("read the published servers: %w", err)
		}
		doc := &upstream.Document{Entries: make([]*upstream.Entry, 0, len(servers))}
		for _, srv := range servers {
			e, err := entry(srv)
			if err != nil {
				// One bad row must not hide every other entry; publish
				// validates, so this is data written by something else.
				s.o.Logger.Warn("managed source: skipping a stored version", "source", s.o.Name,
					"server", srv.Name, "version", srv.Version, "err", err)
				continue
			}
			doc.Entries = append(doc.Entries, e)
		}
		if err := s.Install(doc, now); err != nil {
			return err
		}
		s.loaded = rev
		return nil
	})
}

// entry indexes one stored version with its official block.
func entry(s store.Server) (*upstream.Entry, error) {
	meta, err := Meta(s)
	if err != nil {
		return nil, err
	}
	e, err := upstream.NewEntry(s.Server, meta)
	if err != nil {
		return nil, err
	}
	if e.Name != s.Name || e.Version != s.Version {
		return nil, fmt.Errorf("stored as %s@%s but the server.json says %s@%s", s.Name, s.Version, e.Name, e.Version)
	}
	return e, nil
}

// Meta is the response-level `_meta` of a stored version: the official
// block, as the store keeps it (status, its message and time, publication
// and update times, isLatest).
func Meta(s store.Server) (json.RawMessage, error) {
	off := v0.RegistryExtensions{
		Status:          model.Status(s.Status),
		StatusChangedAt: s.StatusChangedAt.UTC(),
		PublishedAt:     s.PublishedAt.UTC(),
		UpdatedAt:       s.UpdatedAt.UTC(),
		IsLatest:        s.IsLatest,
	}
	if off.StatusChangedAt.IsZero() {
		off.StatusChangedAt = off.PublishedAt
	}
	if off.UpdatedAt.IsZero() {
		off.UpdatedAt = off.PublishedAt
	}
	if s.StatusMessage != "" {
		msg := s.StatusMessage
		off.StatusMessage = &msg
	}
	b, err := json.Marshal(v0.ResponseMeta{Official: &off})
	if err != nil {
		return nil, fmt.Errorf("encode the official _meta of %s@%s: %w", s.Name, s.Version, err)
	}
	return b, nil
}
