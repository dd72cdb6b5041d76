package federate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

// shadowSources are three sources that all hold io.github.x/shared with
// interleaved versions (and one identical key, 1.0.0, in A and C), so any
// mix of sources under that name shows in a walk at some page size.
func shadowSources(t testing.TB) (a, b, c *fakeSource) {
	v := func(name, version, status, published string) srv {
		return srv{Name: name, Version: version, Description: "shadowing fixture", Status: status, Published: published}
	}
	a = newSource(t, "a", serverList(
		v("io.github.x/a-only", "1.0.0", "", "2025-01-01T00:00:00Z"),
		v("io.github.x/shared", "1.0.0", "", "2025-01-01T00:00:00Z"),
		v("io.github.x/shared", "3.0.0", "", "2025-01-03T00:00:00Z"),
		// A's latest is deleted: version=latest must then show nothing of
		// shared, not fall back to B's latest.
		v("io.github.x/shared", "5.0.0", "deleted", "2025-01-05T00:00:00Z"),
	))
	b = newSource(t, "b", serverList(
		v("io.github.x/b-only", "1.0.0", "", "2025-01-01T00:00:00Z"),
		v("io.github.x/shared", "0.5.0", "", "2024-12-01T00:00:00Z"),
		v("io.github.x/shared", "2.0.0", "", "2025-01-02T00:00:00Z"),
		v("io.github.x/shared", "4.0.0", "", "2025-01-04T00:00:00Z"),
		v("io.github.x/shared", "6.0.0", "", "2025-01-06T00:00:00Z"),
		v("io.github.x/zz", "1.0.0", "", "2025-01-01T00:00:00Z"),
	))
	c = newSource(t, "c", serverList(
		v("io.github.x/c-only", "1.0.0", "", "2025-01-01T00:00:00Z"),
		v("io.github.x/shared", "1.0.0", "", "2025-01-01T00:00:00Z"),
		v("io.github.x/shared", "7.0.0", "", "2025-01-07T00:00:00Z"),
	))
	return a, b, c
}

func TestShadowingAcrossPagesAtEveryPageSize(t *testing.T) {
	t.Parallel()
	a, b, c := shadowSources(t)
	e := newEnv(t, envOptions{members: members(a, b, c)})
	tests := []struct {
		q    refQuery
		want []key
	}{
		{refQuery{}, []key{
			{"io.github.x/a-only", "1.0.0", "a"},
			{"io.github.x/b-only", "1.0.0", "b"},
			{"io.github.x/c-only", "1.0.0", "c"},
			{"io.github.x/shared", "1.0.0", "a"},
			{"io.github.x/shared", "3.0.0", "a"},
			{"io.github.x/zz", "1.0.0", "b"},
		}},
		{refQuery{includeDeleted: true}, []key{
			{"io.github.x/a-only", "1.0.0", "a"},
			{"io.github.x/b-only", "1.0.0", "b"},
			{"io.github.x/c-only", "1.0.0", "c"},
			{"io.github.x/shared", "1.0.0", "a"},
			{"io.github.x/shared", "3.0.0", "a"},
			{"io.github.x/shared", "5.0.0", "a"},
			{"io.github.x/zz", "1.0.0", "b"},
		}},
		// The latest is the highest version that is not deleted (the
		// official rule): shared 3.0.0, whether deleted ones are shown or not.
		{refQuery{version: "latest"}, []key{
			{"io.github.x/a-only", "1.0.0", "a"},
			{"io.github.x/b-only", "1.0.0", "b"},
			{"io.github.x/c-only", "1.0.0", "c"},
			{"io.github.x/shared", "3.0.0", "a"},
			{"io.github.x/zz", "1.0.0", "b"},
		}},
		{refQuery{version: "latest", includeDeleted: true}, []key{
			{"io.github.x/a-only", "1.0.0", "a"},
			{"io.github.x/b-only", "1.0.0", "b"},
			{"io.github.x/c-only", "1.0.0", "c"},
			{"io.github.x/shared", "3.0.0", "a"},
			{"io.github.x/zz", "1.0.0", "b"},
		}},
		{refQuery{version: "4.0.0"}, nil},
		{refQuery{version: "1.0.0", search: "shared"}, []key{{"io.github.x/shared", "1.0.0", "a"}}},
	}
	for _, tt := range tests {
		if ref := referenceMerge([]*fakeSource{a, b, c}, nil, tt.q, nil); !slices.Equal(ref, tt.want) {
			t.Fatalf("%s: the reference merge gives %v, want %v", tt.q, ref, tt.want)
		}
		for limit := 1; limit <= len(tt.want)+1; limit++ {
			t.Run(fmt.Sprintf("%s/limit=%d", tt.q, limit), func(t *testing.T) {
				t.Parallel()
				diffKeys(t, keys(walk(t, e, "/v0.1", tt.q.values(), limit)), tt.want)
			})
		}
	}
	for _, path := range []string{
		"/v0.1/servers/io.github.x%2Fshared/versions/6.0.0",
		"/v0.1/servers/io.github.x%2Fshared/versions/7.0.0",
		"/v0.1/servers/io.github.x%2Fshared/versions/0.5.0",
	} {
		if r := e.get(t, path); r.status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404 (only source a's versions are served)", path, r.status)
		}
	}
	// Source a's highest live version, not b's higher ones.
	if r := e.get(t, "/v0.1/servers/io.github.x%2Fshared/versions/latest"); r.status != 200 {
		t.Errorf("latest: status %d", r.status)
	} else {
		wantKeys(t, []item{decodeItem(t, r)}, key{"io.github.x/shared", "3.0.0", "a"})
	}
	if r := e.get(t, "/v0.1/servers/io.github.x%2Fshared/versions"); r.status == 200 {
		wantKeys(t, decodeList(t, r).Servers, key{"io.github.x/shared", "3.0.0", "a"}, key{"io.github.x/shared", "1.0.0", "a"})
	} else {
		t.Errorf("versions: status %d", r.status)
	}
}

