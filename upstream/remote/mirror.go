package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

// MirrorOptions configure an api source in mirror mode.
type MirrorOptions struct {
	Client    ClientOptions
	RateLimit RateLimitOptions
	// Interval between incremental polls (default 5m).
	Interval time.Duration
	// ResyncEvery forces a full crawl this often (default 24h): hard
	// deletions and anything a poll could miss are caught up.
	ResyncEvery time.Duration
	// Overlap is subtracted from the last seen update time for each poll,
	// so updates committed out of order upstream are not missed (default
	// 1m); what comes back twice is recognised and ignored.
	Overlap time.Duration
	// PageSize of the crawl (default DefaultPageSize).
	PageSize int
	// Bounds of one crawl or poll: pages, entries and response bytes
	// (defaults DefaultCrawlMaxPages, DefaultCrawlMaxEntries,
	// DefaultCrawlMaxBytes). The byte bound is what bounds memory.
	MaxPages   int
	MaxEntries int
	MaxBytes   int64
	// CrawlTimeout bounds one full crawl (default DefaultCrawlTimeout); a
	// poll is bounded by its interval, at least DefaultPollTimeout, at
	// most CrawlTimeout.
	CrawlTimeout time.Duration
	// StateDir persists the mirrored snapshot (restored at start).
	StateDir string
	// Store, when set, replaces the StateDir store, which is bounded by
	// twice crawl.maxBytes (the entries and their _meta blocks).
	Store upstream.SnapshotStore
	// ReadOnly restores from the store and never saves (mcpfed check).
	ReadOnly bool
	// Instrument wraps the upstream calls with metrics (may be nil).
	Instrument func(source string, next upstream.Fetcher) upstream.Fetcher
	Admit      func(*upstream.Entry) bool
	Clock      func() time.Time
	Logger     *slog.Logger
	OnLoad     func(upstream.SourceStatus, time.Duration)
}

// ErrCrawlTooLarge is a crawl that passed one of its bounds.
var ErrCrawlTooLarge = errors.New("crawl exceeds its bounds")

// ErrNoProgress is an upstream whose next page holds nothing new.
var ErrNoProgress = errors.New("upstream page makes no forward progress: every entry was on an earlier page")

// ErrCrawlTimeout is a crawl or poll that did not complete within its deadline.
var ErrCrawlTimeout = errors.New("crawl did not complete in time")

// Mirror keeps a local copy of a registry: a full crawl at start, then
// polls with updated_since that apply new versions, status changes and
// deletions, and a periodic full resync. isLatest is recomputed per name by
// the official rules: a version that loses the flag upstream is not part of
// an updated_since answer, so the upstream's flags cannot be trusted here.
// A crawl replaces the snapshot only when it completes; a failed one keeps
// the last good snapshot.
type Mirror struct {
	*upstream.Holder
	o      MirrorOptions
	fetch  upstream.Fetcher
	where  string
	logger *slog.Logger

	// Guarded by the holder's attempt serialisation.
	all      map[upstream.Key]*upstream.Entry // every version, deleted included
	since    time.Time                        // newest updatedAt seen
	lastFull time.Time
	forced   bool
	// artifacts are the skills and plugins of the last good walk of each
	// kind (unfiltered: Install applies the filter); artifactsDue makes
	// the next sync walk them, even a poll: set at start and after a
	// failed walk.
	artifacts    map[upstream.ArtifactKind][]*upstream.Artifact
	artifactsDue bool

	statsMu    sync.Mutex
	last       CrawlStats
	restoredAt time.Time // when the restored snapshot was saved
}

// CrawlStats describe the last crawl or poll.
type CrawlStats struct {
	Full     bool
	Requests int
	Bytes    int64
	Entries  int // entries received
	// Dropped counts the records the upstream sent that were skipped
	// (DropReason says why: invalid records).
	Dropped    int
	DropReason string
	Changed    int // entries that were new or different
	// Artifacts describes the walks of skills and plugins, done on every
	// full crawl (and on the first poll after a start or a failed walk);
	// zero when the sync walked none.
	Artifacts MirrorArtifactStats
}

// MirrorArtifactStats sum a sync's artifact walks.
type MirrorArtifactStats struct {
	Walked   bool
	Requests int
	Bytes    int64
	// Versions counts the artifact versions held after the walks.
	Versions int
	Changed  bool
	// Error is the first walk that failed; that kind keeps its last good
	// artifacts, and the next sync walks again.
	Error string
}

// NewMirror validates the options (every problem, see Validate) and
// applies the defaults.
func NewMirror(o MirrorOptions) (*Mirror, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.withDefaults()
	client, err := NewClient(o.Client)
	if err != nil {
		return nil, err
	}
	store := o.Store
	if store == nil && o.StateDir != "" {
		store = upstream.NewStateDirStore(o.StateDir, o.Client.Source, "api", 2*o.MaxBytes)
	}
	if o.ReadOnly {
		store = upstream.ReadOnly(store)
	}
	h := upstream.NewHolder(upstream.HolderOptions{
		Name: o.Client.Source, Kind: "api", Admit: o.Admit, Store: store, RecomputeLatest: true,
		Clock: o.Clock, Logger: o.Client.Logger, OnLoad: o.OnLoad,
	})
	var f upstream.Fetcher = NewRateLimiter(client, o.RateLimit)
	if o.Instrument != nil {
		f = o.Instrument(o.Client.Source, f)
	}
	logger := o.Client.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mirror{Holder: h, o: o, fetch: f, where: client.Host(), logger: logger, artifactsDue: true}, nil
}

