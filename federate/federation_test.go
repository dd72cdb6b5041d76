package federate

// Integration tests of federation with live upstreams: mcpfed is built the
// way cmd/mcpfed/wire.go builds it (remote.NewLive over each fake registry,
// file sources, NewEngine, NewAPI) and served over HTTP; the fakes of
// upstream/upstreamtest stand in for the registries and count what they
// are asked.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/remote"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// fedT0 is the fakes' clock at the start of every test: generated data
// counts back from it, so timestamps (and updated_since cut-offs) are fixed.
var fedT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newFake starts a fake registry on a manual clock standing at fedT0.
func newFake(t *testing.T, opts ...upstreamtest.Option) (*upstreamtest.Registry, *upstreamtest.ManualClock) {
	t.Helper()
	clock := upstreamtest.NewManualClock(fedT0)
	return upstreamtest.New(t, append([]upstreamtest.Option{upstreamtest.WithClock(clock.Now)}, opts...)...), clock
}

// newLive builds a live source over a fake as wire.go does. The defaults
// keep tests fast and deterministic: small upstream pages (so mcpfed pages
// cross upstream pages and the cursor carries upstream positions), short
// timeouts, and a breaker that only opens where a test asks it to.
func newLive(t *testing.T, name string, reg *upstreamtest.Registry, adjust func(*remote.LiveOptions)) *remote.Live {
	t.Helper()
	o := remote.LiveOptions{
		Client: remote.ClientOptions{
			Source: name, BaseURL: reg.URL, Timeout: 2 * time.Second,
			// The fake's own transport: its idle connections close with it,
			// so no connection goroutine outlives the test (goleak).
			Transport: reg.Client().Transport,
		},
		Breaker:   remote.BreakerOptions{Failures: 1000, OpenFor: time.Minute},
		PageCache: remote.PageCacheOptions{MaxEntries: 1000, Fresh: time.Minute, Stale: time.Hour, FlightTimeout: 3 * time.Second},
		RateLimit: remote.RateLimitOptions{Retries: 1},
		PageSize:  10,
		// Walks of 100 entries read 11 pages of 10 and more; the bound is
		// tested on its own (live_test.go), so these merges never meet it.
		MaxPagesPerRequest: 50,
	}
	if adjust != nil {
		adjust(&o)
	}
	l, err := remote.NewLive(o)
	if err != nil {
		t.Fatal(err)
	}
	// Close the fake first: it cuts short any fault still sleeping, so the
	// live source's background refreshes end at once.
	t.Cleanup(func() {
		reg.Close()
		l.Close()
	})
	return l
}

// newFileSource writes data to a file and loads it as a file source.
func newFileSource(t *testing.T, name string, data []byte) *upstream.FileSource {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fs, err := upstream.NewFileSource(upstream.FileOptions{Name: name, Path: p, Clock: func() time.Time { return fedT0 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return fs
}

// fedOptions configure a federation under test.
type fedOptions struct {
	members       []Member
	reservations  map[string][]string
	responseCache ResponseCacheOptions
	outOfOrder    func(source string, n int)
	dropped       func(source, reason string, n int)
	timeout       time.Duration
	clock         func() time.Time
}

// newFedEnv serves an engine over live and file members through the API,
// and returns the env of fixture_test.go so that every answer goes through
// its checker (CORS, problem documents, ETag, OpenAPI validation of 200s).
func newFedEnv(t *testing.T, o fedOptions) *env {
	t.Helper()
	order := make([]string, len(o.members))
	for i, m := range o.members {
		order[i] = m.Name()
	}
	res, err := filter.NewReservations(o.reservations, order)
	if err != nil {
		t.Fatal(err)
	}
	if o.timeout == 0 {
		o.timeout = 5 * time.Second
	}
	eng := mustEngine(t, EngineOptions{
		Members: o.members, Reservations: res, OutOfOrder: o.outOfOrder, Dropped: o.dropped,
		RequestTimeout: o.timeout, Clock: o.clock,
	})
	api, err := NewAPI(APIOptions{Engine: eng, MaxAge: time.Minute, ResponseCache: o.responseCache, Clock: o.clock})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api.Handler())
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ts.Close()
		api.Close()
	})
	// The client's timeout bounds every request of a test: a hang fails
	// the test instead of blocking it.
	return &env{engine: eng, server: ts, client: &http.Client{Transport: tr, Timeout: 20 * time.Second}, schemas: loadSchemas(t)}
}

// timedGet is env.get with the elapsed time.
func timedGet(t *testing.T, e *env, p string, header ...string) (response, time.Duration) {
	t.Helper()
	start := time.Now()
	r := e.get(t, p, header...)
	return r, time.Since(start)
}

// rawItem is a ServerResponse kept whole, for byte-level comparison.
type rawItem struct {
	Server json.RawMessage            `json:"server"`
	Meta   map[string]json.RawMessage `json:"_meta"`
}

type rawList struct {
	Servers  []rawItem `json:"servers"`
	Metadata struct {
		NextCursor string `json:"nextCursor"`
		Count      int    `json:"count"`
	} `json:"metadata"`
}

