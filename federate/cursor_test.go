package federate

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestDecodeCursor(t *testing.T) {
	t.Parallel()
	fp := Query{}.fingerprint("")
	good := encodeCursor(cursor{Q: fp, Name: "io.github.x/y", Version: "1.0.0", Owner: "src"})
	goodJSON, _ := base64.RawURLEncoding.DecodeString(good)
	withJSON := signedPayload
	payload, _, _ := strings.Cut(good, ".")
	otherKey := &cursorCodec{keys: [][]byte{[]byte("another key of the right length, 32+ bytes")}}
	tests := []struct {
		name   string
		cursor string
		ok     bool
	}{
		{"issued by this registry", good, true},
		{"with live positions", encodeCursor(cursor{Q: fp, Name: "a.b/c", Version: "1", Owner: "s", Live: []liveCursor{{Source: "api", Upstream: "x", Used: 3}}}), true},
		{"empty", "", false},
		{"unsigned (version 1 layout)", b64(string(goodJSON)), false},
		{"payload without its MAC", payload, false},
		{"payload with an empty MAC", payload + ".", false},
		{"signed with another key", otherKey.encode(cursor{Q: fp, Name: "io.github.x/y", Version: "1.0.0", Owner: "src"}), false},
		{"MAC of another payload", b64(strings.Replace(string(goodJSON), `"src"`, `"crs"`, 1)) + good[len(payload):], false},
		{"truncated MAC", good[:len(good)-2], false},
		{"upstream position with a control character", encodeCursor(cursor{Q: fp, Name: "a.b/c", Version: "1", Owner: "s", Live: []liveCursor{{Source: "api", Upstream: "x\ny"}}}), false},
		{"not base64url", "%%%not-base64%%%", false},
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/", false},
		{"padded", base64.URLEncoding.EncodeToString(goodJSON), false},
		{"whitespace", good[:4] + " " + good[4:], false},
		{"not JSON", b64("hello"), false},
		{"JSON array", b64("[]"), false},
		{"JSON null", b64("null"), false},
		{"JSON string", b64(`"io.github.x/y"`), false},
		{"unknown field", withJSON(`{"v":2,"q":"` + fp + `","n":"a.b/c","ver":"1","o":"s","x":1}`), false},
		{"version 0", withJSON(`{"v":0,"q":"` + fp + `","n":"a.b/c","ver":"1","o":"s"}`), false},
		{"version 1", withJSON(`{"v":1,"q":"` + fp + `","n":"a.b/c","ver":"1","o":"s"}`), false},
		{"no version field", withJSON(`{"q":"` + fp + `","n":"a.b/c","ver":"1","o":"s"}`), false},
		{"empty name", withJSON(`{"v":2,"q":"` + fp + `","n":"","ver":"1","o":"s"}`), false},
		{"empty key version", withJSON(`{"v":2,"q":"` + fp + `","n":"a.b/c","ver":"","o":"s"}`), false},
		{"empty owner", withJSON(`{"v":2,"q":"` + fp + `","n":"a.b/c","ver":"1","o":""}`), false},
		{"wrong type", withJSON(`{"v":"2","q":"` + fp + `","n":"a.b/c","ver":"1","o":"s"}`), false},
		{"other query", encodeCursor(cursor{Q: Query{Search: "x"}.fingerprint(""), Name: "a.b/c", Version: "1", Owner: "s"}), false},
		{"other view", encodeCursor(cursor{Q: Query{}.fingerprint("gh"), Name: "a.b/c", Version: "1", Owner: "s"}), false},
		{"trailing value", withJSON(string(goodJSON) + `{}`), false},
		{"trailing garbage", withJSON(string(goodJSON) + `x`), false},
		{"live without source", encodeCursor(cursor{Q: fp, Name: "a.b/c", Version: "1", Owner: "s", Live: []liveCursor{{Used: 1}}}), false},
		{"live negative", encodeCursor(cursor{Q: fp, Name: "a.b/c", Version: "1", Owner: "s", Live: []liveCursor{{Source: "api", Used: -1}}}), false},
		{"too long", encodeCursor(cursor{Q: fp, Name: "a.b/c", Version: "1", Owner: "s", Live: []liveCursor{{Source: "api", Upstream: strings.Repeat("x", maxCursorLen)}}}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := decodeCursor(tt.cursor, fp)
			if tt.ok {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if encodeCursor(c) != tt.cursor {
					t.Errorf("re-encoding gives %q, want %q", encodeCursor(c), tt.cursor)
				}
				return
			}
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v, want ErrBadRequest", err)
			}
		})
	}
}

