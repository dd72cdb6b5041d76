package federate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// apiEnv serves the three-source fixture with an unfiltered view "all"
// (which must answer exactly like the default view) and the filtered "gh".
func apiEnv(t *testing.T) *env {
	t.Helper()
	th, ov, sd := threeSources(t)
	return newEnv(t, envOptions{
		members: members(th, ov, sd),
		views: map[string]*View{
			"all": {Name: "all"},
			"gh":  {Name: "gh", Filter: mustFilter(t, ghFilterSpec)},
		},
		maxAge: time.Minute,
	})
}

// prefixes are the mount points that answer identically over the fixture.
var prefixes = []string{"/v0.1", "/v0", "/registry/all/v0.1", "/registry/all/v0"}

func TestListParameters(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	multiAll := []string{"1.0.0", "1.0.0+20130313144700", "1.10.0", "1.2.0", "2.0.0", "2.0.0-rc.1"}
	multiLive := []string{"1.0.0", "1.0.0+20130313144700", "1.10.0", "2.0.0", "2.0.0-rc.1"}
	tests := []struct {
		name  string
		query string
		// wantStatus defaults to 200.
		wantStatus int
		wantCount  int // -1: do not check
		wantCursor bool
		check      func(t *testing.T, lb listBody)
	}{
		{name: "default limit is 30", query: "", wantCount: 30, wantCursor: true},
		{name: "limit 1", query: "limit=1", wantCount: 1, wantCursor: true},
		{name: "limit 100", query: "limit=100", wantCount: 100, wantCursor: true},
		{name: "limit above the total", query: "limit=100&include_deleted=true&search=io.github.mcpfed", wantCount: 10},
		{name: "limit 0", query: "limit=0", wantStatus: 400},
		{name: "limit 101", query: "limit=101", wantStatus: 400},
		{name: "limit -1", query: "limit=-1", wantStatus: 400},
		{name: "limit abc", query: "limit=abc", wantStatus: 400},
		{name: "limit 1.5", query: "limit=1.5", wantStatus: 400},
		{name: "limit huge", query: "limit=99999999999999999999999", wantStatus: 400},
		{name: "limit twice", query: "limit=1&limit=2", wantStatus: 400},
		{name: "search twice", query: "search=a&search=b", wantStatus: 400},
		{name: "cursor twice", query: "cursor=a&cursor=b", wantStatus: 400},
		{name: "version twice", query: "version=latest&version=1.0.0", wantStatus: 400},
		{name: "include_deleted twice", query: "include_deleted=true&include_deleted=true", wantStatus: 400},
		{name: "updated_since twice", query: "updated_since=2025-01-01T00:00:00Z&updated_since=2025-01-01T00:00:00Z", wantStatus: 400},
		{name: "unknown parameter ignored, even twice", query: "foo=1&foo=2&limit=2", wantCount: 2, wantCursor: true},
		{name: "malformed escape", query: "limit=%zz", wantStatus: 400},
		{name: "semicolon separator", query: "limit=1;search=x", wantStatus: 400},
		{name: "search in title, any case", query: "search=zEbRa", wantCount: 1, check: func(t *testing.T, lb listBody) {
			wantKeys(t, lb.Servers, key{"io.github.mcpfed/zebra", "0.1.0", "overlay"})
		}},
		{name: "search in description, any case", query: "search=striped", wantCount: 1},
		{name: "search in name", query: "search=MCPFED/MULTI", wantCount: 5, check: func(t *testing.T, lb listBody) {
			wantVersions(t, lb.Servers, multiLive...)
		}},
		{name: "search never serves a shadowed version", query: "search=arxiv", wantCount: 1, check: func(t *testing.T, lb listBody) {
			wantKeys(t, lb.Servers, key{"io.github.stacklok/arxiv-mcp-server", "1.0.0", "toolhive"})
		}},
		{name: "search without match", query: "search=no-such-server-anywhere", wantCount: 0},
		{name: "search with NUL does not match across fields", query: "search=mcp-server%00analyticdb", wantStatus: 400},
		{name: "search not UTF-8", query: "search=%ff", wantStatus: 400},
		{name: "search too long", query: "search=" + strings.Repeat("a", 257), wantStatus: 400},
		{name: "updated_since is strictly greater", query: "updated_since=" + toolhiveUpdated, wantCount: 5, check: func(t *testing.T, lb listBody) {
			wantKeys(t, lb.Servers,
				key{"io.github.domdomegg/airtable-mcp-server", "1.7.3", "overlay"},
				key{"io.github.mcpfed/gone", "1.0.0", "overlay"},
				key{"io.github.mcpfed/multi", "1.2.0", "overlay"},
				key{"io.github.mcpfed/multi", "2.0.0", "overlay"},
				key{"io.github.mcpfed/retired", "2.0.0", "overlay"})
		}},
		{name: "updated_since with an offset", query: "updated_since=2026-09-08T10:45:56%2B02:00", wantCount: 5},
		{name: "updated_since with fractional seconds", query: "updated_since=2026-09-08T08:45:55.999Z&limit=100", wantCount: 100, wantCursor: true},
		{name: "updated_since implies include_deleted", query: "updated_since=2026-09-09T00:00:00Z&search=gone", wantCount: 0},
		{name: "updated_since sees deletions", query: "updated_since=2026-09-08T23:59:59Z&search=gone", wantCount: 1},
		// As the official registry: an incremental sync must see deletions.
		{name: "updated_since with include_deleted=false", query: "updated_since=2026-09-08T23:59:59Z&search=gone&include_deleted=false", wantStatus: 400},
		{name: "updated_since with include_deleted=0", query: "updated_since=2026-09-08T23:59:59Z&include_deleted=0", wantStatus: 400},
		{name: "updated_since with include_deleted=true", query: "updated_since=2026-09-08T23:59:59Z&search=gone&include_deleted=true", wantCount: 1},
		{name: "updated_since with an empty include_deleted", query: "updated_since=2026-09-08T23:59:59Z&search=gone&include_deleted=", wantCount: 1},
		{name: "updated_since not RFC 3339", query: "updated_since=2025-08-07", wantStatus: 400},
		{name: "updated_since with a space", query: "updated_since=2025-08-07%2013:15:04Z", wantStatus: 400},
		{name: "updated_since garbage", query: "updated_since=yesterday", wantStatus: 400},
		{name: "version latest: one per name, isLatest", query: "version=latest&search=io.github.mcpfed", wantCount: 3, check: func(t *testing.T, lb listBody) {
			wantKeys(t, lb.Servers,
				key{"io.github.mcpfed/multi", "2.0.0", "overlay"},
				key{"io.github.mcpfed/retired", "1.0.0", "overlay"},
				key{"io.github.mcpfed/zebra", "0.1.0", "overlay"})
			for _, it := range lb.Servers {
				if !it.Meta.Official.IsLatest {
					t.Errorf("%v: isLatest false", it.key())
				}
			}
		}},
		{name: "version latest with deleted", query: "version=latest&search=io.github.mcpfed&include_deleted=true", wantCount: 4},
		{name: "version exact", query: "version=1.10.0", wantCount: 1, check: func(t *testing.T, lb listBody) {
			wantKeys(t, lb.Servers, key{"io.github.mcpfed/multi", "1.10.0", "overlay"})
		}},
		{name: "version exact with build metadata", query: "version=1.0.0%2B20130313144700", wantCount: 1},
		{name: "version exact of a shadowed source", query: "version=1.7.2", wantCount: 0},
		{name: "version exact of a deleted version", query: "version=1.2.0", wantCount: 0},
		{name: "deleted hidden by default", query: "search=io.github.mcpfed/multi", wantCount: 5, check: func(t *testing.T, lb listBody) {
			wantVersions(t, lb.Servers, multiLive...)
		}},
		{name: "include_deleted=true", query: "search=io.github.mcpfed/multi&include_deleted=true", wantCount: 6, check: func(t *testing.T, lb listBody) {
			wantVersions(t, lb.Servers, multiAll...)
		}},
		{name: "include_deleted=1", query: "search=io.github.mcpfed/multi&include_deleted=1", wantCount: 6},
		{name: "include_deleted=false", query: "search=io.github.mcpfed/multi&include_deleted=false", wantCount: 5},
		{name: "include_deleted bad", query: "include_deleted=yes%20please", wantStatus: 400},
		{name: "include_deleted maybe", query: "include_deleted=maybe", wantStatus: 400},
		{name: "unknown _meta kept, official block present", query: "search=zebra", wantCount: 1, check: func(t *testing.T, lb listBody) {
			it := lb.Servers[0]
			if string(it.Meta.Extra) != `{"kept":true}` {
				t.Errorf(`_meta["com.example/extra"] = %s, want {"kept":true}`, it.Meta.Extra)
			}
			if it.Meta.Official.Status != "deprecated" || it.Meta.Official.PublishedAt.IsZero() {
				t.Errorf("official block = %+v", it.Meta.Official)
			}
		}},
		{name: "ToolHive status is derived lower-case", query: "search=mcp-server-neon", wantCount: 1, check: func(t *testing.T, lb listBody) {
			if st := lb.Servers[0].Meta.Official.Status; st != "deprecated" {
				t.Errorf("status %q, want deprecated", st)
			}
		}},
	}
	for _, p := range prefixes {
		for _, tt := range tests {
			t.Run(p+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				r := e.get(t, p+"/servers?"+tt.query)
				want := tt.wantStatus
				if want == 0 {
					want = http.StatusOK
				}
				if r.status != want {
					t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
				}
				if want != http.StatusOK {
					return
				}
				lb := decodeList(t, r)
				if len(lb.Servers) != tt.wantCount {
					t.Errorf("%d servers, want %d: %v", len(lb.Servers), tt.wantCount, keys(lb.Servers))
				}
				if got := lb.Metadata.NextCursor != nil; got != tt.wantCursor {
					t.Errorf("nextCursor present = %v, want %v", got, tt.wantCursor)
				}
				if tt.check != nil {
					tt.check(t, lb)
				}
			})
		}
	}
}

