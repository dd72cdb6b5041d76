package upstream

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The persisted snapshot layout: a header, the served entries as a
// ServerList-style array and the artifacts by kind
// ({"skills":[…],"plugins":[…]}), with a checksum over the header, that
// array and the artifacts. Version 1 checksummed the array only, so its
// header (savedAt above all) could be edited unnoticed; it is refused.
// Version 2 had no artifacts: it is read as holding none (its servers are
// still good to serve until the first sync brings the artifacts).
const (
	stateFormat  = "mcpfed-snapshot"
	stateVersion = 3
	// stateVersionNoArtifacts is the layout before artifacts, still read.
	stateVersionNoArtifacts = 2
	// stateClockSkew is how far in the future a snapshot's savedAt may be
	// (clocks of replicas sharing a volume differ a little); beyond it the
	// file is refused, as a future savedAt would date the source's
	// freshness ahead of the truth.
	stateClockSkew = 5 * time.Minute
)

// DefaultStateMaxBytes bounds the state file read back when the store is
// given no bound of its own.
const DefaultStateMaxBytes = 512 << 20

// ErrNoState means no snapshot was persisted for the source.
var ErrNoState = errors.New("no persisted snapshot")

type stateFile struct {
	Format   string          `json:"format"`
	Version  int             `json:"version"`
	Source   string          `json:"source"`
	Kind     string          `json:"kind"`
	SavedAt  time.Time       `json:"savedAt"`
	Revision string          `json:"revision"`
	Servers  json.RawMessage `json:"servers,omitempty"`
	// Artifacts is {"<kind>":[artifact objects…]} (version 3 on).
	Artifacts json.RawMessage `json:"artifacts,omitempty"`
	SHA256    string          `json:"sha256,omitempty"`
}

// State is a snapshot read back from a store.
type State struct {
	Snapshot *Snapshot
	SavedAt  time.Time
	// WithoutArtifacts reports a file of the layout before artifacts: the
	// snapshot holds none, whatever the source had.
	WithoutArtifacts bool
}

// StatePath is where a source's snapshot is persisted in a state directory.
func StatePath(dir, source string) string {
	return filepath.Join(dir, source+".snapshot.json")
}

// StateDirStore persists one source's snapshot as a file in a state
// directory (see StatePath).
type StateDirStore struct {
	dir, source, kind string
	maxBytes          int64
}

// NewStateDirStore returns the store of source (of kind file, git or api)
// in dir. maxBytes bounds the file, written and read back (zero or less:
// DefaultStateMaxBytes); a snapshot that would exceed it is not persisted.
// Each entry is saved with its _meta block, so allow more than the source's
// own bytes.
func NewStateDirStore(dir, source, kind string, maxBytes int64) *StateDirStore {
	if maxBytes <= 0 {
		maxBytes = DefaultStateMaxBytes
	}
	return &StateDirStore{dir: dir, source: source, kind: kind, maxBytes: maxBytes}
}

// Path is the state file.
func (s *StateDirStore) Path() string { return StatePath(s.dir, s.source) }

// Save writes the snapshot atomically: a temporary file in the same
// directory, synced, then renamed over the previous one, so a crash leaves
// either the old or the new file, never a torn one. The entries are
// streamed to the file and hashed on the way, so saving a large snapshot
// costs no copy of it in memory; the checksum follows the entries.
func (s *StateDirStore) Save(snap *Snapshot, now time.Time) error {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, "."+s.source+".*.tmp")
	if err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this is a no-op
	if err := s.write(tmp, snap, now); err != nil {
		tmp.Close()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path()); err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return nil
}

func (s *StateDirStore) write(f *os.File, snap *Snapshot, now time.Time) error {
	bounded := &boundedWriter{w: f, left: s.maxBytes}
	w := bufio.NewWriterSize(bounded, 256<<10)
	head := stateFile{
		Format: stateFormat, Version: stateVersion, Source: s.source, Kind: s.kind, SavedAt: now.UTC(), Revision: snap.Revision,
	}
	header, err := json.Marshal(head)
	if err != nil {
		return err
	}
	h, err := stateHash(head)
	if err != nil {
		return err
	}
	// The header object without its closing brace, then the entries.
	w.Write(header[:len(header)-1])
	w.WriteString(`,"servers":`)
	servers := io.MultiWriter(w, h)
	io.WriteString(servers, "[")
	for i, e := range snap.Entries() {
		if i > 0 {
			io.WriteString(servers, ",")
		}
		servers.Write(e.Encoded)
	}
	io.WriteString(servers, "]")
	w.WriteString(`,"artifacts":`)
	h.Write([]byte{'\n'})
	writeArtifacts(io.MultiWriter(w, h), snap)
	fmt.Fprintf(w, `,"sha256":%q}`, hex.EncodeToString(h.Sum(nil)))
	return w.Flush() // a bufio.Writer keeps its first error: this reports any of the writes
}

