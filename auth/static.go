package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/credential"
)

// staticTokens holds the static tokens, re-read when their files change.
type staticTokens struct {
	log     *slog.Logger
	now     func() time.Time
	recheck time.Duration

	mu        sync.Mutex
	lastCheck time.Time
	entries   []staticToken
}

type staticToken struct {
	name   string
	path   string
	claims map[string]any
	// hash is the SHA-256 of the token: comparing fixed-size digests in
	// constant time does not reveal the token's length either.
	hash  [sha256.Size]byte
	valid bool
	stamp os.FileInfo
}

func newStaticTokens(cfg []TokenConfig, log *slog.Logger, now func() time.Time, recheck time.Duration) (*staticTokens, error) {
	s := &staticTokens{log: log, now: now, recheck: recheck}
	for i, t := range cfg {
		claims, err := normalizeClaims(t.Claims)
		if err != nil {
			return nil, fmt.Errorf("auth.tokens[%d].claims: %w", i, err)
		}
		e := staticToken{name: t.Name, path: t.TokenFile, claims: claims}
		if err := e.load(); err != nil {
			return nil, fmt.Errorf("auth.tokens[%d].tokenFile: %w", i, err)
		}
		s.entries = append(s.entries, e)
	}
	s.lastCheck = now()
	return s, nil
}

// load reads the token file (a bounded read of a regular, non-empty file).
func (e *staticToken) load() error {
	fi, err := os.Stat(e.path)
	if err != nil {
		e.valid = false
		return fmt.Errorf("read token file: %w", err)
	}
	tok, err := credential.ReadFile(e.path)
	if err != nil {
		e.valid, e.stamp = false, fi
		return err
	}
	e.hash, e.valid, e.stamp = sha256.Sum256([]byte(tok)), true, fi
	return nil
}

func changed(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return true
	}
	return !os.SameFile(a, b) || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime())
}

// refresh re-reads the files whose mtime, size or identity changed, at
// most once per recheck interval. A file that cannot be read any more
// disables its token (fail closed: emptying or removing a file revokes).
func (s *staticTokens) refresh() {
	now := s.now()
	if now.Sub(s.lastCheck) < s.recheck {
		return
	}
	s.lastCheck = now
	for i := range s.entries {
		e := &s.entries[i]
		fi, err := os.Stat(e.path)
		if err == nil && !changed(e.stamp, fi) {
			continue
		}
		if err := e.load(); err != nil {
			s.log.Warn("static token disabled: its file cannot be read", "token", e.name, "err", err)
			continue
		}
		s.log.Info("static token reloaded", "token", e.name)
	}
}

// match compares tok with every configured token in constant time.
func (s *staticTokens) match(tok string) (Identity, bool) {
	if s == nil {
		return Identity{}, false
	}
	h := sha256.Sum256([]byte(tok))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	found := -1
	for i := range s.entries {
		eq := subtle.ConstantTimeCompare(h[:], s.entries[i].hash[:])
		ok := eq & boolInt(s.entries[i].valid)
		if ok == 1 && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return Identity{}, false
	}
	e := s.entries[found]
	return Identity{Kind: KindStatic, Provider: e.name, Subject: e.name, Claims: e.claims}, true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// normalizeClaims gives configured claims the shape decoded JWT claims
// have (json.Number numbers, []any lists, map[string]any objects).
func normalizeClaims(c map[string]any) (map[string]any, error) {
	if len(c) == 0 {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return decodeClaims(b)
}

func decodeClaims(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}