// Run serves the persisted copy if there is one, syncs at once, then polls
// every Interval until ctx ends.
func (m *Mirror) Run(ctx context.Context) {
	upstream.RunLoop(ctx, m.o.Interval, m.Restore, m.Load)
}

// Load syncs once: a full crawl when there is no complete copy yet or a
// resync is due, else a poll.
func (m *Mirror) Load(ctx context.Context) error {
	return m.Attempt(ctx, m.where, m.sync)
}

// Resync makes the next Load a full crawl and runs it.
func (m *Mirror) Resync(ctx context.Context) error {
	return m.Attempt(ctx, m.where, func(ctx context.Context, now time.Time) error {
		m.forced = true
		return m.sync(ctx, now)
	})
}

// LastCrawl describes the last crawl or poll (requests and bytes it cost).
func (m *Mirror) LastCrawl() CrawlStats {
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	return m.last
}

func (m *Mirror) setStats(st CrawlStats) {
	m.statsMu.Lock()
	m.last = st
	m.statsMu.Unlock()
}

func (m *Mirror) sync(ctx context.Context, now time.Time) error {
	if m.all == nil {
		m.adoptRestored()
	}
	full := m.all == nil || m.forced || now.Sub(m.lastFull) >= m.o.ResyncEvery
	req := upstream.Request{Op: upstream.OpList, Limit: m.o.PageSize, IncludeDeleted: true}
	timeout, what := m.o.CrawlTimeout, "crawl.timeout"
	if !full {
		req.UpdatedSince = m.since.Add(-m.o.Overlap)
		timeout, what = m.o.pollTimeout(), "poll deadline"
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("%w: %s %s passed", ErrCrawlTimeout, what, timeout))
	defer cancel()
	got, stats, err := crawl(ctx, m.fetch, req, m.o.bounds())
	stats.Full = full
	defer func() { m.setStats(stats) }()
	if err != nil {
		return err
	}
	arts, artsDue := m.artifacts, m.artifactsDue
	if full || m.artifactsDue {
		arts, stats.Artifacts = m.walkArtifacts(ctx)
		artsDue = stats.Artifacts.Error != ""
	}
	next := got
	if !full {
		next = make(map[upstream.Key]*upstream.Entry, len(m.all)+len(got))
		for k, e := range m.all {
			next[k] = e
		}
		for k, e := range got {
			if old, ok := m.all[k]; ok && sameEntry(old, e) {
				continue
			}
			next[k] = e
			stats.Changed++
		}
		if stats.Changed == 0 && !stats.Artifacts.Changed {
			m.artifactsDue = artsDue
			return upstream.ErrUnchanged
		}
	} else {
		stats.Changed = len(got)
		m.lastFull, m.forced = now, false
	}
	entries := make([]*upstream.Entry, 0, len(next))
	since := m.since
	for _, e := range next {
		entries = append(entries, e)
		if e.UpdatedAt.After(since) {
			since = e.UpdatedAt
		}
	}
	if err := m.Install(&upstream.Document{Entries: entries, Artifacts: arts}, now); err != nil {
		return err
	}
	m.all, m.since = m.retain(next), since
	m.artifacts, m.artifactsDue = arts, artsDue
	return nil
}

// retain keeps, for each version, the snapshot's own entry where there is
// one: its body lives inside its encoding, so the copy the mirror keeps
// for the next poll costs nothing extra. Versions the filter dropped keep
// their own entry, without its encoding.
func (m *Mirror) retain(next map[upstream.Key]*upstream.Entry) map[upstream.Key]*upstream.Entry {
	snap := m.Snapshot()
	for k, e := range next {
		if own := snap.Get(k.Name, k.Version); own != nil {
			next[k] = own
		} else if e.Encoded != nil {
			cp := *e
			cp.Server = append([]byte(nil), e.Server...)
			cp.Encoded = nil
			next[k] = &cp
		}
	}
	return next
}

// adoptRestored starts polling from a persisted snapshot: its entries are
// the copy, and the next full crawl is due at once only if it is old.
func (m *Mirror) adoptRestored() {
	snap := m.Snapshot()
	if snap == nil {
		return
	}
	m.all = make(map[upstream.Key]*upstream.Entry, snap.Len())
	for _, e := range snap.Entries() {
		m.all[e.Key()] = e
		if e.UpdatedAt.After(m.since) {
			m.since = e.UpdatedAt
		}
	}
	m.statsMu.Lock()
	m.lastFull = m.restoredAt
	m.statsMu.Unlock()
	// The persisted artifacts stand until the first walk (due at once)
	// replaces them; a failed walk keeps them.
	m.artifacts = snap.ArtifactMap()
}

// Restore serves the persisted copy until the first sync, which then polls
// from it instead of crawling (unless a resync is due).
func (m *Mirror) Restore() bool {
	if !m.Holder.Restore() {
		return false
	}
	m.statsMu.Lock()
	m.restoredAt = m.Status().LastSuccess
	m.statsMu.Unlock()
	return true
}

// sameEntry reports whether a re-received entry brings nothing new: the
// same server body and the same registry metadata.
func sameEntry(a, b *upstream.Entry) bool {
	return bytes.Equal(a.Server, b.Server) && a.Status == b.Status && a.StatusMessage == b.StatusMessage &&
		a.UpdatedAt.Equal(b.UpdatedAt) && a.PublishedAt.Equal(b.PublishedAt) && a.StatusChangedAt.Equal(b.StatusChangedAt)
}