func wantKeys(t *testing.T, items []item, want ...key) {
	t.Helper()
	if got := keys(items); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func wantVersions(t *testing.T, items []item, want ...string) {
	t.Helper()
	if got := versionsOf(items); !slices.Equal(got, want) {
		t.Errorf("versions %v, want %v", got, want)
	}
}

func TestServerEndpoints(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	tests := []struct {
		name       string
		path       string // after the prefix
		wantStatus int
		// For /versions: the versions in order (newest publication first).
		wantVersions []string
		// For one version: the version and the source serving it.
		wantVersion, wantSource string
		wantStatusMeta          string
	}{
		{name: "versions, encoded slash", path: "/servers/io.github.mcpfed%2Fmulti/versions",
			wantVersions: []string{"1.0.0+20130313144700", "2.0.0", "2.0.0-rc.1", "1.10.0", "1.0.0"}},
		{name: "versions, lower-case escape", path: "/servers/io.github.mcpfed%2fmulti/versions",
			wantVersions: []string{"1.0.0+20130313144700", "2.0.0", "2.0.0-rc.1", "1.10.0", "1.0.0"}},
		{name: "versions, unencoded slash", path: "/servers/io.github.mcpfed/multi/versions",
			wantVersions: []string{"1.0.0+20130313144700", "2.0.0", "2.0.0-rc.1", "1.10.0", "1.0.0"}},
		// As the official registry: ".../versions/" is no route.
		{name: "versions, trailing slash", path: "/servers/io.github.mcpfed%2Fmulti/versions/", wantStatus: 404},
		{name: "versions, trailing slash, unencoded slash", path: "/servers/io.github.mcpfed/multi/versions/", wantStatus: 404},
		{name: "version, trailing slash", path: "/servers/io.github.mcpfed%2Fmulti/versions/2.0.0/", wantStatus: 404},
		{name: "versions include_deleted", path: "/servers/io.github.mcpfed%2Fmulti/versions?include_deleted=true",
			wantVersions: []string{"1.0.0+20130313144700", "2.0.0", "2.0.0-rc.1", "1.10.0", "1.2.0", "1.0.0"}},
		{name: "versions decoded once only", path: "/servers/io.github.mcpfed%252Fmulti/versions", wantStatus: 404},
		{name: "versions, name encoded twice entirely", path: "/servers/io.github.mcpfed%25252Fmulti/versions", wantStatus: 404},
		{name: "versions of a shadowed name come from one source", path: "/servers/io.github.stacklok%2Farxiv-mcp-server/versions",
			wantVersions: []string{"1.0.0"}},
		{name: "versions never mix sources", path: "/servers/io.github.domdomegg%2Fairtable-mcp-server/versions?include_deleted=true",
			wantVersions: []string{"1.8.0", "1.7.3"}},
		{name: "versions all deleted", path: "/servers/io.github.mcpfed%2Fgone/versions", wantStatus: 404},
		{name: "versions all deleted, include_deleted", path: "/servers/io.github.mcpfed%2Fgone/versions?include_deleted=true",
			wantVersions: []string{"1.0.0"}},
		{name: "versions unknown", path: "/servers/io.github.nobody%2Fnothing/versions", wantStatus: 404},
		{name: "versions include_deleted bad", path: "/servers/io.github.mcpfed%2Fmulti/versions?include_deleted=maybe", wantStatus: 400},
		{name: "versions include_deleted twice", path: "/servers/io.github.mcpfed%2Fmulti/versions?include_deleted=1&include_deleted=0", wantStatus: 400},
		{name: "versions malformed query", path: "/servers/io.github.mcpfed%2Fmulti/versions?include_deleted=%zz", wantStatus: 400},

		{name: "version latest", path: "/servers/io.github.mcpfed%2Fmulti/versions/latest", wantVersion: "2.0.0", wantSource: "overlay", wantStatusMeta: "active"},
		{name: "version latest, unencoded slash", path: "/servers/io.github.mcpfed/multi/versions/latest", wantVersion: "2.0.0", wantSource: "overlay"},
		{name: "version exact", path: "/servers/io.github.mcpfed%2Fmulti/versions/1.10.0", wantVersion: "1.10.0", wantSource: "overlay"},
		{name: "version with build metadata, encoded", path: "/servers/io.github.mcpfed%2Fmulti/versions/1.0.0%2B20130313144700", wantVersion: "1.0.0+20130313144700", wantSource: "overlay"},
		{name: "version with build metadata, literal plus", path: "/servers/io.github.mcpfed%2Fmulti/versions/1.0.0+20130313144700", wantVersion: "1.0.0+20130313144700", wantSource: "overlay"},
		{name: "version deleted", path: "/servers/io.github.mcpfed%2Fmulti/versions/1.2.0", wantStatus: 404},
		{name: "version deleted, include_deleted", path: "/servers/io.github.mcpfed%2Fmulti/versions/1.2.0?include_deleted=true", wantVersion: "1.2.0", wantSource: "overlay", wantStatusMeta: "deleted"},
		// The official rule: the latest is the highest version that is not deleted.
		{name: "highest version deleted", path: "/servers/io.github.mcpfed%2Fretired/versions/latest", wantVersion: "1.0.0", wantSource: "overlay", wantStatusMeta: "active"},
		{name: "highest version deleted, include_deleted", path: "/servers/io.github.mcpfed%2Fretired/versions/latest?include_deleted=true", wantVersion: "1.0.0", wantSource: "overlay", wantStatusMeta: "active"},
		{name: "deleted version itself", path: "/servers/io.github.mcpfed%2Fretired/versions/2.0.0?include_deleted=true", wantVersion: "2.0.0", wantSource: "overlay", wantStatusMeta: "deleted"},
		{name: "version of a shadowed source", path: "/servers/io.github.domdomegg%2Fairtable-mcp-server/versions/1.7.2", wantStatus: 404},
		{name: "version held by both, served by the owner", path: "/servers/io.github.stacklok%2Farxiv-mcp-server/versions/1.0.0", wantVersion: "1.0.0", wantSource: "toolhive"},
		{name: "version only a shadowed source has", path: "/servers/io.github.stacklok%2Farxiv-mcp-server/versions/1.1.0", wantStatus: 404},
		{name: "version from the seed", path: "/servers/io.github.domdomegg%2Ftime-mcp-pypi/versions/latest", wantVersion: "1.0.6", wantSource: "seed"},
		{name: "version unknown", path: "/servers/io.github.mcpfed%2Fmulti/versions/9.9.9", wantStatus: 404},
		{name: "version of unknown server", path: "/servers/io.github.nobody%2Fnothing/versions/latest", wantStatus: 404},
		{name: "version decoded once only", path: "/servers/io.github.mcpfed%252Fmulti/versions/latest", wantStatus: 404},
		{name: "version include_deleted bad", path: "/servers/io.github.mcpfed%2Fmulti/versions/latest?include_deleted=x", wantStatus: 400},

		{name: "no versions segment", path: "/servers/io.github.mcpfed%2Fmulti", wantStatus: 404},
		{name: "servers slash", path: "/servers/", wantStatus: 404},
		{name: "extra segment", path: "/servers/io.github.mcpfed%2Fmulti/versions/1.0.0/status", wantStatus: 404},
	}
	for _, p := range prefixes {
		for _, tt := range tests {
			t.Run(p+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				r := e.get(t, p+tt.path)
				want := tt.wantStatus
				if want == 0 {
					want = http.StatusOK
				}
				if r.status != want {
					t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
				}
				switch {
				case want != http.StatusOK:
				case tt.wantVersions != nil:
					lb := decodeList(t, r)
					wantVersions(t, lb.Servers, tt.wantVersions...)
					if lb.Metadata.NextCursor != nil {
						t.Errorf("versions listing has a cursor")
					}
					for _, it := range lb.Servers {
						if it.Meta.Provenance.Source != lb.Servers[0].Meta.Provenance.Source {
							t.Errorf("versions from two sources: %v", keys(lb.Servers))
						}
					}
				default:
					it := decodeItem(t, r)
					if it.Server.Version != tt.wantVersion || it.Meta.Provenance.Source != tt.wantSource {
						t.Errorf("got %v, want version %s from %s", it.key(), tt.wantVersion, tt.wantSource)
					}
					if tt.wantStatusMeta != "" && it.Meta.Official.Status != tt.wantStatusMeta {
						t.Errorf("status %q, want %q", it.Meta.Official.Status, tt.wantStatusMeta)
					}
				}
			})
		}
	}
}

