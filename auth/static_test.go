package auth

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func nopLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// A rename, as a rotated Kubernetes Secret is swapped in.
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

func TestStaticTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ci, ops := filepath.Join(dir, "ci"), filepath.Join(dir, "ops")
	writeFile(t, ci, "ci-token-1\n")
	writeFile(t, ops, "ops-token")
	clock := newClock()
	a := newTestAuthenticator(t, Config{Tokens: []TokenConfig{
		{Name: "ci-bot", TokenFile: ci, Claims: map[string]any{"groups": []any{"platform"}, "level": 3}},
		{Name: "ops", TokenFile: ops},
	}}, clock)

	check := func(tok, wantSub string) {
		t.Helper()
		id, err := authenticate(a, tok)
		if wantSub == "" {
			if !errors.Is(err, ErrUnknownToken) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("token %q: err = %v, want ErrUnknownToken", tok, err)
			}
			return
		}
		if err != nil || id.Subject != wantSub || id.Kind != KindStatic || id.Provider != wantSub {
			t.Fatalf("token %q: %+v, %v; want subject %s", tok, id, err, wantSub)
		}
	}
	check("ci-token-1", "ci-bot")
	check("ops-token", "ops")
	check("ci-token-", "")
	check("ci-token-12", "")
	id, _ := authenticate(a, "ci-token-1")
	if !MatchClaim(id.Claims, "groups", "platform") || !MatchClaim(id.Claims, "level", 3) {
		t.Errorf("configured claims not carried: %v", id.Claims)
	}

	// Rotation: the new token works, the old one stops, once the recheck
	// interval has passed.
	writeFile(t, ci, "ci-token-2-longer")
	check("ci-token-1", "ci-bot") // within the recheck interval
	clock.Add(2 * time.Second)
	check("ci-token-1", "")
	check("ci-token-2-longer", "ci-bot")

	// An emptied file revokes the token (fail closed) and the others keep working.
	writeFile(t, ci, "\n")
	clock.Add(2 * time.Second)
	check("ci-token-2-longer", "")
	check("ops-token", "ops")
	// And a valid file brings it back.
	writeFile(t, ci, "ci-token-3")
	clock.Add(2 * time.Second)
	check("ci-token-3", "ci-bot")
	if err := os.Remove(ci); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Second)
	check("ci-token-3", "")
}

func TestStaticTokenFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, "  \n")
	tests := []struct {
		name string
		path string
	}{
		{"empty", empty},
		{"missing", filepath.Join(dir, "missing")},
		{"directory", dir},
		{"device", "/dev/zero"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{Tokens: []TokenConfig{{Name: "x", TokenFile: tc.path}}}, Options{})
			if err == nil {
				t.Fatal("New accepted an unusable token file")
			}
		})
	}
}