// TestFingerprintSeparatesQueries: every filter that changes the result
// set must change the fingerprint, and the limit must not.
func TestFingerprintSeparatesQueries(t *testing.T) {
	t.Parallel()
	parse := func(raw string) Query {
		v, _ := url.ParseQuery(raw)
		q, err := ParseListQuery(v)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	base := parse("search=mcp&version=latest").fingerprint("")
	if parse("search=mcp&version=latest&limit=7").fingerprint("") != base {
		t.Error("limit changes the fingerprint: a client may change page size while paging")
	}
	if parse("search=MCP&version=latest").fingerprint("") != base {
		t.Error("search case changes the fingerprint, but not the results")
	}
	for _, other := range []string{
		"search=mcpx&version=latest",
		"search=mcp",
		"search=mcp&version=1.0.0",
		"search=mcp&version=latest&include_deleted=true",
		"search=mcp&version=latest&updated_since=2025-01-01T00:00:00Z",
		// Separators: the parts must not run into each other.
		"search=mcplatest",
	} {
		if parse(other).fingerprint("") == base {
			t.Errorf("%s has the fingerprint of search=mcp&version=latest", other)
		}
	}
	if parse("search=mcp&version=latest").fingerprint("gh") == base {
		t.Error("the view does not change the fingerprint")
	}
}

// TestCursorBelongsToItsQuery: a cursor carried over to other filters is a
// 400 problem, never a silently wrong page.
func TestCursorBelongsToItsQuery(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	first := decodeList(t, e.get(t, "/v0.1/servers?search=mcp&version=latest&limit=2"))
	if first.Metadata.NextCursor == nil {
		t.Fatal("no cursor")
	}
	c := url.QueryEscape(*first.Metadata.NextCursor)
	tests := []struct {
		name, path string
		want       int
	}{
		{"same query", "/v0.1/servers?search=mcp&version=latest&limit=2&cursor=" + c, 200},
		{"other limit", "/v0.1/servers?search=mcp&version=latest&limit=50&cursor=" + c, 200},
		{"other prefix, same API", "/v0/servers?search=mcp&version=latest&cursor=" + c, 200},
		{"search dropped", "/v0.1/servers?version=latest&cursor=" + c, 400},
		{"other search", "/v0.1/servers?search=server&version=latest&cursor=" + c, 400},
		{"version dropped", "/v0.1/servers?search=mcp&cursor=" + c, 400},
		{"exact version", "/v0.1/servers?search=mcp&version=1.0.0&cursor=" + c, 400},
		{"include_deleted", "/v0.1/servers?search=mcp&version=latest&include_deleted=true&cursor=" + c, 400},
		{"updated_since", "/v0.1/servers?search=mcp&version=latest&updated_since=2020-01-01T00:00:00Z&cursor=" + c, 400},
		{"other view", "/registry/gh/v0.1/servers?search=mcp&version=latest&cursor=" + c, 400},
		{"unfiltered view", "/registry/all/v0.1/servers?search=mcp&version=latest&cursor=" + c, 400},
		{"garbage", "/v0.1/servers?cursor=garbage!", 400},
		{"not JSON", "/v0.1/servers?cursor=" + b64("x"), 400},
		{"truncated", "/v0.1/servers?search=mcp&version=latest&cursor=" + c[:len(c)-3], 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := e.get(t, tt.path)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if tt.want == 200 {
				lb := decodeList(t, r)
				if len(lb.Servers) == 0 || lb.Servers[0].key() == first.Servers[0].key() {
					t.Errorf("the cursor did not move on: %v", keys(lb.Servers))
				}
			}
		})
	}
}

var (
	fuzzEngineOnce sync.Once
	fuzzEngineVal  *Engine
)