func TestNamedView(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	for _, p := range []string{"/registry/gh/v0.1", "/registry/gh/v0"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			lb := decodeList(t, e.get(t, p+"/servers?limit=100&include_deleted=true"))
			if len(lb.Servers) == 0 {
				t.Fatal("empty view")
			}
			all := walk(t, e, p, nil, 100)
			for _, it := range all {
				if strings.Contains(it.Server.Name, "/aws-") || it.Meta.Official.Status == "deprecated" || !strings.HasPrefix(it.Server.Name, "io.github.") {
					t.Errorf("view gh served %v (%s)", it.key(), it.Meta.Official.Status)
				}
			}
			for _, tt := range []struct {
				path string
				want int
			}{
				{"/servers/io.github.mcpfed%2Fzebra/versions", 404},                         // deprecated
				{"/servers/io.github.mcpfed%2Fzebra/versions/latest", 404},                  // deprecated
				{"/servers/io.github.stacklok%2Faws-api/versions", 404},                     // excluded name
				{"/servers/io.github.stacklok%2Faws-api/versions/1.0.0", 404},               // excluded name
				{"/servers/io.github.stacklok%2Fmcp-server-neon/versions/latest", 404},      // deprecated (ToolHive)
				{"/servers/io.github.mcpfed%2Fmulti/versions", 200},                         // admitted
				{"/servers/io.github.mcpfed%2Fmulti/versions/1.2.0?include_deleted=1", 200}, // deleted is in the view's statuses
				{"/servers?search=zebra", 200},
			} {
				r := e.get(t, p+tt.path)
				if r.status != tt.want {
					t.Errorf("%s: status %d, want %d", tt.path, r.status, tt.want)
				}
				if strings.HasPrefix(tt.path, "/servers?") && len(decodeList(t, r).Servers) != 0 {
					t.Errorf("%s: the view served a deprecated server", tt.path)
				}
			}
			// The same names are there in the default view.
			if r := e.get(t, "/v0.1/servers/io.github.mcpfed%2Fzebra/versions"); r.status != 200 {
				t.Errorf("default view: zebra status %d", r.status)
			}
		})
	}
	t.Run("unknown view", func(t *testing.T) {
		t.Parallel()
		for _, path := range []string{
			"/registry/nope/v0.1/servers",
			"/registry/nope/v0.1/servers/io.github.mcpfed%2Fmulti/versions",
			"/registry/nope/v0.1/servers/io.github.mcpfed%2Fmulti/versions/latest",
		} {
			if r := e.get(t, path); r.status != 404 {
				t.Errorf("%s: status %d, want 404", path, r.status)
			}
		}
	})
}

