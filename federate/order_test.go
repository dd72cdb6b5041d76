package federate

// Tests of issue 10: upstreams that list in another order than bytes (a
// database with a language-aware collation) are served completely and in
// mcpfed's order, and no answer from which anything was dropped is called
// complete or cached.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/remote"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// collVersion is one version of the collation dataset.
type collVersion struct {
	name, version string
	deleted       bool
	latest        bool
	published     time.Time
}

// collDataset has names with upper case, _, -, . and digits, which an
// American English collation orders unlike bytes ("a_b" before "a-b",
// "Zeta" after lower-case names). Each name's versions are listed oldest
// publication first, the reverse of what /versions promises, two of them
// published at the same instant; one name's latest version is deleted and
// keeps isLatest, as the official registry leaves it.
func collDataset() []collVersion {
	stems := []string{"a_b", "a-b", "a.b", "a10", "a9", "alpha", "Zeta", "zeta", "B-2", "b_1", "Tool.x", "tool-x", "x1"}
	owners := []string{"io.github.acme", "io.github.ACME", "com.example-x", "com.Example"}
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var out []collVersion
	i := 0
	for _, o := range owners {
		for _, s := range stems[:5+len(o)%4] {
			name := o + "/" + s
			at := t0.Add(time.Duration(i) * time.Hour)
			switch i % 3 {
			case 0:
				out = append(out, collVersion{name: name, version: "1.0.0", latest: true, published: at})
			case 1:
				out = append(out,
					collVersion{name: name, version: "1.9.0", published: at},
					collVersion{name: name, version: "1.10.0", latest: true, published: at.Add(time.Minute)})
			default:
				out = append(out,
					collVersion{name: name, version: "0.1.0", published: at},
					collVersion{name: name, version: "2.0.0-rc.1", published: at.Add(time.Minute)},
					// Same instant: the higher version comes first.
					collVersion{name: name, version: "2.0.0", latest: true, published: at.Add(time.Minute)})
			}
			i++
		}
	}
	last := &out[len(out)-1]
	last.latest = false
	out = append(out, collVersion{name: last.name, version: "3.0.0", deleted: true, latest: true, published: last.published.Add(time.Hour)})
	return out
}

func collEntries(vs []collVersion) []json.RawMessage {
	out := make([]json.RawMessage, len(vs))
	for i, v := range vs {
		o := upstreamtest.Official{PublishedAt: v.published, UpdatedAt: v.published, IsLatest: v.latest}
		if v.deleted {
			o.Status = upstreamtest.StatusDeleted
		}
		out[i] = upstreamtest.CollatedEntry(v.name, v.version, o)
	}
	return out
}

func collRef(name string, vs []collVersion) fedRef {
	r := fedRef{name: name, live: true}
	for _, v := range vs {
		r.entries = append(r.entries, refEntry{name: v.name, version: v.version, description: "Test server " + v.name,
			deleted: v.deleted, latest: v.latest, updated: v.published})
	}
	return r
}

// serveCollated serves the dataset in collation order and counts list requests.
func serveCollated(t *testing.T, vs []collVersion) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	c, err := upstreamtest.NewCollated(collEntries(vs))
	if err != nil {
		t.Fatal(err)
	}
	var lists atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("limit") {
			lists.Add(1)
		}
		c.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &lists
}

// newCollLive is a live source over srv as wire.go builds one, with order.
func newCollLive(t *testing.T, name string, srv *httptest.Server, order string, pageSize int) *remote.Live {
	t.Helper()
	l, err := remote.NewLive(remote.LiveOptions{
		Client:             remote.ClientOptions{Source: name, BaseURL: srv.URL, Timeout: 2 * time.Second, Transport: srv.Client().Transport},
		Breaker:            remote.BreakerOptions{Failures: 1000, OpenFor: time.Minute},
		PageCache:          remote.PageCacheOptions{MaxEntries: 1000, Fresh: time.Minute, Stale: time.Hour, FlightTimeout: 3 * time.Second},
		RateLimit:          remote.RateLimitOptions{Retries: 1},
		PageSize:           pageSize,
		MaxPagesPerRequest: 50,
		Order:              order,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		l.Close()
	})
	return l
}

