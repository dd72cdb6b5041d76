package remote

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/cache"
	"github.com/mcpfed/mcpfed/upstream"
)

// DefaultArtifactVersionsMaxAge is how long a live source keeps the
// versions it read of an artifact whose listed latest version has not
// changed since: the list is read whenever the cache needs it (every
// cache.fresh), each artifact's versions (one request per artifact) only
// when its listing changed or this much time has passed.
const DefaultArtifactVersionsMaxAge = time.Hour

// liveArtifacts is a live source's cache of its upstream's skills and
// plugins: one entry per kind, fresh for cache.fresh, served stale on
// error for cache.stale more, one walk per kind at a time.
type liveArtifacts struct {
	loader *cache.Loader[*upstream.Artifacts]
	maxAge time.Duration
	// closed ends with close: a walk outlives the request that started
	// it (bounded like a crawl), but not the source.
	closed context.Context
	stop   context.CancelFunc

	mu   sync.Mutex
	memo map[upstream.ArtifactKind]*versionMemo
}

// versionMemo is what the last walk of a kind read of each artifact's
// versions, to spare the requests when the listing did not change.
type versionMemo struct {
	at   time.Time // when every artifact's versions were last read
	byID map[string]memoEntry
}

type memoEntry struct {
	listed   []byte
	versions []*upstream.Artifact
}

func newLiveArtifacts(o LiveOptions) *liveArtifacts {
	c := cache.New(cache.Options[*upstream.Artifacts]{
		Name:       "artifacts",
		MaxEntries: 2 * len(upstream.ArtifactKinds),
		Fresh:      o.PageCache.Fresh,
		Stale:      o.PageCache.Stale,
		Clock:      o.Clock,
		Observer:   o.CacheObserver,
	})
	closed, stop := context.WithCancel(context.Background())
	return &liveArtifacts{
		// A walk reads many pages: it is bounded like a crawl.
		loader: cache.NewLoader(c, cache.LoaderOptions{Group: "artifacts", Timeout: o.Crawl.Timeout, Observer: o.CacheObserver}),
		maxAge: DefaultArtifactVersionsMaxAge,
		closed: closed,
		stop:   stop,
		memo:   map[upstream.ArtifactKind]*versionMemo{},
	}
}

// close stops running walks and waits for them.
func (la *liveArtifacts) close() {
	la.stop()
	la.loader.Close()
}

// Artifacts returns the upstream's skills or plugins, every version
// (ToolHive's list holds latest versions only: each artifact's versions
// are read too, see DefaultArtifactVersionsMaxAge), kept by the source's
// filter, ordered by (namespace/name, version). An upstream that serves no
// such extension (404, 405, 501) has none: empty, no error. The walk goes
// through the breaker and the rate limit and is bounded like a crawl (the
// crawl block: pages, bytes, entries, timeout); its result is cached. When
// the upstream fails or cannot be asked now, a stale result is served if
// there is one; otherwise the error is returned.
func (l *Live) Artifacts(ctx context.Context, kind upstream.ArtifactKind) (*upstream.Artifacts, error) {
	if !slices.Contains(upstream.ArtifactKinds, kind) {
		return nil, fmt.Errorf("unknown artifact kind %q", kind)
	}
	key := string(kind)
	load := func(ctx context.Context) (*upstream.Artifacts, bool, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(l.artifacts.closed, cancel)()
		a, err := l.walkArtifacts(ctx, kind)
		return a, err == nil, err
	}
	if !l.cached.ready() {
		switch _, st := l.artifacts.loader.Cache().Peek(key); {
		case st == cache.Stale:
			load = func(context.Context) (*upstream.Artifacts, bool, error) { return nil, false, errNotReady }
		case st == cache.Miss && l.cached.open():
			// The breaker answers at once (and is measured): no flight needed.
			return l.walkArtifacts(ctx, kind)
		}
	}
	a, stale, err := l.artifacts.loader.Load(ctx, key, load)
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", kind, l.name, err)
	}
	if stale {
		return a.AsStale(), nil
	}
	return a, nil
}

// walkArtifacts reads one kind from the upstream, below the page cache.
func (l *Live) walkArtifacts(ctx context.Context, kind upstream.ArtifactKind) (*upstream.Artifacts, error) {
	now := l.clock()
	la := l.artifacts
	la.mu.Lock()
	memo := la.memo[kind]
	la.mu.Unlock()
	full := memo == nil || now.Sub(memo.at) >= la.maxAge
	w := artifactWalk{fetch: l.below, kind: kind, pageSize: l.pageSize, bounds: l.bounds, versions: true}
	if !full {
		w.reuse = func(id string, listed []byte) ([]*upstream.Artifact, bool) {
			e, ok := memo.byID[id]
			return e.versions, ok && bytes.Equal(e.listed, listed)
		}
	}
	got, err := w.run(ctx)
	if err != nil {
		return nil, err
	}
	l.served.Store(true)
	if got.stats.VersionErrors > 0 {
		l.logger.Warn("could not read the versions of some artifacts; their listed versions are served", "source", l.name, "kind", kind,
			"artifacts", got.stats.VersionErrors, "first", got.stats.FirstVersionError)
	}
	next := &versionMemo{at: now, byID: make(map[string]memoEntry, len(got.versionsOf))}
	if !full {
		next.at = memo.at
	}
	for id, versions := range got.versionsOf {
		next.byID[id] = memoEntry{listed: got.listed[id], versions: versions}
	}
	la.mu.Lock()
	la.memo[kind] = next
	la.mu.Unlock()
	items := got.items
	if l.admit != nil {
		items = slices.DeleteFunc(slices.Clone(items), func(a *upstream.Artifact) bool { return !l.admit(a.FilterEntry()) })
	}
	return upstream.NewArtifacts(l.name, items)
}
