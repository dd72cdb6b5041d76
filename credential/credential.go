// Package credential reads secrets from files: tokens, passwords and keys
// that operators mount from a Secret. There is one reader so that every
// secret gets the same checks: a regular file (never a FIFO or a device,
// which would block or never end), a bounded size, and content that is not
// empty once surrounding whitespace is trimmed.
package credential

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxSize bounds a secret file. Tokens, passwords and keys are far smaller;
// anything larger is a mistake (a wrong path), not a secret.
const MaxSize = 64 << 10

// Sentinel errors callers (and tests) can check.
var (
	ErrEmpty      = errors.New("is empty")
	ErrTooLarge   = errors.New("is larger than 64 KiB")
	ErrNotRegular = errors.New("is not a regular file")
)

// ReadFile returns the trimmed content of the secret file at path. The
// error names the path, never the content.
func ReadFile(path string) (string, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer; the type check
	// below then refuses it.
	f, err := os.OpenFile(path, os.O_RDONLY|nonblock, 0)
	if err != nil {
		return "", fmt.Errorf("read secret file %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read secret file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("secret file %s %w", path, ErrNotRegular)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return "", fmt.Errorf("read secret file %s: %w", path, err)
	}
	if len(b) > MaxSize {
		return "", fmt.Errorf("secret file %s %w", path, ErrTooLarge)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("secret file %s %w", path, ErrEmpty)
	}
	return s, nil
}
