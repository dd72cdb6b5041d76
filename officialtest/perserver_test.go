package officialtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// perServerPaths lists every per-server request compared: for each name,
// its versions (with and without deleted ones), latest, and each version
// (build metadata both raw and with "+" encoded), on /v0.1 and /v0; then
// requests that must be 404 on both.
func perServerPaths(keys []entryKey) []string {
	var paths []string
	seen := map[string]bool{}
	for _, k := range keys {
		esc := url.PathEscape(k.name)
		if !seen[k.name] {
			seen[k.name] = true
			paths = append(paths,
				"/v0.1/servers/"+esc+"/versions",
				"/v0.1/servers/"+esc+"/versions?include_deleted=true",
				"/v0.1/servers/"+esc+"/versions/latest",
				"/v0/servers/"+esc+"/versions",
				"/v0/servers/"+esc+"/versions/latest",
			)
		}
		v := "/v0.1/servers/" + esc + "/versions/"
		paths = append(paths, v+url.PathEscape(k.version), v+url.PathEscape(k.version)+"?include_deleted=true")
		if strings.Contains(k.version, "+") {
			paths = append(paths, v+strings.ReplaceAll(url.PathEscape(k.version), "+", "%2B"))
		}
	}
	return append(paths,
		"/v0.1/servers/"+url.PathEscape("io.github.acme/nope")+"/versions",
		"/v0.1/servers/"+url.PathEscape("io.github.acme/zeta")+"/versions",         // Zeta in another case
		"/v0.1/servers/"+url.PathEscape("io.github.acme/ALPHA")+"/versions/latest", // alpha in another case
		"/v0.1/servers/"+url.PathEscape("io.github.acme/Zeta")+"/versions/9.9.9",
		"/v0.1/servers/"+url.PathEscape("io.github.acme/a.b")+"/versions/1.0.0",          // only 1.0.0+build.5 exists
		"/v0.1/servers/"+url.PathEscape(AnonymousNamespace+"/Pub_one")+"/versions/1.0.0", // deleted
		"/v0.1/servers/"+url.PathEscape(AnonymousNamespace+"/pub10")+"/versions",         // every version deleted
	)
}

func (c *comparer) servers(t *testing.T, keys []entryKey) {
	for _, p := range perServerPaths(keys) {
		t.Run(p, func(t *testing.T) {
			want := c.get(t, c.reg.URL+p)
			got := c.get(t, c.fed.URL+p)
			if got.status != want.status {
				t.Fatalf("status %d, registry %d\n  mcpfed:   %s\n  registry: %s", got.status, want.status, got.body, want.body)
			}
			if want.status != http.StatusOK {
				return // error bodies are each server's own wording
			}
			if complete := got.header.Get("X-Federation-Complete"); complete != "true" {
				t.Errorf("X-Federation-Complete %q, want true", complete)
			}
			var w, g listPage
			if json.Unmarshal(want.body, &w) == nil && w.Servers != nil {
				if err := json.Unmarshal(got.body, &g); err != nil || g.Servers == nil {
					t.Fatalf("mcpfed answered %s, registry a list", got.body)
				}
				if g.Metadata.Count != len(g.Servers) {
					t.Errorf("metadata.count %d for %d servers", g.Metadata.Count, len(g.Servers))
				}
				// Newest publication first on both: an order that does not
				// depend on the database's collation.
				gc, wc := canonical(t, g.Servers), canonical(t, w.Servers)
				if !slices.Equal(gc, wc) {
					t.Errorf("versions differ\n  mcpfed   %q\n  registry %q", entryKeys(t, g.Servers), entryKeys(t, w.Servers))
				}
				return
			}
			gc := canonical(t, []json.RawMessage{got.body})
			wc := canonical(t, []json.RawMessage{want.body})
			if gc[0] != wc[0] {
				t.Errorf("bodies differ\n  mcpfed   %s\n  registry %s", gc[0], wc[0])
			}
		})
	}
}
