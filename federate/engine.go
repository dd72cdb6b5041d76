package federate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
)

// SnapshotSource is what the engine needs from a source that holds its data
// in memory (file, git, mirror): its current snapshot, nil until the first
// good load.
type SnapshotSource interface {
	Name() string
	Snapshot() *upstream.Snapshot
}

// LiveSource is what the engine needs from a registry it queries on demand:
// one read at a time (already decorated with cache, breaker, rate limit).
type LiveSource interface {
	Name() string
	Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error)
	// PageSize is the list page size to ask of the upstream.
	PageSize() int
	// MaxPagesPerRequest bounds the upstream pages one client request
	// reads from the source (see liveStream).
	MaxPagesPerRequest() int
	// ReportFault counts a fault the engine found in what the upstream
	// answered (a page that makes no progress) as a failure for the
	// source's breaker.
	ReportFault(err error)
	// Served reports whether the upstream has answered at least once
	// (readiness of a required live source).
	Served() bool
	// Index returns the source's local index of its upstream's full list
	// when list queries must be answered from it (an upstream that lists
	// in another order than bytes), or nil, nil while they are forwarded
	// page by page. It may block for a first build, within ctx.
	Index(ctx context.Context) (*upstream.Index, error)
	// ReportDisorder tells the source that a walk met entries out of byte
	// order (with order auto it switches to its index).
	ReportDisorder()
	// Artifacts returns the upstream's skills or plugins (ToolHive's
	// registry extension), every version; none when it serves none.
	Artifacts(ctx context.Context, kind upstream.ArtifactKind) (*upstream.Artifacts, error)
	// OrderMode says how list queries are served now ("bytes": forwarded,
	// "index": from Index), without blocking. It is part of Revision: an
	// answer cached before a switch is not served after it.
	OrderMode() string
}

// Member is a source as the engine sees it: a snapshot source or a live
// source, and how it takes part.
type Member struct {
	Source SnapshotSource
	Live   LiveSource
	// Required sources fail the request (502) instead of being skipped.
	Required bool
	// Admit is a live source's own filter (nil keeps everything). The
	// engine applies it after judging the upstream's pages as they came
	// (order, progress), so a page the filter empties is not a fault.
	Admit func(*upstream.Entry) bool
}

// Name is the member's source name.
func (m Member) Name() string {
	if m.Live != nil {
		return m.Live.Name()
	}
	return m.Source.Name()
}

// Engine answers registry queries over its members in priority order
// (first wins).
type Engine struct {
	members      []Member
	reservations *filter.Reservations
	observeMerge func(time.Duration)
	outOfOrder   func(source string, n int)
	dropped      func(source, reason string, n int)
	timeout      time.Duration
	clock        func() time.Time
	logger       *slog.Logger
	cursors      *cursorCodec
	warnings     *warnings
	// all is the scope of a view over every member; scopes caches the
	// scopes of views over a subset, by scopeKey.
	all    *scope
	scopes sync.Map
	// images holds, per member, the image index of its current snapshot
	// (deployed instances are matched to servers by image).
	images []atomic.Pointer[imageIndex]
}

// scope is the members a view answers from: indexes into Engine.members
// in the view's priority order, and the reservations among them.
type scope struct {
	members []int
	res     *filter.Reservations
}

// ErrUnknownSource is a view naming a source that is not a member.
var ErrUnknownSource = errors.New("unknown source")

// CheckView reports whether the engine can serve v: every name in
// v.Sources is a member, and none is named twice. The error lists the
// unknown names (ErrUnknownSource).
func (e *Engine) CheckView(v *View) error {
	_, err := e.scopeOf(v)
	return err
}

func scopeKey(sources []string) string { return strings.Join(sources, "\x00") }