// collLocal is a file source below the collated one: it shares two of its
// names (shadowed) and adds its own.
func collLocal(t *testing.T) *upstream.FileSource {
	return newFileSource(t, "local", serverList(
		srv{Name: "io.github.acme/Zeta", Version: "9.0.0", Description: "shadowed", Published: "2025-01-01T00:00:00Z"},
		srv{Name: "com.example.x/a_b", Version: "0.0.1", Description: "shadowed", Published: "2025-01-01T00:00:00Z"},
		srv{Name: "io.github.acme/Omega", Version: "1.0.0", Description: "local only", Published: "2025-01-01T00:00:00Z"},
		srv{Name: "com.example/b_1", Version: "1.0.0", Description: "local only", Published: "2025-01-01T00:00:00Z"},
	))
}

// pageReport is what a walk saw of one page's completeness.
type pageReport struct {
	complete bool
	dropped  string
	cache    string
}

// walkReported walks a listing over HTTP like walk, keeping each page's report.
func walkReported(t *testing.T, e *env, params url.Values, limit int) ([]key, []pageReport) {
	t.Helper()
	var got []key
	var reps []pageReport
	cursor := ""
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("more than 1000 pages: a cursor loop")
		}
		r := e.get(t, pagePath("/v0.1", params, limit, cursor))
		if r.status != http.StatusOK {
			t.Fatalf("page %d: status %d: %s", page, r.status, r.body)
		}
		lb := decodeList(t, r)
		got = append(got, keys(lb.Servers)...)
		reps = append(reps, pageReport{r.header.Get(HeaderComplete) == "true", r.header.Get(HeaderDroppedSources), r.header.Get("Cache-Control")})
		if lb.Metadata.NextCursor == nil {
			return got, reps
		}
		cursor = *lb.Metadata.NextCursor
	}
}

// TestCollatedUpstreamWalk: a live source over an upstream that lists in
// American English collation order, at upstream page sizes 1, 7, 30 and 100
// and client page sizes 1, 7, 30 and 100, merged with a file source.
//   - order upstream: every answer is complete and the walk equals the
//     reference merge (every entry, byte order), from the first answer.
//   - order auto: the first walk may lose entries, but then says so on a
//     page (incomplete, the source named, no-store); it switches the
//     source to its index, and every later walk is complete and equal.
//   - order bytes: the walk stays forwarded; whatever it loses, it says so.
func TestCollatedUpstreamWalk(t *testing.T) {
	t.Parallel()
	data := collDataset()
	queries := []url.Values{
		{"include_deleted": {"true"}},
		{},
		{"version": {"latest"}},
		{"search": {"a_b"}},
		{"updated_since": {"2025-06-02T00:00:00Z"}},
	}
	for _, order := range []string{remote.OrderUpstream, remote.OrderAuto, remote.OrderBytes} {
		for _, pageSize := range []int{1, 7, 30, 100} {
			t.Run(fmt.Sprintf("order=%s/pageSize=%d", order, pageSize), func(t *testing.T) {
				t.Parallel()
				srv, _ := serveCollated(t, data)
				live := newCollLive(t, "coll", srv, order, pageSize)
				local := collLocal(t)
				var mu sync.Mutex
				dropped := map[string]int{}
				e := newFedEnv(t, fedOptions{
					members:       []Member{{Live: live, Required: true}, {Source: local}},
					responseCache: ResponseCacheOptions{MaxEntries: 1000, TTL: time.Minute},
					dropped: func(source, reason string, n int) {
						mu.Lock()
						defer mu.Unlock()
						dropped[source+"/"+reason] += n
					},
				})
				refs := []fedRef{collRef("coll", data), fileRef(local)}
				for _, q := range queries {
					want := fedReferenceMerge(refs, nil, q)
					if len(want) == 0 {
						t.Fatalf("%s: empty reference", queryName(q))
					}
					for _, limit := range []int{1, 7, 30, 100} {
						got, reps := walkReported(t, e, q, limit)
						lossy := slices.ContainsFunc(reps, func(p pageReport) bool { return !p.complete })
						for i, p := range reps {
							if !p.complete && (p.dropped != "coll" || p.cache != "no-store") {
								t.Errorf("%s limit=%d page %d: incomplete, dropped=%q, Cache-Control %q: want coll named, no-store",
									queryName(q), limit, i, p.dropped, p.cache)
							}
						}
						switch {
						case order == remote.OrderBytes:
							if !slices.Equal(got, want) && !lossy {
								t.Errorf("%s limit=%d: a walk that lost entries was called complete on every page", queryName(q), limit)
							}
							continue
						case lossy && order == remote.OrderAuto && live.OrderMode() == remote.OrderModeIndex:
							// The walk that met the disorder; walk again.
							got, reps = walkReported(t, e, q, limit)
						}
						for i, p := range reps {
							if !p.complete {
								t.Errorf("%s limit=%d page %d: incomplete (dropped %q)", queryName(q), limit, i, p.dropped)
							}
						}
						if !slices.Equal(got, want) {
							t.Errorf("%s limit=%d: walk differs from the reference merge", queryName(q), limit)
							diffKeys(t, got, want)
						}
					}
				}
				switch order {
				case remote.OrderBytes:
					if live.OrderMode() != remote.OrderModeBytes {
						t.Error("order bytes switched to the index")
					}
					if pageSize < len(data) && dropped["coll/"+DropOutOfOrder] == 0 {
						t.Errorf("order bytes over a collated upstream: nothing reported dropped (%v)", dropped)
					}
				default:
					if live.OrderMode() != remote.OrderModeIndex {
						t.Errorf("order %s: source still forwarded after walks over a collated upstream", order)
					}
					if order == remote.OrderUpstream && len(dropped) > 0 {
						t.Errorf("order upstream: entries reported dropped: %v", dropped)
					}
				}
			})
		}
	}
}