func TestServiceEndpoints(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	tests := []struct {
		path string
		want string // JSON body
	}{
		{"/healthz", `{"status":"ok"}`},
		{"/readyz", `{"status":"ready"}`},
		{"/v0.1/health", `{"status":"ok"}`},
		{"/v0/health", `{"status":"ok"}`},
		{"/v0.1/ping", `{"pong":true}`},
		{"/v0.1/version", `{"version":"v1.2.3-test","git_commit":"abc123","build_time":"2025-09-01T00:00:00Z"}`},
		{"/registry/gh/v0.1/ping", `{"pong":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			r := e.get(t, tt.path)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var got, want any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal([]byte(tt.want), &want)
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			if !bytes.Equal(gb, wb) {
				t.Errorf("body %s, want %s", r.body, tt.want)
			}
		})
	}
}

func TestServedOpenAPI(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	r := e.get(t, "/openapi.yaml")
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	if ct := r.header.Get("Content-Type"); !strings.Contains(ct, "yaml") {
		t.Errorf("Content-Type %q", ct)
	}
	var doc struct {
		OpenAPI string `yaml:"openapi"`
		Info    struct {
			Version     string `yaml:"version"`
			Description string `yaml:"description"`
		} `yaml:"info"`
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			Schemas map[string]any `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Version != "1.0.0" {
		t.Errorf("info.version = %q, want 1.0.0", doc.Info.Version)
	}
	// Older ToolHive CLIs check for the URL exactly, scheme included.
	if !strings.Contains(doc.Info.Description, "https://github.com/modelcontextprotocol/registry") {
		t.Errorf("info.description does not contain https://github.com/modelcontextprotocol/registry: %q", doc.Info.Description)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	for _, p := range []string{"/v0.1/servers", "/v0.1/servers/{serverName}/versions", "/v0.1/servers/{serverName}/versions/{version}"} {
		if _, ok := doc.Paths[p]["get"]; !ok {
			t.Errorf("path %s: no get operation", p)
		}
	}
	for p, ops := range doc.Paths {
		for op := range ops {
			switch op {
			case "get", "parameters", "summary", "description":
			default:
				t.Errorf("path %s advertises %s: mcpfed is read-only", p, op)
			}
		}
	}
	for _, s := range []string{"ServerList", "ServerResponse", "ServerDetail"} {
		if doc.Components.Schemas[s] == nil {
			t.Errorf("components.schemas.%s is missing", s)
		}
	}
}

func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/", 404},
		{"GET", "/nope", 404},
		{"GET", "/v1/servers", 404},
		{"GET", "/v0.1/nope", 404},
		{"GET", "/registry/gh/v0.1/nope", 404},
		{"POST", "/v0.1/servers", 405},
		{"POST", "/v0/servers", 405},
		{"PUT", "/v0.1/servers/io.github.mcpfed%2Fmulti/versions/1.0.0", 405},
		{"DELETE", "/v0.1/servers/io.github.mcpfed%2Fmulti/versions/1.0.0", 405},
		{"PATCH", "/v0.1/servers/io.github.mcpfed%2Fmulti/versions/1.0.0/status", 405},
		{"POST", "/v0.1/publish", 404},
		{"POST", "/healthz", 405},
		{"POST", "/openapi.yaml", 405},
		{"POST", "/registry/gh/v0.1/servers", 405},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			r := e.do(t, tt.method, tt.path)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.body)
			}
			if tt.want == 405 && !strings.Contains(r.header.Get("Allow"), "GET") {
				t.Errorf("405 without Allow: GET: %q", r.header.Get("Allow"))
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("problem Cache-Control %q, want no-store", cc)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	for _, path := range []string{"/v0.1/servers", "/v0.1/servers/io.github.mcpfed%2Fmulti/versions/latest", "/v0.1/health", "/nope"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			r := e.do(t, http.MethodOptions, path,
				"Origin", "https://app.example",
				"Access-Control-Request-Method", "GET",
				"Access-Control-Request-Headers", "authorization")
			if r.status != http.StatusNoContent {
				t.Fatalf("preflight status %d, want 204", r.status)
			}
			for h, want := range map[string]string{
				"Access-Control-Allow-Origin":  "*",
				"Access-Control-Allow-Methods": "GET, OPTIONS",
				"Access-Control-Allow-Headers": "Authorization, Content-Type",
			} {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if len(r.raw) != 0 {
				t.Errorf("preflight has a body: %q", r.raw)
			}
			g := e.get(t, path, "Origin", "https://app.example")
			if !strings.Contains(g.header.Get("Access-Control-Expose-Headers"), "ETag") {
				t.Errorf("ETag not exposed to browsers: %q", g.header.Get("Access-Control-Expose-Headers"))
			}
		})
	}
}