// TestCursorPinsNameOwner: a walk that has started serving a name from one
// source never continues it from another, even if that source fails
// between two pages.
func TestCursorPinsNameOwner(t *testing.T) {
	t.Parallel()
	a, b, _ := shadowSources(t)
	e := newEnv(t, envOptions{members: members(a, b)})
	first := decodeList(t, e.get(t, "/v0.1/servers?search=shared&limit=1"))
	wantKeys(t, first.Servers, key{"io.github.x/shared", "1.0.0", "a"})
	a.set(nil) // a fails after serving the first version of shared
	r := e.get(t, "/v0.1/servers?search=shared&limit=10&cursor="+url.QueryEscape(*first.Metadata.NextCursor))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if got := decodeList(t, r).Servers; len(got) != 0 {
		t.Errorf("after a failed, the walk continued shared from b: %v", keys(got))
	}
	if r.header.Get(HeaderComplete) != "false" || r.header.Get(HeaderFailedSources) != "a" {
		t.Errorf("partial answer not reported: %v", r.header)
	}
	// A new walk, without the cursor, serves b's versions: b owns shared now.
	lb := decodeList(t, e.get(t, "/v0.1/servers?search=shared"))
	for _, it := range lb.Servers {
		if it.Meta.Provenance.Source != "b" {
			t.Errorf("fresh walk: %v", it.key())
		}
	}
}

