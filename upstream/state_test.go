package upstream

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, err := os.ReadFile("../testdata/catalog/toolhive.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	Finalize(doc.Entries, doc.LastUpdated, nil, now)
	snap, err := NewSnapshot("toolhive", doc.Entries, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveState(dir, "toolhive", "file", snap, now); err != nil {
		t.Fatal(err)
	}
	st, err := LoadState(dir, "toolhive", "file")
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshot.Revision != snap.Revision || st.Snapshot.Len() != snap.Len() || !st.SavedAt.Equal(now) {
		t.Fatalf("restored %d entries rev %s, saved %d rev %s", st.Snapshot.Len(), st.Snapshot.Revision, snap.Len(), snap.Revision)
	}
	for i, e := range snap.Entries() {
		if !bytes.Equal(e.Encoded, st.Snapshot.At(i).Encoded) {
			t.Fatalf("entry %d differs after restore", i)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestStateRejectsDamagedOrForeignFiles: none of these may crash or be served.
func TestStateRejectsDamagedOrForeignFiles(t *testing.T) {
	t.Parallel()
	good := t.TempDir()
	doc, err := Parse([]byte(`[{"name":"com.example/a","version":"1.0.0","description":"d"}]`))
	if err != nil {
		t.Fatal(err)
	}
	Finalize(doc.Entries, time.Time{}, nil, time.Unix(100, 0))
	snap, err := NewSnapshot("src", doc.Entries, time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveState(good, "src", "file", snap, time.Unix(100, 0)); err != nil {
		t.Fatal(err)
	}
	valid, err := os.ReadFile(StatePath(good, "src"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte
		kind    string
		want    string
	}{
		{"garbage", []byte("not json at all"), "file", "not a snapshot file"},
		{"other format", []byte(`{"format":"something-else","version":1}`), "file", "not a snapshot file"},
		{"future layout", bytes.Replace(valid, []byte(`"version":1`), []byte(`"version":9`), 1), "file", "layout version 9"},
		{"other source", bytes.Replace(valid, []byte(`"source":"src"`), []byte(`"source":"other"`), 1), "file", `of source "other"`},
		{"other kind", valid, "git", "(file), not of"},
		{"flipped byte", bytes.Replace(valid, []byte(`com.example/a`), []byte(`com.example/b`), 1), "file", "checksum mismatch"},
		{"truncated", valid[:len(valid)/2], "file", "not a snapshot file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(StatePath(dir, "src"), tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadState(dir, "src", tc.kind); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			var logs bytes.Buffer
			h := NewHolder(HolderOptions{Name: "src", Kind: tc.kind, StateDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if h.Restore() || h.Snapshot() != nil {
				t.Error("a damaged or foreign state file was served")
			}
			if !strings.Contains(logs.String(), "ignoring persisted snapshot") {
				t.Errorf("no warning logged: %s", logs.String())
			}
		})
	}
	if _, err := LoadState(t.TempDir(), "src", "file"); err != ErrNoState {
		t.Errorf("missing state: %v", err)
	}
}

// TestFileSourceServesPersistedSnapshotAtRestart: after a restart whose
// source cannot be read, the last good data is served at once.
func TestFileSourceServesPersistedSnapshotAtRestart(t *testing.T) {
	t.Parallel()
	dir, stateDir := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "reg.json")
	if err := os.WriteFile(path, []byte(`[{"name":"com.example/a","version":"1.0.0","description":"d"},{"name":"com.example/a","version":"1.1.0","description":"d"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s1 := NewFileSource(FileOptions{Name: "reg", Path: path, StateDir: stateDir, Clock: func() time.Time { return first }})
	if err := s1.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil { // the source is gone when we restart
		t.Fatal(err)
	}
	later := first.Add(time.Hour)
	s2 := NewFileSource(FileOptions{Name: "reg", Path: path, StateDir: stateDir, Clock: func() time.Time { return later }})
	if !s2.Restore() {
		t.Fatal("nothing restored")
	}
	if got := s2.Status().State(); got != "restored" {
		t.Errorf("state = %s", got)
	}
	if s2.Snapshot().Revision != s1.Snapshot().Revision {
		t.Error("restored snapshot differs from the saved one")
	}
	if err := s2.Load(context.Background()); err == nil {
		t.Fatal("load of a missing file succeeded")
	}
	if st := s2.Status(); st.State() != "stale" || s2.Snapshot() == nil || s2.Snapshot().Len() != 2 {
		t.Errorf("after failed load: %s, %d entries", st.State(), s2.Snapshot().Len())
	}
	// First-seen times survive the restart: the entry keeps its original time.
	if e := s2.Snapshot().Latest("com.example/a"); e.Version != "1.1.0" || !e.PublishedAt.Equal(first) {
		t.Errorf("latest %s published %v", e.Version, e.PublishedAt)
	}
}
