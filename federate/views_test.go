package federate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// viewSources picks a view's sources from order, in the view's order
// (every source, in order, when the view names none).
func viewSources(t *testing.T, v *View, order []*fakeSource) []*fakeSource {
	t.Helper()
	if v == nil || len(v.Sources) == 0 {
		return order
	}
	var out []*fakeSource
	for _, name := range v.Sources {
		i := slices.IndexFunc(order, func(s *fakeSource) bool { return s.name == name })
		if i < 0 {
			t.Fatalf("view %q: no source %q in the fixture", v.Name, name)
		}
		out = append(out, order[i])
	}
	return out
}

// reservedAmong keeps the reservations of srcs only: a view decides
// reservations among its sources.
func reservedAmong(reserved map[string][]string, srcs []*fakeSource) map[string][]string {
	out := map[string][]string{}
	for _, s := range srcs {
		if p, ok := reserved[s.name]; ok {
			out[s.name] = p
		}
	}
	return out
}

// viewFixture is the three-source fixture with reservations (the overlay
// reserves the seed's domdomegg namespace and ToolHive's arxiv) and views
// that reorder and subset its sources, the root among them.
func viewFixture(t *testing.T) (order []*fakeSource, views []struct {
	prefix string
	view   *View
}, e *env) {
	t.Helper()
	th, ov, sd := threeSources(t)
	order = []*fakeSource{th, ov, sd}
	gh := mustFilter(t, ghFilterSpec)
	views = []struct {
		prefix string
		view   *View
	}{
		// The root over a subset, the seed first.
		{"/v0.1", &View{Name: "default", Sources: []string{"seed", "overlay"}}},
		// The overlay above ToolHive: it owns arxiv now.
		{"/registry/inverted/v0.1", &View{Name: "inverted", Sources: []string{"overlay", "toolhive"}}},
		// The overlay, which reserves domdomegg and arxiv, is outside: its
		// reservations bar nobody here.
		{"/registry/outside/v0.1", &View{Name: "outside", Sources: []string{"seed", "toolhive"}}},
		{"/registry/gh/v0.1", &View{Name: "gh", Sources: []string{"toolhive", "seed"}, Filter: gh}},
		{"/registry/all/v0.1", &View{Name: "all"}},
	}
	named := map[string]*View{}
	for _, v := range views[1:] {
		named[v.view.Name] = v.view
	}
	e = newEnv(t, envOptions{members: members(order...), reservations: walkReservations, root: views[0].view, views: named, maxAge: time.Minute})
	return order, views, e
}

// TestViewWalksMatchReferenceMerge: a full cursor walk of every view, at
// every page size, is the reference merge of exactly the view's sources in
// the view's order, with the reservations among them and its filter.
func TestViewWalksMatchReferenceMerge(t *testing.T) {
	t.Parallel()
	order, views, e := viewFixture(t)
	queries := []refQuery{
		{},
		{version: "latest"},
		{includeDeleted: true},
		{search: "mcp"},
		{updatedSince: "2026-09-08T08:45:55Z"},
	}
	for _, v := range views {
		srcs := viewSources(t, v.view, order)
		reserved := reservedAmong(walkReservations, srcs)
		for _, q := range queries {
			want := referenceMerge(srcs, reserved, q, v.view.Filter)
			for _, limit := range []int{1, 7, 30, 100} {
				t.Run(fmt.Sprintf("%s/%s/limit=%d", v.prefix, q, limit), func(t *testing.T) {
					t.Parallel()
					diffKeys(t, walkEngine(t, e.engine, v.view, q.values(), limit), want)
				})
			}
			t.Run(fmt.Sprintf("%s/%s/http", v.prefix, q), func(t *testing.T) {
				t.Parallel()
				diffKeys(t, keys(walk(t, e, v.prefix, q.values(), 7)), want)
			})
		}
	}
}