func TestReservations(t *testing.T) {
	t.Parallel()
	newFixture := func(t *testing.T) (*env, []*fakeSource) {
		data := newSource(t, "data", testdata(t, "toolhive/data-registry.json"))
		public := newSource(t, "public", serverList(
			srv{Name: "com.acme/deploy-helper", Version: "9.9.9", Description: "a spoof of acme's server", Published: "2025-01-01T00:00:00Z"},
			srv{Name: "com.acme/new-thing", Version: "1.0.0", Description: "not acme's", Published: "2025-01-01T00:00:00Z"},
			srv{Name: "io.github.public/ok", Version: "1.0.0", Description: "acme-compatible tool", Published: "2025-01-01T00:00:00Z"},
		))
		platform := newSource(t, "platform", testdata(t, "toolhive/platform-registry.json"))
		srcs := []*fakeSource{data, public, platform}
		return newEnv(t, envOptions{
			// data and public outrank platform, yet cannot serve its namespace.
			members:      members(srcs...),
			reservations: map[string][]string{"platform": {"com.acme/*"}},
			maxAge:       time.Minute,
		}), srcs
	}
	reserved := map[string][]string{"platform": {"com.acme/*"}}

	t.Run("list", func(t *testing.T) {
		t.Parallel()
		e, srcs := newFixture(t)
		want := []key{
			{"com.acme/deploy-helper", "1.0.0", "platform"},
			{"com.acme/infra-scanner", "2.0.0", "platform"},
			{"io.github.public/ok", "1.0.0", "public"},
		}
		diffKeys(t, referenceMerge(srcs, reserved, refQuery{}, nil), want)
		for _, q := range []refQuery{{}, {version: "latest"}, {includeDeleted: true}} {
			for limit := 1; limit <= 4; limit++ {
				diffKeys(t, keys(walk(t, e, "/v0.1", q.values(), limit)), want)
			}
		}
		lb := decodeList(t, e.get(t, "/v0.1/servers?search=acme"))
		wantKeys(t, lb.Servers, want...) // "acme-compatible" is in ok's description
	})
	t.Run("detail", func(t *testing.T) {
		t.Parallel()
		e, _ := newFixture(t)
		for _, tt := range []struct {
			path   string
			status int
			source string
		}{
			{"/v0.1/servers/com.acme%2Fdata-pipeline/versions", 404, ""},
			{"/v0.1/servers/com.acme%2Fdata-pipeline/versions/1.0.0", 404, ""},
			{"/v0.1/servers/com.acme%2Fml-trainer/versions/latest", 404, ""},
			{"/v0.1/servers/com.acme%2Fnew-thing/versions/latest", 404, ""},
			{"/v0.1/servers/com.acme%2Fdeploy-helper/versions/9.9.9", 404, ""},
			{"/v0.1/servers/com.acme%2Fdeploy-helper/versions/latest", 200, "platform"},
			{"/v0.1/servers/com.acme%2Fdeploy-helper/versions", 200, "platform"},
			{"/v0.1/servers/io.github.public%2Fok/versions/1.0.0", 200, "public"},
		} {
			r := e.get(t, tt.path)
			if r.status != tt.status {
				t.Errorf("%s: status %d, want %d", tt.path, r.status, tt.status)
				continue
			}
			if r.status != 200 {
				continue
			}
			if tt.path[len(tt.path)-len("versions"):] == "versions" {
				for _, it := range decodeList(t, r).Servers {
					if it.Meta.Provenance.Source != tt.source {
						t.Errorf("%s: %v", tt.path, it.key())
					}
				}
			} else if it := decodeItem(t, r); it.Meta.Provenance.Source != tt.source {
				t.Errorf("%s: %v", tt.path, it.key())
			}
		}
	})
	t.Run("reserving source failed", func(t *testing.T) {
		t.Parallel()
		e, srcs := newFixture(t)
		srcs[2].set(nil)
		r := e.get(t, "/v0.1/servers")
		wantKeys(t, decodeList(t, r).Servers, key{"io.github.public/ok", "1.0.0", "public"})
		if r.header.Get(HeaderFailedSources) != "platform" {
			t.Errorf("%s = %q", HeaderFailedSources, r.header.Get(HeaderFailedSources))
		}
		if r := e.get(t, "/v0.1/servers/com.acme%2Fdeploy-helper/versions"); r.status != 404 {
			t.Errorf("while the reserving source is down, another source served its namespace: %d %s", r.status, r.body)
		}
	})
}

