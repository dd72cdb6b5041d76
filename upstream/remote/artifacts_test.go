package remote

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

const (
	skillsPath   = "/v0.1/x/dev.toolhive/skills"
	pluginsPath  = "/v0.1/x/dev.toolhive/plugins"
	skillVersion = skillsPath + "/*/*/versions"
)

// putSkills adds n skills (io.github.acme/s000…) at 1.0.0; every tenth
// also has 0.9.0, so the list (latest versions) holds n and there are
// n + n/10 versions in all.
func putSkills(r *upstreamtest.Registry, n int) {
	for i := range n {
		name := fmt.Sprintf("s%03d", i)
		r.PutArtifact("skills", upstreamtest.ArtifactJSON("io.github.acme", name, "1.0.0"))
		if i%10 == 0 {
			r.PutArtifact("skills", upstreamtest.ArtifactJSON("io.github.acme", name, "0.9.0"))
		}
	}
}

// countPrefix counts the requests whose escaped path starts with prefix.
func countPrefix(r *upstreamtest.Registry, prefix string) int {
	n := 0
	for _, q := range r.Log() {
		if strings.HasPrefix(q.URL.EscapedPath(), prefix) {
			n++
		}
	}
	return n
}

func artifactKeys(a *upstream.Artifacts) []string {
	var out []string
	for _, x := range a.All() {
		out = append(out, x.ID()+"@"+x.Version)
	}
	return out
}

func TestClientArtifactURLs(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	c := newClient(t, r, func(o *ClientOptions) { o.BaseURL = r.URL + "/registry/main"; o.APIVersion = "v0" })
	base := r.URL + "/registry/main"
	tests := []struct {
		req     upstream.Request
		want    string
		wantErr string
	}{
		{upstream.Request{Op: upstream.OpArtifacts, Kind: upstream.Skills}, base + "/v0.1/x/dev.toolhive/skills", ""},
		{upstream.Request{Op: upstream.OpArtifacts, Kind: upstream.Plugins, Limit: 100, Cursor: "a b/c"}, base + "/v0.1/x/dev.toolhive/plugins?cursor=a+b%2Fc&limit=100", ""},
		{upstream.Request{Op: upstream.OpArtifactVersions, Kind: upstream.Skills, Name: "io.github.acme/one", Limit: 100}, base + "/v0.1/x/dev.toolhive/skills/io.github.acme/one/versions", ""},
		{upstream.Request{Op: upstream.OpArtifactVersions, Kind: upstream.Skills, Name: "io.github.acme/o+e", Cursor: "x"}, base + "/v0.1/x/dev.toolhive/skills/io.github.acme/o%2Be/versions?cursor=x", ""},
		{upstream.Request{Op: upstream.OpArtifacts, Kind: "widgets"}, "", `unknown artifact kind "widgets"`},
		{upstream.Request{Op: upstream.OpArtifactVersions, Kind: upstream.Skills, Name: "nonamespace"}, "", "without a namespace/name"},
	}
	for _, tc := range tests {
		got, err := c.requestURL(tc.req)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%+v: err %v, want %q", tc.req, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("%+v: %q, %v; want %q", tc.req, got, err, tc.want)
		}
	}
	if a, b := (upstream.Request{Op: upstream.OpArtifacts, Kind: upstream.Skills}).Key(), (upstream.Request{Op: upstream.OpArtifacts, Kind: upstream.Plugins}).Key(); a == b {
		t.Errorf("request keys of two kinds are equal: %s", a)
	}
}