func TestConditionalAndGzip(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	paths := []string{
		"/v0.1/servers?limit=100",
		"/v0/servers?version=latest",
		"/v0.1/servers/io.github.mcpfed%2Fmulti/versions",
		"/v0.1/servers/io.github.stacklok%2Farxiv-mcp-server/versions/latest",
		"/openapi.yaml",
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			plain := e.get(t, path)
			if plain.status != 200 {
				t.Fatalf("status %d", plain.status)
			}
			if ce := plain.header.Get("Content-Encoding"); ce != "" {
				t.Errorf("Content-Encoding %q without Accept-Encoding", ce)
			}
			if cc := plain.header.Get("Cache-Control"); cc != "public, max-age=60" {
				t.Errorf("Cache-Control %q, want public, max-age=60", cc)
			}
			if plain.header.Get(HeaderComplete) != "true" {
				t.Errorf("%s = %q on a complete answer", HeaderComplete, plain.header.Get(HeaderComplete))
			}
			if !strings.Contains(plain.header.Get("Vary"), "Accept-Encoding") {
				t.Errorf("Vary = %q", plain.header.Get("Vary"))
			}
			etag := plain.header.Get("ETag")

			zipped := e.get(t, path, "Accept-Encoding", "gzip")
			if zipped.status != 200 {
				t.Fatalf("gzip status %d", zipped.status)
			}
			if zipped.header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("Accept-Encoding: gzip on a %d-byte body was not compressed", len(plain.body))
			}
			if !bytes.Equal(zipped.body, plain.body) {
				t.Errorf("gzip body differs from identity body after decompression")
			}
			if len(zipped.raw) >= len(plain.raw) {
				t.Errorf("gzip body %d bytes, identity %d", len(zipped.raw), len(plain.raw))
			}
			zetag := zipped.header.Get("ETag")
			if zetag == etag || zetag == "" {
				t.Errorf("gzip ETag %q must differ from identity ETag %q", zetag, etag)
			}

			for _, tt := range []struct {
				name, inm, ae string
				want          int
			}{
				{"identity tag", etag, "", 304},
				{"weak identity tag", "W/" + etag, "", 304},
				{"gzip tag, gzip", zetag, "gzip", 304},
				{"identity tag, gzip", etag, "gzip", 304},
				{"in a list", `"other", ` + zetag, "gzip", 304},
				{"star", "*", "", 304},
				{"other tag", `"something-else"`, "", 200},
			} {
				hdr := []string{"If-None-Match", tt.inm}
				if tt.ae != "" {
					hdr = append(hdr, "Accept-Encoding", tt.ae)
				}
				r := e.get(t, path, hdr...)
				if r.status != tt.want {
					t.Errorf("%s: status %d, want %d", tt.name, r.status, tt.want)
				}
				if r.status == 304 && len(r.raw) != 0 {
					t.Errorf("%s: 304 with a body", tt.name)
				}
				if r.status == 304 && r.header.Get("ETag") == "" {
					t.Errorf("%s: 304 without ETag", tt.name)
				}
			}
			if r := e.get(t, path, "Accept-Encoding", "gzip;q=0"); r.header.Get("Content-Encoding") != "" {
				t.Errorf("gzip;q=0 was compressed")
			}
		})
	}
}

