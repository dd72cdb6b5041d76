package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	day0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	day  = 24 * time.Hour
)

func keysOf(entries []*Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Name + "@" + e.Version
	}
	return out
}

// TestSnapshotOrder: entries sort by name, then version, both in byte order
// (the official order: "1.10.0" before "1.2.0").
func TestSnapshotOrder(t *testing.T) {
	t.Parallel()
	var entries []*Entry
	for _, k := range [][2]string{
		{"b.x/srv", "1.0.0"}, {"a.x/srv", "1.2.0"}, {"a.x/srv", "1.10.0"}, {"a.x/srv", "1.9.0"},
		{"a.x/srv-2", "0.1.0"}, {"A.x/srv", "9.0.0"}, {"a.x/srv", "1.2.0-rc.1"},
	} {
		entries = append(entries, newTestEntry(t, k[0], k[1], day0))
	}
	s := mustSnapshot(t, "src", entries, day0)
	want := []string{"A.x/srv@9.0.0", "a.x/srv@1.10.0", "a.x/srv@1.2.0", "a.x/srv@1.2.0-rc.1", "a.x/srv@1.9.0", "a.x/srv-2@0.1.0", "b.x/srv@1.0.0"}
	if got := keysOf(s.Entries()); !slices.Equal(got, want) {
		t.Errorf("order = %v\nwant    %v", got, want)
	}
	for i := range s.Len() {
		if s.At(i) != s.Entries()[i] {
			t.Fatalf("At(%d) differs from Entries()[%d]", i, i)
		}
	}
	if s.Len() != 7 || s.NameCount() != 4 || s.LatestCount() != 4 {
		t.Errorf("Len %d NameCount %d LatestCount %d", s.Len(), s.NameCount(), s.LatestCount())
	}
	// The input slice is not reordered (the caller may still use it).
	if entries[0].Name != "b.x/srv" {
		t.Error("NewSnapshot reordered its input")
	}
}

func TestKeyCompare(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b Key
		want int
	}{
		{Key{"a/b", "1"}, Key{"a/b", "1"}, 0},
		{Key{"a/b", "1.10.0"}, Key{"a/b", "1.2.0"}, -1},
		{Key{"a/b", "2"}, Key{"a/c", "1"}, -1},
		{Key{"a/b-c", "1"}, Key{"a/b", "9"}, 1},
		{Key{}, Key{"a/b", ""}, -1},
	}
	for _, tt := range tests {
		if got := tt.a.Compare(tt.b); got != tt.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := tt.a.Less(tt.b); got != (tt.want < 0) {
			t.Errorf("%v.Less(%v) = %v", tt.a, tt.b, got)
		}
		if got := tt.b.Compare(tt.a); got != -tt.want {
			t.Errorf("Compare is not antisymmetric for %v, %v", tt.a, tt.b)
		}
	}
}

func TestIsSemver(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"1.0.0": true, "v1.0.0": true, "0.0.1": true, "1.2.3-rc.1": true, "1.2.3+build.5": true,
		"1.2.3-beta+exp.sha.5114f85": true, "10.20.30": true,
		"1": false, "1.0": false, "v1.0": false, "1.0.0.0": false, "latest": false, "2024-01-01": false,
		"01.0.0": false, "1.0.0-": false, "": false, "snapshot": false, "1.0.0+build-1": true,
	}
	for v, want := range tests {
		if got := IsSemver(v); got != want {
			t.Errorf("IsSemver(%q) = %v, want %v", v, got, want)
		}
	}
}

type ver struct {
	version   string
	published time.Time
}

