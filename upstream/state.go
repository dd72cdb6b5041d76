package upstream

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The persisted snapshot layout: a header and the served entries as a
// ServerList-style array, with a checksum over that array.
const (
	stateFormat  = "mcpfed-snapshot"
	stateVersion = 1
)

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
	SHA256   string          `json:"sha256,omitempty"`
}

// State is a snapshot read back from the state directory.
type State struct {
	Snapshot *Snapshot
	SavedAt  time.Time
}

// StatePath is where a source's snapshot is persisted.
func StatePath(dir, source string) string {
	return filepath.Join(dir, source+".snapshot.json")
}

// SaveState writes the snapshot atomically: a temporary file in the same
// directory, synced, then renamed over the previous one, so a crash leaves
// either the old or the new file, never a torn one. The entries are
// streamed to the file and hashed on the way, so saving a large snapshot
// costs no copy of it in memory; the checksum follows the entries.
func SaveState(dir, source, kind string, snap *Snapshot, now time.Time) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+source+".*.tmp")
	if err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this is a no-op
	if err := writeState(tmp, source, kind, snap, now); err != nil {
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
	if err := os.Rename(tmp.Name(), StatePath(dir, source)); err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return nil
}

func writeState(f *os.File, source, kind string, snap *Snapshot, now time.Time) error {
	w := bufio.NewWriterSize(f, 256<<10)
	header, err := json.Marshal(stateFile{
		Format: stateFormat, Version: stateVersion, Source: source, Kind: kind, SavedAt: now.UTC(), Revision: snap.Revision,
	})
	if err != nil {
		return err
	}
	// The header object without its closing brace, then the entries.
	w.Write(header[:len(header)-1])
	w.WriteString(`,"servers":`)
	h := sha256.New()
	servers := io.MultiWriter(w, h)
	io.WriteString(servers, "[")
	for i, e := range snap.Entries() {
		if i > 0 {
			io.WriteString(servers, ",")
		}
		servers.Write(e.Encoded)
	}
	io.WriteString(servers, "]")
	fmt.Fprintf(w, `,"sha256":%q}`, hex.EncodeToString(h.Sum(nil)))
	return w.Flush() // a bufio.Writer keeps its first error: this reports any of the writes
}

// LoadState reads a source's persisted snapshot. A file of another source or
// kind, another layout version, or with a bad checksum is an error.
func LoadState(dir, source, kind string) (*State, error) {
	p := StatePath(dir, source)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoState
	}
	if err != nil {
		return nil, err
	}
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("%s: not a snapshot file: %w", p, err)
	}
	switch {
	case sf.Format != stateFormat:
		return nil, fmt.Errorf("%s: not a snapshot file (format %q)", p, sf.Format)
	case sf.Version != stateVersion:
		return nil, fmt.Errorf("%s: snapshot layout version %d is not supported", p, sf.Version)
	case sf.Source != source || sf.Kind != kind:
		return nil, fmt.Errorf("%s: snapshot of source %q (%s), not of %q (%s)", p, sf.Source, sf.Kind, source, kind)
	}
	sum := sha256.Sum256(sf.Servers)
	if hex.EncodeToString(sum[:]) != sf.SHA256 {
		return nil, fmt.Errorf("%s: checksum mismatch: the file is damaged", p)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(sf.Servers, &items); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	entries, err := parseItems(items, "servers")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	snap, err := NewSnapshot(source, entries, sf.SavedAt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &State{Snapshot: snap, SavedAt: sf.SavedAt}, nil
}