func TestPartialResults(t *testing.T) {
	t.Parallel()
	th, ov, sd := threeSources(t)
	// Read by the server's goroutines: an atomic, not a map.
	var seedAttempted atomic.Bool
	seedAttempted.Store(true)
	e := newEnv(t, envOptions{
		members: []Member{
			{Source: th, Required: true},
			{Source: ov},
			{Source: sd},
		},
		maxAge:    time.Minute,
		attempted: func(s string) bool { return s != "seed" || seedAttempted.Load() },
	})
	good := map[string]*upstream.Snapshot{"toolhive": th.Snapshot(), "overlay": ov.Snapshot(), "seed": sd.Snapshot()}
	restore := func() {
		th.set(good["toolhive"])
		ov.set(good["overlay"])
		sd.set(good["seed"])
	}
	paths := []string{
		"/v0.1/servers",
		"/v0.1/servers?version=latest&limit=100",
		"/v0/servers?search=stacklok",
		"/v0.1/servers/io.github.stacklok%2Farxiv-mcp-server/versions",
		"/v0.1/servers/io.github.stacklok%2Farxiv-mcp-server/versions/latest",
	}

	// Subtests run in order: they change the shared sources.
	t.Run("complete", func(t *testing.T) {
		restore()
		for _, p := range paths {
			r := e.get(t, p)
			if r.status != 200 || r.header.Get(HeaderComplete) != "true" || r.header.Get(HeaderFailedSources) != "" {
				t.Errorf("%s: %d %s=%q %s=%q", p, r.status, HeaderComplete, r.header.Get(HeaderComplete), HeaderFailedSources, r.header.Get(HeaderFailedSources))
			}
			if cc := r.header.Get("Cache-Control"); cc != "public, max-age=60" {
				t.Errorf("%s: Cache-Control %q", p, cc)
			}
		}
		if r := e.get(t, "/readyz"); r.status != 200 {
			t.Errorf("readyz %d", r.status)
		}
	})
	t.Run("optional sources failed", func(t *testing.T) {
		restore()
		ov.set(nil)
		sd.set(nil)
		for _, p := range paths {
			r := e.get(t, p)
			if r.status != 200 {
				t.Fatalf("%s: status %d: %s", p, r.status, r.body)
			}
			if got := r.header.Get(HeaderComplete); got != "false" {
				t.Errorf("%s: %s = %q, want false", p, HeaderComplete, got)
			}
			if got := r.header.Get(HeaderFailedSources); got != "overlay,seed" {
				t.Errorf("%s: %s = %q, want overlay,seed", p, HeaderFailedSources, got)
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store", p, cc)
			}
		}
		lb := decodeList(t, e.get(t, "/v0.1/servers?limit=100&include_deleted=true"))
		for _, it := range lb.Servers {
			if it.Meta.Provenance.Source != "toolhive" {
				t.Errorf("served %v from a failed source", it.key())
			}
		}
		// A name only a failed source holds is not found (reported as partial).
		if r := e.get(t, "/v0.1/servers/io.github.mcpfed%2Fmulti/versions"); r.status != 404 {
			t.Errorf("multi: status %d", r.status)
		}
		if r := e.get(t, "/readyz"); r.status != 200 {
			t.Errorf("readyz %d: optional sources that tried do not block readiness", r.status)
		}
	})
	t.Run("required source failed", func(t *testing.T) {
		restore()
		th.set(nil)
		for _, p := range paths {
			r := e.get(t, p)
			if r.status != http.StatusBadGateway {
				t.Errorf("%s: status %d, want 502", p, r.status)
			}
		}
		r := e.get(t, "/readyz")
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("readyz %d, want 503", r.status)
		}
		if !bytes.Contains(r.body, []byte("toolhive")) {
			t.Errorf("readyz does not name the source: %s", r.body)
		}
		if r := e.get(t, "/healthz"); r.status != 200 {
			t.Errorf("healthz %d: liveness must not depend on sources", r.status)
		}
	})
	t.Run("optional source not yet attempted", func(t *testing.T) {
		restore()
		sd.set(nil)
		seedAttempted.Store(false)
		defer seedAttempted.Store(true)
		r := e.get(t, "/readyz")
		if r.status != http.StatusServiceUnavailable || !bytes.Contains(r.body, []byte("seed")) {
			t.Errorf("readyz %d %s, want 503 naming seed", r.status, r.body)
		}
	})
	t.Run("recovered", func(t *testing.T) {
		restore()
		for _, p := range []string{"/readyz", "/v0.1/servers"} {
			if r := e.get(t, p); r.status != 200 || r.header.Get(HeaderComplete) != "true" {
				t.Errorf("%s: %d %q", p, r.status, r.header.Get(HeaderComplete))
			}
		}
	})
}