// TestClientDecodesArtifacts: invalid artifacts are skipped and counted;
// an answer without the kind's array is an error; a 405 or 501 means no
// such extension, like a 404.
func TestClientDecodesArtifacts(t *testing.T) {
	t.Parallel()
	r := newRegistry(t)
	r.PutArtifact("skills", upstreamtest.ArtifactJSON("io.github.acme", "good", "1.0.0"))
	r.PutArtifact("skills", upstreamtest.ArtifactJSON("io.github.acme", "Bad_Name", "1.0.0"))
	c := newClient(t, r, nil)
	ctx := ctxTimeout(t, 5*time.Second)
	resp, err := c.Fetch(ctx, upstream.Request{Op: upstream.OpArtifacts, Kind: upstream.Skills, Limit: 10})
	if err != nil || len(resp.Artifacts) != 1 || resp.Dropped != 1 || resp.Artifacts[0].Source != "src" || resp.Size == 0 {
		t.Fatalf("Fetch = %+v, %v", resp, err)
	}
	f := r.Inject(upstreamtest.Fault{Path: skillsPath, Body: []byte(`{"servers":[]}`), Times: 1})
	if _, err := c.Fetch(ctx, upstream.Request{Op: upstream.OpArtifacts, Kind: upstream.Skills}); err == nil || !strings.Contains(err.Error(), `no "skills" array`) {
		t.Errorf("answer without skills: %v", err)
	}
	f.Remove()
	for _, code := range []int{404, 405, 501} {
		f := r.Inject(upstreamtest.Fault{Path: skillsPath, Status: code, Times: 1})
		if _, err := c.Fetch(ctx, upstream.Request{Op: upstream.OpArtifacts, Kind: upstream.Skills}); !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("%d: %v, want ErrNotFound", code, err)
		}
		f.Remove()
	}
	// For servers a 501 stays a failure.
	r.Inject(upstreamtest.Fault{Path: "/v0.1/servers", Status: 501, Times: 1})
	if _, err := c.Fetch(ctx, listReq()); errors.Is(err, upstream.ErrNotFound) || err == nil {
		t.Errorf("servers 501: %v", err)
	}
}

// TestLiveArtifactsReadsEveryPageAndVersion: the list's pages, then each
// artifact's versions; the result is cached.
func TestLiveArtifactsReadsEveryPageAndVersion(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t), newClock()
	putSkills(r, 120)
	l := newLive(t, r, clock, func(o *LiveOptions) { o.PageSize = 50 })
	ctx := ctxTimeout(t, 20*time.Second)
	got, err := l.Artifacts(ctx, upstream.Skills)
	if err != nil {
		t.Fatal(err)
	}
	keys := artifactKeys(got)
	if len(keys) != 132 || keys[0] != "io.github.acme/s000@0.9.0" || keys[1] != "io.github.acme/s000@1.0.0" || got.All()[0].Source != "live" {
		t.Fatalf("%d artifacts, first %v", len(keys), keys[:min(3, len(keys))])
	}
	if n, v := r.CountPath(skillsPath), countPrefix(r, skillsPath+"/"); n != 3 || v != 120 {
		t.Errorf("%d list pages, %d versions requests; want 3 and 120", n, v)
	}
	if !l.Served() {
		t.Error("Served is false after artifacts were read")
	}
	before := r.Requests()
	for range 5 {
		if again, err := l.Artifacts(ctx, upstream.Skills); err != nil || again.Len() != 132 {
			t.Fatalf("cached: %d, %v", again.Len(), err)
		}
	}
	if r.Requests() != before {
		t.Errorf("a fresh result was fetched again: %d requests", r.Requests()-before)
	}
	// A kind the upstream does not serve: empty, no error, cached too.
	for range 3 {
		plugins, err := l.Artifacts(ctx, upstream.Plugins)
		if err != nil || plugins.Len() != 0 {
			t.Fatalf("plugins: %v, %v", artifactKeys(plugins), err)
		}
	}
	if n := r.CountPath(pluginsPath); n != 1 {
		t.Errorf("plugins asked %d times", n)
	}
	if _, err := l.Artifacts(ctx, "widgets"); err == nil {
		t.Error("an unknown kind was accepted")
	}
}

// TestLiveArtifactsNoExtension: a registry without the extension (404,
// 405, 501) serves none; that is no failure for the breaker.
func TestLiveArtifactsNoExtension(t *testing.T) {
	t.Parallel()
	for _, code := range []int{404, 405, 501} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			r, clock := newRegistry(t), newClock()
			putSkills(r, 3)
			r.Inject(upstreamtest.Fault{Path: skillsPath, Status: code})
			l := newLive(t, r, clock, func(o *LiveOptions) { o.Breaker.Failures = 1 })
			for range 3 {
				got, err := l.Artifacts(ctxTimeout(t, 5*time.Second), upstream.Skills)
				if err != nil || got.Len() != 0 {
					t.Fatalf("%v, %v", artifactKeys(got), err)
				}
				clock.Advance(2 * fresh)
			}
			if st := l.Breaker().State(); st != gobreaker.StateClosed {
				t.Errorf("breaker %s", st)
			}
		})
	}
}