// TestIndexedLiveSource: a live member whose Index returns an index is read
// as a snapshot: seek by the cursor's key (its upstream position ignored),
// filters, shadowing and reservations applied locally; no list page is
// fetched. A stale index makes the answer stale, one that lacks records
// incomplete; an index that cannot be had fails the source.
func TestIndexedLiveSource(t *testing.T) {
	t.Parallel()
	items := []srv{
		{Name: "io.github.x/Zeta", Version: "1.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"},
		{Name: "io.github.x/a-b", Version: "1.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"},
		{Name: "io.github.x/a_b", Version: "1.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"},
		{Name: "io.github.x/a_b", Version: "1.1.0", Description: "d", Published: "2025-01-02T00:00:00Z", Status: "deleted"},
		{Name: "io.github.res/tool", Version: "1.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"},
		{Name: "io.github.shared/s", Version: "2.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"},
	}
	other := []srv{
		{Name: "io.github.shared/s", Version: "1.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"},
		{Name: "io.github.res/tool", Version: "0.1.0", Description: "d", Published: "2025-01-01T00:00:00Z"},
		{Name: "io.github.y/only", Version: "1.0.0", Description: "d", Published: "2025-01-01T00:00:00Z"},
	}
	indexOf := func(t *testing.T, f *fakeLive) *upstream.Index {
		snap, err := upstream.BuildSnapshot(f.name, f.entries, fixedNow, upstream.SnapshotOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return &upstream.Index{Snapshot: snap, BuiltAt: fixedNow}
	}
	newIndexed := func(t *testing.T, adjust func(*fakeLive, *upstream.Index), required bool, dropped func(string, string, int)) (*Engine, *fakeLive) {
		f := newFakeLive(t, "idx", items...)
		idx := indexOf(t, f)
		if adjust != nil {
			adjust(f, idx)
		}
		f.index = idx
		// Every list page is refused: the index must answer them all.
		f.fail = errors.New("list page fetched from an indexed source")
		b := newSource(t, "b", serverList(other...))
		res, err := filter.NewReservations(map[string][]string{"b": {"io.github.res/*"}}, []string{"idx", "b"})
		if err != nil {
			t.Fatal(err)
		}
		return mustEngine(t, EngineOptions{Members: []Member{{Live: f, Required: required}, {Source: b}},
			Reservations: res, Clock: func() time.Time { return fixedNow }, Dropped: dropped}), f
	}
	want := []key{
		{"io.github.res/tool", "0.1.0", "b"},
		{"io.github.shared/s", "2.0.0", "idx"},
		{"io.github.x/Zeta", "1.0.0", "idx"},
		{"io.github.x/a-b", "1.0.0", "idx"},
		{"io.github.x/a_b", "1.0.0", "idx"},
		{"io.github.y/only", "1.0.0", "b"},
	}
	t.Run("walk", func(t *testing.T) {
		t.Parallel()
		eng, f := newIndexed(t, nil, true, nil)
		for _, limit := range []int{1, 2, 5, 100} {
			diffKeys(t, walkEngine(t, eng, nil, url.Values{}, limit), want)
		}
		got := walkEngine(t, eng, nil, url.Values{"include_deleted": {"true"}, "search": {"a_b"}}, 1)
		diffKeys(t, got, []key{{"io.github.x/a_b", "1.0.0", "idx"}, {"io.github.x/a_b", "1.1.0", "idx"}})
		if n := f.fetches.Load(); n != 0 {
			t.Errorf("%d upstream fetches, want none", n)
		}
	})
	t.Run("upstream position ignored", func(t *testing.T) {
		t.Parallel()
		eng, _ := newIndexed(t, nil, true, nil)
		q, _ := ParseListQuery(url.Values{})
		// A cursor made while the source was forwarded: its position in the
		// upstream means nothing to the index.
		q.Cursor = encodeCursor(cursor{Q: q.fingerprint(""), Name: "io.github.x/Zeta", Version: "1.0.0", Owner: "idx",
			Live: []liveCursor{{Source: "idx", Upstream: "garbage", Used: 7}}})
		p, err := eng.List(context.Background(), q, nil)
		if err != nil {
			t.Fatal(err)
		}
		diffKeys(t, keysOf(p.Entries), want[3:])
		if !p.Complete() || p.NextCursor != "" {
			t.Errorf("complete=%v next=%q", p.Complete(), p.NextCursor)
		}
	})
	t.Run("stale and dropped", func(t *testing.T) {
		t.Parallel()
		var calls []string
		eng, _ := newIndexed(t, func(_ *fakeLive, idx *upstream.Index) {
			idx.Stale, idx.Dropped, idx.DropReason = true, 2, upstream.DropInvalid
		}, true, func(s, r string, n int) { calls = append(calls, fmt.Sprintf("%s/%s/%d", s, r, n)) })
		q, _ := ParseListQuery(url.Values{})
		p, err := eng.List(context.Background(), q, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Complete() || p.DroppedHeader() != "idx" || p.StaleHeader() != "idx" || len(p.Failed) != 0 {
			t.Errorf("report %+v: want idx dropped and stale", p.Report)
		}
		if !slices.Equal(calls, []string{"idx/" + DropInvalid + "/2"}) {
			t.Errorf("Dropped calls %v", calls)
		}
	})
	t.Run("index fails", func(t *testing.T) {
		t.Parallel()
		broken := func(f *fakeLive, _ *upstream.Index) { f.indexErr = remote.ErrCrawlTooLarge }
		eng, _ := newIndexed(t, broken, false, nil)
		q, _ := ParseListQuery(url.Values{})
		p, err := eng.List(context.Background(), q, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.FailedHeader() != "idx" {
			t.Errorf("failed %v, want idx", p.Failed)
		}
		diffKeys(t, keysOf(p.Entries), []key{{"io.github.res/tool", "0.1.0", "b"}, {"io.github.shared/s", "1.0.0", "b"}, {"io.github.y/only", "1.0.0", "b"}})

		eng, _ = newIndexed(t, broken, true, nil)
		if _, err := eng.List(context.Background(), q, nil); !errors.Is(err, ErrRequiredSourceFailed) || statusOf(err) != http.StatusBadGateway {
			t.Errorf("required source without its index: %v (status %d), want a 502", err, statusOf(err))
		}
	})
}

func keysOf(entries []*upstream.Entry) []key {
	out := make([]key, len(entries))
	for i, e := range entries {
		out[i] = key{e.Name, e.Version, e.Source}
	}
	return out
}

// TestVersionsInAnyOrder: per-server answers do not depend on the order in
// which the upstream lists a server's versions. Two collated upstreams hold
// the same data, one with every name's versions in reverse: /versions is
// newest publication first (same instant: higher version first), latest is
// the upstream's, and both upstreams give the same bytes. A name with an
// unencoded slash gets the same answer as with %2F, from a live source and
// from a file source alike.
func TestVersionsInAnyOrder(t *testing.T) {
	t.Parallel()
	data := collDataset()
	reversed := slices.Clone(data)
	for i := 0; i < len(reversed); {
		j := i
		for j < len(reversed) && reversed[j].name == reversed[i].name {
			j++
		}
		slices.Reverse(reversed[i:j])
		i = j
	}
	envs := make([]*env, 2)
	for i, vs := range [][]collVersion{data, reversed} {
		srv, _ := serveCollated(t, vs)
		envs[i] = newFedEnv(t, fedOptions{members: []Member{
			{Live: newCollLive(t, "coll", srv, remote.OrderAuto, 7), Required: true},
			{Source: collLocal(t)},
		}})
	}
	byName := map[string][]collVersion{}
	var names []string
	for _, v := range data {
		if byName[v.name] == nil {
			names = append(names, v.name)
		}
		byName[v.name] = append(byName[v.name], v)
	}
	for _, name := range names {
		want := slices.Clone(byName[name])
		slices.SortFunc(want, func(a, b collVersion) int {
			if c := b.published.Compare(a.published); c != 0 {
				return c
			}
			return len(a.version) - len(b.version) // 2.0.0 before 2.0.0-rc.1
		})
		var wantVersions []string
		latest := ""
		for _, v := range want {
			wantVersions = append(wantVersions, v.version)
			if v.latest {
				latest = v.version
			}
		}
		var bodies [][]byte
		for i, e := range envs {
			for _, p := range []string{
				"/v0.1/servers/" + url.PathEscape(name) + "/versions?include_deleted=true",
				"/v0.1/servers/" + name + "/versions?include_deleted=true",
			} {
				r := e.get(t, p)
				if r.status != http.StatusOK {
					t.Fatalf("%s: status %d: %s", p, r.status, r.body)
				}
				if got := versionsOf(decodeList(t, r).Servers); !slices.Equal(got, wantVersions) {
					t.Errorf("upstream %d %s: versions %v, want %v", i, p, got, wantVersions)
				}
				bodies = append(bodies, r.body)
			}
			r := e.get(t, "/v0.1/servers/"+url.PathEscape(name)+"/versions/latest?include_deleted=true")
			if it := decodeItem(t, r); it.Server.Version != latest {
				t.Errorf("upstream %d %s: latest %q, want %q", i, name, it.Server.Version, latest)
			}
		}
		for i := 1; i < len(bodies); i++ {
			if string(bodies[i]) != string(bodies[0]) {
				t.Errorf("%s: answer %d differs from answer 0", name, i)
			}
		}
	}
	for _, p := range []string{"/v0.1/servers/io.github.acme%2FOmega/versions", "/v0.1/servers/io.github.acme/Omega/versions"} {
		if got := versionsOf(decodeList(t, envs[0].get(t, p)).Servers); !slices.Equal(got, []string{"1.0.0"}) {
			t.Errorf("file source %s: %v", p, got)
		}
	}
	for _, p := range []string{"/v0.1/servers/io.github.acme%2FZeta/versions/", "/v0.1/servers/io.github.acme/Zeta/versions/"} {
		if r := envs[0].get(t, p); r.status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, r.status)
		}
	}
}