// TestLastFullPageHasNoCursor: when the results fill the last page exactly,
// that page must not point at an empty one.
func TestLastFullPageHasNoCursor(t *testing.T) {
	t.Parallel()
	e := apiEnv(t)
	// Five live versions of multi; 121 records in all (11 × 11).
	for _, tt := range []struct {
		query string
		limit int
		pages int
	}{
		{"search=mcpfed/multi", 5, 1},
		{"search=mcpfed/multi", 1, 5},
		{"search=mcpfed/multi&include_deleted=true", 3, 2},
		{"", 11, 11},
	} {
		params, _ := url.ParseQuery(tt.query)
		var pages int
		cursor := ""
		for {
			pages++
			v := params
			v.Set("limit", strconv.Itoa(tt.limit))
			if cursor != "" {
				v.Set("cursor", cursor)
			}
			lb := decodeList(t, e.get(t, "/v0.1/servers?"+v.Encode()))
			if lb.Metadata.NextCursor == nil {
				if len(lb.Servers) != tt.limit {
					t.Errorf("%s limit %d: last page has %d records, want a full page", tt.query, tt.limit, len(lb.Servers))
				}
				break
			}
			cursor = *lb.Metadata.NextCursor
		}
		if pages != tt.pages {
			t.Errorf("%s limit %d: %d pages, want %d", tt.query, tt.limit, pages, tt.pages)
		}
	}
}