// canonical renders an item with its provenance split off: the server body
// as sent, the official block field by field (times compared as instants),
// then every other _meta key. Two items with equal renderings carry the
// same data whatever the JSON formatting.
func canonical(t *testing.T, it rawItem) (text, source string) {
	t.Helper()
	var b strings.Builder
	var server bytes.Buffer
	if err := json.Compact(&server, it.Server); err != nil {
		t.Fatalf("server body: %v", err)
	}
	b.Write(server.Bytes())
	var off struct {
		Status          string     `json:"status"`
		StatusMessage   string     `json:"statusMessage"`
		StatusChangedAt *time.Time `json:"statusChangedAt"`
		PublishedAt     time.Time  `json:"publishedAt"`
		UpdatedAt       *time.Time `json:"updatedAt"`
		IsLatest        bool       `json:"isLatest"`
	}
	if err := json.Unmarshal(it.Meta[upstream.OfficialMetaKey], &off); err != nil {
		t.Fatalf("official block: %v", err)
	}
	ts := func(p *time.Time) string {
		if p == nil {
			return "-"
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(&b, "|%s|%q|%s|%s|%s|%t", off.Status, off.StatusMessage, ts(off.StatusChangedAt), ts(&off.PublishedAt), ts(off.UpdatedAt), off.IsLatest)
	for _, k := range slices.Sorted(maps.Keys(it.Meta)) {
		switch k {
		case upstream.OfficialMetaKey:
		case upstream.ProvenanceMetaKey:
			var p struct {
				Source string `json:"source"`
			}
			if err := json.Unmarshal(it.Meta[k], &p); err != nil {
				t.Fatalf("provenance: %v", err)
			}
			source = p.Source
		default:
			var v bytes.Buffer
			if err := json.Compact(&v, it.Meta[k]); err != nil {
				t.Fatalf("_meta[%q]: %v", k, err)
			}
			fmt.Fprintf(&b, "|%s=%s", k, v.Bytes())
		}
	}
	return b.String(), source
}

// fakeGet reads one answer of the fake directly.
func fakeGet(t *testing.T, reg *upstreamtest.Registry, p string) (int, []byte) {
	t.Helper()
	resp, err := reg.Client().Get(reg.URL + p)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// walkFake lists the fake directly, following its cursors to the end: the
// reference of what one source behind mcpfed must give. It reports how many
// empty pages the fake sent (its trailing-page quirk).
func walkFake(t *testing.T, reg *upstreamtest.Registry, params url.Values, limit int) (items []rawItem, emptyPages int) {
	t.Helper()
	cursor := ""
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("fake: more than 1000 pages")
		}
		path := pagePath("/v0.1", params, limit, cursor)
		status, body := fakeGet(t, reg, path)
		if status != http.StatusOK {
			t.Fatalf("fake %s: %d %s", path, status, body)
		}
		var lb rawList
		if err := json.Unmarshal(body, &lb); err != nil {
			t.Fatal(err)
		}
		if len(lb.Servers) == 0 {
			emptyPages++
		}
		items = append(items, lb.Servers...)
		if lb.Metadata.NextCursor == "" {
			return items, emptyPages
		}
		cursor = lb.Metadata.NextCursor
	}
}

// walkRaw is walk (walk_test.go) keeping whole items; the paging contract
// is walk's to check, this one only follows the cursors.
func walkRaw(t *testing.T, e *env, params url.Values, limit int) []rawItem {
	t.Helper()
	var all []rawItem
	cursor := ""
	for page := 0; page < 1000; page++ {
		path := pagePath("/v0.1", params, limit, cursor)
		r := e.get(t, path)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		var lb rawList
		if err := json.Unmarshal(r.body, &lb); err != nil {
			t.Fatal(err)
		}
		all = append(all, lb.Servers...)
		if lb.Metadata.NextCursor == "" {
			return all
		}
		cursor = lb.Metadata.NextCursor
	}
	t.Fatal("more than 1000 pages")
	return nil
}

// rawKeys are the (name, version, source) keys of raw items; source is
// given for the fake's items, which carry no provenance.
func rawKeys(t *testing.T, items []rawItem, source string) []key {
	t.Helper()
	out := make([]key, len(items))
	for i, it := range items {
		var s struct{ Name, Version string }
		if err := json.Unmarshal(it.Server, &s); err != nil {
			t.Fatal(err)
		}
		src := source
		if src == "" {
			_, src = canonical(t, it)
		}
		out[i] = key{s.Name, s.Version, src}
	}
	return out
}

// sameItems asserts that mcpfed served exactly the fake's items, in order,
// each stamped with the live source's name.
func sameItems(t *testing.T, what string, got, want []rawItem, source string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d items, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, src := canonical(t, got[i])
		w, _ := canonical(t, want[i])
		if g != w {
			t.Fatalf("%s: item %d differs:\n got %s\nwant %s", what, i, g, w)
		}
		if src != source {
			t.Fatalf("%s: item %d has provenance %q, want %q", what, i, src, source)
		}
	}
}

