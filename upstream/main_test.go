package upstream

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// update rewrites the golden files under testdata/golden instead of comparing.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestMain fails the run if a test leaves a goroutine behind (FileSource.Run,
// HTTP clients and test servers).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testdataPath names a file under the repository's testdata directory.
func testdataPath(parts ...string) string {
	return filepath.Join(append([]string{"..", "testdata"}, parts...)...)
}

func readTestdata(t testing.TB, parts ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(testdataPath(parts...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func parseTestdata(t testing.TB, parts ...string) *Document {
	t.Helper()
	doc, err := Parse(readTestdata(t, parts...))
	if err != nil {
		t.Fatalf("Parse(%s): %v", filepath.Join(parts...), err)
	}
	return doc
}

func unmarshalAny(t testing.TB, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("unmarshal %.200s: %v", data, err)
	}
	return v
}

// jsonDiff lists the paths at which two decoded JSON values differ, so a
// failing comparison says where instead of dumping both documents.
func jsonDiff(path string, got, want any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %T, want an object", path, got)}
		}
		keys := make([]string, 0, len(g)+len(w))
		for k := range g {
			keys = append(keys, k)
		}
		for k := range w {
			if _, ok := g[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var out []string
		for _, k := range keys {
			gv, gok := g[k]
			wv, wok := w[k]
			switch {
			case !gok:
				out = append(out, path+"."+k+": missing")
			case !wok:
				out = append(out, path+"."+k+": unexpected")
			default:
				out = append(out, jsonDiff(path+"."+k, gv, wv)...)
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %v, want %d elements", path, truncate(got), len(w))}
		}
		var out []string
		for i := range w {
			out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), g[i], w[i])...)
		}
		return out
	}
	if !reflect.DeepEqual(got, want) {
		return []string{fmt.Sprintf("%s: got %v, want %v", path, truncate(got), truncate(want))}
	}
	return nil
}

func truncate(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// assertSameJSON compares two JSON documents after decoding, so key order
// and whitespace do not matter.
func assertSameJSON(t testing.TB, got, want []byte) {
	t.Helper()
	if d := jsonDiff("$", unmarshalAny(t, got), unmarshalAny(t, want)); len(d) > 0 {
		t.Errorf("JSON differs at %d place(s):\n  %s", len(d), joinLines(d))
	}
}

func joinLines(lines []string) string {
	var b bytes.Buffer
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(l)
	}
	return b.String()
}

func compactJSON(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fakeClock is the injected clock: time moves only when a test says so.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// entryNames lists the entries' names, in their order.
func entryNames(entries []*Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Name
	}
	return out
}

func distinctNames(entries []*Entry) []string {
	names := entryNames(entries)
	slices.Sort(names)
	return slices.Compact(names)
}

// serverJSON builds a minimal valid server.json; extra fields are merged in.
func serverJSON(name, version string, extra ...string) string {
	s := fmt.Sprintf(`{"name":%q,"version":%q,"description":"test server %s"`, name, version, version)
	for _, x := range extra {
		s += "," + x
	}
	return s + "}"
}

// newTestEntry indexes a minimal server and sets its publication time, as
// Finalize or an official block would.
func newTestEntry(t testing.TB, name, version string, published time.Time) *Entry {
	t.Helper()
	e, err := NewEntry(json.RawMessage(serverJSON(name, version)), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Status = "active"
	e.PublishedAt, e.UpdatedAt = published, published
	return e
}

func mustSnapshot(t testing.TB, source string, entries []*Entry, now time.Time) *Snapshot {
	t.Helper()
	s, err := NewSnapshot(source, entries, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