// TestDeterministicOrder: the answer depends on the data, not on the order
// it was loaded in or on timing, so caches and ETags stay valid.
func TestDeterministicOrder(t *testing.T) {
	t.Parallel()
	th, ov, sd := threeSources(t)
	e1 := newEnv(t, envOptions{members: members(th, ov, sd)})
	reversed := slices.Clone(overlayItems)
	slices.Reverse(reversed)
	ov2 := newSource(t, "overlay", serverList(reversed...))
	th2 := newSource(t, "toolhive", testdata(t, "catalog/toolhive.json"))
	sd2 := newSource(t, "seed", testdata(t, "catalog/official-seed.json"))
	e2 := newEnv(t, envOptions{members: members(th2, ov2, sd2)})
	for _, p := range []string{
		"/v0.1/servers?limit=100&include_deleted=true",
		"/v0.1/servers?version=latest&limit=100",
		"/v0.1/servers?search=mcpfed",
		"/v0.1/servers/io.github.mcpfed%2Fmulti/versions?include_deleted=true",
	} {
		first := e1.get(t, p)
		for i := range 3 {
			for j, e := range []*env{e1, e2} {
				r := e.get(t, p)
				if !bytes.Equal(r.body, first.body) || r.header.Get("ETag") != first.header.Get("ETag") {
					t.Errorf("%s: answer %d from env %d differs", p, i, j+1)
				}
			}
		}
	}
}

// TestEngineReportsAndHooks covers what the HTTP layer does not show: the
// merge observer and the error kinds of the engine's methods.
func TestEngineReportsAndHooks(t *testing.T) {
	t.Parallel()
	a, b, c := shadowSources(t)
	b.set(nil)
	var observed int
	eng := mustEngine(t, EngineOptions{
		Members:      []Member{{Source: a}, {Source: b}, {Source: c, Required: true}},
		ObserveMerge: func(time.Duration) { observed++ },
	})
	ctx := context.Background()
	page, err := eng.List(ctx, Query{Limit: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if observed != 1 {
		t.Errorf("merge observed %d times, want 1", observed)
	}
	if page.Complete() || page.FailedHeader() != "b" || page.NextCursor == "" || len(page.Entries) != 2 {
		t.Errorf("page: %+v", page)
	}
	if _, err := eng.List(ctx, Query{Limit: 2, Cursor: "x"}, nil); !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad cursor: %v", err)
	}
	if _, _, err := eng.Versions(ctx, "io.github.x/none", false, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Versions of unknown: %v", err)
	}
	if _, _, err := eng.Version(ctx, "io.github.x/shared", "4.0.0", false, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Version held only by a failed, shadowed source: %v", err)
	}
	if got := eng.SourceNames(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("SourceNames = %v", got)
	}
	c.set(nil)
	for name, err := range map[string]error{
		"List": func() error { _, err := eng.List(ctx, Query{Limit: 1}, nil); return err }(),
		"Versions": func() error {
			_, _, err := eng.Versions(ctx, "io.github.x/shared", false, nil)
			return err
		}(),
		"Version": func() error {
			_, _, err := eng.Version(ctx, "io.github.x/shared", "latest", false, nil)
			return err
		}(),
	} {
		if !errors.Is(err, ErrRequiredSourceFailed) || statusOf(err) != http.StatusBadGateway {
			t.Errorf("%s with the required source down: %v", name, err)
		}
	}
	if ok, waiting := eng.Ready(func(string) bool { return true }); ok || !slices.Equal(waiting, []string{"c"}) {
		t.Errorf("Ready = %v %v, want false [c]", ok, waiting)
	}
	if ok, waiting := eng.Ready(func(s string) bool { return s != "b" }); ok || !slices.Equal(waiting, []string{"b", "c"}) {
		t.Errorf("Ready = %v %v, want false [b c]", ok, waiting)
	}
}
