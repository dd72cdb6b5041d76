package config

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcpfed/mcpfed/credential"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/upstream/remote"
)

// cursorKeyContext separates the derived key from any other use of a hash
// of the configuration.
const cursorKeyContext = "mcpfed-cursor-key\x00"

// KeySource says where the cursor keys came from.
type KeySource string

const (
	// KeysFromFile: cursorKeyFile, shared by the replicas.
	KeysFromFile KeySource = "file"
	// KeysDerived: derived from the sources list. Only without live
	// sources: then a cursor holds positions in snapshot sources alone,
	// which the engine checks again on resume (ownership, reservations),
	// so a forged one can only move its own position. Replicas and
	// restarts with the same sources agree, and serve identical bytes.
	KeysDerived KeySource = "derived"
	// KeysInStateDir: with a live source and no cursorKeyFile, a random key
	// kept in the state directory. A cursor then carries upstream positions
	// nothing can check again, so its key must be secret; it survives
	// restarts, but replicas with their own state directories refuse each
	// other's cursors until they share cursorKeyFile.
	KeysInStateDir KeySource = "state directory"
	// KeysEphemeral: as KeysInStateDir when nothing may be written (check).
	KeysEphemeral KeySource = "ephemeral"
)

// CursorKeyFileName is the key file kept in the state directory.
const CursorKeyFileName = "cursor.key"

// CursorKeys are the keys that authenticate cursors: the first signs, all
// verify. persist says whether a generated key may be written to the state
// directory (not by a read-only check).
func CursorKeys(c Config, persist bool) (keys [][]byte, from KeySource, err error) {
	if c.CursorKeyFile != "" {
		keys, err := readCursorKeys(c.CursorKeyFile)
		return keys, KeysFromFile, err
	}
	if !hasLiveSource(c) {
		canonical, err := json.Marshal(c.Sources)
		if err != nil {
			return nil, "", fmt.Errorf("derive the cursor key: %w", err)
		}
		sum := sha256.Sum256(append([]byte(cursorKeyContext), canonical...))
		return [][]byte{sum[:]}, KeysDerived, nil
	}
	path := filepath.Join(c.StateDir, CursorKeyFileName)
	if keys, err := readCursorKeys(path); err == nil {
		return keys, KeysInStateDir, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("the cursor key kept in the state directory: %w", err)
	}
	var raw [48]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", fmt.Errorf("generate a cursor key: %w", err)
	}
	key := []byte(base64.RawStdEncoding.EncodeToString(raw[:]))
	if !persist {
		return [][]byte{key}, KeysEphemeral, nil
	}
	if err := writeNewKey(path, key); err != nil {
		return nil, "", err
	}
	return readCursorKeysAfterWrite(path)
}

// hasLiveSource reports whether a source is an api source in live mode.
func hasLiveSource(c Config) bool {
	for _, sc := range c.Sources {
		if rs, ok := sc.Spec.(*remote.Spec); ok && !rs.IsMirror() {
			return true
		}
	}
	return false
}

// writeNewKey creates the key file (0600), never replacing one: of two
// processes starting on one state directory, the second reads the first's.
func writeNewKey(path string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("keep a cursor key in the state directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keep a cursor key in the state directory: %w", err)
	}
	_, werr := f.Write(append(key, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("keep a cursor key in the state directory: %w", werr)
	}
	return nil
}

func readCursorKeysAfterWrite(path string) ([][]byte, KeySource, error) {
	keys, err := readCursorKeys(path)
	if err != nil {
		return nil, "", fmt.Errorf("the cursor key kept in the state directory: %w", err)
	}
	return keys, KeysInStateDir, nil
}

// readCursorKeys reads one key per line, each at least federate.MinCursorKeyBytes.
func readCursorKeys(path string) ([][]byte, error) {
	text, err := credential.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if len(line) < federate.MinCursorKeyBytes {
			return nil, fmt.Errorf("line %d of %s is %d bytes; a cursor key has at least %d (e.g. openssl rand -base64 48)", i+1, path, len(line), federate.MinCursorKeyBytes)
		}
		keys = append(keys, []byte(line))
	}
	return keys, nil
}