// writeArtifacts writes the snapshot's artifacts as {"<kind>":[…]}, kinds
// in their fixed order, each artifact as it arrived (compacted). Errors
// stay with the writer (see write).
func writeArtifacts(w io.Writer, snap *Snapshot) {
	io.WriteString(w, "{")
	n := 0
	for _, kind := range ArtifactKinds {
		items := snap.Artifacts(kind).All()
		if len(items) == 0 {
			continue
		}
		if n > 0 {
			io.WriteString(w, ",")
		}
		n++
		fmt.Fprintf(w, "%q:[", kind)
		for i, a := range items {
			if i > 0 {
				io.WriteString(w, ",")
			}
			w.Write(a.Raw)
		}
		io.WriteString(w, "]")
	}
	io.WriteString(w, "}")
}

// readArtifacts indexes the artifacts of a state file.
func readArtifacts(raw json.RawMessage) (map[ArtifactKind][]*Artifact, error) {
	var byKind map[string][]json.RawMessage
	if err := json.Unmarshal(raw, &byKind); err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	out := make(map[ArtifactKind][]*Artifact, len(byKind))
	for name, items := range byKind {
		kind := ArtifactKind(name)
		if !slices.Contains(ArtifactKinds, kind) {
			return nil, fmt.Errorf("artifacts: unknown kind %q", name)
		}
		arts, err := parseArtifacts(kind, items, "artifacts."+name)
		if err != nil {
			return nil, err
		}
		out[kind] = arts
	}
	return out, nil
}

// stateHash starts the checksum with the header: every field of it, in a
// fixed encoding (a JSON array), then a newline; the entries array follows.
func stateHash(sf stateFile) (hash.Hash, error) {
	head, err := json.Marshal([]any{sf.Format, sf.Version, sf.Source, sf.Kind, sf.SavedAt.UTC().Format(time.RFC3339Nano), sf.Revision})
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(head)
	h.Write([]byte{'\n'})
	return h, nil
}

// boundedWriter fails a write past its budget.
type boundedWriter struct {
	w    io.Writer
	left int64
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > b.left {
		return 0, fmt.Errorf("snapshot %w for the state file bound", ErrTooLarge)
	}
	b.left -= int64(len(p))
	return b.w.Write(p)
}

// Load reads the persisted snapshot back. A missing file is ErrNoState. A
// file that is not a regular file, is larger than the bound, is of another
// source, kind or layout version, fails its checksum, or was saved more
// than a few minutes after now is an error naming the file.
func (s *StateDirStore) Load(now time.Time) (*State, error) {
	p := s.Path()
	// Regular files only: the bound and the type check keep a state file
	// replaced by a FIFO or a link to a device from blocking or filling
	// memory.
	data, err := ReadRegular(context.Background(), p, s.maxBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoState
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("%s: not a snapshot file: %w", p, err)
	}
	switch {
	case sf.Format != stateFormat:
		return nil, fmt.Errorf("%s: not a snapshot file (format %q)", p, sf.Format)
	case sf.Version != stateVersion && sf.Version != stateVersionNoArtifacts:
		return nil, fmt.Errorf("%s: snapshot layout version %d is not supported (want %d)", p, sf.Version, stateVersion)
	case sf.Source != s.source || sf.Kind != s.kind:
		return nil, fmt.Errorf("%s: snapshot of source %q (%s), not of %q (%s)", p, sf.Source, sf.Kind, s.source, s.kind)
	}
	h, err := stateHash(sf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	h.Write(sf.Servers)
	legacy := sf.Version == stateVersionNoArtifacts
	if !legacy {
		h.Write([]byte{'\n'})
		h.Write(sf.Artifacts)
	}
	if hex.EncodeToString(h.Sum(nil)) != sf.SHA256 {
		return nil, fmt.Errorf("%s: checksum mismatch: the file is damaged or was edited", p)
	}
	if sf.SavedAt.After(now.Add(stateClockSkew)) {
		return nil, fmt.Errorf("%s: saved at %s, in the future (now %s)", p, sf.SavedAt.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(sf.Servers, &items); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	entries, err := parseItems(items, "servers")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	var arts map[ArtifactKind][]*Artifact
	if !legacy {
		if arts, err = readArtifacts(sf.Artifacts); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	snap, err := BuildSnapshot(s.source, entries, sf.SavedAt, SnapshotOptions{Artifacts: arts})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &State{Snapshot: snap, SavedAt: sf.SavedAt, WithoutArtifacts: legacy}, nil
}
