package gitsource

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"go.uber.org/goleak"

	"github.com/mcpfed/mcpfed/upstream"
)

// TestMain fails the run if a test leaves a goroutine behind (Run, pack
// checkers, HTTP clients).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testdata reads a file under the repository's testdata directory.
func testdata(t testing.TB, parts ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(append([]string{"..", "..", "testdata"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// serverJSON is a minimal valid server.json.
func serverJSON(name, version string) []byte {
	return fmt.Appendf(nil, `{"name":%q,"version":%q,"description":"test server %s"}`, name, version, version)
}

// testRepo is a repository the source fetches from over file://, written
// with go-git so the tests need no git binary.
type testRepo struct {
	t    testing.TB
	dir  string
	repo *git.Repository
	wt   *git.Worktree
	when time.Time
}

func newTestRepo(t testing.TB) *testRepo {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	return &testRepo{t: t, dir: dir, repo: repo, wt: wt, when: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (r *testRepo) url() string { return "file://" + filepath.ToSlash(r.dir) }

func (r *testRepo) write(name string, data []byte) *testRepo {
	r.t.Helper()
	p := filepath.Join(r.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.wt.Add(name); err != nil {
		r.t.Fatal(err)
	}
	return r
}

func (r *testRepo) commit(msg string) plumbing.Hash {
	r.t.Helper()
	r.when = r.when.Add(time.Minute)
	sig := &object.Signature{Name: "test", Email: "test@example.com", When: r.when}
	h, err := r.wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true})
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

func (r *testRepo) tag(name string, h plumbing.Hash, annotated bool) {
	r.t.Helper()
	var o *git.CreateTagOptions
	if annotated {
		o = &git.CreateTagOptions{Message: name, Tagger: &object.Signature{Name: "test", Email: "test@example.com", When: r.when}}
	}
	if _, err := r.repo.CreateTag(name, h, o); err != nil {
		r.t.Fatal(err)
	}
}

// setBranch moves a branch, as a force push would.
func (r *testRepo) setBranch(name string, h plumbing.Hash) {
	r.t.Helper()
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(name), h)); err != nil {
		r.t.Fatal(err)
	}
}

// fakeClock moves only when a test says so.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newSource builds a source on a fake clock; Name defaults to "catalog".
func newSource(t testing.TB, o Options) (*Source, *fakeClock) {
	t.Helper()
	clk := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	if o.Name == "" {
		o.Name = "catalog"
	}
	if o.Clock == nil {
		o.Clock = clk.Now
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, clk
}

// counts is what the source did so far: listings, fetches, clones created.
type counts struct{ lists, fetches, clones int64 }

func (s *Source) counts() counts {
	return counts{s.lists.Load(), s.fetches.Load(), s.clones.Load()}
}

func mustLoad(t testing.TB, s *Source) *upstream.Snapshot {
	t.Helper()
	if err := s.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if st := s.Status(); st.State() != "ok" {
		t.Fatalf("state %q after a good load (%s)", st.State(), st.LastError)
	}
	return s.Snapshot()
}

func names(snap *upstream.Snapshot) []string {
	var out []string
	for _, e := range snap.Entries() {
		out = append(out, e.Name+"@"+e.Version)
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// gitHTTPServer serves the test repository over git's smart HTTP protocol
// with `git http-backend`, behind basic auth when user is set. Tests of
// fetching need it (go-git's in-process server cannot do shallow fetches);
// they are skipped without a git binary. Local repositories, read in place,
// need none.
func gitHTTPServer(t *testing.T, r *testRepo, user, password string) *httptest.Server {
	t.Helper()
	bin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git binary to serve smart HTTP")
	}
	backend := &cgi.Handler{
		Path:   bin,
		Args:   []string{"http-backend"},
		Stderr: io.Discard, // "not our ref" and the like, for tests that want them
		Env: []string{
			"GIT_PROJECT_ROOT=" + filepath.Dir(r.dir),
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + t.TempDir(),
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); user != "" && (!ok || u != user || p != password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, req)
	}))
	srv.Config.SetKeepAlivesEnabled(false)
	t.Cleanup(srv.Close)
	return srv
}

// httpURL serves the repository over smart HTTP and returns its URL.
func (r *testRepo) httpURL(t *testing.T) string {
	t.Helper()
	return gitHTTPServer(t, r, "", "").URL + "/" + filepath.Base(r.dir)
}

// allowSHA lets the repository's commits be fetched by hash over HTTP.
func (r *testRepo) allowSHA() {
	r.t.Helper()
	cfg, err := r.repo.Config()
	if err != nil {
		r.t.Fatal(err)
	}
	cfg.Raw.Section("uploadpack").SetOption("allowReachableSHA1InWant", "true")
	if err := r.repo.SetConfig(cfg); err != nil {
		r.t.Fatal(err)
	}
}