// wantPartial asserts a 200 that reports the failed sources.
func wantPartial(t *testing.T, what string, r response, failed string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200: %s", what, r.status, r.body)
	}
	if got := r.header.Get(HeaderComplete); got != "false" {
		t.Errorf("%s: %s = %q, want false", what, HeaderComplete, got)
	}
	if got := r.header.Get(HeaderFailedSources); got != failed {
		t.Errorf("%s: %s = %q, want %q", what, HeaderFailedSources, got, failed)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, got)
	}
}

// wantComplete asserts a 200 with every source in it, current.
func wantComplete(t *testing.T, what string, r response) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200: %s", what, r.status, r.body)
	}
	if got := r.header.Get(HeaderComplete); got != "true" {
		t.Errorf("%s: %s = %q, want true (failed: %q)", what, HeaderComplete, got, r.header.Get(HeaderFailedSources))
	}
	if got := r.header.Get(HeaderStaleSources); got != "" {
		t.Errorf("%s: %s = %q, want none", what, HeaderStaleSources, got)
	}
	if got := r.header.Get("Cache-Control"); got != "public, max-age=60" {
		t.Errorf("%s: Cache-Control %q", what, got)
	}
}

func escName(name string) string { return url.PathEscape(name) }

// generated fills a fake with synthetic servers and a few hand-made
// records that carry what a gateway must pass on: an unknown _meta key, a
// status message, a later update of an old version.
func generated(t *testing.T, reg *upstreamtest.Registry, clock *upstreamtest.ManualClock, names int, seed uint64) {
	t.Helper()
	reg.Generate(names, 2, seed)
	clock.Advance(time.Minute)
	reg.Put(upstreamtest.ServerJSON("io.github.mcpfed/extra-meta", "1.0.0"), upstreamtest.Official{
		ExtraMeta: map[string]json.RawMessage{"com.example/unknown": json.RawMessage(`{"kept": [1, 2, 3]}`)},
	})
	reg.Put(upstreamtest.ServerJSON("io.github.mcpfed/extra-meta", "1.1.0"), upstreamtest.Official{
		Status: upstreamtest.StatusDeprecated, StatusMessage: "use 2.x",
	})
	clock.Advance(time.Minute)
	// An old version updated now: updated_since must find it.
	first := reg.Records()[0]
	reg.Update(first.Name, first.Version, func(o *upstreamtest.Official) { o.StatusMessage = "touched" })
}

// liveQueries are the list queries forwarded to live sources. Searches
// are of three or more characters, names only: what the official registry
// does (see TestShortSearchOverLiveSource for the others).
func liveQueries() []url.Values {
	since := fedT0.Add(-30 * time.Second).Format(time.RFC3339)
	return []url.Values{
		{},
		{"include_deleted": {"true"}},
		{"search": {"acme"}},
		{"version": {"latest"}},
		{"version": {"latest"}, "include_deleted": {"true"}},
		{"search": {"weather"}, "version": {"latest"}},
		{"updated_since": {since}},
	}
}

func queryName(v url.Values) string {
	if s := v.Encode(); s != "" {
		return s
	}
	return "all"
}