// TestViewReferenceSanity pins what the views of viewFixture must show, so
// that the walks above cannot pass on a reference that ignores the views.
func TestViewReferenceSanity(t *testing.T) {
	t.Parallel()
	order, views, _ := viewFixture(t)
	has := func(ks []key, name, source string) bool {
		return slices.ContainsFunc(ks, func(k key) bool { return k.Name == name && k.Source == source })
	}
	const arxiv, airtable = "io.github.stacklok/arxiv-mcp-server", "io.github.domdomegg/airtable-mcp-server"
	tests := []struct {
		view         string
		name, source string
		want         bool
	}{
		{"default", airtable, "seed", false},   // the overlay reserves it, and is in the view
		{"default", airtable, "overlay", true}, // so the overlay serves it though the seed ranks first
		{"inverted", arxiv, "overlay", true},   // the overlay ranks first
		{"inverted", arxiv, "toolhive", false}, // and shadows ToolHive's copy
		{"outside", airtable, "seed", true},    // the reserving overlay is outside the view
		{"outside", arxiv, "toolhive", true},   // likewise
		{"all", arxiv, "toolhive", false},      // every source: the overlay's reservation holds
		{"all", arxiv, "overlay", true},        //
		{"gh", "io.github.stacklok/arxiv-mcp-server", "toolhive", true},
	}
	refs := map[string][]key{}
	for _, v := range views {
		srcs := viewSources(t, v.view, order)
		refs[v.view.Name] = referenceMerge(srcs, reservedAmong(walkReservations, srcs), refQuery{}, v.view.Filter)
		if len(refs[v.view.Name]) == 0 {
			t.Errorf("view %s: empty reference", v.view.Name)
		}
	}
	for _, tt := range tests {
		if got := has(refs[tt.view], tt.name, tt.source); got != tt.want {
			t.Errorf("view %s: %s from %s present=%t, want %t", tt.view, tt.name, tt.source, got, tt.want)
		}
	}
}

// TestViewOrderDecidesOwner: the versions of a name two sources hold are
// the ones of whichever ranks first in the view, over the engine and HTTP;
// a reservation decides only when its source is in the view.
func TestViewOrderDecidesOwner(t *testing.T) {
	t.Parallel()
	const arxiv, airtable = "io.github.stacklok/arxiv-mcp-server", "io.github.domdomegg/airtable-mcp-server"
	views := map[string]*View{
		"th-ov": {Name: "th-ov", Sources: []string{"toolhive", "overlay"}},
		"ov-th": {Name: "ov-th", Sources: []string{"overlay", "toolhive"}},
		"sd-ov": {Name: "sd-ov", Sources: []string{"seed", "overlay"}},
		"ov-sd": {Name: "ov-sd", Sources: []string{"overlay", "seed"}},
		"th-sd": {Name: "th-sd", Sources: []string{"toolhive", "seed"}},
	}
	th, ov, sd := threeSources(t)
	plain := newEnv(t, envOptions{members: members(th, ov, sd), views: views})
	reserved := newEnv(t, envOptions{members: members(th, ov, sd), views: views, reservations: walkReservations})
	tests := []struct {
		env        string
		view, name string
		wantSource string
	}{
		{"plain", "th-ov", arxiv, "toolhive"},
		{"plain", "ov-th", arxiv, "overlay"},
		{"plain", "sd-ov", airtable, "seed"},
		{"plain", "ov-sd", airtable, "overlay"},
		// The overlay reserves arxiv: in the view, it wins whatever the order.
		{"reserved", "th-ov", arxiv, "overlay"},
		{"reserved", "sd-ov", airtable, "overlay"},
		// Outside the view, its reservation bars nobody.
		{"reserved", "th-sd", arxiv, "toolhive"},
	}
	envs := map[string]*env{"plain": plain, "reserved": reserved}
	for _, tt := range tests {
		t.Run(tt.env+"/"+tt.view+"/"+tt.name, func(t *testing.T) {
			t.Parallel()
			e, v := envs[tt.env], views[tt.view]
			entries, _, err := e.engine.Versions(context.Background(), tt.name, true, v)
			if err != nil {
				t.Fatal(err)
			}
			for _, en := range entries {
				if en.Source != tt.wantSource {
					t.Errorf("engine: %s %s from %s, want only %s's versions", en.Name, en.Version, en.Source, tt.wantSource)
				}
			}
			base := "/registry/" + tt.view + "/v0.1/servers/" + url.PathEscape(tt.name) + "/versions"
			r := e.get(t, base+"?include_deleted=true")
			if r.status != http.StatusOK {
				t.Fatalf("versions: status %d: %s", r.status, r.body)
			}
			got := keys(decodeList(t, r).Servers)
			if len(got) != len(entries) {
				t.Errorf("versions over HTTP: %d records, engine %d", len(got), len(entries))
			}
			for _, k := range got {
				if k.Source != tt.wantSource {
					t.Errorf("http: %v, want only %s's versions", k, tt.wantSource)
				}
			}
			r = e.get(t, base+"/latest")
			if r.status != http.StatusOK {
				t.Fatalf("latest: status %d: %s", r.status, r.body)
			}
			if k := decodeItem(t, r).key(); k.Source != tt.wantSource {
				t.Errorf("latest: %v, want %s's", k, tt.wantSource)
			}
		})
	}
	// The overlay's arxiv versions are its own three: the inversion shows
	// them, not a mix with ToolHive's.
	r := plain.get(t, "/registry/ov-th/v0.1/servers/"+url.PathEscape(arxiv)+"/versions")
	if got := versionsOf(decodeList(t, r).Servers); !slices.Equal(got, []string{"1.1.0", "1.0.0", "0.9.0"}) {
		t.Errorf("overlay's arxiv versions in ov-th: %v", got)
	}
}

