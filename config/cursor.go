package config

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mcpfed/mcpfed/credential"
	"github.com/mcpfed/mcpfed/federate"
)

// cursorKeyContext separates the derived key from any other use of a hash
// of the configuration.
const cursorKeyContext = "mcpfed-cursor-key\x00"

// CursorKeys are the keys that authenticate cursors: the first signs, all
// verify. With cursorKeyFile they are its lines; without, one key derived
// from the sources list (derived is then true), so replicas and restarts
// with the same sources agree — but whoever knows the configuration can
// forge cursors, hence the warning the caller logs.
func CursorKeys(c Config) (keys [][]byte, derived bool, err error) {
	if c.CursorKeyFile != "" {
		keys, err := readCursorKeys(c.CursorKeyFile)
		return keys, false, err
	}
	canonical, err := json.Marshal(c.Sources)
	if err != nil {
		return nil, false, fmt.Errorf("derive the cursor key: %w", err)
	}
	sum := sha256.Sum256(append([]byte(cursorKeyContext), canonical...))
	return [][]byte{sum[:]}, true, nil
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