// TestLatestByOfficialRules: exactly one latest per name, chosen by the
// official comparison, whatever order the versions arrive in.
func TestLatestByOfficialRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		versions []ver
		latest   string
	}{
		{"semver beats byte order", []ver{{"1.2.0", day0.Add(9 * day)}, {"1.10.0", day0}, {"1.9.0", day0.Add(5 * day)}}, "1.10.0"},
		{"release beats its pre-release", []ver{{"1.0.0-rc.1", day0.Add(day)}, {"1.0.0", day0}}, "1.0.0"},
		{"pre-release of a higher version wins", []ver{{"2.0.0-rc.1", day0}, {"1.9.9", day0.Add(day)}}, "2.0.0-rc.1"},
		{"leading v is semver", []ver{{"v2.0.0", day0}, {"1.5.0", day0.Add(day)}}, "v2.0.0"},
		{"neither semver: newest publication", []ver{{"beta", day0}, {"alpha", day0.Add(day)}, {"2024.12", day0.Add(-day)}}, "alpha"},
		{"semver beats non-semver even if older", []ver{{"snapshot", day0.Add(100 * day)}, {"0.0.1", day0}, {"1.0", day0.Add(50 * day)}}, "0.0.1"},
		{"build metadata tie: newer publication", []ver{{"1.0.0+b", day0}, {"1.0.0+a", day0.Add(day)}}, "1.0.0+a"},
		{"build metadata tie, same time: greater string", []ver{{"1.0.0+a", day0}, {"1.0.0+b", day0}, {"1.0.0+aa", day0}}, "1.0.0+b"},
		{"non-semver same time: greater string", []ver{{"x", day0}, {"y", day0}}, "y"},
		{"single version", []ver{{"anything", day0}}, "anything"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Every arrival order must give the same answer.
			rng := rand.New(rand.NewPCG(1, 2))
			for round := range 6 {
				order := slices.Clone(tt.versions)
				rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				var entries []*Entry
				for _, v := range order {
					entries = append(entries, newTestEntry(t, "io.github.x/srv", v.version, v.published))
				}
				entries = append(entries, newTestEntry(t, "io.github.x/other", "1.0.0", day0))
				s := mustSnapshot(t, "src", entries, day0)
				if l := s.Latest("io.github.x/srv"); l == nil || l.Version != tt.latest {
					t.Fatalf("round %d (%v): latest = %v, want %s", round, order, l, tt.latest)
				}
				marked := 0
				for _, e := range s.Versions("io.github.x/srv") {
					if e.IsLatest {
						marked++
					}
				}
				if marked != 1 {
					t.Fatalf("%d versions marked latest", marked)
				}
				i := s.SeekLatestAfter(Key{})
				if s.LatestAt(i).Name != "io.github.x/other" || s.LatestAt(i+1).Version != tt.latest {
					t.Fatalf("LatestAt disagrees with Latest")
				}
			}
		})
	}
}

// TestCompareVersionsTotalOrder: antisymmetric and transitive over a mixed
// set, so sorting and latest selection cannot depend on input order.
func TestCompareVersionsTotalOrder(t *testing.T) {
	t.Parallel()
	var es []*Entry
	for i, v := range []string{"1.0.0", "1.0.0+a", "1.0.0+b", "v1.0.0", "1.0.0-rc.1", "2.0.0", "1.10.0", "1.2.0", "1.0", "nightly", "2024.1", "0.0.1"} {
		es = append(es, newTestEntry(t, "a.b/c", v, day0.Add(time.Duration(i%3)*day)))
	}
	for _, a := range es {
		if CompareVersions(a, a) != 0 {
			t.Errorf("%s not equal to itself", a.Version)
		}
		for _, b := range es {
			if a != b && CompareVersions(a, b) == 0 {
				t.Errorf("%s and %s tie: the order would not be deterministic", a.Version, b.Version)
			}
			if CompareVersions(a, b) != -CompareVersions(b, a) {
				t.Errorf("not antisymmetric: %s, %s", a.Version, b.Version)
			}
			for _, c := range es {
				if CompareVersions(a, b) > 0 && CompareVersions(b, c) > 0 && CompareVersions(a, c) <= 0 {
					t.Errorf("not transitive: %s > %s > %s", a.Version, b.Version, c.Version)
				}
			}
		}
	}
}

