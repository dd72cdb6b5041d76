package federate

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

// restrictedDoc is a registry file with one open entry and entries that
// need claims (as the kubernetes source writes them from ToolHive's
// authz-claims annotation).
func restrictedDoc(t *testing.T) []byte {
	t.Helper()
	entry := func(name, claims string) map[string]any {
		s := map[string]any{"name": name, "version": "1.0.0", "description": "d"}
		if claims != "" {
			s["_meta"] = map[string]any{upstream.PublisherMetaKey: map[string]any{
				upstream.MCPFedNamespace: map[string]any{"authzClaims": json.RawMessage(claims)}}}
		}
		return s
	}
	b, err := json.Marshal([]any{
		entry("com.acme/open", ""),
		entry("com.acme/team-a", `{"groups":"team-a"}`),
		entry("com.acme/team-b", `{"groups":"team-b"}`),
		entry("com.acme/broken", `{"groups":7}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEntryClaimsDecideWhichViewsServeAnEntry: an entry that needs claims
// is served only by a view whose own access claims guarantee them — never
// at an anonymous root, never to a view that admits other values too — in
// lists, versions and single versions alike.
func TestEntryClaimsDecideWhichViewsServeAnEntry(t *testing.T) {
	t.Parallel()
	src := newSource(t, "cluster", restrictedDoc(t))
	e := newEnv(t, envOptions{
		members: members(src),
		views: map[string]*View{
			"team-a": {Name: "team-a", Private: true, Claims: map[string]any{"groups": "team-a"}},
			"either": {Name: "either", Private: true, Claims: map[string]any{"groups": []any{"team-a", "team-b"}}},
			"token":  {Name: "token", Private: true},
		},
	})
	tests := []struct {
		prefix string
		want   []string
	}{
		{"/v0.1", []string{"com.acme/open"}},
		{"/registry/token/v0.1", []string{"com.acme/open"}},
		{"/registry/either/v0.1", []string{"com.acme/open"}},
		{"/registry/team-a/v0.1", []string{"com.acme/open", "com.acme/team-a"}},
	}
	for _, tt := range tests {
		var got []string
		for _, it := range decodeList(t, e.get(t, tt.prefix+"/servers")).Servers {
			got = append(got, it.Server.Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s/servers: %v, want %v", tt.prefix, got, tt.want)
		}
		for _, name := range []string{"com.acme/team-a", "com.acme/team-b", "com.acme/broken"} {
			shown := slices.Contains(tt.want, name)
			for _, path := range []string{"/servers/" + name + "/versions", "/servers/" + name + "/versions/latest"} {
				r := e.get(t, tt.prefix+path)
				if (r.status == http.StatusOK) != shown {
					t.Errorf("%s%s: %d, shown %t", tt.prefix, path, r.status, shown)
				}
			}
		}
	}
}

// TestCuratedViewServesWhatItsRuleAdmits: a curated view serves only the
// entries its rule admits, and a change of the rule (a new generation)
// is served at once, past the response cache.
func TestCuratedViewServesWhatItsRuleAdmits(t *testing.T) {
	t.Parallel()
	src := newSource(t, "cluster", restrictedDoc(t))
	var approved atomic.Value
	approved.Store("com.acme/open")
	var gen atomic.Uint64
	e := newEnv(t, envOptions{
		members: members(src),
		views: map[string]*View{"approved": {Name: "approved",
			Curated:            func(en *upstream.Entry) bool { return en.Name == approved.Load().(string) },
			CurationGeneration: gen.Load}},
		responseCache: ResponseCacheOptions{MaxEntries: 100, MaxBytes: 1 << 20, TTL: time.Hour},
	})
	names := func() []string {
		var got []string
		for _, it := range decodeList(t, e.get(t, "/registry/approved/v0.1/servers")).Servers {
			got = append(got, it.Server.Name)
		}
		return got
	}
	if got := names(); !slices.Equal(got, []string{"com.acme/open"}) {
		t.Fatalf("approved: %v", got)
	}
	approved.Store("com.acme/none")
	if got := names(); !slices.Equal(got, []string{"com.acme/open"}) {
		t.Fatalf("same generation, cached answer expected: %v", got)
	}
	gen.Add(1)
	if got := names(); len(got) != 0 {
		t.Errorf("after a new decision: %v", got)
	}
	if r := e.get(t, "/v0.1/servers"); len(decodeList(t, r).Servers) != 1 {
		t.Errorf("the root is not curated: %s", r.body)
	}
}

// TestCuratedLatestIsTheLatestApproved: in a curated view, version=latest
// and /versions/latest give the latest version the view admits: a newer
// release not approved yet does not hide the approved one (list, lookup,
// paging by name).
func TestCuratedLatestIsTheLatestApproved(t *testing.T) {
	t.Parallel()
	src := newSource(t, "acme", serverList(
		srv{Name: "com.acme/a", Version: "1.0.0", Description: "a"},
		srv{Name: "com.acme/a", Version: "1.1.0", Description: "a"},
		srv{Name: "com.acme/b", Version: "2.0.0", Description: "b"},
		srv{Name: "com.acme/c", Version: "0.9.0", Description: "c"},
		srv{Name: "com.acme/c", Version: "0.10.0", Description: "c"},
		srv{Name: "com.acme/d", Version: "3.0.0", Description: "d"},
	))
	approved := map[string]bool{"com.acme/a@1.0.0": true, "com.acme/b@2.0.0": true, "com.acme/c@0.9.0": true, "com.acme/c@0.10.0": true}
	e := newEnv(t, envOptions{
		members: members(src),
		views: map[string]*View{"approved": {Name: "approved",
			Curated:            func(en *upstream.Entry) bool { return approved[en.Name+"@"+en.Version] },
			CurationGeneration: func() uint64 { return 1 }}},
	})
	pairs := func(lb listBody) []string {
		var out []string
		for _, it := range lb.Servers {
			out = append(out, it.Server.Name+"@"+it.Server.Version)
		}
		return out
	}
	want := []string{"com.acme/a@1.0.0", "com.acme/b@2.0.0", "com.acme/c@0.10.0"}
	if got := pairs(decodeList(t, e.get(t, "/registry/approved/v0.1/servers?version=latest"))); !slices.Equal(got, want) {
		t.Errorf("latest: %v, want %v", got, want)
	}
	var walked []string
	cursor := ""
	for range 10 {
		q := "?version=latest&limit=1"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		lb := decodeList(t, e.get(t, "/registry/approved/v0.1/servers"+q))
		walked = append(walked, pairs(lb)...)
		if lb.Metadata.NextCursor == nil {
			break
		}
		cursor = *lb.Metadata.NextCursor
	}
	if !slices.Equal(walked, want) {
		t.Errorf("paged latest: %v, want %v", walked, want)
	}
	r := e.get(t, "/registry/approved/v0.1/servers/com.acme%2Fa/versions/latest")
	if it := decodeItem(t, r); it.Server.Version != "1.0.0" {
		t.Errorf("/versions/latest: %s", r.body)
	}
	if r := e.get(t, "/registry/approved/v0.1/servers/com.acme%2Fd/versions/latest"); r.status != http.StatusNotFound {
		t.Errorf("nothing approved: %d", r.status)
	}
	if r := e.get(t, "/v0.1/servers/com.acme%2Fa/versions/latest"); decodeItem(t, r).Server.Version != "1.1.0" {
		t.Errorf("the root keeps the source's latest: %s", r.body)
	}
}