// scopeOf resolves a view's sources (made once per distinct list).
func (e *Engine) scopeOf(v *View) (*scope, error) {
	if v == nil || len(v.Sources) == 0 {
		return e.all, nil
	}
	k := scopeKey(v.Sources)
	if sc, ok := e.scopes.Load(k); ok {
		return sc.(*scope), nil
	}
	index := make(map[string]int, len(e.members))
	for i, m := range e.members {
		index[m.Name()] = i
	}
	sc := &scope{}
	var unknown, twice []string
	seen := map[string]bool{}
	for _, name := range v.Sources {
		i, ok := index[name]
		switch {
		case !ok:
			unknown = append(unknown, name)
		case seen[name]:
			twice = append(twice, name)
		default:
			seen[name] = true
			sc.members = append(sc.members, i)
		}
	}
	var errs []error
	if len(unknown) > 0 {
		errs = append(errs, fmt.Errorf("view %q: %w %s (the sources are %s)", v.Name, ErrUnknownSource,
			strings.Join(unknown, ", "), strings.Join(e.SourceNames(), ", ")))
	}
	if len(twice) > 0 {
		errs = append(errs, fmt.Errorf("view %q: sources named more than once: %s", v.Name, strings.Join(twice, ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sc.res = e.reservations.Among(v.Sources)
	got, _ := e.scopes.LoadOrStore(k, sc)
	return got.(*scope), nil
}

// EngineOptions configure an engine.
type EngineOptions struct {
	Members      []Member
	Reservations *filter.Reservations
	// ObserveMerge records how long a merge took (metrics); may be nil.
	ObserveMerge func(time.Duration)
	// OutOfOrder is told of entries a live source sent out of order; may be nil.
	OutOfOrder func(source string, n int)
	// Dropped is told, for every answer, of the entries a source had that
	// the answer leaves out, and why (DropOutOfOrder, DropInvalid,
	// DropOverBound): a metric and the sources endpoint show them. The same
	// upstream record counts once per answer that lacks it. May be nil.
	Dropped func(source, reason string, n int)
	// RequestTimeout bounds the whole fan-out of one request (default 10s).
	RequestTimeout time.Duration
	// CursorKeys authenticate list cursors (HMAC-SHA256): the first signs,
	// every one verifies (rotation: put the new key first, drop the old
	// one once its cursors have expired from use). Each key is at least
	// MinCursorKeyBytes long. Without keys a random key is made: cursors
	// then hold for this process only, not across replicas or restarts.
	CursorKeys [][]byte
	// WarnInterval is how often a repeated warning about one source is
	// logged (with the count since the last line); default 1m.
	WarnInterval time.Duration
	Clock        func() time.Time
	Logger       *slog.Logger
}

// DefaultWarnInterval is how often a repeated warning about one source is
// logged unless EngineOptions.WarnInterval says otherwise.
const DefaultWarnInterval = time.Minute

// DefaultRequestTimeout bounds one request's fan-out unless configured.
const DefaultRequestTimeout = 10 * time.Second

// NewEngine builds an engine over members in priority order. Its only
// error is an unusable cursor key (ErrCursorKey).
func NewEngine(o EngineOptions) (*Engine, error) {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.WarnInterval <= 0 {
		o.WarnInterval = DefaultWarnInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	codec, random, err := newCursorCodec(o.CursorKeys)
	if err != nil {
		return nil, err
	}
	if random {
		o.Logger.Warn("no cursor key given: list cursors are signed with a random key and hold for this process only")
	}
	all := &scope{res: o.Reservations}
	for i := range o.Members {
		all.members = append(all.members, i)
	}
	return &Engine{
		members: o.Members, reservations: o.Reservations, observeMerge: o.ObserveMerge,
		outOfOrder: o.OutOfOrder, dropped: o.Dropped, timeout: o.RequestTimeout, clock: o.Clock, logger: o.Logger,
		cursors: codec, warnings: newWarnings(o.Logger, o.Clock, o.WarnInterval), all: all,
		images: make([]atomic.Pointer[imageIndex], len(o.Members)),
	}, nil
}

// errNoData is a snapshot source that has not loaded yet, or whose loads
// have all failed.
var errNoData = errors.New("no data to serve")

// Report says which sources could not take part in an answer, which left
// entries out of it, and which answered from stale cache.
type Report struct {
	Failed []string
	Stale  []string
	// Dropped are sources that took part but whose answer lacks entries
	// they had: out of byte order, invalid upstream records, over a bound.
	Dropped []string
}

// Complete reports whether every source took part with everything it had.
func (r Report) Complete() bool { return len(r.Failed) == 0 && len(r.Dropped) == 0 }

// FailedHeader formats the failed sources for the response header.
func (r Report) FailedHeader() string { return joinSorted(r.Failed) }

// DroppedHeader formats the sources that left entries out for the response header.
func (r Report) DroppedHeader() string { return joinSorted(r.Dropped) }

// StaleHeader formats the stale sources for the response header.
func (r Report) StaleHeader() string { return joinSorted(r.Stale) }

func joinSorted(names []string) string {
	return strings.Join(slices.Compact(slices.Sorted(slices.Values(names))), ",")
}

func (r *Report) fail(name string)  { r.Failed = append(r.Failed, name) }
func (r *Report) stale(name string) { r.Stale = append(r.Stale, name) }
func (r *Report) drop(name string)  { r.Dropped = append(r.Dropped, name) }

// Why a source's entries were left out of an answer (EngineOptions.Dropped).
const (
	// DropOutOfOrder: a live upstream listed entries out of byte order;
	// a forwarded walk cannot place them.
	DropOutOfOrder = "out_of_order"
	// DropInvalid: the upstream sent records that fail validation.
	DropInvalid = "invalid"
	// DropOverBound: an upstream page longer than mcpfed can keep a
	// position in (maxUpstreamPage entries).
	DropOverBound = "over_bound"
)

// dropReason maps an upstream DropReason to a reason label.
func dropReason(upstreamReason string) string {
	if upstreamReason == "" || upstreamReason == upstream.DropInvalid {
		return DropInvalid
	}
	return "other" // a metric label: never an open-ended text
}

// noteDropped reports n entries of source left out of an answer: the
// answer is incomplete, the hook counts them.
func (e *Engine) noteDropped(rep *Report, source, reason string, n int) {
	if n <= 0 {
		return
	}
	rep.drop(source)
	if e.dropped != nil {
		e.dropped(source, reason, n)
	}
}

// Page is one page of a list answer.
type Page struct {
	Entries    []*upstream.Entry
	NextCursor string
	Report
}

// bound is a member for one request: a snapshot source with the snapshot it
// answers from (so a request sees each source at one revision even if it
// reloads meanwhile), or a live source. A live source that answers list
// queries from its index has the index's snapshot too (indexed): the merge
// reads it as any snapshot.
type bound struct {
	name     string
	rank     int // priority: the member's index in the view
	snap     *upstream.Snapshot
	live     LiveSource
	required bool
	admit    func(*upstream.Entry) bool
	indexed  bool
	// indexErr is a live source whose index could not be had: it takes no
	// part in the list answer.
	indexErr error
}

// forwarded reports a live source whose list pages are read from the
// upstream in this request.
func (b bound) forwarded() bool { return b.live != nil && !b.indexed && b.indexErr == nil }

// bind takes each snapshot member's snapshot once. A snapshot member
// without one has failed: a required one fails the request, others are
// reported. Live members are bound as they are: they fail (or not) when asked.
// Only the scope's members are bound, ranked in the scope's order.
func (e *Engine) bind(sc *scope) ([]bound, Report, error) {
	var rep Report
	out := make([]bound, 0, len(sc.members))
	for i, mi := range sc.members {
		m := e.members[mi]
		b := bound{name: m.Name(), rank: i, live: m.Live, required: m.Required, admit: m.Admit}
		if m.Live == nil {
			b.snap = m.Source.Snapshot()
			if b.snap == nil {
				if m.Required {
					return nil, rep, requiredFailed(b.name, errNoData)
				}
				rep.fail(b.name)
				continue
			}
		}
		out = append(out, b)
	}
	return out, rep, nil
}

// Revision identifies the data of the snapshot members: it changes when any
// of them reloads. Of live members only how they serve lists takes part
// (response caches expire their answers by time): answers given while a
// source was forwarded, before it switched to its index, may lack entries
// the index has.
func (e *Engine) Revision() string {
	var b strings.Builder
	for _, m := range e.members {
		if m.Live == nil {
			if s := m.Source.Snapshot(); s != nil {
				b.WriteString(s.Revision)
			}
		} else {
			b.WriteString(m.Live.OrderMode())
		}
		b.WriteByte(',')
	}
	return b.String()
}

// List answers the list endpoint for a view.
func (e *Engine) List(ctx context.Context, q Query, view *View) (*Page, error) {
	start := e.clock()
	defer func() {
		if e.observeMerge != nil {
			e.observeMerge(e.clock().Sub(start))
		}
	}()
	if q.Version == LatestVersion && view.curated() {
		return e.curatedLatest(ctx, q, view)
	}
	sc, err := e.scopeOf(view)
	if err != nil {
		return nil, err
	}
	fp := q.fingerprint(view.identity())
	var after cursor
	if q.Cursor != "" {
		c, err := e.cursors.decode(q.Cursor, fp)
		if err != nil {
			return nil, err
		}
		after = c
	}
	srcs, rep, err := e.bind(sc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	if err := e.bindIndexes(ctx, srcs, &rep); err != nil {
		return nil, err
	}
	m := newMerge(e, sc, srcs, q, view, after, &rep)
	entries, next, err := m.page(ctx, q.Limit)
	if err != nil {
		return nil, err
	}
	page := &Page{Entries: entries, Report: rep}
	if next != nil {
		next.Q = fp
		page.NextCursor = e.cursors.encode(*next)
	}
	return page, nil
}

// Ready reports whether every required source has data to serve and every
// other source has made its first attempt; it names those that have not.
// served tells, for live sources, whether the upstream has answered yet.
func (e *Engine) Ready(attempted func(name string) bool) (bool, []string) {
	var waiting []string
	for _, m := range e.members {
		if m.Live != nil {
			if m.Required && !m.Live.Served() {
				waiting = append(waiting, m.Name())
			}
			continue
		}
		if m.Source.Snapshot() != nil {
			continue
		}
		if m.Required || !attempted(m.Name()) {
			waiting = append(waiting, m.Name())
		}
	}
	return len(waiting) == 0, waiting
}

func visible(e *upstream.Entry, includeDeleted bool) bool {
	return includeDeleted || e.Status != "deleted"
}

// matches applies the query's entry filters.
func (q Query) matches(e *upstream.Entry) bool {
	if !visible(e, q.IncludeDeleted) {
		return false
	}
	if q.Version != "" && q.Version != LatestVersion && e.Version != q.Version {
		return false
	}
	if !q.UpdatedSince.IsZero() && !e.UpdatedAt.After(q.UpdatedSince) {
		return false
	}
	switch {
	case q.Status != "" && string(e.Status) != q.Status,
		q.Transport != "" && !slices.Contains(e.Transports, q.Transport),
		q.PackageType != "" && !slices.Contains(e.PackageTypes, q.PackageType),
		q.Source != "" && e.Source != q.Source:
		return false
	}
	return q.Search == "" || e.MatchesSearch(q.Search)
}

// SourceNames lists the members in priority order.
func (e *Engine) SourceNames() []string {
	names := make([]string, len(e.members))
	for i, m := range e.members {
		names[i] = m.Name()
	}
	return names
}

// logSkip records a source left out of an answer. An open breaker is
// logged once, when it opens (by the source); repeating it for every
// request would cost more than the answer. Other causes are logged at most
// once per source and interval, with a count (a failing upstream under
// load would otherwise write a line per request).
func (e *Engine) logSkip(ctx context.Context, source string, err error) {
	if errors.Is(err, upstream.ErrBreakerOpen) {
		e.logger.DebugContext(ctx, "source skipped in answer", "source", source, "error", err)
		return
	}
	e.warnings.warn(ctx, source, "source skipped in answer", 1, "error", err)
}

// bindIndexes asks every live member for its list index, at once (a first
// build waits for a crawl). A member with an index answers from its
// snapshot, sought by key: its upstream position in the cursor is ignored,
// since the index is in mcpfed's order. An index that cannot be had fails
// the member: the request if it is required, else the answer is partial.
// A stale index makes the answer stale, one that lacks records incomplete.
func (e *Engine) bindIndexes(ctx context.Context, srcs []bound, rep *Report) error {
	type result struct {
		idx *upstream.Index
		err error
	}
	if !slices.ContainsFunc(srcs, func(b bound) bool { return b.live != nil }) {
		return nil
	}
	results := make([]result, len(srcs))
	g, gctx := errgroup.WithContext(ctx)
	for i, b := range srcs {
		if b.live == nil {
			continue
		}
		g.Go(func() error {
			idx, err := b.live.Index(gctx)
			if err != nil {
				err = fmt.Errorf("list index of %s: %w", b.name, err)
				if b.required {
					return requiredFailed(b.name, err) // abort: cancels the others
				}
			}
			results[i] = result{idx, err}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i := range srcs {
		b, r := &srcs[i], results[i]
		switch {
		case r.err != nil:
			b.indexErr = r.err
		case r.idx != nil && r.idx.Snapshot != nil:
			b.snap, b.indexed = r.idx.Snapshot, true
			if r.idx.Stale {
				rep.stale(b.name)
			}
			e.noteDropped(rep, b.name, dropReason(r.idx.DropReason), r.idx.Dropped)
		}
	}
	return nil
}