// officialEntry indexes a server that arrived with its own official block.
func officialEntry(t testing.TB, name, version string, published time.Time, isLatest bool) *Entry {
	t.Helper()
	meta := fmt.Sprintf(`{%q:{"status":"active","publishedAt":%q,"updatedAt":%q,"isLatest":%v}}`,
		OfficialMetaKey, published.Format(time.RFC3339), published.Format(time.RFC3339), isLatest)
	e, err := NewEntry(json.RawMessage(serverJSON(name, version)), json.RawMessage(meta))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestLatestFromOfficialBlock: a registry's own choice is kept when every
// version carries a block and exactly one claims isLatest; otherwise the
// rules decide.
func TestLatestFromOfficialBlock(t *testing.T) {
	t.Parallel()
	const name = "io.github.x/srv"
	tests := []struct {
		name   string
		build  func(t *testing.T) []*Entry
		latest string
	}{
		{"exactly one marked: kept even against the rules", func(t *testing.T) []*Entry {
			return []*Entry{officialEntry(t, name, "1.0.0", day0, true), officialEntry(t, name, "2.0.0", day0.Add(day), false)}
		}, "1.0.0"},
		{"two marked: recomputed", func(t *testing.T) []*Entry {
			return []*Entry{officialEntry(t, name, "1.0.0", day0, true), officialEntry(t, name, "2.0.0", day0.Add(day), true)}
		}, "2.0.0"},
		{"none marked: recomputed", func(t *testing.T) []*Entry {
			return []*Entry{officialEntry(t, name, "3.0.0", day0, false), officialEntry(t, name, "2.0.0", day0.Add(day), false)}
		}, "3.0.0"},
		{"a version without a block: recomputed", func(t *testing.T) []*Entry {
			return []*Entry{officialEntry(t, name, "1.0.0", day0, true), newTestEntry(t, name, "1.1.0", day0)}
		}, "1.1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustSnapshot(t, "src", tt.build(t), day0)
			if l := s.Latest(name); l == nil || l.Version != tt.latest {
				t.Fatalf("latest = %v, want %s", l, tt.latest)
			}
			for _, e := range s.Versions(name) {
				if e.IsLatest != (e.Version == tt.latest) {
					t.Errorf("%s: IsLatest = %v", e.Version, e.IsLatest)
				}
				var wire struct {
					Meta map[string]struct {
						IsLatest *bool `json:"isLatest"`
					} `json:"_meta"`
				}
				if err := json.Unmarshal(e.Encoded, &wire); err != nil {
					t.Fatal(err)
				}
				if got := wire.Meta[OfficialMetaKey].IsLatest; got == nil || *got != e.IsLatest {
					t.Errorf("%s: encoded isLatest %v, want %v", e.Version, got, e.IsLatest)
				}
			}
		})
	}
}

// TestSnapshotLookups covers Versions, Get, Latest, Has and the nil and
// missing cases the engine relies on.
func TestSnapshotLookups(t *testing.T) {
	t.Parallel()
	entries := []*Entry{
		newTestEntry(t, "a.x/one", "1.0.0", day0.Add(2*day)),
		newTestEntry(t, "a.x/one", "2.0.0", day0.Add(1*day)), // published before 1.0.0 (a backport order)
		newTestEntry(t, "a.x/one", "1.10.0", day0.Add(3*day)),
		newTestEntry(t, "a.x/one", "1.1.0", day0.Add(3*day)), // same time as 1.10.0: the newer version first
		newTestEntry(t, "b.x/two", "0.1.0", day0),
	}
	s := mustSnapshot(t, "src", entries, day0)

	if got, want := keysOf(s.Versions("a.x/one")), []string{"a.x/one@1.10.0", "a.x/one@1.1.0", "a.x/one@1.0.0", "a.x/one@2.0.0"}; !slices.Equal(got, want) {
		t.Errorf("Versions = %v, want %v (newest publication first)", got, want)
	}
	if l := s.Latest("a.x/one"); l == nil || l.Version != "2.0.0" {
		t.Errorf("Latest = %v, want 2.0.0 (semver, not publication time)", l)
	}
	for _, tt := range []struct {
		name, version string
		found         bool
	}{
		{"a.x/one", "1.10.0", true}, {"a.x/one", "1.1.0", true}, {"a.x/one", "2.0.0", true}, {"b.x/two", "0.1.0", true},
		{"a.x/one", "1.1", false}, {"a.x/one", "latest", false}, {"a.x/one", "", false}, {"c.x/none", "1.0.0", false}, {"b.x/two", "9", false},
	} {
		e := s.Get(tt.name, tt.version)
		if (e != nil) != tt.found || (e != nil && (e.Name != tt.name || e.Version != tt.version)) {
			t.Errorf("Get(%q, %q) = %v, found want %v", tt.name, tt.version, e, tt.found)
		}
	}
	if !s.Has("a.x/one") || !s.Has("b.x/two") || s.Has("a.x/on") || s.Has("") {
		t.Error("Has is wrong")
	}
	if s.Versions("c.x/none") != nil || s.Latest("c.x/none") != nil {
		t.Error("missing name should give nil")
	}
	for _, e := range s.Entries() {
		if e.Source != "src" {
			t.Errorf("%s: Source = %q", e.Name, e.Source)
		}
	}

	var nilSnap *Snapshot
	if nilSnap.Len() != 0 || nilSnap.NameCount() != 0 || nilSnap.Has("a.x/one") || nilSnap.Versions("a.x/one") != nil ||
		nilSnap.Latest("a.x/one") != nil || nilSnap.Get("a.x/one", "1.0.0") != nil || nilSnap.Entries() != nil {
		t.Error("a nil snapshot must read as empty")
	}
	empty := mustSnapshot(t, "src", nil, day0)
	if empty.Len() != 0 || empty.SeekAfter(Key{}) != 0 || empty.SeekLatestAfter(Key{}) != 0 || empty.Revision == "" {
		t.Error("an empty snapshot must be usable")
	}
}

