package federate

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/mcpfed/mcpfed/filter"
)

// Forged cursors. A client cannot write a cursor (it is signed); these
// tests sign forged structures with the test key to check the defence in
// depth behind the MAC: reservations hold for every entry, a cursor's
// owner claim never lets a lower-priority source serve a name a
// higher-priority snapshot source holds, and nothing but 200 or 400 comes
// out.

// forgedReserved: "a" reserves io.github.res/*, which "live" and "b" squat.
var forgedReserved = map[string][]string{"a": {"io.github.res/*"}}

func forgedItems() (a, live, b []srv) {
	v := func(name, version string) srv {
		return srv{Name: name, Version: version, Description: "forged fixture", Published: "2025-01-01T00:00:00Z"}
	}
	a = []srv{v("io.github.a/only", "1.0.0"), v("io.github.res/owned", "1.0.0"), v("io.github.shared/ab", "1.0.0"), v("io.github.shared/al", "1.0.0")}
	// The live source shares names only with "a" (which outranks it): the
	// positions of a live source are the MAC's to protect, not re-derived.
	live = []srv{v("io.github.l/only", "1.0.0"), v("io.github.l/only", "2.0.0"), v("io.github.l/two", "1.0.0"),
		v("io.github.res/squat", "1.0.0"), v("io.github.shared/al", "0.5.0"), v("io.github.shared/al", "2.0.0")}
	b = []srv{v("io.github.b/only", "1.0.0"), v("io.github.res/squat2", "1.0.0"), v("io.github.shared/ab", "2.0.0"), v("io.github.shared/al", "3.0.0")}
	return a, live, b
}

// forgedFixture is an engine over a (snapshot), live and b (snapshot), in
// that order, and the reference merge of their full data.
type forgedFixture struct {
	engine *Engine
	ref    []key
}

var (
	forgedOnce sync.Once
	forgedVal  *forgedFixture
)

func newForgedFixture(tb testing.TB) *forgedFixture {
	forgedOnce.Do(func() {
		ai, li, bi := forgedItems()
		a, b := newSource(tb, "a", serverList(ai...)), newSource(tb, "b", serverList(bi...))
		live := newFakeLive(tb, "live", li...)
		live.pageSize, live.maxPages = 2, 2
		res, err := filter.NewReservations(forgedReserved, []string{"a", "live", "b"})
		if err != nil {
			tb.Fatal(err)
		}
		eng := mustEngine(tb, EngineOptions{Members: []Member{{Source: a}, {Live: live}, {Source: b}}, Reservations: res})
		// The reference reads the live source's data as a snapshot.
		ref := referenceMerge([]*fakeSource{a, newSource(tb, "live", serverList(li...)), b}, forgedReserved, refQuery{}, nil)
		forgedVal = &forgedFixture{engine: eng, ref: ref}
	})
	return forgedVal
}

// check lists from cursor s and checks the answer against the reference:
// 200 or 400 only; every entry one the reference serves (so no reserved
// entry from another source, no shadowed version), after the cursor's key,
// in order.
func (f *forgedFixture) check(t *testing.T, s string, limit int) (*Page, error) {
	t.Helper()
	page, err := f.engine.List(context.Background(), Query{Limit: limit, Cursor: s}, nil)
	if err != nil {
		if statusOf(err) != http.StatusBadRequest {
			t.Fatalf("cursor %q: error %v (status %d), want 200 or 400", s, err, statusOf(err))
		}
		return nil, err
	}
	c, derr := decodeCursor(s, Query{}.fingerprint(""))
	if derr != nil {
		t.Fatalf("the engine accepted a cursor the codec refuses: %v", derr)
	}
	prev := c.key()
	for _, e := range page.Entries {
		k := key{e.Name, e.Version, e.Source}
		if !slices.Contains(f.ref, k) {
			t.Fatalf("cursor %+v: served %v, which the reference merge does not", c, k)
		}
		if !prev.Less(e.Key()) {
			t.Fatalf("cursor %+v: %v does not follow %v", c, k, prev)
		}
		prev = e.Key()
	}
	return page, nil
}