// TestOneLiveSourceIsTheUpstream: one live upstream behind mcpfed gives
// exactly the upstream's own entries — same records, same bytes, same
// order — at every page size and for every forwarded query, whether or
// not the upstream ends a listing with an empty page (the official
// registry's quirk); mcpfed never does.
func TestOneLiveSourceIsTheUpstream(t *testing.T) {
	t.Parallel()
	for _, variant := range []struct {
		name     string
		trailing bool
	}{{"last-page-without-cursor", false}, {"empty-trailing-page", true}} {
		t.Run(variant.name, func(t *testing.T) {
			t.Parallel()
			var opts []upstreamtest.Option
			if variant.trailing {
				opts = append(opts, upstreamtest.WithEmptyTrailingPage())
			}
			reg, clock := newFake(t, opts...)
			if variant.trailing {
				// 30 names of 2 versions, none deleted: every listing
				// below is a multiple of the upstream page size (10), so
				// the fake ends each with an empty page.
				reg.Generate(30, 2, 11)
				for _, rec := range reg.Records() {
					if rec.Official.Status == upstreamtest.StatusDeleted {
						reg.SetStatus(rec.Name, rec.Version, upstreamtest.StatusActive)
					}
				}
				if _, empty := walkFake(t, reg, nil, 10); empty == 0 {
					t.Fatal("the fake sent no empty trailing page: the variant tests nothing")
				}
			} else {
				generated(t, reg, clock, 40, 7)
			}
			l := newLive(t, "official", reg, nil)
			e := newFedEnv(t, fedOptions{members: []Member{{Live: l, Required: true}}})
			for _, q := range liveQueries() {
				want, _ := walkFake(t, reg, q, 100)
				if len(want) == 0 {
					t.Fatalf("%s: the fake lists nothing: the query tests nothing", queryName(q))
				}
				wantKeys := rawKeys(t, want, "official")
				for _, limit := range []int{1, 7, 30, 100} {
					t.Run(fmt.Sprintf("%s/limit=%d", queryName(q), limit), func(t *testing.T) {
						// walk checks the paging contract: full pages while
						// a cursor follows, no empty trailing page; at page
						// size 1 without HTTP (see walkEngine).
						if limit == 1 {
							diffKeys(t, walkEngine(t, e.engine, nil, q, limit), wantKeys)
							return
						}
						diffKeys(t, keys(walk(t, e, "/v0.1", q, limit)), wantKeys)
					})
				}
				sameItems(t, queryName(q), walkRaw(t, e, q, 30), want, "official")
			}
			// A complete walk over a single live source is a complete answer.
			wantComplete(t, "first page", e.get(t, "/v0.1/servers?limit=5"))

			// The per-server endpoints are the upstream's answers too.
			names := map[string]bool{}
			for _, rec := range reg.Records() {
				if len(names) == 6 {
					break
				}
				names[rec.Name] = true
			}
			for name := range names {
				for _, suffix := range []string{"/versions", "/versions?include_deleted=true", "/versions/latest"} {
					p := "/v0.1/servers/" + escName(name) + suffix
					status, body := fakeGet(t, reg, p)
					r := e.get(t, p)
					if r.status != status {
						t.Fatalf("%s: status %d, the fake's %d", p, r.status, status)
					}
					if status != http.StatusOK {
						continue
					}
					if strings.Contains(suffix, "/versions/") {
						var g, w rawItem
						if json.Unmarshal(r.body, &g) != nil || json.Unmarshal(body, &w) != nil {
							t.Fatalf("%s: undecodable", p)
						}
						sameItems(t, p, []rawItem{g}, []rawItem{w}, "official")
						continue
					}
					var g, w rawList
					if json.Unmarshal(r.body, &g) != nil || json.Unmarshal(body, &w) != nil {
						t.Fatalf("%s: undecodable", p)
					}
					sameItems(t, p, g.Servers, w.Servers, "official")
				}
			}
		})
	}
}

// fedRef is one source's full data as the reference merge reads it.
type fedRef struct {
	name    string
	live    bool
	entries []refEntry
}

type refEntry struct {
	name, version, title, description string
	deleted, latest                   bool
	updated                           time.Time
}

func liveRef(name string, reg *upstreamtest.Registry) fedRef {
	r := fedRef{name: name, live: true}
	for _, rec := range reg.Records() {
		var s struct{ Title, Description string }
		_ = json.Unmarshal(rec.Server, &s) // the fake only holds objects
		r.entries = append(r.entries, refEntry{
			name: rec.Name, version: rec.Version, title: s.Title, description: s.Description,
			deleted: rec.Official.Status == upstreamtest.StatusDeleted, latest: rec.Official.IsLatest, updated: rec.Official.UpdatedAt,
		})
	}
	return r
}

func fileRef(fs *upstream.FileSource) fedRef {
	r := fedRef{name: fs.Name()}
	for _, e := range fs.Snapshot().Entries() {
		r.entries = append(r.entries, refEntry{
			name: e.Name, version: e.Version, title: e.Title, description: e.Description,
			deleted: e.Status == "deleted", latest: e.IsLatest, updated: e.UpdatedAt,
		})
	}
	return r
}