func TestSnapshotSeek(t *testing.T) {
	t.Parallel()
	var entries []*Entry
	for _, k := range [][2]string{{"a.x/one", "1.0.0"}, {"a.x/one", "1.10.0"}, {"a.x/one", "1.2.0"}, {"a.x/two", "3.0.0"}, {"b.x/three", "0.1.0"}} {
		entries = append(entries, newTestEntry(t, k[0], k[1], day0))
	}
	s := mustSnapshot(t, "src", entries, day0)
	// Entries: 0 one@1.0.0, 1 one@1.10.0, 2 one@1.2.0, 3 two@3.0.0, 4 three@0.1.0.
	// Latest per name: one@1.10.0 (index 0), two@3.0.0 (1), three@0.1.0 (2).
	tests := []struct {
		after       Key
		seek, latst int
	}{
		{Key{}, 0, 0},
		{Key{"a.x/one", ""}, 0, 0},
		{Key{"a.x/one", "1.0.0"}, 1, 0},
		{Key{"a.x/one", "1.10.0"}, 2, 1}, // past the latest of "one"
		{Key{"a.x/one", "1.1"}, 1, 0},    // a key that does not exist: "1.1" < "1.10.0"
		{Key{"a.x/one", "1.2.0"}, 3, 1},
		{Key{"a.x/one", "\xff"}, 3, 1},
		{Key{"a.x/three", "9"}, 3, 1},
		{Key{"a.x/two", "3.0.0"}, 4, 2},
		{Key{"b.x/three", "0.1.0"}, 5, 3},
		{Key{"z", ""}, 5, 3},
	}
	for _, tt := range tests {
		if got := s.SeekAfter(tt.after); got != tt.seek {
			t.Errorf("SeekAfter(%v) = %d, want %d", tt.after, got, tt.seek)
		}
		if got := s.SeekLatestAfter(tt.after); got != tt.latst {
			t.Errorf("SeekLatestAfter(%v) = %d, want %d", tt.after, got, tt.latst)
		}
	}
	if got := []string{s.LatestAt(0).Version, s.LatestAt(1).Version, s.LatestAt(2).Version}; !slices.Equal(got, []string{"1.10.0", "3.0.0", "0.1.0"}) {
		t.Errorf("LatestAt = %v", got)
	}
}

func TestSnapshotDuplicate(t *testing.T) {
	t.Parallel()
	doc := parseTestdata(t, "catalog", "official-seed.json")
	dup, err := NewEntry(doc.Entries[1].Server, nil) // the same name and version again
	if err != nil {
		t.Fatal(err)
	}
	entries := append(slices.Clone(doc.Entries), dup)
	Finalize(entries, time.Time{})
	_, err = NewSnapshot("seed", entries, day0)
	if !errors.Is(err, ErrInvalidEntry) || !strings.Contains(err.Error(), `"io.github.domdomegg/airtable-mcp-server" version "1.7.3" appears more than once`) {
		t.Errorf("err = %v, want a duplicate error naming the server and version", err)
	}
}

// TestSnapshotRevision: the revision is a function of what is served.
func TestSnapshotRevision(t *testing.T) {
	t.Parallel()
	build := func(t *testing.T, source string, mutate func([]*Entry)) string {
		doc := parseTestdata(t, "catalog", "official-seed.json")
		Finalize(doc.Entries, time.Time{})
		if mutate != nil {
			mutate(doc.Entries)
		}
		// BuiltAt differs on every build; it must not count.
		return mustSnapshot(t, source, doc.Entries, time.Now()).Revision
	}
	base := build(t, "seed", nil)
	if base == "" || base != build(t, "seed", nil) {
		t.Fatal("the same content must give the same revision")
	}
	replacement := newTestEntry(t, "z.z/z", "1", day0)
	tests := []struct {
		name    string
		source  string
		mutate  func([]*Entry)
		changed bool
	}{
		{"input order", "seed", func(es []*Entry) { slices.Reverse(es) }, false},
		{"source name (provenance is served)", "other", nil, true},
		{"publication time", "seed", func(es []*Entry) { es[0].PublishedAt = es[0].PublishedAt.Add(time.Second) }, true},
		{"status", "seed", func(es []*Entry) { es[2].Status = "deprecated" }, true},
		{"server body", "seed", func(es []*Entry) {
			es[3].Server = bytes.Replace(es[3].Server, []byte(`"description":"`), []byte(`"description":"X`), 1)
		}, true},
		{"an entry replaced", "seed", func(es []*Entry) { es[3] = replacement }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := build(t, tt.source, tt.mutate); (got != base) != tt.changed {
				t.Errorf("revision changed = %v, want %v", got != base, tt.changed)
			}
		})
	}
}