// TestLiveArtifactsServesStaleOnError: once read, artifacts are served
// stale while the upstream fails, until the stale window ends; before any
// good read the error is returned.
func TestLiveArtifactsServesStaleOnError(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t), newClock()
	putSkills(r, 5)
	l := newLive(t, r, clock, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	f := r.Inject(upstreamtest.Fault{Path: skillsPath, Status: 500})
	if _, err := l.Artifacts(ctx, upstream.Skills); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("no data, upstream failing: %v", err)
	}
	f.Remove()
	good, err := l.Artifacts(ctx, upstream.Skills)
	if err != nil || good.Len() != 6 {
		t.Fatalf("after recovery: %d, %v", good.Len(), err)
	}
	r.Inject(upstreamtest.Fault{Path: skillsPath, Status: 500})
	clock.Advance(fresh + time.Second)
	if got, err := l.Artifacts(ctx, upstream.Skills); err != nil || got.Len() != 6 {
		t.Fatalf("stale: %d, %v", got.Len(), err)
	}
	clock.Advance(stale)
	if _, err := l.Artifacts(ctx, upstream.Skills); err == nil {
		t.Error("served past the stale window")
	}
}

// TestLiveArtifactsBounds: a walk that does not end, repeats a cursor,
// makes no progress or grows too large fails instead of running on.
func TestLiveArtifactsBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fault   upstreamtest.Fault
		bounds  CrawlBounds
		want    error
		wantMsg string
	}{
		{"endless pages", upstreamtest.Fault{Path: skillsPath, Endless: true}, CrawlBounds{MaxPages: 4}, ErrCrawlTooLarge, "more than 4 pages"},
		{"endless bytes", upstreamtest.Fault{Path: skillsPath, Endless: true, EndlessPad: 4096}, CrawlBounds{MaxBytes: 64 << 10}, ErrCrawlTooLarge, "bytes"},
		{"endless entries", upstreamtest.Fault{Path: skillsPath, Endless: true}, CrawlBounds{MaxEntries: 150}, ErrCrawlTooLarge, "more than 150 artifacts"},
		{"cursor loop", upstreamtest.Fault{Path: skillsPath, CursorLoop: true}, CrawlBounds{}, nil, "repeated a cursor"},
		{"no progress", upstreamtest.Fault{Path: skillsPath, NoProgress: true}, CrawlBounds{}, ErrNoProgress, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, clock := newRegistry(t), newClock()
			putSkills(r, 30)
			r.Inject(tc.fault)
			l := newLive(t, r, clock, func(o *LiveOptions) { o.PageSize = 10; o.Crawl = tc.bounds })
			_, err := l.Artifacts(ctxTimeout(t, 10*time.Second), upstream.Skills)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err = %v, want %v %q", err, tc.want, tc.wantMsg)
			}
			if n := r.Requests(); n > 200 {
				t.Errorf("%d requests for one walk", n)
			}
		})
	}
}

// TestLiveArtifactsBehindTheBreaker: failing walks open the breaker; then
// nothing is asked of the upstream, and a stale result is served at once.
func TestLiveArtifactsBehindTheBreaker(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t), newClock()
	putSkills(r, 2)
	l := newLive(t, r, clock, func(o *LiveOptions) { o.Breaker.Failures = 2 })
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := l.Artifacts(ctx, upstream.Plugins); err != nil { // a 404: no failure
		t.Fatal(err)
	}
	r.Inject(upstreamtest.Fault{Path: skillsPath, Status: 503})
	for range 2 {
		if _, err := l.Artifacts(ctx, upstream.Skills); err == nil {
			t.Fatal("a failing upstream gave artifacts")
		}
	}
	if st := l.Breaker().State(); st != gobreaker.StateOpen {
		t.Fatalf("breaker %s after two failures", st)
	}
	before := r.Requests()
	if _, err := l.Artifacts(ctx, upstream.Skills); !errors.Is(err, upstream.ErrBreakerOpen) {
		t.Errorf("open breaker: %v", err)
	}
	// The plugins answer (none) is still fresh, then stale: served at once.
	if got, err := l.Artifacts(ctx, upstream.Plugins); err != nil || got.Len() != 0 {
		t.Errorf("cached plugins: %v", err)
	}
	clock.Advance(fresh + time.Second)
	if got, err := l.Artifacts(ctx, upstream.Plugins); err != nil || got.Len() != 0 {
		t.Errorf("stale plugins behind an open breaker: %v", err)
	}
	if n := r.Requests() - before; n != 0 {
		t.Errorf("%d requests reached the upstream behind an open breaker", n)
	}
}

