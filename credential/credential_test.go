package credential

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestReadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr error
	}{
		{"trimmed", write("ok", "  s3cret\n"), "s3cret", nil},
		{"empty", write("empty", ""), "", ErrEmpty},
		{"whitespace only", write("blank", " \n\t"), "", ErrEmpty},
		{"too large", write("large", strings.Repeat("x", MaxSize+1)), "", ErrTooLarge},
		{"at the bound", write("bound", strings.Repeat("y", MaxSize)), strings.Repeat("y", MaxSize), nil},
		{"fifo", fifo, "", ErrNotRegular},
		{"device", "/dev/zero", "", ErrNotRegular},
		{"directory", dir, "", ErrNotRegular},
		{"missing", filepath.Join(dir, "nope"), "", os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadFile(tc.path)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.path) {
					t.Errorf("error %q does not name the path", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReadFile = %q, %v; want %q", got[:min(len(got), 20)], err, tc.want[:min(len(tc.want), 20)])
			}
		})
	}
}

func TestReadFileNeverShowsContent(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "big")
	secret := "hunter2-" + strings.Repeat("z", MaxSize)
	if err := os.WriteFile(p, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(p)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}
