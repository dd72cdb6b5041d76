package officialtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/pgtest"
)

// provenanceKey is the only key mcpfed adds to an entry's _meta.
const provenanceKey = "io.github.mcpfed/provenance"

// TestMcpfedMatchesOfficialRegistry runs the official registry on a C and
// on an ICU en-US database, and mcpfed in live and in mirror mode in front
// of it, and compares every list variant and per-server answer field by
// field, ignoring only mcpfed's provenance key and cursor strings.
//
// The expectation is the correct behaviour whatever the upstream's order:
// mcpfed serves exactly the registry's set of entries, in its own byte
// order (name, then version), and says the answer is complete. On the C
// database the two orders coincide, so the sequences must be equal too.
func TestMcpfedMatchesOfficialRegistry(t *testing.T) {
	gate(t)
	start := time.Now()
	bins := Build(t)
	t.Logf("registry binaries ready in %s", time.Since(start).Round(time.Millisecond))
	fedBin := buildMcpfed(t)
	for _, coll := range []string{pgtest.CollationC, pgtest.CollationICUEnUS} {
		t.Run(coll, func(t *testing.T) {
			reg := Start(t, Options{Collation: coll, Binaries: bins})
			c := &comparer{client: &http.Client{Timeout: requestTimeout}, reg: reg}
			t.Cleanup(c.client.CloseIdleConnections)
			all := c.walk(t, reg.URL, "&include_deleted=true", 100)
			if want := len(reg.Versions); len(all) != want {
				t.Fatalf("registry lists %d entries with include_deleted, want %d", len(all), want)
			}
			keys := entryKeys(t, all)
			// updated_since at SeededAt must split seeded from published
			// entries, or that variant would compare everything or nothing.
			since := c.walk(t, reg.URL, "&updated_since="+url.QueryEscape(reg.SeededAt.Format(time.RFC3339Nano)), 100)
			if n := len(reg.Versions) - len(SeedVersions()); len(since) != n {
				t.Fatalf("registry lists %d entries updated since the seed, want the %d published", len(since), n)
			}
			if coll == pgtest.CollationC && !slices.IsSortedFunc(keys, compareKey) {
				t.Fatalf("registry on a C database is not in byte order: %q", keys)
			}
			if coll != pgtest.CollationC && slices.IsSortedFunc(keys, compareKey) {
				t.Fatalf("registry on a %s database is in byte order: the test would prove nothing", coll)
			}
			for _, mode := range []string{"live", "mirror"} {
				t.Run(mode, func(t *testing.T) {
					fed := startMcpfed(t, fedBin, reg.URL, mode)
					c.fed = fed
					t.Run("lists", c.lists)
					t.Run("servers", func(t *testing.T) { c.servers(t, keys) })
					if t.Failed() {
						t.Logf("mcpfed log (tail):\n%s", fed.Log())
					}
				})
			}
		})
	}
	t.Logf("whole test: %s", time.Since(start).Round(time.Millisecond))
}

type comparer struct {
	client *http.Client
	reg    *Registry
	fed    *mcpfed
}

// answer is one HTTP response.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (c *comparer) get(t *testing.T, u string) answer {
	t.Helper()
	resp, err := c.client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	return answer{resp.StatusCode, resp.Header, body}
}

type listPage struct {
	Servers  []json.RawMessage `json:"servers"`
	Metadata struct {
		NextCursor string `json:"nextCursor"`
		Count      int    `json:"count"`
	} `json:"metadata"`
}

// walk follows nextCursor from the first page of base/v0.1/servers with
// the query and limit (0: none), and returns every entry in served order.
// It checks each page's count; for mcpfed (any base but the registry's)
// also that every page says it is complete.
func (c *comparer) walk(t *testing.T, base, query string, limit int) []json.RawMessage {
	t.Helper()
	var out []json.RawMessage
	cursor := ""
	for range 1000 {
		u := base + "/v0.1/servers?" + strings.TrimPrefix(query, "&")
		if limit > 0 {
			u += "&limit=" + strconv.Itoa(limit)
		}
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		a := c.get(t, u)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", u, a.status, a.body)
		}
		if base != c.reg.URL {
			if got := a.header.Get("X-Federation-Complete"); got != "true" {
				t.Errorf("GET %s: X-Federation-Complete %q, want true (failed sources %q)", u, got, a.header.Get("X-Federation-Failed-Sources"))
			}
		}
		var p listPage
		if err := json.Unmarshal(a.body, &p); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		if p.Metadata.Count != len(p.Servers) || (limit > 0 && len(p.Servers) > limit) {
			t.Errorf("GET %s: metadata.count %d for %d servers (limit %d)", u, p.Metadata.Count, len(p.Servers), limit)
		}
		out = append(out, p.Servers...)
		// The registry ends a walk whose length is a multiple of limit with
		// an empty page; mcpfed may not.
		if p.Metadata.NextCursor == "" || len(p.Servers) == 0 {
			return out
		}
		cursor = p.Metadata.NextCursor
	}
	t.Fatalf("walk of %s?%s did not end within 1000 pages", base, query)
	return nil
}

