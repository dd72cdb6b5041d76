package upstream

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// artStateFile writes a state file of any layout version with a valid
// checksum: the servers array, and for version 3 on the artifacts object.
func artStateFile(t *testing.T, dir, source string, version int, servers, artifacts string, savedAt time.Time) {
	t.Helper()
	head := stateFile{Format: stateFormat, Version: version, Source: source, Kind: "file", SavedAt: savedAt.UTC(), Revision: "r"}
	header, err := json.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	h, err := stateHash(head)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.Write(header[:len(header)-1])
	b.WriteString(`,"servers":` + servers)
	h.Write([]byte(servers))
	if version >= 3 {
		b.WriteString(`,"artifacts":` + artifacts)
		h.Write([]byte{'\n'})
		h.Write([]byte(artifacts))
	}
	b.WriteString(`,"sha256":"` + hex.EncodeToString(h.Sum(nil)) + `"}`)
	if err := os.WriteFile(StatePath(dir, source), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStateRoundTripArtifacts: skills and plugins are persisted with the
// servers and restored byte for byte, under the same revision.
func TestStateRoundTripArtifacts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	doc := parseTestdata(t, "catalog", "toolhive.json")
	doc.addArtifacts(Plugins, []*Artifact{artMust(t, Plugins, artSkill("io.github.acme", "plug", "1.0.0", `"metadata":{"x":[1,2]}`))})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	h := NewHolder(HolderOptions{Name: "toolhive", Kind: "file", StateDir: dir, Clock: clock})
	if err := h.Attempt(context.Background(), "test", func(_ context.Context, now time.Time) error { return h.Install(doc, now) }); err != nil {
		t.Fatal(err)
	}
	saved := h.Snapshot()
	restored := NewHolder(HolderOptions{Name: "toolhive", Kind: "file", StateDir: dir, Clock: clock})
	if !restored.Restore() {
		t.Fatal("nothing restored")
	}
	snap := restored.Snapshot()
	if snap.Revision != saved.Revision || snap.Len() != 111 {
		t.Fatalf("restored %d servers rev %s, saved rev %s", snap.Len(), snap.Revision, saved.Revision)
	}
	for _, kind := range ArtifactKinds {
		a, b := saved.Artifacts(kind).All(), snap.Artifacts(kind).All()
		if len(a) != len(b) || len(a) == 0 {
			t.Fatalf("%s: saved %d, restored %d", kind, len(a), len(b))
		}
		for i := range a {
			if !bytes.Equal(a[i].Raw, b[i].Raw) || a[i].Key() != b[i].Key() || b[i].Source != "toolhive" || b[i].Kind != kind {
				t.Fatalf("%s %d differs after restore: %s vs %s", kind, i, a[i].Raw, b[i].Raw)
			}
		}
	}
	if st := restored.Status(); st.Skills != 222 || st.Plugins != 1 {
		t.Errorf("restored status counts %d skills, %d plugins", st.Skills, st.Plugins)
	}
}

// TestStateLayout2HasNoArtifacts: a state file written before artifacts
// existed still serves its servers, as holding no artifacts, and says so.
func TestStateLayout2HasNoArtifacts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	saved := time.Unix(100, 0)
	artStateFile(t, dir, "src", 2, `[{"server":`+serverJSON("com.example/a", "1.0.0")+`}]`, "", saved)
	st, err := NewStateDirStore(dir, "src", "file", 0).Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	if !st.WithoutArtifacts || st.Snapshot.Len() != 1 || st.Snapshot.Artifacts(Skills) != nil {
		t.Fatalf("layout 2: without artifacts %t, %d servers, skills %v", st.WithoutArtifacts, st.Snapshot.Len(), st.Snapshot.Artifacts(Skills))
	}
	var logs bytes.Buffer
	h := NewHolder(HolderOptions{Name: "src", Kind: "file", StateDir: dir, Clock: func() time.Time { return saved }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !h.Restore() || h.Snapshot().Len() != 1 {
		t.Fatal("a layout 2 file was not served")
	}
	if !strings.Contains(logs.String(), "predates skills and plugins") {
		t.Errorf("no note about the missing artifacts: %s", logs.String())
	}
	// Saved again, it is the current layout.
	if err := NewStateDirStore(dir, "src", "file", 0).Save(st.Snapshot, saved); err != nil {
		t.Fatal(err)
	}
	if st, err := NewStateDirStore(dir, "src", "file", 0).Load(saved); err != nil || st.WithoutArtifacts {
		t.Errorf("re-saved: %v, without artifacts %t", err, st != nil && st.WithoutArtifacts)
	}
}

// TestStateRejectsDamagedArtifacts: the checksum covers the artifacts; a
// file whose artifacts are well sealed but unusable is refused too.
func TestStateRejectsDamagedArtifacts(t *testing.T) {
	t.Parallel()
	good := t.TempDir()
	saved := time.Unix(100, 0)
	skill := artSkill("io.github.acme", "one", "1.0.0")
	snap, err := BuildSnapshot("src", []*Entry{newTestEntry(t, "com.example/a", "1.0.0", saved)}, saved,
		SnapshotOptions{Artifacts: map[ArtifactKind][]*Artifact{Skills: {artMust(t, Skills, skill)}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := NewStateDirStore(good, "src", "file", 0).Save(snap, saved); err != nil {
		t.Fatal(err)
	}
	valid, err := os.ReadFile(StatePath(good, "src"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(valid, []byte(`"artifacts":{"skills":[`+skill+`]}`)) {
		t.Fatalf("artifacts not in the file: %s", valid)
	}
	servers := `[{"server":` + serverJSON("com.example/a", "1.0.0") + `}]`
	tests := []struct {
		name    string
		write   func(dir string)
		wantErr string
	}{
		{"skill edited", func(dir string) {
			writeBytes(t, dir, bytes.Replace(valid, []byte(`"name":"one"`), []byte(`"name":"two"`), 1))
		}, "checksum mismatch"},
		{"artifacts dropped", func(dir string) {
			writeBytes(t, dir, bytes.Replace(valid, []byte(`"skills":[`+skill+`]`), nil, 1))
		}, "checksum mismatch"},
		{"relabelled layout 2", func(dir string) {
			writeBytes(t, dir, bytes.Replace(valid, []byte(`"version":3`), []byte(`"version":2`), 1))
		}, "checksum mismatch"},
		{"unknown kind", func(dir string) {
			artStateFile(t, dir, "src", 3, servers, `{"widgets":[`+skill+`]}`, saved)
		}, `unknown kind "widgets"`},
		{"invalid skill", func(dir string) {
			artStateFile(t, dir, "src", 3, servers, `{"skills":[{"name":"x"}]}`, saved)
		}, "artifacts.skills[0]"},
		{"duplicate skill", func(dir string) {
			artStateFile(t, dir, "src", 3, servers, `{"skills":[`+skill+`,`+skill+`]}`, saved)
		}, "already at artifacts.skills[0]"},
		{"artifacts not an object", func(dir string) {
			artStateFile(t, dir, "src", 3, servers, `[]`, saved)
		}, "artifacts:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tc.write(dir)
			if _, err := NewStateDirStore(dir, "src", "file", 0).Load(saved); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func writeBytes(t *testing.T, dir string, data []byte) {
	t.Helper()
	if err := os.WriteFile(StatePath(dir, "src"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}
