package curation

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/mcpfed/mcpfed/upstream"
)

// TestTreeReader: a git source of decisions hands its commit's tree to
// TreeReader (upstream.ParseTree's signature); the decisions reach the
// rule, the document is kept, and the next start applies the kept copy.
func TestTreeReader(t *testing.T) {
	t.Parallel()
	var read func(fs.FS, string, int, int64) (*upstream.Document, error) = upstream.ParseTree
	state := t.TempDir()
	set := NewSet(SetOptions{Documents: []string{"reviews"}})
	read = TreeReader(set, "reviews", state, nil)
	tree := fstest.MapFS{
		"reviews/decisions.yaml": {Data: []byte(approveA)},
		"reviews/broken.yaml":    {Data: []byte("decisions: [1]\n")},
		"big.yaml":               {Data: []byte(strings.Repeat("#", 2048))},
		"dir/x.yaml":             {Data: []byte(approveA)},
	}
	doc, err := read(tree, "/reviews/decisions.yaml", 10, 1<<20)
	if err != nil || doc == nil || len(doc.Entries) != 0 {
		t.Fatalf("%+v %v", doc, err)
	}
	if !set.Admit(entry("io.github.acme/a", "1.0.0")) {
		t.Fatal("not applied")
	}
	if kept, err := os.ReadFile(filepath.Join(state, "reviews.decisions.yaml")); err != nil || string(kept) != approveA {
		t.Fatalf("kept %q %v", kept, err)
	}
	for root, want := range map[string]string{
		"reviews/broken.yaml":  "reviews/broken.yaml: invalid decisions document: line 1: decisions[0]: expects a mapping",
		"big.yaml":             "exceeds the limit of 1024",
		"dir":                  "is a directory",
		"reviews/missing.yaml": "not exist",
	} {
		if _, err := read(tree, root, 10, 1024); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", root, err, want)
		}
	}
	if !set.Admit(entry("io.github.acme/a", "1.0.0")) {
		t.Fatal("a failed read dropped the decisions")
	}

	next := NewSet(SetOptions{Documents: []string{"reviews"}})
	if !RestoreKept(next, "reviews", state, nil) || !next.Admit(entry("io.github.acme/a", "1.0.0")) {
		t.Fatal("the kept document is not restored")
	}
	if RestoreKept(next, "other", state, nil) || RestoreKept(next, "reviews", "", nil) {
		t.Fatal("restored what was never kept")
	}
}