// listVariants are the query strings compared, each walked at every limit.
func (c *comparer) listVariants() []string {
	since := url.QueryEscape(c.reg.SeededAt.Format(time.RFC3339Nano))
	return []string{
		"",
		"&version=latest",
		"&version=1.0.0",
		"&include_deleted=true",
		"&include_deleted=false",
		"&include_deleted=true&version=latest",
		"&search=acme",
		"&search=ZETA",
		"&search=a_b",
		"&search=tool",
		"&search=anonymous&version=latest",
		"&search=nothing-matches-this",
		"&updated_since=" + since,
		"&updated_since=" + since + "&include_deleted=true",
		"&updated_since=2000-01-01T00%3A00%3A00Z",
	}
}

func (c *comparer) lists(t *testing.T) {
	for _, q := range c.listVariants() {
		for _, limit := range []int{0, 1, 7, 30, 100} {
			t.Run(fmt.Sprintf("%s/limit=%d", q, limit), func(t *testing.T) {
				want := c.walk(t, c.reg.URL, q, limit)
				if len(want) == 0 && !strings.Contains(q, "nothing-matches") {
					t.Fatalf("the registry lists nothing for %q: the comparison would prove nothing", q)
				}
				got := c.walk(t, c.fed.URL, q, limit)
				c.sameEntries(t, got, want, c.reg.Collation == pgtest.CollationC)
			})
		}
	}
}

// sameEntries checks that mcpfed's entries (got) are the registry's (want)
// field by field, as a multiset, and in mcpfed's byte order; when
// sameOrder, in the registry's order too.
func (c *comparer) sameEntries(t *testing.T, got, want []json.RawMessage, sameOrder bool) {
	t.Helper()
	g, w := canonical(t, got), canonical(t, want)
	if sameOrder && slices.Equal(g, w) {
		return
	}
	gs, ws := slices.Sorted(slices.Values(g)), slices.Sorted(slices.Values(w))
	if !slices.Equal(gs, ws) {
		missing, extra := diff(ws, gs)
		t.Errorf("mcpfed served %d entries, the registry %d\n  missing from mcpfed: %s\n  only in mcpfed: %s",
			len(got), len(want), describe(t, missing), describe(t, extra))
		return
	}
	keys := entryKeys(t, got)
	if !slices.IsSortedFunc(keys, compareKey) {
		t.Errorf("mcpfed's entries are not in byte order: %q", keys)
	}
	if sameOrder {
		t.Errorf("same entries, different order:\n  mcpfed   %q\n  registry %q", keys, entryKeys(t, want))
	}
}

// canonical re-encodes each entry with sorted keys and without mcpfed's
// provenance key.
func canonical(t *testing.T, entries []json.RawMessage) []string {
	t.Helper()
	out := make([]string, len(entries))
	for i, e := range entries {
		var doc map[string]any
		dec := json.NewDecoder(bytes.NewReader(e))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("decode entry %s: %v", e, err)
		}
		if meta, ok := doc["_meta"].(map[string]any); ok {
			delete(meta, provenanceKey)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("encode entry: %v", err)
		}
		out[i] = string(b)
	}
	return out
}

// diff returns what is in a but not b, and in b but not a (multisets,
// both sorted).
func diff(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}

// describe names entries by name@version, with the whole body when few.
func describe(t *testing.T, entries []string) string {
	if len(entries) == 0 {
		return "none"
	}
	raw := make([]json.RawMessage, len(entries))
	for i, e := range entries {
		raw[i] = json.RawMessage(e)
	}
	keys := entryKeys(t, raw)
	if len(entries) > 3 {
		return fmt.Sprintf("%q", keys)
	}
	return strings.Join(entries, "\n    ")
}

type entryKey struct{ name, version string }

func (k entryKey) String() string { return k.name + "@" + k.version }

func compareKey(a, b entryKey) int {
	if r := strings.Compare(a.name, b.name); r != 0 {
		return r
	}
	return strings.Compare(a.version, b.version)
}

func entryKeys(t *testing.T, entries []json.RawMessage) []entryKey {
	t.Helper()
	out := make([]entryKey, len(entries))
	for i, e := range entries {
		var doc struct {
			Server struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"server"`
		}
		if err := json.Unmarshal(e, &doc); err != nil {
			t.Fatalf("decode entry %s: %v", e, err)
		}
		out[i] = entryKey{doc.Server.Name, doc.Server.Version}
	}
	return out
}
