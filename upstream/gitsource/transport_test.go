package gitsource

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// TestNewValidation: every problem is reported, and none quotes a password
// from the repository URL.
func TestNewValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		wantErr []string // empty: valid
	}{
		{"https", Options{Repository: "https://git.example.com/org/catalog.git", TokenFile: "/run/secrets/t"}, nil},
		{"local path", Options{Repository: "relative/repo"}, nil},
		{"file localhost", Options{Repository: "file://localhost/srv/repo", Commit: strings.Repeat("ab", 20)}, nil},
		{"no name", Options{Name: "-", Repository: "/srv/repo"}, nil},
		{"name with a slash", Options{Name: "a/b", Repository: "/srv/repo"}, []string{"a non-empty slug"}},
		{"no repository", Options{}, []string{"repository is required"}},
		{"scp-like ssh", Options{Repository: "git@github.com:org/repo.git"}, []string{"ssh remotes are not supported"}},
		{"ssh URL", Options{Repository: "ssh://git@github.com/org/repo.git"}, []string{`unsupported scheme "ssh"`}},
		{"password in the URL", Options{Repository: "https://bob:hunter2@git.example.com/r.git"}, []string{"holds a password"}},
		{"malformed URL with a password", Options{Repository: "https://bob:hunter2@git.example.com:port/r.git"}, []string{"not a valid URL"}},
		{"file URL with a host", Options{Repository: "file://server/share"}, []string{"only local paths"}},
		{"two refs", Options{Repository: "/srv/repo", Branch: "main", Tag: "v1"}, []string{"at most one of branch, tag and commit"}},
		{"short commit", Options{Repository: "/srv/repo", Commit: "abc123"}, []string{"full 40-character hash"}},
		{"bad branch name", Options{Repository: "/srv/repo", Branch: "a..b"}, []string{"not a valid git ref name"}},
		{"path out of the repository", Options{Repository: "/srv/repo", Path: "servers/../../x"}, []string{"not a path inside the repository"}},
		{"password and token", Options{Repository: "https://h/r", PasswordFile: "/p", TokenFile: "/t"}, []string{"alternatives"}},
		{"username alone", Options{Repository: "https://h/r", UsernameFile: "/u"}, []string{"usernameFile needs"}},
		{"credentials for a local repository", Options{Repository: "/srv/repo", TokenFile: "/t"}, []string{"only for http(s)"}},
		{"negative interval", Options{Repository: "/srv/repo", Interval: -1}, []string{"may not be negative"}},
		{"several problems", Options{Repository: "ftp://h/r", Branch: "a", Commit: "b"}, []string{"unsupported scheme", "at most one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := tt.opts
			if o.Name == "" {
				o.Name = "catalog"
			} else if o.Name == "-" {
				o.Name = "other"
			}
			s, err := New(o)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if strings.Contains(s.where, "hunter2") {
					t.Fatalf("where %q holds the password", s.where)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted the options")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q quotes the password", err)
			}
		})
	}
}

// TestRepositoryURL: what is dialled and shown for each accepted form.
func TestRepositoryURL(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs("relative/repo")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, url, dial string
		local         bool
	}{
		{"HTTPS://git.example.com/org/r.git", "https://git.example.com/org/r.git", "https://git.example.com/org/r.git", false},
		{"file:///srv/my repo", "file:///srv/my%20repo", localScheme + ":///srv/my%20repo", true},
		{"/srv/repo/", "file:///srv/repo", localScheme + ":///srv/repo", true},
		{"relative/repo", "file://" + filepath.ToSlash(abs), localScheme + "://" + filepath.ToSlash(abs), true},
	}
	for _, tt := range tests {
		got, err := parseRepository(tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if got.url != tt.url || got.dial != tt.dial || got.local != tt.local {
			t.Errorf("%s: got %+v, want url %s dial %s local %v", tt.in, got, tt.url, tt.dial, tt.local)
		}
	}
}

// TestCredentials: the secrets are read from their files at each load and
// sent as basic auth to an https(s) remote; they appear in no error, status
// or log line.
func TestCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		user     string // content of UsernameFile, empty: none
		password string // content of PasswordFile, empty: none
		token    string // content of TokenFile, empty: none
		wantUser string
	}{
		{name: "username and password", user: "bob\n", password: "s3cret-password\n", wantUser: "bob"},
		{name: "password alone", password: "s3cret-password", wantUser: "x-access-token"},
		{name: "token", token: "ghp_s3cretToken", wantUser: "x-access-token"},
		{name: "token with a username", user: "oauth2", token: "glpat-s3cret", wantUser: "oauth2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var got []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.Header.Get("Authorization"))
				mu.Unlock()
				http.Error(w, "bad credentials", http.StatusUnauthorized)
			}))
			srv.Config.SetKeepAlivesEnabled(false) // no idle connection outlives the test
			defer srv.Close()

			dir := t.TempDir()
			file := func(name, content string) string {
				if content == "" {
					return ""
				}
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			var logs syncBuffer
			o := Options{
				Repository:   srv.URL + "/org/catalog.git",
				UsernameFile: file("user", tt.user), PasswordFile: file("password", tt.password), TokenFile: file("token", tt.token),
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			}
			secret := strings.TrimSpace(tt.password + tt.token)
			s, _ := newSource(t, o)

			auth, err := s.auth()
			if err != nil {
				t.Fatal(err)
			}
			basic, ok := auth.(*githttp.BasicAuth)
			if !ok || basic.Username != tt.wantUser || basic.Password != secret || strings.Contains(basic.String(), secret) {
				t.Fatalf("auth %v (%T), want basic auth for %s with the secret masked", auth, auth, tt.wantUser)
			}

			err = s.Load(context.Background())
			if err == nil || !strings.Contains(err.Error(), "authentication required") {
				t.Fatalf("Load: %v, want authentication required", err)
			}
			// Rotated: the next load sends the new secret.
			rotated := secret + "-rotated"
			if tt.token != "" {
				file("token", rotated)
			} else {
				file("password", rotated)
			}
			err2 := s.Load(context.Background())

			mu.Lock()
			defer mu.Unlock()
			want := []string{
				"Basic " + base64.StdEncoding.EncodeToString([]byte(tt.wantUser+":"+secret)),
				"Basic " + base64.StdEncoding.EncodeToString([]byte(tt.wantUser+":"+rotated)),
			}
			if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Fatalf("Authorization headers %q, want %q", got, want)
			}
			for _, text := range []string{errString(err), errString(err2), s.Status().LastError, logs.String()} {
				if strings.Contains(text, secret) {
					t.Fatalf("the secret leaked into %q", text)
				}
			}
		})
	}
}

// TestCredentialFileErrors: a missing or empty file fails the load before
// anything is sent, naming the file.
func TestCredentialFileErrors(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	srv.Config.SetKeepAlivesEnabled(false)
	defer srv.Close()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{filepath.Join(dir, "missing"), empty} {
		s, _ := newSource(t, Options{Repository: srv.URL + "/r.git", TokenFile: file})
		err := s.Load(context.Background())
		if err == nil || !strings.Contains(err.Error(), file) {
			t.Fatalf("Load: %v, want an error naming %s", err, file)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 0 {
		t.Fatalf("%d requests sent without credentials", requests)
	}
}
