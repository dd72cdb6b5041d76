package upstream

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func artMust(t testing.TB, kind ArtifactKind, raw string) *Artifact {
	t.Helper()
	a, err := NewArtifact(kind, json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSnapshotRevisionFollowsArtifacts: the revision changes exactly when
// what is served changes, servers or artifacts; a snapshot without
// artifacts keeps the revision it had before artifacts existed.
func TestSnapshotRevisionFollowsArtifacts(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	entries := []*Entry{newTestEntry(t, "com.example/a", "1.0.0", now)}
	one := artMust(t, Skills, artSkill("io.github.acme", "one", "1.0.0"))
	two := artMust(t, Skills, artSkill("io.github.acme", "two", "1.0.0"))
	oneEdited := artMust(t, Skills, artSkill("io.github.acme", "one", "1.0.0", `"title":"One"`))
	build := func(arts map[ArtifactKind][]*Artifact) *Snapshot {
		t.Helper()
		s, err := BuildSnapshot("src", entries, now, SnapshotOptions{Artifacts: arts})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	plain := mustSnapshot(t, "src", entries, now)
	tests := []struct {
		name string
		arts map[ArtifactKind][]*Artifact
		same bool // revision equal to the plain snapshot's
	}{
		{"nil", nil, true},
		{"empty kinds", map[ArtifactKind][]*Artifact{Skills: {}, Plugins: nil}, true},
		{"one skill", map[ArtifactKind][]*Artifact{Skills: {one}}, false},
		{"the same as a plugin", map[ArtifactKind][]*Artifact{Plugins: {one}}, false},
		{"edited skill", map[ArtifactKind][]*Artifact{Skills: {oneEdited}}, false},
		{"two skills", map[ArtifactKind][]*Artifact{Skills: {one, two}}, false},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		s := build(tc.arts)
		if (s.Revision == plain.Revision) != tc.same {
			t.Errorf("%s: revision %s, plain %s, want same=%t", tc.name, s.Revision, plain.Revision, tc.same)
		}
		if !tc.same {
			if prev, dup := seen[s.Revision]; dup {
				t.Errorf("%s and %s share revision %s", tc.name, prev, s.Revision)
			}
			seen[s.Revision] = tc.name
		}
	}
	// Order of arrival is not content.
	if a, b := build(map[ArtifactKind][]*Artifact{Skills: {one, two}}), build(map[ArtifactKind][]*Artifact{Skills: {two, one}}); a.Revision != b.Revision {
		t.Errorf("revision depends on input order: %s vs %s", a.Revision, b.Revision)
	}
	s := build(map[ArtifactKind][]*Artifact{Skills: {two, one}})
	if got := s.Artifacts(Skills).All(); len(got) != 2 || got[0].Name != "one" || got[1].Source != "src" || s.Len() != 1 {
		t.Errorf("indexed skills %v, %d servers", got, s.Len())
	}
	if one.Source != "" {
		t.Error("BuildSnapshot modified the caller's artifact")
	}
	if m := s.ArtifactMap(); len(m) != 1 || len(m[Skills]) != 2 || plain.ArtifactMap() != nil {
		t.Errorf("ArtifactMap %v, plain %v", m, plain.ArtifactMap())
	}
	var none *Snapshot
	if none.Artifacts(Skills) != nil || none.Artifacts(Skills).Len() != 0 || none.ArtifactMap() != nil {
		t.Error("a nil snapshot has artifacts")
	}
	if _, err := BuildSnapshot("src", entries, now, SnapshotOptions{Artifacts: map[ArtifactKind][]*Artifact{Skills: {one, one}}}); err == nil {
		t.Error("a skill version listed twice was indexed")
	}
}

// TestHolderFiltersArtifacts: the source's filter sees an artifact as its
// namespace/name, status and package types; the status counts what it kept.
func TestHolderFiltersArtifacts(t *testing.T) {
	t.Parallel()
	doc, err := Parse([]byte(artUpstreamFile(`"servers":[` + serverJSON("io.github.acme/s", "1.0.0") + `],"skills":[` +
		artSkill("io.github.acme", "keep", "1.0.0") + `,` + artSkill("io.github.other", "drop", "1.0.0") + `,` +
		artSkill("io.github.acme", "old", "1.0.0", `"status":"archived"`) + `],"plugins":[` + artSkill("io.github.acme", "p", "1") + `]`)))
	if err != nil {
		t.Fatal(err)
	}
	admit := func(e *Entry) bool { return strings.HasPrefix(e.Name, "io.github.acme/") && e.Status != "deleted" }
	h := NewHolder(HolderOptions{Name: "f", Kind: "file", Admit: admit})
	if err := h.Attempt(context.Background(), "test", func(_ context.Context, now time.Time) error { return h.Install(doc, now) }); err != nil {
		t.Fatal(err)
	}
	snap := h.Snapshot()
	var got []string
	for _, a := range snap.Artifacts(Skills).All() {
		got = append(got, a.ID())
	}
	if strings.Join(got, " ") != "io.github.acme/keep" || snap.Artifacts(Plugins).Len() != 1 {
		t.Errorf("kept skills %v, plugins %d", got, snap.Artifacts(Plugins).Len())
	}
	if st := h.Status(); st.Skills != 1 || st.Plugins != 1 || st.Entries != 1 {
		t.Errorf("status %+v", st)
	}
	if len(doc.Artifacts[Skills]) != 3 {
		t.Error("the filter changed the caller's document")
	}
}
