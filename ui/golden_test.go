package ui

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGolden compares a catalogue page and a server page of the fixture
// with testdata/golden (go test ./ui/ -run TestGolden -update rewrites them).
func TestGolden(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct{ file, path string }{
		{"catalogue.html", "/?status=active"},
		{"server.html", "/servers/io.github.acme%2Fweather"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			rec := f.get(t, tc.path)
			if rec.Code != 200 {
				t.Fatalf("%d: %s", rec.Code, rec.Body)
			}
			path := filepath.Join("testdata", "golden", tc.file)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, rec.Body.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./ui/ -run TestGolden -update)", err)
			}
			if !bytes.Equal(rec.Body.Bytes(), want) {
				t.Errorf("%s differs from %s (run with -update to accept):\n%s", tc.path, path, rec.Body)
			}
		})
	}
}