func TestForgedCursorClaims(t *testing.T) {
	t.Parallel()
	f := newForgedFixture(t)
	fp := Query{}.fingerprint("")
	// The live source's listing is over in these cursors unless said.
	done := []liveCursor{{Source: "live", Done: true}}
	tests := []struct {
		name string
		c    cursor
		// want are the first entries served.
		want []key
	}{
		{"squatter claims a reserved name", cursor{Q: fp, Name: "io.github.res/squat2", Version: "0", Owner: "b", Live: done},
			[]key{{"io.github.shared/ab", "1.0.0", "a"}}},
		{"live squatter claims a reserved name", cursor{Q: fp, Name: "io.github.res/squat", Version: "0", Owner: "live",
			Live: []liveCursor{{Source: "live", Upstream: "3"}}}, []key{{"io.github.shared/ab", "1.0.0", "a"}}},
		{"lower priority claims a name a snapshot outranks it on", cursor{Q: fp, Name: "io.github.shared/ab", Version: "1.0.0", Owner: "b", Live: done},
			[]key{{"io.github.shared/al", "1.0.0", "a"}}},
		{"live claims a name a snapshot outranks it on", cursor{Q: fp, Name: "io.github.shared/al", Version: "1.0.0", Owner: "live",
			Live: []liveCursor{{Source: "live", Upstream: "4"}}}, nil},
		{"an unknown owner", cursor{Q: fp, Name: "io.github.shared/ab", Version: "0", Owner: "nobody", Live: done},
			[]key{{"io.github.shared/ab", "1.0.0", "a"}}},
		{"a claim that hides nothing of higher priority", cursor{Q: fp, Name: "io.github.shared/ab", Version: "0", Owner: "b", Live: done},
			[]key{{"io.github.shared/ab", "1.0.0", "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			page, err := f.check(t, encodeCursor(tt.c), 10)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]key, 0, len(page.Entries))
			for _, e := range page.Entries[:min(len(tt.want), len(page.Entries))] {
				got = append(got, key{e.Name, e.Version, e.Source})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("first entries %v, want %v", got, tt.want)
			}
		})
	}
}

// TestUnsignedCursorIsRefused: a cursor anyone could write (the version 1
// layout: base64 of JSON) is a 400 problem over HTTP.
func TestUnsignedCursorIsRefused(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	raw, _ := json.Marshal(cursor{V: 1, Q: Query{}.fingerprint(""), Name: "io.github.x/y", Version: "1", Owner: "toolhive"})
	r := e.get(t, "/v0.1/servers?cursor="+url.QueryEscape(b64(string(raw))))
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", r.status)
	}
}

// FuzzForgedCursor resumes a walk over the forged fixture with cursors
// that are signed with the test key (forged structure) and, the same
// bytes, unsigned: signed, the answer is 200 or 400 and within the
// reference merge; unsigned, always 400.
func FuzzForgedCursor(f *testing.F) {
	fp := Query{}.fingerprint("")
	seed := func(c cursor) {
		c.V = cursorVersion
		b, _ := json.Marshal(c)
		f.Add(string(b), uint8(3))
	}
	seed(cursor{Q: fp, Name: "io.github.res/squat2", Version: "0", Owner: "b"})
	seed(cursor{Q: fp, Name: "io.github.res/squat", Version: "0", Owner: "live", Live: []liveCursor{{Source: "live", Upstream: "3", Used: 1}}})
	seed(cursor{Q: fp, Name: "io.github.shared/ab", Version: "1.0.0", Owner: "b"})
	seed(cursor{Q: fp, Name: "io.github.shared/al", Version: "0", Owner: "live", Live: []liveCursor{{Source: "live", Upstream: "4", Used: 5}}})
	seed(cursor{Q: fp, Name: "io.github.a/only", Version: "1.0.0", Owner: "a", Live: []liveCursor{{Source: "live", Done: true}}})
	seed(cursor{Q: fp, Name: "io.github.a/only", Version: "1.0.0", Owner: "a", Live: []liveCursor{{Source: "live", Upstream: "999"}}})
	seed(cursor{Q: fp, Name: "io.github.a/only", Version: "1.0.0", Owner: "a", Live: []liveCursor{{Source: "live", Upstream: "x"}}})
	seed(cursor{Q: fp, Name: "io.github.a/only", Version: "1.0.0", Owner: "a", Live: []liveCursor{{Source: "a", Upstream: "1"}, {Source: "nobody"}}})
	seed(cursor{Q: "other", Name: "io.github.a/only", Version: "1.0.0", Owner: "a"})
	seed(cursor{Q: fp, Name: "zzz", Version: "\xff", Owner: "b"})
	f.Add(`{"v":2,"q":"`+fp+`","n":"io.github.res/owned","ver":"","o":"a"}`, uint8(1))
	f.Add("null", uint8(0))
	// The cursors of a genuine walk.
	fx := newForgedFixture(f)
	cur := ""
	for range 20 {
		page, err := fx.engine.List(context.Background(), Query{Limit: 2, Cursor: cur}, nil)
		if err != nil {
			f.Fatal(err)
		}
		if page.NextCursor == "" {
			break
		}
		cur = page.NextCursor
		c, err := decodeCursor(cur, fp)
		if err != nil {
			f.Fatal(err)
		}
		seed(c)
	}
	f.Fuzz(func(t *testing.T, raw string, limit uint8) {
		lim := int(limit%8) + 1
		if raw != "" {
			if _, err := fx.engine.List(context.Background(), Query{Limit: lim, Cursor: raw}, nil); !errors.Is(err, ErrBadRequest) {
				t.Fatalf("unsigned cursor %q: error %v, want a 400", raw, err)
			}
		}
		_, _ = fx.check(t, signedPayload(raw), lim)
	})
}