// fuzzEngine is a small engine the fuzz targets drive with arbitrary input.
// A shadowed name with a deleted version makes cursors exercise ownership.
func fuzzEngine(tb testing.TB) *Engine {
	fuzzEngineOnce.Do(func() {
		a := newSource(tb, "a", serverList(
			srv{Name: "io.github.x/a", Version: "1.0.0", Description: "a", Published: "2025-01-01T00:00:00Z"},
			srv{Name: "io.github.x/shared", Version: "1.0.0", Description: "s", Published: "2025-01-01T00:00:00Z"},
			srv{Name: "io.github.x/shared", Version: "2.0.0", Description: "s", Status: "deleted", Published: "2025-01-02T00:00:00Z"},
		))
		b := newSource(tb, "b", serverList(
			srv{Name: "io.github.x/b", Version: "1.0.0", Description: "b", Published: "2025-01-01T00:00:00Z"},
			srv{Name: "io.github.x/shared", Version: "3.0.0", Description: "s", Published: "2025-01-03T00:00:00Z"},
		))
		fuzzEngineVal = mustEngine(tb, EngineOptions{Members: members(a, b)})
	})
	return fuzzEngineVal
}

func FuzzDecodeCursor(f *testing.F) {
	fp := Query{Limit: 3}.fingerprint("")
	for _, s := range []string{
		"",
		encodeCursor(cursor{Q: fp, Name: "io.github.x/shared", Version: "1.0.0", Owner: "a"}),
		encodeCursor(cursor{Q: fp, Name: "io.github.x/shared", Version: "1.0.0", Owner: "b"}),
		encodeCursor(cursor{Q: fp, Name: "io.github.x/a", Version: "1.0.0", Owner: "nobody"}),
		encodeCursor(cursor{Q: fp, Name: "zzz", Version: "\xff", Owner: "a", Live: []liveCursor{{Source: "api", Upstream: "u", Used: 2}}}),
		encodeCursor(cursor{Q: "other", Name: "a.b/c", Version: "1", Owner: "a"}),
		b64(`{"v":1}`),
		b64(`{"v":1,"q":"` + fp + `","n":"a","ver":"1","o":"a","l":[{"s":"","c":"","u":-1}]}`),
		b64(`{"V":1,"Q":"` + fp + `","N":"a","VER":"1","O":"a"}`),
		b64("null"),
		"%%%",
		"AAAA",
	} {
		f.Add(s)
	}
	eng := fuzzEngine(f)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s, fp)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v is not ErrBadRequest", err)
			}
			return
		}
		// What decodes must survive a round trip unchanged.
		again, err := decodeCursor(encodeCursor(c), fp)
		if err != nil || again.Name != c.Name || again.Version != c.Version || again.Owner != c.Owner || len(again.Live) != len(c.Live) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, c)
		}
		// And the engine must page from any accepted cursor without failing.
		page, err := eng.List(context.Background(), Query{Limit: 3, Cursor: s}, nil)
		if err != nil {
			t.Fatalf("List with an accepted cursor: %v", err)
		}
		for _, en := range page.Entries {
			if !c.key().Less(en.Key()) {
				t.Fatalf("entry %v is not after the cursor's key %v", en.Key(), c.key())
			}
			if en.Name == c.Name && en.Source != c.Owner {
				t.Fatalf("entry %v from %s mixes with the cursor's owner %s", en.Key(), en.Source, c.Owner)
			}
		}
	})
}

func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{
		"",
		"limit=1",
		"limit=100",
		"limit=0",
		"limit=101",
		"limit=-1",
		"limit=abc",
		"limit=1.5",
		"limit=1&limit=2",
		"search=Filesystem&version=latest",
		"search=%00",
		"search=%ff",
		"updated_since=2025-08-07T13:15:04.280Z",
		"updated_since=2025-08-07",
		"include_deleted=true",
		"include_deleted=maybe",
		"version=1.0.0%2B20130313144700",
		"cursor=" + b64(`{"v":1}`),
		"foo=bar&foo=baz",
	} {
		f.Add(s)
	}
	eng := fuzzEngine(f)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return // the handler answers 400 before ParseListQuery
		}
		q, err := ParseListQuery(v)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v is not ErrBadRequest", err)
			}
			if statusOf(err) != http.StatusBadRequest {
				t.Fatalf("status %d for %v", statusOf(err), err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxLimit {
			t.Fatalf("limit %d accepted", q.Limit)
		}
		if q.Search != strings.ToLower(v.Get("search")) {
			t.Fatalf("search %q from %q", q.Search, v.Get("search"))
		}
		if !q.UpdatedSince.IsZero() && !q.IncludeDeleted {
			t.Fatal("updated_since without include_deleted")
		}
		// The engine takes any accepted query without failing, except
		// for a cursor it did not issue.
		if _, err := eng.List(context.Background(), q, nil); err != nil && !errors.Is(err, ErrBadRequest) {
			t.Fatalf("List: %v", err)
		}
	})
}
