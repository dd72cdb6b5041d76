package gitsource

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/mcpfed/mcpfed/upstream"
)

// TestParseTree: upstream.ParseTree's directory rule and limits, on an
// in-memory file system (the git source hands it a commit's tree).
func TestParseTree(t *testing.T) {
	t.Parallel()
	a, b := serverJSON("com.example/a", "1.0.0"), serverJSON("com.example/b", "1.0.0")
	fsys := fstest.MapFS{
		"registry.json":                 {Data: testdata(t, "toolhive", "data-registry.json")},
		"seed.json":                     {Data: testdata(t, "catalog", "official-seed.json")},
		"servers/a/server.json":         {Data: a},
		"servers/b/deep/server.json":    {Data: b},
		"servers/.hidden/server.json":   {Data: []byte("not even JSON")},
		"servers/b/notes.md":            {Data: []byte("# notes")},
		"servers/b/server.json.bak":     {Data: []byte("{")},
		"broken/ok/server.json":         {Data: a},
		"broken/zz/server.json":         {Data: []byte(`{"name":`)},
		"odd/server.json/README":        {Data: []byte("a directory named server.json")},
		"odd/x/server.json":             {Data: b},
		"link/server.json":              {Mode: fs.ModeSymlink, Data: []byte("../servers/a/server.json")},
		".github/workflows/server.json": {Data: []byte("{")},
	}
	tests := []struct {
		name     string
		root     string
		maxFiles int
		maxBytes int64
		want     []string
		format   upstream.Format
		wantErr  string
	}{
		{name: "registry file", root: "registry.json", want: []string{"com.acme/data-pipeline", "com.acme/ml-trainer"}, format: upstream.FormatUpstream},
		{name: "leading slash", root: "/seed.json", want: []string{"io.github.domdomegg/airtable-mcp-server", "io.github.domdomegg/airtable-mcp-server", "io.github.domdomegg/time-mcp-nuget", "io.github.domdomegg/time-mcp-pypi"}, format: upstream.FormatArray},
		{name: "directory", root: "servers/", want: []string{"com.example/a", "com.example/b"}, format: upstream.FormatDirectory},
		{name: "a directory named server.json", root: "odd", want: []string{"com.example/b"}, format: upstream.FormatDirectory},
		{name: "file limit", root: "servers", maxFiles: 1, wantErr: "servers: more than 1 server.json files"},
		{name: "file limit reached exactly", root: "servers", maxFiles: 2, want: []string{"com.example/a", "com.example/b"}, format: upstream.FormatDirectory},
		{name: "byte limit", root: "servers", maxBytes: int64(len(a) + len(b) - 1), wantErr: "exceed the limit of"},
		{name: "byte limit reached exactly", root: "servers", maxBytes: int64(len(a) + len(b)), want: []string{"com.example/a", "com.example/b"}, format: upstream.FormatDirectory},
		{name: "file over the byte limit", root: "registry.json", maxBytes: 10, wantErr: "registry.json: 1515 bytes exceeds the limit of 10"},
		{name: "broken file named", root: "broken", wantErr: "broken/zz/server.json: "},
		{name: "symlink taken by its target (on a disk)", root: "link", want: []string{"com.example/a"}, format: upstream.FormatDirectory},
		{name: "missing", root: "nope", wantErr: "nope: file does not exist"},
		{name: "root is the whole tree: a hidden directory is skipped", root: "", wantErr: "broken/zz/server.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc, err := upstream.ParseTree(fsys, tt.root, tt.maxFiles, tt.maxBytes)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTree: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTree: %v", err)
			}
			var got []string
			for _, e := range doc.Entries {
				got = append(got, e.Name)
			}
			if !slices.Equal(got, tt.want) || doc.Format != tt.format {
				t.Fatalf("got %v (%s), want %v (%s)", got, doc.Format, tt.want, tt.format)
			}
		})
	}
}

// TestTreeFS: a commit's tree passes the standard file system checks, and
// symlinks and lookups of names go-git refuses behave.
func TestTreeFS(t *testing.T) {
	t.Parallel()
	r := newTestRepo(t)
	r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).
		write("servers/a/server.json", serverJSON("com.example/a", "1.0.0")).
		write("servers/b/server.json", serverJSON("com.example/b", "1.0.0")).
		write("servers/b/bin/run.sh", []byte("#!/bin/sh\n"))
	h := r.commit("tree")
	commit, err := object.GetCommit(r.repo.Storer, h)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := commit.Tree()
	if err != nil {
		t.Fatal(err)
	}
	fsys := newTreeFS(context.Background(), r.repo.Storer, tree, commit.Committer.When)
	if err := fstest.TestFS(fsys, "registry.json", "servers/a/server.json", "servers/b/server.json", "servers/b/bin/run.sh"); err != nil {
		t.Fatal(err)
	}
	info, err := fs.Stat(fsys, "servers/a/server.json")
	if err != nil || info.Size() != int64(len(serverJSON("com.example/a", "1.0.0"))) || !info.ModTime().Equal(r.when) {
		t.Fatalf("Stat: %v, %v", info, err)
	}
	for _, name := range []string{"nope", "servers/nope/server.json", "registry.json/x", ".git/config"} {
		if _, err := fsys.Open(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q): %v, want not exist", name, err)
		}
	}
	if _, err := fsys.Open("../x"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open(../x): %v, want invalid", err)
	}

	// A symlink in a commit is not followed: a server.json that is one
	// fails the load rather than being silently skipped.
	if err := os.MkdirAll(filepath.Join(r.dir, "servers", "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../a/server.json", filepath.Join(r.dir, "servers", "c", "server.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.wt.Add("servers/c/server.json"); err != nil {
		t.Fatal(err)
	}
	commit, err = object.GetCommit(r.repo.Storer, r.commit("symlink"))
	if err != nil {
		t.Fatal(err)
	}
	if tree, err = commit.Tree(); err != nil {
		t.Fatal(err)
	}
	fsys = newTreeFS(context.Background(), r.repo.Storer, tree, commit.Committer.When)
	if _, err := upstream.ParseTree(fsys, "servers", 0, 0); err == nil || !strings.Contains(err.Error(), "servers/c/server.json: not a regular file") {
		t.Fatalf("ParseTree over a symlinked server.json: %v", err)
	}
}
