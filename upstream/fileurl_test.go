package upstream

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// authUpstream is an https file server that records the Authorization
// header of every request.
type authUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
}

func newAuthUpstream(t testing.TB, h http.HandlerFunc) *authUpstream {
	a := &authUpstream{}
	a.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.auth = append(a.auth, r.Header.Get("Authorization"))
		a.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *authUpstream) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auth...)
}

func writeSecret(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFileSourceURLCredentials: a bearer token or basic credentials from
// files, read at every fetch (rotation), sent to the configured host.
func TestFileSourceURLCredentials(t *testing.T) {
	t.Parallel()
	seed := readTestdata(t, "catalog", "official-seed.json")
	up := newAuthUpstream(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(seed) })
	dir := t.TempDir()
	token := writeSecret(t, dir, "token", "tok-1")
	src, _, _ := newTestSource(t, FileOptions{Path: up.URL + "/reg.json", TokenFile: token, HTTPClient: up.Client()})
	mustLoad(t, src)
	writeSecret(t, dir, "token", "tok-2")
	mustLoad(t, src)

	user, pass := writeSecret(t, dir, "user", "alice"), writeSecret(t, dir, "pass", "s3cret")
	basic, _, _ := newTestSource(t, FileOptions{Path: up.URL + "/reg.json", UsernameFile: user, PasswordFile: pass, HTTPClient: up.Client()})
	mustLoad(t, basic)
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth("alice", "s3cret")
	want := []string{"Bearer tok-1", "Bearer tok-2", req.Header.Get("Authorization")}
	if got := up.seen(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Authorization headers %q, want %q", got, want)
	}

	// An unreadable secret fails the load and names the option, not the content.
	if err := os.WriteFile(token, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	mustFail(t, src, "stale", "tokenFile", token)
}

// TestFileSourceURLCredentialsStayOnHost: a redirect to another host is
// refused when credentials are set; the other host receives nothing.
func TestFileSourceURLCredentialsStayOnHost(t *testing.T) {
	t.Parallel()
	other := newAuthUpstream(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("[]")) })
	up := newAuthUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/reg.json", http.StatusFound)
	})
	token := writeSecret(t, t.TempDir(), "token", "tok")
	src, _, _ := newTestSource(t, FileOptions{Path: up.URL + "/reg.json", TokenFile: token, HTTPClient: up.Client()})
	mustFail(t, src, "failed", "redirect to", "refused")
	if got := other.seen(); len(got) != 0 {
		t.Errorf("the other host received %q", got)
	}
}

// TestFileSourceURLNeverShowsSecrets: whatever fails, the URL's user
// information and query appear in no error, status or log line.
func TestFileSourceURLNeverShowsSecrets(t *testing.T) {
	t.Parallel()
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, base := range []string{notFound.URL, closed.URL} {
		raw := strings.Replace(base, "http://", "http://bob:hunter2@", 1) + "/reg.json?token=sekrit#frag"
		var logs bytes.Buffer
		src := mustFileSource(t, FileOptions{Name: "u", Path: raw, Logger: slog.New(slog.NewTextHandler(&logs, nil)), LoadTimeout: 5 * time.Second})
		err := src.Load(context.Background())
		if err == nil {
			t.Fatalf("load of %s succeeded", base)
		}
		for _, text := range []string{err.Error(), src.Status().LastError, logs.String()} {
			for _, secret := range []string{"bob", "hunter2", "sekrit", "frag"} {
				if strings.Contains(text, secret) {
					t.Errorf("%q shows %q", text, secret)
				}
			}
		}
		if !strings.Contains(err.Error(), strings.TrimPrefix(base, "http://")+"/reg.json") {
			t.Errorf("error %q does not name the (redacted) URL", err)
		}
	}
}

// TestFileSourceDeterministicDates: entries without dates in their data
// are dated by the data (a URL's Last-Modified) or UndatedTime, never by a
// clock: two sources loading the same data at different times, and a
// restart from the persisted snapshot, serve byte-identical entries.
func TestFileSourceDeterministicDates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "seed.json")
	writeAt(t, file, readTestdata(t, "catalog", "official-seed.json"), mtime0)
	tree := filepath.Join(dir, "tree")
	writeAt(t, filepath.Join(tree, "a", "server.json"), []byte(serverJSON("com.example/a", "1.0.0")), mtime0)
	writeAt(t, filepath.Join(tree, "b", "server.json"), readTestdata(t, "catalog", "toolhive.json"), mtime0)
	up := newFakeUpstream(t, readTestdata(t, "catalog", "official-seed.json"), "")
	up.mu.Lock()
	up.lastModified = "Tue, 03 Feb 2026 04:05:06 GMT"
	up.mu.Unlock()

	for _, tt := range []struct {
		name, path string
		want       time.Time // the date of the first entry
	}{
		{"file", file, UndatedTime},
		{"directory", tree, UndatedTime},
		{"url", up.URL, time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stateDir := t.TempDir()
			load := func(at time.Time, state string) *Snapshot {
				src := mustFileSource(t, FileOptions{Name: "s", Path: tt.path, HTTPClient: up.Client(), StateDir: state, Clock: func() time.Time { return at }})
				if err := src.Load(context.Background()); err != nil {
					t.Fatal(err)
				}
				return src.Snapshot()
			}
			a := load(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), stateDir)
			b := load(time.Date(2027, 9, 9, 9, 9, 9, 0, time.UTC), "")
			restarted := mustFileSource(t, FileOptions{Name: "s", Path: tt.path, HTTPClient: up.Client(), StateDir: stateDir,
				Clock: func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }})
			if !restarted.Restore() {
				t.Fatal("nothing restored")
			}
			c := restarted.Snapshot()
			if got := a.At(0).PublishedAt; !got.Equal(tt.want) {
				t.Errorf("%s published %v, want %v", a.At(0).Name, got, tt.want)
			}
			if tt.name == "directory" { // a file with its own date keeps it
				if e := a.At(a.Len() - 1); !strings.HasPrefix(e.Name, ToolHiveNamespace) || !e.PublishedAt.Equal(time.Date(2026, 9, 8, 8, 45, 56, 0, time.UTC)) {
					t.Errorf("%s published %v, want toolhive.json's last_updated", e.Name, e.PublishedAt)
				}
			}
			for _, other := range []*Snapshot{b, c} {
				if a.Len() != other.Len() || a.Revision != other.Revision {
					t.Fatalf("%d entries rev %s vs %d rev %s", a.Len(), a.Revision, other.Len(), other.Revision)
				}
				for i := range a.Len() {
					if !bytes.Equal(a.At(i).Encoded, other.At(i).Encoded) {
						t.Fatalf("entry %d differs:\n%s\n%s", i, a.At(i).Encoded, other.At(i).Encoded)
					}
				}
			}
		})
	}
}
