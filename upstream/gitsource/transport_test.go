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

// TestValidate: every problem is reported, named by its configuration
// name, and none quotes the credentials of a repository URL.
func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		wantErr []string // empty: valid
	}{
		{"https", Options{Repository: "https://git.example.com/org/catalog.git", TokenFile: "/run/secrets/t"}, nil},
		{"local path", Options{Repository: "relative/repo"}, nil},
		{"file localhost", Options{Repository: "file://localhost/srv/repo", Commit: strings.Repeat("ab", 20)}, nil},
		{"name with a slash", Options{Name: "a/b", Repository: "/srv/repo"}, []string{"a non-empty slug"}},
		{"no repository", Options{}, []string{"repository is required"}},
		{"scp-like ssh", Options{Repository: "git@github.com:org/repo.git"}, []string{"ssh remotes are not supported"}},
		{"ssh URL", Options{Repository: "ssh://git@github.com/org/repo.git"}, []string{`unsupported scheme "ssh"`}},
		{"password in the URL", Options{Repository: "https://bob:hunter2@git.example.com/r.git"}, []string{"repository https://git.example.com/r.git must not hold credentials", "tokenFile"}},
		{"token as the user", Options{Repository: "https://hunter2@git.example.com/r.git"}, []string{"must not hold credentials", "usernameFile and passwordFile"}},
		{"malformed URL with a password", Options{Repository: "https://bob:hunter2@git.example.com:port/r.git"}, []string{"not a valid URL"}},
		{"file URL with a host", Options{Repository: "file://server/share"}, []string{"only local paths"}},
		{"two refs", Options{Repository: "/srv/repo", Branch: "main", Tag: "v1"}, []string{"branch, tag and commit exclude each other"}},
		{"short commit", Options{Repository: "/srv/repo", Commit: "abc123"}, []string{`commit "abc123" must be a full 40-character hexadecimal hash`}},
		{"bad branch name", Options{Repository: "/srv/repo", Branch: "a..b"}, []string{`branch "a..b" is not a valid git ref name`}},
		{"path out of the repository", Options{Repository: "/srv/repo", Path: "servers/../../x"}, []string{`path "servers/../../x" is not a path inside the repository`}},
		{"password and token", Options{Repository: "https://h/r", PasswordFile: "/p", TokenFile: "/t"}, []string{"tokenFile and passwordFile exclude each other"}},
		{"username alone", Options{Repository: "https://h/r", UsernameFile: "/u"}, []string{"usernameFile needs"}},
		{"credentials for a local repository", Options{Repository: "/srv/repo", TokenFile: "/t"}, []string{"apply only to an http(s) repository"}},
		{"negative interval", Options{Repository: "/srv/repo", Interval: -1}, []string{"interval must not be negative (write a duration like 5m)"}},
		{"negative loadTimeout", Options{Repository: "/srv/repo", LoadTimeout: -1}, []string{"loadTimeout must not be negative"}},
		{"negative limits", Options{Repository: "/srv/repo", MaxFiles: -1, MaxBytes: -1}, []string{"maxFiles must not be negative", "maxBytes must not be negative"}},
		{"several problems", Options{Repository: "ftp://h/r", Branch: "a", Commit: "b"}, []string{"unsupported scheme", "exclude each other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := tt.opts
			if o.Name == "" {
				o.Name = "catalog"
			}
			err := o.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted the options")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q quotes the secret", err)
			}
			if _, nerr := New(o); nerr == nil || !strings.Contains(nerr.Error(), err.Error()) {
				t.Errorf("New: %v, want Validate's error", nerr)
			}
		})
	}
}

// TestMissingLocalRepository: New refuses a local repository that does not
// exist, unless the source is optional; an optional one fails its loads
// until the repository appears.
func TestMissingLocalRepository(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "later")
	if _, err := New(Options{Name: "catalog", Repository: dir}); err == nil || !strings.Contains(err.Error(), "optional: true") {
		t.Fatalf("New: %v, want an error pointing at optional", err)
	}
	s, _ := newSource(t, Options{Repository: dir, Optional: true, Path: "registry.json"})
	if err := s.Load(context.Background()); err == nil || s.Status().State() != "failed" {
		t.Fatalf("Load: %v, state %s; want failed", err, s.Status().State())
	}
	r := newTestRepo(t)
	r.write("registry.json", testdata(t, "toolhive", "data-registry.json")).commit("first")
	if err := os.Rename(r.dir, dir); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, s)
}

// TestRepositoryURL: what is dialled, read and shown for each accepted
// form; a query (which could hold a token) is dialled, not shown.
func TestRepositoryURL(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs("relative/repo")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, url, dial, path string
	}{
		{"HTTPS://git.example.com/org/r.git", "https://git.example.com/org/r.git", "https://git.example.com/org/r.git", ""},
		{"https://git.example.com/org/r.git?private_token=hunter2", "https://git.example.com/org/r.git", "https://git.example.com/org/r.git?private_token=hunter2", ""},
		{"file:///srv/my repo", "file:///srv/my%20repo", "", "/srv/my repo"},
		{"/srv/repo/", "file:///srv/repo", "", "/srv/repo"},
		{"relative/repo", "file://" + filepath.ToSlash(abs), "", abs},
	}
	for _, tt := range tests {
		got, err := parseRepository(tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if got.url != tt.url || got.dial != tt.dial || got.path != tt.path || got.local != (tt.path != "") {
			t.Errorf("%s: got %+v, want url %s dial %s path %s", tt.in, got, tt.url, tt.dial, tt.path)
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
