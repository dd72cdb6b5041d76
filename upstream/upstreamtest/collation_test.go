package upstreamtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCollationOrdersLikeAnEnglishDatabase(t *testing.T) {
	t.Parallel()
	// The order PostgreSQL gives these on an ICU en-US database (see
	// pgtest.TestCollationsOrderDifferently), which is not byte order.
	want := []string{
		"io.github.acme/a_b", "io.github.acme/a-b", "io.github.acme/a.b", "io.github.acme/a10",
		"io.github.acme/a9", "io.github.acme/alpha", "io.github.acme/Zeta",
	}
	got := slices.Clone(want)
	slices.Reverse(got)
	NewCollation().Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("collation order\n  %q\nwant\n  %q", got, want)
	}
	if slices.IsSorted(want) {
		t.Fatal("the expected order is byte order: the collation would test nothing")
	}

	tests := []struct {
		a, b string
		want int
	}{
		{"a_b", "a-b", -1},
		{"Zeta", "alpha", 1},
		{"1.10.0", "1.9.0", -1},
		{"abc", "abc", 0},
		{"ABC", "abc", 1}, // equal at the first levels; ties broken deterministically
	}
	c := NewCollation()
	for _, tt := range tests {
		if got := c.Compare(tt.a, tt.b); got != tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := c.Compare(tt.b, tt.a); got != -tt.want {
			t.Errorf("Compare(%q, %q) = %d, want %d (antisymmetric)", tt.b, tt.a, got, -tt.want)
		}
	}
}

// collFixture has names with upper case, _, -, . and digits, versions in
// several forms, one deleted version, and versions given oldest first.
func collFixture() ([]json.RawMessage, time.Time) {
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	type v struct {
		name, version string
		deleted       bool
		latest        bool
	}
	vs := []v{
		{"io.github.acme/Zeta", "1.0.0", false, true},
		{"io.github.acme/a-b", "1.9.0", false, false},
		{"io.github.acme/a-b", "1.10.0", false, true},
		{"io.github.acme/a_b", "2.0.0-beta.1", false, false},
		{"io.github.acme/a_b", "2.0.0", false, true},
		{"io.github.acme/a.b", "1.0.0+build.5", false, true},
		{"io.github.acme/alpha", "snapshot", false, false},
		{"io.github.acme/alpha", "v2", true, false},
		{"io.github.acme/alpha", "1.0.0", false, true},
		{"io.github.acme/a10", "1.0.0", false, true},
		{"io.github.acme/a9", "1.0.0", false, true},
		{"com.Example/tool", "0.1.0", false, true},
		{"com.example/tool", "0.1.0", false, true},
	}
	out := make([]json.RawMessage, len(vs))
	for i, e := range vs {
		o := Official{PublishedAt: base.Add(time.Duration(i) * time.Hour), IsLatest: e.latest}
		o.UpdatedAt = o.PublishedAt
		if e.deleted {
			o.Status = StatusDeleted
		}
		out[i] = CollatedEntry(e.name, e.version, o)
	}
	return out, base
}