// TestViewCursorsStayInTheirView: a cursor is refused (400) by any other
// view: another name, the root, or the same name over other sources.
func TestViewCursorsStayInTheirView(t *testing.T) {
	t.Parallel()
	_, views, e := viewFixture(t)
	first := func(prefix string) string {
		t.Helper()
		r := e.get(t, prefix+"/servers?limit=3")
		lb := decodeList(t, r)
		if r.status != http.StatusOK || lb.Metadata.NextCursor == nil {
			t.Fatalf("%s: status %d, no cursor: %s", prefix, r.status, r.body)
		}
		return *lb.Metadata.NextCursor
	}
	for _, from := range views {
		c := first(from.prefix)
		for _, to := range views {
			r := e.get(t, to.prefix+"/servers?limit=3&cursor="+url.QueryEscape(c))
			want := http.StatusBadRequest
			if to.prefix == from.prefix {
				want = http.StatusOK
			}
			if r.status != want {
				t.Errorf("cursor of %s on %s: status %d, want %d", from.prefix, to.prefix, r.status, want)
			}
		}
	}
	// Same name, other sources (a view redefined between two pages).
	q := Query{Limit: 3}
	p, err := e.engine.List(context.Background(), q, &View{Name: "inverted", Sources: []string{"overlay", "toolhive"}})
	if err != nil || p.NextCursor == "" {
		t.Fatalf("first page: %v", err)
	}
	q.Cursor = p.NextCursor
	for _, v := range []*View{
		{Name: "inverted", Sources: []string{"toolhive", "overlay"}},
		{Name: "inverted"},
		nil,
	} {
		if _, err := e.engine.List(context.Background(), q, v); !errors.Is(err, ErrBadRequest) {
			t.Errorf("cursor of inverted on %+v: %v, want ErrBadRequest", v, err)
		}
	}
}