// TestEncodedShape: the response object is {"server":…,"_meta":{official,
// …extra keys in arrival order…, provenance}} with the server bytes as they
// arrived (compacted).
func TestEncodedShape(t *testing.T) {
	t.Parallel()
	server := `{ "name": "io.github.x/keep", "version": "1.0.0", "description": "d",
	  "somethingNew": {"nested": [1, {"deep": "<&>"}]},
	  "_meta": {"io.modelcontextprotocol.registry/publisher-provided": {"tool": {"x": 1}}, "com.vendor/unknown": "kept"} }`
	meta := `{"z.last/first-in": 1, "` + OfficialMetaKey + `": {"status": "ACTIVE", "publishedAt": "2025-02-03T04:05:06.789-05:00", "isLatest": false},
	  "a.first/second-in": {"b": [true, null]}, "` + ProvenanceMetaKey + `": {"source": "far-away"}}`
	e, err := NewEntry(json.RawMessage(server), json.RawMessage(meta))
	if err != nil {
		t.Fatal(err)
	}
	s := mustSnapshot(t, "near", []*Entry{e}, day0)
	enc := s.Get("io.github.x/keep", "1.0.0").Encoded
	if !json.Valid(enc) {
		t.Fatalf("Encoded is not valid JSON: %s", enc)
	}
	top, err := splitObject(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 || top[0].Key != "server" || top[1].Key != "_meta" {
		t.Fatalf("top-level keys = %v, want server, _meta", metaKeys(top))
	}
	if want := compactJSON(t, []byte(server)); !bytes.Equal(top[0].Value, want) {
		t.Errorf("server bytes changed:\n got %s\nwant %s", top[0].Value, want)
	}
	metaFields, err := splitObject(top[1].Value)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := metaKeys(metaFields), []string{OfficialMetaKey, "z.last/first-in", "a.first/second-in", ProvenanceMetaKey}; !slices.Equal(got, want) {
		t.Errorf("_meta keys = %v, want %v", got, want)
	}
	assertSameJSON(t, metaFields[0].Value, []byte(`{"status":"active","publishedAt":"2025-02-03T09:05:06.789Z","isLatest":true}`))
	assertSameJSON(t, metaFields[2].Value, []byte(`{"b":[true,null]}`))
	assertSameJSON(t, metaFields[3].Value, []byte(`{"source":"near"}`))
}

func metaKeys(fields []MetaField) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Key
	}
	return out
}

// TestEncodedTestdata: every entry of every testdata file encodes to a
// response whose server part is the file's server object.
func TestEncodedTestdata(t *testing.T) {
	t.Parallel()
	doc := parseTestdata(t, "toolhive", "upstream-registry.json")
	var file struct {
		Data struct {
			Servers []json.RawMessage `json:"servers"`
		} `json:"data"`
	}
	if err := json.Unmarshal(readTestdata(t, "toolhive", "upstream-registry.json"), &file); err != nil {
		t.Fatal(err)
	}
	Finalize(doc.Entries, doc.LastUpdated)
	s := mustSnapshot(t, "th", doc.Entries, day0)
	for _, raw := range file.Data.Servers {
		var id struct{ Name, Version string }
		if err := json.Unmarshal(raw, &id); err != nil {
			t.Fatal(err)
		}
		e := s.Get(id.Name, id.Version)
		var wire struct {
			Server json.RawMessage `json:"server"`
			Meta   map[string]struct {
				Status      string `json:"status"`
				PublishedAt string `json:"publishedAt"`
				UpdatedAt   string `json:"updatedAt"`
				IsLatest    bool   `json:"isLatest"`
			} `json:"_meta"`
		}
		if err := json.Unmarshal(e.Encoded, &wire); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(wire.Server, compactJSON(t, raw)) {
			t.Errorf("%s: server bytes changed", id.Name)
		}
		off := wire.Meta[OfficialMetaKey]
		if off.PublishedAt != "2025-11-26T00:27:46Z" || off.UpdatedAt != off.PublishedAt || !off.IsLatest {
			t.Errorf("%s: official block %+v", id.Name, off)
		}
		if want := map[bool]string{true: "deprecated", false: "active"}[id.Name == "io.github.stacklok/genai-toolbox"]; off.Status != want {
			t.Errorf("%s: status %q, want %q", id.Name, off.Status, want)
		}
	}
}
