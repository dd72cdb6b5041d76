package upstream

import (
	"bytes"
	"context"
	"errors"
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
	Finalize(doc.Entries, doc.LastUpdated)
	snap, err := NewSnapshot("toolhive", doc.Entries, now)
	if err != nil {
		t.Fatal(err)
	}
	store := NewStateDirStore(dir, "toolhive", "file", 0)
	if err := store.Save(snap, now); err != nil {
		t.Fatal(err)
	}
	st, err := store.Load(now)
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
	Finalize(doc.Entries, time.Time{})
	snap, err := NewSnapshot("src", doc.Entries, time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := NewStateDirStore(good, "src", "file", 0).Save(snap, time.Unix(100, 0)); err != nil {
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
		{"future layout", bytes.Replace(valid, []byte(`"version":3`), []byte(`"version":9`), 1), "file", "layout version 9"},
		{"other source", bytes.Replace(valid, []byte(`"source":"src"`), []byte(`"source":"other"`), 1), "file", `of source "other"`},
		{"other kind", valid, "git", "(file), not of"},
		{"flipped byte", bytes.Replace(valid, []byte(`com.example/a`), []byte(`com.example/b`), 1), "file", "checksum mismatch"},
		{"truncated", valid[:len(valid)/2], "file", "not a snapshot file"},
		// The checksum covers the header too: an edited date or revision
		// is damage, not a newer snapshot.
		{"savedAt edited", bytes.Replace(valid, []byte(`"savedAt":"1970-01-01T00:01:40Z"`), []byte(`"savedAt":"1970-01-01T00:01:41Z"`), 1), "file", "checksum mismatch"},
		{"revision edited", bytes.Replace(valid, []byte(`"revision":"`), []byte(`"revision":"0`), 1), "file", "checksum mismatch"},
		{"layout 1", bytes.Replace(valid, []byte(`"version":3`), []byte(`"version":1`), 1), "file", "layout version 1 is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(StatePath(dir, "src"), tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := NewStateDirStore(dir, "src", tc.kind, 0).Load(time.Unix(100, 0)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			var logs bytes.Buffer
			h := NewHolder(HolderOptions{Name: "src", Kind: tc.kind, StateDir: dir, Clock: func() time.Time { return time.Unix(100, 0) }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if h.Restore() || h.Snapshot() != nil {
				t.Error("a damaged or foreign state file was served")
			}
			if !strings.Contains(logs.String(), "ignoring persisted snapshot") {
				t.Errorf("no warning logged: %s", logs.String())
			}
		})
	}
	if _, err := NewStateDirStore(t.TempDir(), "src", "file", 0).Load(time.Unix(100, 0)); err != ErrNoState {
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
	s1 := mustFileSource(t, FileOptions{Name: "reg", Path: path, StateDir: stateDir, Clock: func() time.Time { return first }})
	if err := s1.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil { // the source is gone when we restart
		t.Fatal(err)
	}
	later := first.Add(time.Hour)
	s2 := mustFileSource(t, FileOptions{Name: "reg", Path: path, Optional: true, StateDir: stateDir, Clock: func() time.Time { return later }})
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
	// Undated data is dated by UndatedTime, before and after the restart.
	if e := s2.Snapshot().Latest("com.example/a"); e.Version != "1.1.0" || !e.PublishedAt.Equal(UndatedTime) {
		t.Errorf("latest %s published %v", e.Version, e.PublishedAt)
	}
}

// TestStateRefusesFutureAndOversized: a snapshot saved (by its own,
// checksummed header) after now plus the allowed skew is refused, as is a
// state file over the store's bound; a snapshot over the bound is not
// written at all.
func TestStateRefusesFutureAndOversized(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	doc, err := Parse([]byte(`[{"name":"com.example/a","version":"1.0.0","description":"d"}]`))
	if err != nil {
		t.Fatal(err)
	}
	Finalize(doc.Entries, time.Time{})
	snap := mustSnapshot(t, "src", doc.Entries, now)

	for _, tt := range []struct {
		savedAt time.Time
		want    string // empty: accepted
	}{
		{now.Add(-time.Hour), ""},
		{now.Add(4 * time.Minute), ""}, // within the clock skew of replicas
		{now.Add(10 * time.Minute), "in the future"},
		{now.AddDate(5, 0, 0), "in the future"},
	} {
		dir := t.TempDir()
		store := NewStateDirStore(dir, "src", "file", 0)
		if err := store.Save(snap, tt.savedAt); err != nil {
			t.Fatal(err)
		}
		st, err := store.Load(now)
		switch {
		case tt.want == "" && (err != nil || !st.SavedAt.Equal(tt.savedAt)):
			t.Errorf("saved at %v: %v", tt.savedAt, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), store.Path())):
			t.Errorf("saved at %v: err = %v, want %q naming the file", tt.savedAt, err, tt.want)
		}
	}

	dir := t.TempDir()
	if err := NewStateDirStore(dir, "src", "file", 0).Save(snap, now); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(StatePath(dir, "src"))
	if err != nil {
		t.Fatal(err)
	}
	small := NewStateDirStore(dir, "src", "file", info.Size()-1)
	if _, err := small.Load(now); err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Errorf("oversized state file: %v", err)
	}
	if err := small.Save(snap, now.Add(time.Second)); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("saving over the bound: %v", err)
	}
	if st, err := NewStateDirStore(dir, "src", "file", info.Size()).Load(now.Add(time.Second)); err != nil || !st.SavedAt.Equal(now) {
		t.Errorf("a failed save replaced the last good file: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestReadOnlyStoreNeverSaves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := NewStateDirStore(dir, "ro", "file", 0)
	snap, err := NewSnapshot("ro", nil, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := ReadOnly(store).Save(snap, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(store.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only save wrote %s: %v", store.Path(), err)
	}
	if err := store.Save(snap, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadOnly(store).Load(time.Unix(0, 0)); err != nil {
		t.Fatalf("read-only store does not restore: %v", err)
	}
	if ReadOnly(nil) != nil {
		t.Fatal("ReadOnly(nil) must stay nil: nothing to restore")
	}
}
