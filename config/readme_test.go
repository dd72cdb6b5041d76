package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeExamplesLoad: every configuration the README shows — whole
// files and the source fragments quoted in its sections — loads without a
// problem, so the documentation cannot drift from the field names, kinds
// and rules.
func TestReadmeExamplesLoad(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	checked := 0
	for i, m := range blocks {
		doc := m[1]
		switch {
		case strings.HasPrefix(doc, "filter:"), strings.HasPrefix(doc, "views:"):
			continue // a filter or view shown on its own: checked through the files that use them
		case strings.HasPrefix(strings.TrimLeft(doc, " "), "- name:"):
			doc = "sources:\n" + doc // a fragment of a sources list
		case !strings.Contains(doc, "sources:"):
			continue
		}
		dir := t.TempDir()
		// Secret files are read at load; stand in for the README's.
		key := filepath.Join(dir, "cursor-key")
		if err := os.WriteFile(key, []byte(strings.Repeat("k", 48)), 0o600); err != nil {
			t.Fatal(err)
		}
		doc = regexp.MustCompile(`cursorKeyFile: \S+`).ReplaceAllString(doc, "cursorKeyFile: "+key)
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(map[string]string{}, Flags{Config: path}); err != nil {
			t.Errorf("README yaml block %d does not load:\n%s\n%v", i, m[1], err)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d configuration examples found in README.md", checked)
	}
}