type collPage struct {
	Servers []struct {
		Server struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"server"`
		Meta map[string]json.RawMessage `json:"_meta"`
	} `json:"servers"`
	Metadata struct {
		NextCursor string `json:"nextCursor"`
		Count      int    `json:"count"`
	} `json:"metadata"`
}

func collGet(t *testing.T, client *http.Client, u string, into any) int {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	if resp.StatusCode == http.StatusOK && into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("decode %s: %v\n%s", u, err, body)
		}
	}
	return resp.StatusCode
}

// walk pages through a list and returns name@version in served order.
func collWalk(t *testing.T, client *http.Client, base, query string, limit int) []string {
	t.Helper()
	var got []string
	cursor := ""
	for range 1000 {
		u := base + "/v0.1/servers?limit=" + strconv.Itoa(limit) + query
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		var p collPage
		if st := collGet(t, client, u, &p); st != http.StatusOK {
			t.Fatalf("GET %s: status %d", u, st)
		}
		if p.Metadata.Count != len(p.Servers) || len(p.Servers) > limit {
			t.Fatalf("GET %s: count %d for %d servers (limit %d)", u, p.Metadata.Count, len(p.Servers), limit)
		}
		for _, s := range p.Servers {
			got = append(got, s.Server.Name+"@"+s.Server.Version)
		}
		if p.Metadata.NextCursor == "" {
			return got
		}
		if len(p.Servers) == 0 {
			t.Fatalf("GET %s: empty page with a next cursor", u)
		}
		cursor = p.Metadata.NextCursor
	}
	t.Fatal("walk did not end within 1000 pages")
	return nil
}

func TestCollatedWalksInCollationOrder(t *testing.T) {
	t.Parallel()
	entries, base := collFixture()
	srv := ServeCollated(t, entries)
	c, err := NewCollated(entries)
	if err != nil {
		t.Fatal(err)
	}
	visible := slices.DeleteFunc(c.Order(), func(s string) bool { return s == "io.github.acme/alpha@v2" })
	if slices.IsSortedFunc(visible, strings.Compare) {
		t.Fatal("fixture served in byte order: the fake would test nothing")
	}
	latest := []string{}
	for _, s := range visible {
		switch s {
		case "io.github.acme/a-b@1.9.0", "io.github.acme/a_b@2.0.0-beta.1", "io.github.acme/alpha@snapshot":
		default:
			latest = append(latest, s)
		}
	}
	tests := []struct {
		name, query string
		want        []string
	}{
		{"all", "", visible},
		{"include_deleted", "&include_deleted=true", c.Order()},
		{"latest", "&version=latest", latest},
		{"exact version", "&version=1.0.0", []string{
			"io.github.acme/a10@1.0.0", "io.github.acme/a9@1.0.0", "io.github.acme/alpha@1.0.0", "io.github.acme/Zeta@1.0.0",
		}},
		{"search is case-insensitive", "&search=ZETA", []string{"io.github.acme/Zeta@1.0.0"}},
		{"search keeps collation order", "&search=tool", []string{"com.example/tool@0.1.0", "com.Example/tool@0.1.0"}},
		{"updated_since", "&updated_since=" + url.QueryEscape(base.Add(7*time.Hour).Format(time.RFC3339)), []string{
			"com.example/tool@0.1.0", "com.Example/tool@0.1.0", "io.github.acme/a10@1.0.0",
			"io.github.acme/a9@1.0.0", "io.github.acme/alpha@1.0.0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, limit := range []int{1, 7, 30, 100} {
				if got := collWalk(t, srv.Client(), srv.URL, tt.query, limit); !slices.Equal(got, tt.want) {
					t.Errorf("limit %d:\n  got  %q\n  want %q", limit, got, tt.want)
				}
			}
		})
	}
}

func TestCollatedPerServerAndErrors(t *testing.T) {
	t.Parallel()
	entries, _ := collFixture()
	srv := ServeCollated(t, entries)
	esc := url.PathEscape
	tests := []struct {
		name, path   string
		status       int
		wantVersions []string // for lists, in served order
		wantVersion  string   // for single answers
	}{
		{"versions in given order", "/v0.1/servers/" + esc("io.github.acme/a-b") + "/versions", 200, []string{"1.9.0", "1.10.0"}, ""},
		{"deleted hidden", "/v0.1/servers/" + esc("io.github.acme/alpha") + "/versions", 200, []string{"snapshot", "1.0.0"}, ""},
		{"deleted shown", "/v0/servers/" + esc("io.github.acme/alpha") + "/versions?include_deleted=true", 200, []string{"snapshot", "v2", "1.0.0"}, ""},
		{"latest", "/v0.1/servers/" + esc("io.github.acme/a_b") + "/versions/latest", 200, nil, "2.0.0"},
		{"build metadata", "/v0.1/servers/" + esc("io.github.acme/a.b") + "/versions/" + esc("1.0.0+build.5"), 200, nil, "1.0.0+build.5"},
		{"case matters", "/v0.1/servers/" + esc("io.github.acme/zeta") + "/versions", 404, nil, ""},
		{"unknown version", "/v0.1/servers/" + esc("io.github.acme/Zeta") + "/versions/9.9.9", 404, nil, ""},
		{"deleted version", "/v0.1/servers/" + esc("io.github.acme/alpha") + "/versions/v2", 404, nil, ""},
		{"unencoded slash", "/v0.1/servers/io.github.acme/Zeta/versions", 404, nil, ""},
		{"limit 0", "/v0.1/servers?limit=0", 422, nil, ""},
		{"limit 101", "/v0.1/servers?limit=101", 422, nil, ""},
		{"foreign cursor", "/v0.1/servers?cursor=io.github.acme%2FZeta%3A1.0.0", 400, nil, ""},
		{"updated_since without deleted", "/v0.1/servers?include_deleted=false&updated_since=2025-01-01T00:00:00Z", 400, nil, ""},
		{"bad updated_since", "/v0.1/servers?updated_since=yesterday", 400, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.wantVersion != "" {
				var one struct {
					Server struct {
						Version string `json:"version"`
					} `json:"server"`
				}
				if st := collGet(t, srv.Client(), srv.URL+tt.path, &one); st != tt.status || one.Server.Version != tt.wantVersion {
					t.Errorf("GET %s = %d %q, want %d %q", tt.path, st, one.Server.Version, tt.status, tt.wantVersion)
				}
				return
			}
			var p collPage
			st := collGet(t, srv.Client(), srv.URL+tt.path, &p)
			if st != tt.status {
				t.Fatalf("GET %s = %d, want %d", tt.path, st, tt.status)
			}
			var got []string
			for _, s := range p.Servers {
				got = append(got, s.Server.Version)
			}
			if !slices.Equal(got, tt.wantVersions) {
				t.Errorf("GET %s versions %q, want %q", tt.path, got, tt.wantVersions)
			}
		})
	}
}

func TestNewCollatedRejects(t *testing.T) {
	t.Parallel()
	ok := CollatedEntry("io.github.acme/x", "1.0.0", Official{})
	tests := []struct {
		name    string
		entries []json.RawMessage
	}{
		{"not JSON", []json.RawMessage{json.RawMessage(`{`)}},
		{"no name", []json.RawMessage{json.RawMessage(`{"server":{"version":"1.0.0"}}`)}},
		{"no version", []json.RawMessage{json.RawMessage(`{"server":{"name":"a/b"}}`)}},
		{"bad official block", []json.RawMessage{json.RawMessage(`{"server":{"name":"a/b","version":"1"},"_meta":{"io.modelcontextprotocol.registry/official":[]}}`)}},
		{"duplicate", []json.RawMessage{ok, ok}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewCollated(tt.entries); err == nil {
				t.Errorf("NewCollated accepted %s", tt.name)
			}
		})
	}
}