// TestLiveArtifactsReusesUnchangedVersions: a later walk reads the list,
// and the versions only of artifacts whose listing changed; all of them
// again once DefaultArtifactVersionsMaxAge has passed.
func TestLiveArtifactsReusesUnchangedVersions(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t), newClock()
	putSkills(r, 20)
	l := newLive(t, r, clock, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	if got, err := l.Artifacts(ctx, upstream.Skills); err != nil || got.Len() != 22 {
		t.Fatalf("%d, %v", got.Len(), err)
	}
	versions := func() int { return countPrefix(r, skillsPath+"/") }
	if versions() != 20 {
		t.Fatalf("%d versions requests", versions())
	}
	r.PutArtifact("skills", upstreamtest.ArtifactJSON("io.github.acme", "s005", "2.0.0"))
	clock.Advance(fresh + time.Second)
	got, err := l.Artifacts(ctx, upstream.Skills)
	if err != nil || got.Len() != 23 {
		t.Fatalf("after a new version: %v, %v", artifactKeys(got), err)
	}
	if n := versions(); n != 21 {
		t.Errorf("%d versions requests, want one more (the changed artifact)", n)
	}
	clock.Advance(DefaultArtifactVersionsMaxAge)
	if _, err := l.Artifacts(ctx, upstream.Skills); err != nil {
		t.Fatal(err)
	}
	if n := versions(); n != 41 {
		t.Errorf("%d versions requests, want every artifact's again", n)
	}
}

// TestLiveArtifactsVersionsFailure: when one artifact's versions cannot be
// read, its listed version stands in and the walk succeeds.
func TestLiveArtifactsVersionsFailure(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t), newClock()
	putSkills(r, 3)
	r.Inject(upstreamtest.Fault{Path: skillsPath + "/io.github.acme/s000/versions", Status: 500})
	l := newLive(t, r, clock, nil)
	got, err := l.Artifacts(ctxTimeout(t, 10*time.Second), upstream.Skills)
	if err != nil || strings.Join(artifactKeys(got), " ") != "io.github.acme/s000@1.0.0 io.github.acme/s001@1.0.0 io.github.acme/s002@1.0.0" {
		t.Errorf("%v, %v", artifactKeys(got), err)
	}
}

// TestLiveArtifactsFilter: the source's filter sees an artifact by its
// namespace/name.
func TestLiveArtifactsFilter(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t), newClock()
	putSkills(r, 2)
	r.PutArtifact("skills", upstreamtest.ArtifactJSON("io.github.other", "x", "1.0.0"))
	l := newLive(t, r, clock, func(o *LiveOptions) {
		o.Admit = func(e *upstream.Entry) bool { return strings.HasPrefix(e.Name, "io.github.other/") }
	})
	got, err := l.Artifacts(ctxTimeout(t, 10*time.Second), upstream.Skills)
	if err != nil || strings.Join(artifactKeys(got), " ") != "io.github.other/x@1.0.0" {
		t.Errorf("%v, %v", artifactKeys(got), err)
	}
}

// TestLiveCloseStopsArtifactWalk: a walk goes on after the request that
// started it gives up, but not after the source is closed.
func TestLiveCloseStopsArtifactWalk(t *testing.T) {
	t.Parallel()
	r, clock := newRegistry(t), newClock()
	putSkills(r, 2)
	r.Inject(upstreamtest.Fault{Path: skillsPath, Latency: 4 * time.Second})
	l, err := NewLive(LiveOptions{
		Client: ClientOptions{Source: "live", BaseURL: r.URL, Transport: r.Client().Transport, Timeout: 10 * time.Second},
		Clock:  clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Artifacts(ctxTimeout(t, 50*time.Millisecond), upstream.Skills); err == nil {
		t.Fatal("a walk held up by latency answered within 50ms")
	}
	start := time.Now()
	l.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close waited %s for the walk", d)
	}
}