// fedReferenceMerge is what a walk over several sources must return,
// computed from their full data the obvious way: each name belongs to the
// first source in priority order that holds any version of it (deleted
// included) and is not barred by another source's reservation; that
// source's versions are filtered by the query — by the name alone for a
// search on a live source, since that is what the upstream searches — and
// sorted by (name, version).
func fedReferenceMerge(srcs []fedRef, reserved map[string][]string, q url.Values) []key {
	barred := func(src, name string) bool {
		for other, patterns := range reserved {
			for _, p := range patterns {
				if ok, _ := path.Match(p, name); ok && other != src {
					return true
				}
			}
		}
		return false
	}
	owner := map[string]string{}
	for _, s := range srcs {
		for _, e := range s.entries {
			if _, taken := owner[e.name]; !taken && !barred(s.name, e.name) {
				owner[e.name] = s.name
			}
		}
	}
	var since time.Time
	if v := q.Get("updated_since"); v != "" {
		since, _ = time.Parse(time.RFC3339, v)
	}
	withDeleted := q.Get("include_deleted") == "true" || !since.IsZero()
	needle := strings.ToLower(q.Get("search"))
	var out []key
	for _, s := range srcs {
		for _, e := range s.entries {
			text := strings.ToLower(e.name)
			if !s.live {
				text += "\x00" + strings.ToLower(e.title) + "\x00" + strings.ToLower(e.description)
			}
			switch {
			case owner[e.name] != s.name:
			case e.deleted && !withDeleted:
			case q.Get("version") == "latest" && !e.latest:
			case !since.IsZero() && !e.updated.After(since):
			case needle != "" && !strings.Contains(text, needle):
			default:
				out = append(out, key{e.name, e.version, s.name})
			}
		}
	}
	slices.SortFunc(out, func(a, b key) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return out
}

// sharedUpdated is when the hand-made shared names were last updated: after
// every updated_since cut-off used, so a name's owner is the same for every
// query (see the report on ownership under a filter).
var sharedUpdated = fedT0.Add(time.Hour)

// putShared adds hand-made versions to a fake.
func putShared(reg *upstreamtest.Registry, name string, status upstreamtest.Status, versions ...string) {
	for i, v := range versions {
		pub := fedT0.Add(-time.Duration(len(versions)-i) * time.Hour)
		reg.Put(upstreamtest.ServerJSON(name, v), upstreamtest.Official{Status: status, PublishedAt: pub, UpdatedAt: sharedUpdated})
	}
}

// mergeFixture is two live upstreams and one file source that share names
// with each other in every combination, in priority order alpha (live),
// local (file), beta (live), with reservations.
type mergeFixture struct {
	alpha, beta *upstreamtest.Registry
	local       *upstream.FileSource
	reserved    map[string][]string
}

func newMergeFixture(t *testing.T) *mergeFixture {
	t.Helper()
	f := &mergeFixture{reserved: map[string][]string{
		// The file reserves acme's namespace: the upstreams' com.acme
		// names are never served, whoever else holds them.
		"local": {"com.acme/*"},
		// beta reserves its own namespace, which alpha also publishes in.
		"beta": {"io.github.beta/*"},
	}}
	var ca, cb *upstreamtest.ManualClock
	f.alpha, ca = newFake(t)
	f.beta, cb = newFake(t)
	f.alpha.Generate(25, 2, 1)
	f.beta.Generate(25, 2, 2)
	ca.Advance(time.Minute)
	cb.Advance(time.Minute)
	putShared(f.alpha, "io.github.shared/all-three", upstreamtest.StatusActive, "1.0.0", "3.0.0")
	putShared(f.beta, "io.github.shared/all-three", upstreamtest.StatusActive, "1.0.0", "2.5.0", "4.0.0")
	putShared(f.alpha, "io.github.shared/alpha-beta", upstreamtest.StatusActive, "2.0.0")
	putShared(f.beta, "io.github.shared/alpha-beta", upstreamtest.StatusActive, "1.0.0", "3.0.0")
	putShared(f.beta, "io.github.shared/local-beta", upstreamtest.StatusActive, "0.9.0", "2.0.0")
	// Every version deleted upstream: alpha still holds the name, so the
	// file's live-looking copy must not surface in any listing.
	putShared(f.alpha, "io.github.shared/alpha-gone", upstreamtest.StatusDeleted, "1.0.0", "1.1.0")
	putShared(f.alpha, "com.acme/tool", upstreamtest.StatusActive, "9.0.0")
	putShared(f.beta, "com.acme/beta-only", upstreamtest.StatusActive, "1.0.0")
	putShared(f.alpha, "io.github.beta/reserved", upstreamtest.StatusActive, "5.0.0")
	putShared(f.beta, "io.github.beta/reserved", upstreamtest.StatusActive, "1.0.0")
	up := sharedUpdated.Format(time.RFC3339)
	local := func(name, version string) srv {
		return srv{Name: name, Version: version, Description: "local copy of " + name, Published: "2026-02-01T00:00:00Z", Updated: up}
	}
	f.local = newFileSource(t, "local", serverList(
		local("io.github.shared/all-three", "2.0.0"),
		local("io.github.shared/local-beta", "1.0.0"),
		local("io.github.shared/alpha-gone", "1.0.0"),
		local("io.github.shared/alpha-gone", "2.0.0"),
		local("com.acme/tool", "1.0.0"),
		local("io.github.local/only", "1.0.0"),
		local("io.github.local/only", "1.1.0"),
	))
	return f
}

func (f *mergeFixture) members(t *testing.T, adjust func(*remote.LiveOptions)) []Member {
	return []Member{
		{Live: newLive(t, "alpha", f.alpha, adjust)},
		{Source: f.local},
		{Live: newLive(t, "beta", f.beta, adjust)},
	}
}

func (f *mergeFixture) refs() []fedRef {
	return []fedRef{liveRef("alpha", f.alpha), fileRef(f.local), liveRef("beta", f.beta)}
}

// TestTwoLiveSourcesAndAFileMerge: the merged walk over two live upstreams
// and a file source equals the reference merge of their full data, at every
// page size and for every forwarded query: first source wins per name
// (never a mix of versions under one name, across page boundaries too),
// reserved namespaces are served only by their source.
func TestTwoLiveSourcesAndAFileMerge(t *testing.T) {
	t.Parallel()
	f := newMergeFixture(t)
	e := newFedEnv(t, fedOptions{members: f.members(t, nil), reservations: f.reserved})
	refs := f.refs()
	for _, q := range liveQueries() {
		want := fedReferenceMerge(refs, f.reserved, q)
		if len(want) == 0 {
			t.Fatalf("%s: the reference is empty: the query tests nothing", queryName(q))
		}
		for _, limit := range []int{1, 7, 30, 100} {
			t.Run(fmt.Sprintf("%s/limit=%d", queryName(q), limit), func(t *testing.T) {
				if limit == 1 { // every boundary; without HTTP (see walkEngine)
					diffKeys(t, walkEngine(t, e.engine, nil, q, limit), want)
					return
				}
				diffKeys(t, keys(walk(t, e, "/v0.1", q, limit)), want)
			})
		}
	}

	// The reference itself must exercise what the test is about.
	all := fedReferenceMerge(refs, f.reserved, url.Values{"include_deleted": {"true"}})
	bySource := map[string]int{}
	for _, k := range all {
		bySource[k.Source]++
		if strings.HasPrefix(k.Name, "com.acme/") && k.Source != "local" {
			t.Errorf("reference serves %v from outside the reservation", k)
		}
	}
	for _, s := range []string{"alpha", "local", "beta"} {
		if bySource[s] == 0 {
			t.Errorf("reference: nothing from %s", s)
		}
	}
	for _, want := range []key{
		{"io.github.shared/all-three", "1.0.0", "alpha"},
		{"io.github.shared/alpha-beta", "2.0.0", "alpha"},
		{"io.github.shared/alpha-gone", "1.1.0", "alpha"},
		{"io.github.shared/local-beta", "1.0.0", "local"},
		{"com.acme/tool", "1.0.0", "local"},
		{"io.github.beta/reserved", "1.0.0", "beta"},
	} {
		if !slices.Contains(all, want) {
			t.Errorf("reference lacks %v", want)
		}
	}
	if r := e.get(t, "/v0.1/servers?limit=100"); r.status == http.StatusOK {
		wantComplete(t, "merged page", r)
	}
}

// logPaths are the escaped paths a fake was asked, in order.
func logPaths(reg *upstreamtest.Registry) []string {
	var out []string
	for _, q := range reg.Log() {
		out = append(out, q.URL.EscapedPath())
	}
	return out
}

// TestVersionsFanOutByName: /versions and /versions/{v} ask the live
// sources by name, at once, and answer from the name's owner — the
// highest-priority source that holds it — never from a lower-priority live
// or file source that holds it too.
func TestVersionsFanOutByName(t *testing.T) {
	t.Parallel()
	f := newMergeFixture(t)
	e := newFedEnv(t, fedOptions{members: f.members(t, nil), reservations: f.reserved})
	v := func(name, version, source string) key { return key{name, version, source} }
	tests := []struct {
		path string
		want []key // nil: 404
	}{
		{"/servers/io.github.shared%2Fall-three/versions", []key{v("io.github.shared/all-three", "3.0.0", "alpha"), v("io.github.shared/all-three", "1.0.0", "alpha")}},
		{"/servers/io.github.shared%2Fall-three/versions/latest", []key{v("io.github.shared/all-three", "3.0.0", "alpha")}},
		{"/servers/io.github.shared%2Fall-three/versions/1.0.0", []key{v("io.github.shared/all-three", "1.0.0", "alpha")}},
		// Held by the lower-priority file and live sources only: not served.
		{"/servers/io.github.shared%2Fall-three/versions/2.0.0", nil},
		{"/servers/io.github.shared%2Fall-three/versions/4.0.0", nil},
		{"/servers/io.github.shared%2Falpha-beta/versions", []key{v("io.github.shared/alpha-beta", "2.0.0", "alpha")}},
		{"/servers/io.github.shared%2Falpha-beta/versions/3.0.0", nil},
		{"/servers/io.github.shared%2Flocal-beta/versions", []key{v("io.github.shared/local-beta", "1.0.0", "local")}},
		{"/servers/io.github.shared%2Flocal-beta/versions/latest", []key{v("io.github.shared/local-beta", "1.0.0", "local")}},
		{"/servers/io.github.shared%2Flocal-beta/versions/2.0.0", nil},
		// alpha holds the name with every version deleted: it still owns it.
		{"/servers/io.github.shared%2Falpha-gone/versions", nil},
		{"/servers/io.github.shared%2Falpha-gone/versions?include_deleted=true", []key{v("io.github.shared/alpha-gone", "1.1.0", "alpha"), v("io.github.shared/alpha-gone", "1.0.0", "alpha")}},
		{"/servers/io.github.shared%2Falpha-gone/versions/2.0.0", nil},
		// Reservations: alpha may not serve either name.
		{"/servers/com.acme%2Ftool/versions", []key{v("com.acme/tool", "1.0.0", "local")}},
		{"/servers/io.github.beta%2Freserved/versions/latest", []key{v("io.github.beta/reserved", "1.0.0", "beta")}},
		{"/servers/com.acme%2Fbeta-only/versions", nil},
		{"/servers/io.github.nobody%2Fnothing/versions", nil},
	}
	for _, tt := range tests {
		r := e.get(t, "/v0.1"+tt.path)
		if tt.want == nil {
			if r.status != http.StatusNotFound {
				t.Errorf("%s: status %d, want 404: %s", tt.path, r.status, r.body)
			}
			if r.header.Get(HeaderComplete) == "false" {
				t.Errorf("%s: a 404 with every source up reported as partial", tt.path)
			}
			continue
		}
		wantComplete(t, tt.path, r)
		var got []item
		if strings.Contains(tt.path, "/versions/") {
			got = []item{decodeItem(t, r)}
		} else {
			got = decodeList(t, r).Servers
		}
		if !slices.Equal(keys(got), tt.want) {
			t.Errorf("%s: got %v, want %v", tt.path, keys(got), tt.want)
		}
	}
	// The file outranks beta for local-beta, and the reservations bar
	// alpha from com.acme and io.github.beta: those sources are not asked.
	for _, p := range logPaths(f.beta) {
		if strings.Contains(p, "local-beta") {
			t.Errorf("beta was asked %s: the file owns the name", p)
		}
	}
	for _, p := range logPaths(f.alpha) {
		if strings.Contains(p, "com.acme") || strings.Contains(p, "io.github.beta") {
			t.Errorf("alpha was asked %s: the name is reserved by another source", p)
		}
	}
	// A beta-only name is beta's own answer, byte for byte.
	var betaOnly string
	for _, rec := range f.beta.Records() {
		if !strings.HasPrefix(rec.Name, "com.acme/") && !strings.Contains(rec.Name, "shared") && !strings.Contains(rec.Name, "io.github.beta/") {
			betaOnly = rec.Name
			break
		}
	}
	p := "/v0.1/servers/" + escName(betaOnly) + "/versions?include_deleted=true"
	_, body := fakeGet(t, f.beta, p)
	var g, w rawList
	if json.Unmarshal(e.get(t, p).body, &g) != nil || json.Unmarshal(body, &w) != nil {
		t.Fatalf("%s: undecodable", p)
	}
	sameItems(t, p, g.Servers, w.Servers, "beta")

	t.Run("asked at once", func(t *testing.T) {
		// Both live sources answer late: asked one after the other the
		// lookup would take twice as long.
		const delay = 400 * time.Millisecond
		for _, reg := range []*upstreamtest.Registry{f.alpha, f.beta} {
			in := reg.Inject(upstreamtest.Fault{Path: "/v0.1/servers/*/versions", Latency: delay})
			t.Cleanup(in.Remove)
		}
		r, took := timedGet(t, e, "/v0.1/servers/io.github.beta-and-nobody%2Fnew/versions")
		if r.status != http.StatusNotFound {
			t.Fatalf("status %d", r.status)
		}
		if took < delay || took > 2*delay-50*time.Millisecond {
			t.Errorf("lookup over two live sources that each take %s took %s: not a fan-out", delay, took)
		}
	})
}

// TestVersionsWhileASourceIsDown: a lookup over a failed optional source
// is a partial answer — a 404 included, since the name may be there — and
// a failed required source is a 502.
func TestVersionsWhileASourceIsDown(t *testing.T) {
	t.Parallel()
	for _, required := range []bool{false, true} {
		t.Run(fmt.Sprintf("required=%t", required), func(t *testing.T) {
			t.Parallel()
			f := newMergeFixture(t)
			f.alpha.Inject(upstreamtest.Fault{Status: http.StatusServiceUnavailable})
			members := f.members(t, nil)
			members[0].Required = required
			e := newFedEnv(t, fedOptions{members: members, reservations: f.reserved})
			paths := []string{
				"/v0.1/servers/io.github.nobody%2Fnothing/versions",
				"/v0.1/servers/io.github.nobody%2Fnothing/versions/1.0.0",
				"/v0.1/servers/io.github.shared%2Fall-three/versions",
				"/v0.1/servers/io.github.shared%2Flocal-beta/versions/latest",
			}
			for _, p := range paths {
				r := e.get(t, p)
				if required {
					if r.status != http.StatusBadGateway {
						t.Errorf("%s: status %d, want 502", p, r.status)
					}
					continue
				}
				switch {
				case strings.Contains(p, "nobody"):
					if r.status != http.StatusNotFound || r.header.Get(HeaderComplete) != "false" || r.header.Get(HeaderFailedSources) != "alpha" {
						t.Errorf("%s: %d %s=%q %s=%q, want a 404 reported partial (alpha failed)", p, r.status,
							HeaderComplete, r.header.Get(HeaderComplete), HeaderFailedSources, r.header.Get(HeaderFailedSources))
					}
				default:
					// The next source that holds the name answers, partially.
					wantPartial(t, p, r, "alpha")
				}
			}
		})
	}
}

// TestClientAuthorizationNotForwarded: what a client sends mcpfed in
// Authorization stays with mcpfed; each upstream sees only the
// credentials configured for it (or none).
func TestClientAuthorizationNotForwarded(t *testing.T) {
	t.Parallel()
	const token = "upstream-token-1"
	secured, _ := newFake(t, upstreamtest.WithAuth(upstreamtest.Auth{Bearer: token}))
	open, _ := newFake(t)
	secured.Generate(5, 2, 3)
	open.Generate(5, 2, 4)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newFedEnv(t, fedOptions{members: []Member{
		{Live: newLive(t, "secured", secured, func(o *remote.LiveOptions) { o.Client.TokenFile = tokenFile }), Required: true},
		{Live: newLive(t, "open", open, nil), Required: true},
	}})
	name := secured.Records()[0].Name
	for i, h := range [][]string{
		{"Authorization", "Bearer client-secret"},
		{"Authorization", "Basic Y2xpZW50OnNlY3JldA=="},
		{"Authorization", "Bearer " + token + "-but-not-quite"},
	} {
		for _, p := range []string{
			fmt.Sprintf("/v0.1/servers?limit=%d", 3+i), // distinct: each goes upstream
			"/v0.1/servers/" + escName(name) + "/versions",
			"/v0.1/servers/" + escName(name) + "/versions/latest",
			"/v0.1/servers/io.github.x%2Funknown-" + strconv.Itoa(i) + "/versions",
		} {
			r := e.get(t, p, h...)
			if r.status != http.StatusOK && r.status != http.StatusNotFound {
				t.Fatalf("%s: status %d: %s", p, r.status, r.body)
			}
		}
	}
	for _, c := range []struct {
		reg  *upstreamtest.Registry
		want string
	}{{secured, "Bearer " + token}, {open, ""}} {
		got := c.reg.Authorizations()
		if len(got) == 0 {
			t.Fatal("the upstream was never asked")
		}
		for i, a := range got {
			if a != c.want {
				t.Errorf("upstream request %d carried Authorization %q, want %q", i, a, c.want)
			}
		}
	}
}

// TestShortSearchOverLiveSource: mcpfed accepts a search of any length, the
// official registry refuses one under three characters (422). Such a
// search must not fail a live source; it is applied by mcpfed instead, to
// name, title and description as for every other source.
func TestShortSearchOverLiveSource(t *testing.T) {
	t.Parallel()
	reg, _ := newFake(t)
	reg.Generate(15, 2, 22)
	e := newFedEnv(t, fedOptions{members: []Member{{Live: newLive(t, "official", reg, nil), Required: true}}})
	for _, search := range []string{"ac", " to", "7"} {
		q := url.Values{"search": {search}}
		var want []key
		needle := strings.ToLower(search)
		for _, rec := range reg.Records() {
			var s struct{ Title, Description string }
			_ = json.Unmarshal(rec.Server, &s)
			text := strings.ToLower(rec.Name + "\x00" + s.Title + "\x00" + s.Description)
			if rec.Official.Status != upstreamtest.StatusDeleted && strings.Contains(text, needle) {
				want = append(want, key{rec.Name, rec.Version, "official"})
			}
		}
		if len(want) == 0 {
			t.Fatalf("search %q: nothing to find", search)
		}
		for _, limit := range []int{7, 100} {
			diffKeys(t, keys(walk(t, e, "/v0.1", q, limit)), want)
		}
		wantComplete(t, "search "+search, e.get(t, "/v0.1/servers?"+q.Encode()))
	}
}

// TestLiveWalkSurvivesUpstreamChanges: a cursor records how far into an
// upstream page a walk got; when the page is read again later (the page
// cache expired) and the upstream removed a record the walk had already
// passed, the walk must still go on from its last key and lose nothing.
func TestLiveWalkSurvivesUpstreamChanges(t *testing.T) {
	t.Parallel()
	reg, _ := newFake(t)
	reg.Generate(10, 2, 23)
	clock := upstreamtest.NewManualClock(fedT0)
	live := newLive(t, "official", reg, func(o *remote.LiveOptions) { o.Clock = clock.Now })
	e := newFedEnv(t, fedOptions{members: []Member{{Live: live, Required: true}}, clock: clock.Now})

	r := e.get(t, "/v0.1/servers?limit=3&include_deleted=true")
	first := decodeList(t, r)
	if len(first.Servers) != 3 || first.Metadata.NextCursor == nil {
		t.Fatalf("first page: %d items, cursor %v", len(first.Servers), first.Metadata.NextCursor)
	}
	last := first.Servers[2].key()
	// The upstream hard-deletes a record the walk has passed, and the
	// cached page ages out.
	if !reg.Delete(first.Servers[1].Server.Name, first.Servers[1].Server.Version) {
		t.Fatal("nothing deleted")
	}
	clock.Advance(2 * time.Minute)

	var want []key
	for _, rec := range reg.Records() {
		k := key{rec.Name, rec.Version, "official"}
		if k.Name > last.Name || k.Name == last.Name && k.Version > last.Version {
			want = append(want, k)
		}
	}
	var got []key
	cursor := *first.Metadata.NextCursor
	for page := 0; cursor != ""; page++ {
		if page > 100 {
			t.Fatal("endless walk")
		}
		lb := decodeList(t, e.get(t, "/v0.1/servers?limit=3&include_deleted=true&cursor="+url.QueryEscape(cursor)))
		got = append(got, keys(lb.Servers)...)
		cursor = ""
		if lb.Metadata.NextCursor != nil {
			cursor = *lb.Metadata.NextCursor
		}
	}
	diffKeys(t, got, want)
}