// TestViewsNamingUnknownSourcesAreRefused: NewAPI and the engine refuse a
// view naming a source that is not a member (or one twice), listing them.
func TestViewsNamingUnknownSourcesAreRefused(t *testing.T) {
	t.Parallel()
	th, ov, sd := threeSources(t)
	eng := mustEngine(t, EngineOptions{Members: members(th, ov, sd)})
	tests := []struct {
		name  string
		root  *View
		views map[string]*View
		want  []string // in the error; none: no error
	}{
		{"root", &View{Name: "default", Sources: []string{"toolhive", "nope"}}, nil, []string{`view "default"`, "unknown source nope", "toolhive, overlay, seed"}},
		{"named", nil, map[string]*View{"a": {Name: "a", Sources: []string{"ghost", "seed", "phantom"}}}, []string{`view "a"`, "ghost, phantom"}},
		{"twice", nil, map[string]*View{"b": {Name: "b", Sources: []string{"seed", "seed"}}}, []string{"more than once: seed"}},
		{"both", &View{Sources: []string{"x"}}, map[string]*View{"c": {Name: "c", Sources: []string{"y"}}}, []string{"unknown source x", "unknown source y"}},
		{"nil view", nil, map[string]*View{"d": nil}, []string{`view "d": no definition`}},
		{"fine", &View{Sources: []string{"seed"}}, map[string]*View{"e": {Name: "e", Sources: []string{"overlay", "toolhive"}}, "f": {Name: "f"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api, err := NewAPI(APIOptions{Engine: eng, Root: tt.root, Views: tt.views})
			if api != nil {
				api.Close()
			}
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("NewAPI: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewAPI accepted the views")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	bad := &View{Name: "bad", Sources: []string{"seed", "nope"}}
	if _, err := eng.List(context.Background(), Query{Limit: 5}, bad); !errors.Is(err, ErrUnknownSource) {
		t.Errorf("List over an unknown source: %v", err)
	}
	if _, _, err := eng.Versions(context.Background(), "x/y", false, bad); !errors.Is(err, ErrUnknownSource) {
		t.Errorf("Versions over an unknown source: %v", err)
	}
	if _, _, err := eng.Version(context.Background(), "x/y", "1", false, bad); !errors.Is(err, ErrUnknownSource) {
		t.Errorf("Version over an unknown source: %v", err)
	}
}

// TestPrivateViewCaching: a private view's complete answers may be kept
// by the client only, and vary on Authorization; a partial one stays
// no-store; public views and the root stay public.
func TestPrivateViewCaching(t *testing.T) {
	t.Parallel()
	th, ov, sd := threeSources(t)
	empty := &fakeSource{name: "empty"} // never loaded: answers that include it are partial
	e := newEnv(t, envOptions{
		members: members(th, ov, sd, empty),
		root:    &View{Name: "default", Sources: []string{"toolhive"}},
		views: map[string]*View{
			"private": {Name: "private", Sources: []string{"toolhive"}, Private: true},
			"public":  {Name: "public", Sources: []string{"toolhive"}},
			"partial": {Name: "partial", Sources: []string{"toolhive", "empty"}, Private: true},
		},
		maxAge: time.Minute,
	})
	const private, public, noStore = "private, max-age=60", "public, max-age=60", "no-store"
	arxiv := "/servers/" + url.PathEscape("io.github.stacklok/arxiv-mcp-server") + "/versions"
	tests := []struct {
		prefix       string
		cacheControl string
		varyAuth     bool
	}{
		{"/registry/private/v0.1", private, true},
		{"/registry/private/v0", private, true},
		{"/registry/public/v0.1", public, false},
		{"/v0.1", public, false},
		{"/v0", public, false},
		{"/registry/partial/v0.1", noStore, true},
	}
	for _, tt := range tests {
		for _, p := range []string{"/servers?limit=5", arxiv, arxiv + "/latest", "/ping", "/health", "/version"} {
			t.Run(tt.prefix+p, func(t *testing.T) {
				t.Parallel()
				want := tt.cacheControl
				if strings.HasPrefix(p, "/ping") || strings.HasPrefix(p, "/health") || strings.HasPrefix(p, "/version") && !strings.HasPrefix(p, "/versions") {
					if want == noStore {
						want = private // no source takes part: complete
					}
				}
				r := e.get(t, tt.prefix+p)
				if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				if got := r.header.Get("Cache-Control"); got != want {
					t.Errorf("Cache-Control %q, want %q", got, want)
				}
				vary := strings.Join(r.header.Values("Vary"), ",")
				if got := strings.Contains(vary, "Authorization"); got != tt.varyAuth {
					t.Errorf("Vary %q: Authorization in it %t, want %t", vary, got, tt.varyAuth)
				}
				if !strings.Contains(vary, "Accept-Encoding") {
					t.Errorf("Vary %q lacks Accept-Encoding", vary)
				}
				if want == noStore && r.header.Get(HeaderComplete) != "false" {
					t.Errorf("no-store answer with %s %q, want a partial one", HeaderComplete, r.header.Get(HeaderComplete))
				}
			})
		}
	}
}

// authorizeRecorder is an Authorize hook that admits "Bearer good-…"
// tokens, answers 401 to anything else, and records what it was asked.
type authorizeRecorder struct {
	mu    sync.Mutex
	calls []authorizeCall
}

type authorizeCall struct{ view, path string }

func (a *authorizeRecorder) authorize(w http.ResponseWriter, r *http.Request, view string) bool {
	a.mu.Lock()
	a.calls = append(a.calls, authorizeCall{view, r.URL.Path})
	a.mu.Unlock()
	if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer good-") {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="mcpfed"`)
	writeProblem(w, http.StatusUnauthorized, "a valid bearer token is required")
	return false
}

func (a *authorizeRecorder) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

func (a *authorizeRecorder) last() authorizeCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) == 0 {
		return authorizeCall{"<none>", ""}
	}
	return a.calls[len(a.calls)-1]
}

// TestAuthorizeSeesEveryRegistryRoute: the hook decides every registry
// route under the root (view "") and every view (its name); its refusal
// is the whole answer. An unknown view is a 404 without asking it.
func TestAuthorizeSeesEveryRegistryRoute(t *testing.T) {
	t.Parallel()
	var rec authorizeRecorder
	th, ov, sd := threeSources(t)
	e := newEnv(t, envOptions{
		members:   members(th, ov, sd),
		views:     map[string]*View{"internal": {Name: "internal", Sources: []string{"overlay"}, Private: true}},
		authorize: rec.authorize,
		maxAge:    time.Minute,
	})
	multi := "/servers/" + url.PathEscape("io.github.mcpfed/multi") + "/versions"
	for _, prefix := range []struct{ path, view string }{
		{"/v0.1", ""}, {"/v0", ""}, {"/registry/internal/v0.1", "internal"}, {"/registry/internal/v0", "internal"},
	} {
		for _, p := range []string{"/servers", multi, multi + "/2.0.0", multi + "/latest", "/health", "/ping", "/version"} {
			path := prefix.path + p
			want := authorizeCall{prefix.view, strings.ReplaceAll(path, "%2F", "/")}
			r := e.get(t, path)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" || r.header.Get("ETag") != "" {
				t.Errorf("%s without a token: status %d, want the hook's 401 and nothing else", path, r.status)
			}
			if c := rec.last(); c != want {
				t.Errorf("%s: hook saw %+v, want %+v", path, c, want)
			}
			if r := e.get(t, path, "Authorization", "Bearer good-1"); r.status != http.StatusOK {
				t.Errorf("%s with a token: status %d: %s", path, r.status, r.body)
			}
			if c := rec.last(); c != want {
				t.Errorf("%s with a token: hook saw %+v, want %+v", path, c, want)
			}
		}
	}
	n := rec.count()
	if r := e.get(t, "/registry/nope/v0.1/servers", "Authorization", "Bearer good-1"); r.status != http.StatusNotFound {
		t.Errorf("unknown view: status %d, want 404", r.status)
	}
	if rec.count() != n {
		t.Errorf("the hook was asked about an unknown view: %+v", rec.last())
	}
	// Operator endpoints and the OpenAPI document are not the hook's.
	for _, p := range []string{"/healthz", "/readyz", "/openapi.yaml"} {
		if r := e.get(t, p); r.status != http.StatusOK {
			t.Errorf("%s: status %d", p, r.status)
		}
	}
	if rec.count() != n {
		t.Errorf("the hook was asked about an operator endpoint: %+v", rec.last())
	}
}

// TestAuthorizeComesBeforeTheCache: a request the hook refuses is never
// answered from the response cache, before or after an allowed identical
// request filled it; an allowed one is computed once and then served from
// the cache whatever token it bears (no token enters a key).
func TestAuthorizeComesBeforeTheCache(t *testing.T) {
	t.Parallel()
	var (
		rec    authorizeRecorder
		merges atomic.Int64
	)
	th, ov, sd := threeSources(t)
	e := newEnv(t, envOptions{
		members:       members(th, ov, sd),
		views:         map[string]*View{"internal": {Name: "internal", Sources: []string{"overlay", "toolhive"}, Private: true}},
		authorize:     rec.authorize,
		responseCache: ResponseCacheOptions{MaxEntries: 100, TTL: time.Hour},
		observeMerge:  func(time.Duration) { merges.Add(1) },
		maxAge:        time.Minute,
	})
	steps := []struct {
		token      string
		wantStatus int
		wantMerges int64 // list merges of the path so far
	}{
		{"", http.StatusUnauthorized, 0},
		{"Bearer evil", http.StatusUnauthorized, 0},
		{"Bearer good-1", http.StatusOK, 1},
		{"", http.StatusUnauthorized, 1},
		{"Bearer evil", http.StatusUnauthorized, 1},
		{"Bearer good-2", http.StatusOK, 1}, // the cached answer: another token, the same key
	}
	for _, prefix := range []string{"/v0.1", "/registry/internal/v0.1"} {
		path := prefix + "/servers?limit=2&search=arxiv"
		start := merges.Load()
		var body []byte
		for i, st := range steps {
			var r response
			if st.token == "" {
				r = e.get(t, path)
			} else {
				r = e.get(t, path, "Authorization", st.token)
			}
			if r.status != st.wantStatus {
				t.Fatalf("%s step %d (%q): status %d, want %d: %s", prefix, i, st.token, r.status, st.wantStatus, r.body)
			}
			if got := merges.Load() - start; got != st.wantMerges {
				t.Errorf("%s step %d (%q): %d merges, want %d", prefix, i, st.token, got, st.wantMerges)
			}
			if st.wantStatus != http.StatusOK {
				if r.header.Get("ETag") != "" || strings.Contains(string(r.body), "arxiv") {
					t.Errorf("%s step %d: a refused request got an answer of the API: %s", prefix, i, r.body)
				}
				continue
			}
			if !strings.Contains(string(r.body), "arxiv") {
				t.Errorf("%s step %d: %s", prefix, i, r.body)
			}
			if body == nil {
				body = r.body
			} else if string(r.body) != string(body) {
				t.Errorf("%s step %d: the cached answer differs from the computed one", prefix, i)
			}
		}
	}
}

// TestIsAdminHook: when set, IsAdmin alone decides who may resync and who
// sees the sources' error texts; the admin token no longer does.
func TestIsAdminHook(t *testing.T) {
	t.Parallel()
	isAdmin := func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer claims-admin" }
	resync := func(_ context.Context, name string) (SourceReport, error) {
		return SourceReport{Name: name, State: "ok", Entries: 111}, nil
	}
	e := adminEnv(t, AdminOptions{IsAdmin: isAdmin, Resync: resync, Token: func() (string, error) { return adminToken, nil }})
	tests := []struct {
		name      string
		header    []string
		wantAdmin bool
	}{
		{"hook admits", []string{"Authorization", "Bearer claims-admin"}, true},
		{"admin token, hook refuses", []string{"Authorization", "Bearer " + adminToken}, false},
		{"anonymous", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := e.get(t, sourcesPath, tt.header...)
			var body struct{ Sources []SourceReport }
			if err := json.Unmarshal(r.body, &body); err != nil || r.status != http.StatusOK || len(body.Sources) != 2 {
				t.Fatalf("sources: %d %s: %v", r.status, r.body, err)
			}
			if shown := body.Sources[1].LastError != ""; shown != tt.wantAdmin {
				t.Errorf("lastError shown=%t, want %t", shown, tt.wantAdmin)
			}
			r = e.do(t, http.MethodPost, sourcesPath+"/toolhive/resync", tt.header...)
			want := http.StatusUnauthorized
			if tt.wantAdmin {
				want = http.StatusOK
			}
			if r.status != want {
				t.Errorf("resync: status %d, want %d: %s", r.status, want, r.body)
			}
			if !tt.wantAdmin && r.header.Get("WWW-Authenticate") == "" {
				t.Error("resync refused without WWW-Authenticate")
			}
		})
	}
}
