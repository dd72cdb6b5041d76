package gitsource

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSmartHTTP: over http the fetches are shallow (depth 1) and
// incremental, with the credentials from the files; a pinned commit is
// fetched by hash when the server allows it and through its branches when
// it does not.
func TestSmartHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		pinned       bool
		allowSHA     bool
		wantFetches  int64
		wantShallow  bool
		wantFollowed bool
	}{
		{name: "branch", wantFetches: 1, wantShallow: true, wantFollowed: true},
		{name: "pinned, fetched by hash", pinned: true, allowSHA: true, wantFetches: 1, wantShallow: true},
		{name: "pinned, server refuses hashes", pinned: true, wantFetches: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newTestRepo(t)
			c1 := r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
			c2 := r.write("registry.json", testdata(t, "catalog", "official-seed.json")).commit("second")
			if tt.allowSHA {
				r.allowSHA()
			}
			srv := gitHTTPServer(t, r, "bob", "pa55word")
			secrets := t.TempDir()
			for name, v := range map[string]string{"user": "bob", "password": "pa55word"} {
				if err := os.WriteFile(filepath.Join(secrets, name), []byte(v+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			o := Options{
				Repository: srv.URL + "/" + filepath.Base(r.dir), Branch: "main", Path: "registry.json", CloneDir: t.TempDir(),
				UsernameFile: filepath.Join(secrets, "user"), PasswordFile: filepath.Join(secrets, "password"),
			}
			want := c2
			if tt.pinned {
				o.Branch, o.Commit, want = "", c1.String(), c1
			}
			s, _ := newSource(t, o)
			mustLoad(t, s)
			if s.Commit() != want.String() {
				t.Fatalf("Commit() = %s, want %s", s.Commit(), want)
			}
			if got := s.counts(); got.fetches != tt.wantFetches {
				t.Fatalf("%+v, want %d fetches", got, tt.wantFetches)
			}
			shallow, _ := os.ReadFile(filepath.Join(o.CloneDir, "shallow"))
			if got := strings.TrimSpace(string(shallow)); (got != "") != tt.wantShallow || tt.wantShallow && got != want.String() {
				t.Fatalf("shallow file %q, want shallow %v at %s", got, tt.wantShallow, want)
			}

			mustLoad(t, s)
			if got := s.counts(); got.fetches != tt.wantFetches {
				t.Fatalf("an unchanged load fetched: %+v", got)
			}
			c3 := r.write("registry.json", []byte("["+string(serverJSON("com.example/new", "1.0.0"))+"]")).commit("third")
			mustLoad(t, s)
			if tt.wantFollowed {
				if s.Commit() != c3.String() || s.Snapshot().Len() != 1 || s.counts().fetches != 2 {
					t.Fatalf("after a new commit: at %s with %d entries, %+v", s.Commit(), s.Snapshot().Len(), s.counts())
				}
				if cloneStorage(o.CloneDir).HasEncodedObject(c1) == nil {
					t.Fatal("the first commit was fetched: not shallow")
				}
			} else if s.Commit() != want.String() || s.counts().fetches != tt.wantFetches {
				t.Fatalf("a pinned commit moved: at %s, %+v", s.Commit(), s.counts())
			}
		})
	}
}
