//go:build linux || darwin

package upstream

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mkfifo makes a FIFO nobody writes to: opening it for reading the usual
// way blocks forever.
func mkfifo(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestFileSourceRefusesSpecialFiles: a FIFO, a device, or a link to one,
// as the file, as a server.json in a watched directory, or swapped in for
// a file that was regular when the source was built, is an error naming
// the path, at once, with nothing read from it (before the fix, /dev/zero
// was read without bound and a FIFO blocked forever).
func TestFileSourceRefusesSpecialFiles(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	seed := readTestdata(t, "catalog", "official-seed.json")
	tests := []struct {
		name string
		// setup returns the source's path and then makes the bad file the
		// one a load finds (the source was built on good data).
		setup func(t *testing.T, dir string) (path string, swap func() string)
	}{
		{"file becomes a FIFO", func(t *testing.T, dir string) (string, func() string) {
			p := filepath.Join(dir, "reg.json")
			writeAt(t, p, seed, mtime0)
			return p, func() string { os.Remove(p); mkfifo(t, p); return p }
		}},
		{"file becomes a link to /dev/zero", func(t *testing.T, dir string) (string, func() string) {
			p := filepath.Join(dir, "reg.json")
			writeAt(t, p, seed, mtime0)
			return p, func() string { os.Remove(p); symlink(t, "/dev/zero", p); return p }
		}},
		{"server.json linked to /dev/zero in a directory", func(t *testing.T, dir string) (string, func() string) {
			writeAt(t, filepath.Join(dir, "a", "server.json"), []byte(serverJSON("com.example/a", "1.0.0")), mtime0)
			bad := filepath.Join(dir, "b", "server.json")
			return dir, func() string { symlink(t, "/dev/zero", bad); return bad }
		}},
		{"server.json is a FIFO in a directory", func(t *testing.T, dir string) (string, func() string) {
			writeAt(t, filepath.Join(dir, "a", "server.json"), []byte(serverJSON("com.example/a", "1.0.0")), mtime0)
			bad := filepath.Join(dir, "b", "server.json")
			return dir, func() string { mkfifo(t, bad); return bad }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, swap := tt.setup(t, t.TempDir())
			src, _, _ := newTestSource(t, FileOptions{Path: path, LoadTimeout: 5 * time.Second})
			mustLoad(t, src)
			bad := swap()
			answersWithin(t, "Load", 2*time.Second, func() {
				mustFail(t, src, "stale", bad, "not a regular file")
			})
		})
	}

	// At construction a special file is a configuration error.
	for _, p := range []string{"/dev/zero", filepath.Join(t.TempDir(), "fifo")} {
		if !strings.HasPrefix(p, "/dev/") {
			mkfifo(t, p)
		}
		answersWithin(t, "NewFileSource", 2*time.Second, func() {
			if _, err := NewFileSource(FileOptions{Name: "x", Path: p}); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("NewFileSource(%s): %v", p, err)
			}
		})
	}
}

// TestReadRegularNeverReadsSpecialFiles: the one reader of local files
// refuses what it opened, not what the path named (no time-of-check gap).
func TestReadRegularNeverReadsSpecialFiles(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	mkfifo(t, fifo)
	link := filepath.Join(t.TempDir(), "zero.json")
	symlink(t, "/dev/zero", link)
	for _, p := range []string{fifo, link, "/dev/zero", t.TempDir()} {
		answersWithin(t, "readRegular", 2*time.Second, func() {
			if _, err := ReadRegular(context.Background(), p, 1<<20); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("ReadRegular(%s): %v", p, err)
			}
		})
	}
}

// TestStateFileSpecial: a state file replaced by a FIFO or a link to a
// device is refused with its path, not read (the restore would otherwise
// block the start or fill memory).
func TestStateFileSpecial(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		make func(t *testing.T, p string)
	}{
		{"FIFO", func(t *testing.T, p string) { mkfifo(t, p) }},
		{"link to /dev/zero", func(t *testing.T, p string) { symlink(t, "/dev/zero", p) }},
		{"link to /dev/urandom", func(t *testing.T, p string) { symlink(t, "/dev/urandom", p) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := StatePath(dir, "src")
			tt.make(t, p)
			answersWithin(t, "store Load", 2*time.Second, func() {
				if _, err := NewStateDirStore(dir, "src", "file", 0).Load(mtime0); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("Load: %v", err)
				}
			})
			var logs strings.Builder
			h := NewHolder(HolderOptions{Name: "src", Kind: "file", StateDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			answersWithin(t, "Restore", 2*time.Second, func() {
				if h.Restore() {
					t.Error("restored from a special file")
				}
			})
			if !strings.Contains(logs.String(), "ignoring persisted snapshot") {
				t.Errorf("no warning: %s", logs.String())
			}
		})
	}
}
