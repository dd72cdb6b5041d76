package upstream

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// mtime0 is the base modification time of files the tests write; each
// version of a file gets its own mtime so change detection does not depend
// on the file system's timestamp granularity.
var mtime0 = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func writeAt(t testing.TB, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// loadRecorder collects the OnLoad calls.
type loadRecorder struct {
	mu    sync.Mutex
	calls []SourceStatus
}

func (r *loadRecorder) onLoad(s SourceStatus, d time.Duration) {
	if d < 0 {
		panic("negative load duration")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *loadRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func (r *loadRecorder) last() SourceStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[len(r.calls)-1]
}

// newTestSource builds a file source on the fake clock that records its loads.
func newTestSource(t testing.TB, opts FileOptions) (*FileSource, *fakeClock, *loadRecorder) {
	t.Helper()
	clk, rec := newFakeClock(), &loadRecorder{}
	if opts.Name == "" {
		opts.Name = "test"
	}
	opts.Clock, opts.OnLoad = clk.Now, rec.onLoad
	return mustFileSource(t, opts), clk, rec
}

func mustFileSource(t testing.TB, opts FileOptions) *FileSource {
	t.Helper()
	s, err := NewFileSource(opts)
	if err != nil {
		t.Fatalf("NewFileSource: %v", err)
	}
	return s
}

func mustLoad(t testing.TB, s *FileSource) *Snapshot {
	t.Helper()
	if err := s.Load(context.Background()); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if st := s.Status(); st.State() != "ok" {
		t.Fatalf("state %q after a good load (%s)", st.State(), st.LastError)
	}
	return s.Snapshot()
}

// mustFail loads, expects an error mentioning each of want, and returns the status.
func mustFail(t testing.TB, s *FileSource, state string, want ...string) SourceStatus {
	t.Helper()
	err := s.Load(context.Background())
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	st := s.Status()
	if st.State() != state {
		t.Errorf("state = %q, want %q", st.State(), state)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) || !strings.Contains(st.LastError, w) {
			t.Errorf("error %q / LastError %q does not mention %q", err, st.LastError, w)
		}
	}
	return st
}

// seedPlus returns official-seed.json with extra server.json objects appended.
func seedPlus(t testing.TB, extra ...string) []byte {
	t.Helper()
	var items []json.RawMessage
	if err := json.Unmarshal(readTestdata(t, "catalog", "official-seed.json"), &items); err != nil {
		t.Fatal(err)
	}
	for _, x := range extra {
		items = append(items, json.RawMessage(x))
	}
	data, err := json.MarshalIndent(items, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFileSourceLoadAndReload(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "seed.json")
	writeAt(t, path, readTestdata(t, "catalog", "official-seed.json"), mtime0)
	src, clk, rec := newTestSource(t, FileOptions{Name: "seed", Path: path})

	if st := src.Status(); st.State() != "pending" || src.Snapshot() != nil {
		t.Fatalf("before Load: state %q", st.State())
	}
	t1 := clk.Now()
	snap := mustLoad(t, src)
	st := src.Status()
	if snap.Len() != 4 || st.Entries != 4 || st.Revision != snap.Revision || !st.Loaded || st.Kind != "file" || st.Name != "seed" {
		t.Fatalf("status after load: %+v (snapshot of %d)", st, snap.Len())
	}
	if !st.LastSuccess.Equal(t1) || !st.LastAttempt.Equal(t1) || !snap.BuiltAt.Equal(t1) {
		t.Errorf("times: %+v, built %v, want %v", st, snap.BuiltAt, t1)
	}
	for _, e := range snap.Entries() {
		if !e.PublishedAt.Equal(UndatedTime) || e.Source != "seed" {
			t.Errorf("%s: published %v source %q, want UndatedTime from seed (the data has no date)", e.Name, e.PublishedAt, e.Source)
		}
	}

	// Nothing changed: no re-parse, the very same snapshot is served.
	t2 := clk.Advance(time.Minute)
	if got := mustLoad(t, src); got != snap || got.BuiltAt != t1 || got.Revision != snap.Revision {
		t.Fatal("an unchanged file was re-parsed")
	}
	if st := src.Status(); !st.LastSuccess.Equal(t2) || !st.LastAttempt.Equal(t2) {
		t.Errorf("an unchanged check is a success: %+v", st)
	}

	// A new version: re-read; every undated entry, new or old, is dated
	// UndatedTime, not by when it was first seen.
	writeAt(t, path, seedPlus(t, serverJSON("io.github.domdomegg/airtable-mcp-server", "1.8.0")), mtime0.Add(time.Second))
	t3 := clk.Advance(time.Minute)
	next := mustLoad(t, src)
	if next == snap || next.Len() != 5 || next.Revision == snap.Revision || !next.BuiltAt.Equal(t3) {
		t.Fatalf("changed file not reloaded: %d entries, built %v", next.Len(), next.BuiltAt)
	}
	for _, e := range next.Entries() {
		if !e.PublishedAt.Equal(UndatedTime) {
			t.Errorf("%s %s: published %v, want %v", e.Name, e.Version, e.PublishedAt, UndatedTime)
		}
	}
	if l := next.Latest("io.github.domdomegg/airtable-mcp-server"); l.Version != "1.8.0" {
		t.Errorf("latest = %s", l.Version)
	}
	if rec.count() != 3 || rec.last() != src.Status() {
		t.Errorf("OnLoad called %d times, last with %+v", rec.count(), rec.last())
	}
}

// TestFileSourceBrokenKeepsLastGood: a bad new version is reported and the
// last good snapshot keeps being served until the file is fixed.
func TestFileSourceBrokenKeepsLastGood(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "registry.json")
	writeAt(t, path, readTestdata(t, "toolhive", "upstream-registry.json"), mtime0)
	src, clk, rec := newTestSource(t, FileOptions{Path: path})
	good := mustLoad(t, src)
	goodAt := clk.Now()

	writeAt(t, path, []byte("{\n  \"data\": {\n    \"servers\": [,\n"), mtime0.Add(time.Second))
	clk.Advance(time.Minute)
	st := mustFail(t, src, "stale", path, "invalid JSON at line 3, column 17")
	if src.Snapshot() != good || st.Entries != 12 || st.Revision != good.Revision || !st.LastSuccess.Equal(goodAt) {
		t.Errorf("last good snapshot not kept: %+v", st)
	}
	if rec.last().State() != "stale" {
		t.Errorf("OnLoad saw state %q", rec.last().State())
	}

	// Unchanged and still broken: still an error, still stale.
	clk.Advance(time.Minute)
	mustFail(t, src, "stale", path, "invalid JSON")

	// Broken differently: the error follows the file.
	writeAt(t, path, readTestdata(t, "toolhive", "examples", "registry-high.json"), mtime0.Add(2*time.Second))
	mustFail(t, src, "stale", path, "data.servers[0]", `"osv-upgrade-test"`)
	if src.Snapshot() != good {
		t.Error("a rejected file replaced the snapshot")
	}

	// Fixed: recovers.
	writeAt(t, path, readTestdata(t, "toolhive", "data-registry.json"), mtime0.Add(3*time.Second))
	fixedAt := clk.Advance(time.Minute)
	fixed := mustLoad(t, src)
	if st := src.Status(); fixed.Len() != 2 || st.LastError != "" || !st.LastSuccess.Equal(fixedAt) || st.Entries != 2 {
		t.Errorf("after the fix: %+v", st)
	}
}

// TestFileSourceRecoversToLastGood: returning to exactly the last good
// version (same stamp) clears the error, as does a file that was briefly
// missing.
func TestFileSourceRecoversToLastGood(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "seed.json")
	goodData := readTestdata(t, "catalog", "official-seed.json")
	writeAt(t, path, goodData, mtime0)
	src, _, _ := newTestSource(t, FileOptions{Path: path})
	good := mustLoad(t, src)

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	mustFail(t, src, "stale", path, "no such file")
	writeAt(t, path, goodData, mtime0)
	if mustLoad(t, src) != good {
		t.Error("the restored file was re-parsed")
	}

	// Same size as the good file, so only the mtime tells them apart.
	broken := append([]byte("[}"), goodData[2:]...)
	writeAt(t, path, broken, mtime0.Add(time.Second))
	mustFail(t, src, "stale", "invalid JSON")
	writeAt(t, path, goodData, mtime0)
	if mustLoad(t, src) != good {
		t.Error("the restored file was re-parsed")
	}
}

// TestFileSourceFirstLoadFails: an optional source whose path is missing
// waits, failed and not ready, until the file appears; without optional a
// missing path is an error at construction.
func TestFileSourceFirstLoadFails(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "later.json")
	if _, err := NewFileSource(FileOptions{Name: "test", Path: path}); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "optional: true") {
		t.Fatalf("missing path without optional: err = %v", err)
	}
	src, _, _ := newTestSource(t, FileOptions{Path: path, Optional: true})
	st := mustFail(t, src, "failed", path, `"test"`, "does not exist yet")
	if st.Loaded || src.Snapshot() != nil {
		t.Errorf("nothing to serve, yet %+v", st)
	}
	writeAt(t, path, []byte("{not json"), mtime0)
	mustFail(t, src, "failed", "invalid JSON")
	writeAt(t, path, readTestdata(t, "catalog", "official-seed.json"), mtime0.Add(time.Second))
	if mustLoad(t, src).Len() != 4 {
		t.Error("not loaded once the file exists")
	}
}

func TestFileSourceDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeAt(t, filepath.Join(dir, "server.json"), []byte(serverJSON("io.github.x/root", "1.0.0")), mtime0)
	writeAt(t, filepath.Join(dir, "a", "server.json"), []byte(serverJSON("io.github.x/a", "1.0.0")), mtime0)
	writeAt(t, filepath.Join(dir, "b", "c", "d", "server.json"), []byte(serverJSON("io.github.x/deep", "2.0.0")), mtime0)
	writeAt(t, filepath.Join(dir, "multi", "server.json"),
		[]byte("["+serverJSON("io.github.x/multi", "1.0.0")+","+serverJSON("io.github.x/multi", "1.1.0")+"]"), mtime0)
	// Skipped: hidden directories (a .git checkout), files with other names.
	writeAt(t, filepath.Join(dir, ".git", "server.json"), []byte("{broken"), mtime0)
	writeAt(t, filepath.Join(dir, "x", ".hidden", "server.json"), []byte("{broken"), mtime0)
	writeAt(t, filepath.Join(dir, "notes.json"), []byte("{broken"), mtime0)
	writeAt(t, filepath.Join(dir, "a", "server.json.bak"), []byte("{broken"), mtime0)

	src, _, _ := newTestSource(t, FileOptions{Path: dir})
	snap := mustLoad(t, src)
	if got := distinctNames(snap.Entries()); snap.Len() != 5 || strings.Join(got, " ") != "io.github.x/a io.github.x/deep io.github.x/multi io.github.x/root" {
		t.Fatalf("%d entries of %v", snap.Len(), got)
	}
	if mustLoad(t, src) != snap {
		t.Error("an unchanged directory was re-parsed")
	}

	bad := filepath.Join(dir, "e", "server.json")
	writeAt(t, bad, []byte(`{"name":"io.github.x/e","version":"1"}`), mtime0)
	mustFail(t, src, "stale", bad, `missing "description"`)
	if src.Snapshot() != snap {
		t.Error("a bad file replaced the snapshot")
	}

	// The same server in two files is rejected, naming it.
	writeAt(t, bad, []byte(serverJSON("io.github.x/a", "1.0.0")), mtime0.Add(time.Second))
	mustFail(t, src, "stale", `"io.github.x/a" version "1.0.0" appears more than once`)

	// Removing the file is a change too.
	if err := os.RemoveAll(filepath.Dir(bad)); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, src); got.Revision != snap.Revision || got.Len() != 5 {
		t.Error("back to the first content, the revision must be the same")
	}

	// An edited file (same size, new mtime) is re-read.
	writeAt(t, filepath.Join(dir, "a", "server.json"), []byte(serverJSON("io.github.x/a", "1.0.1")), mtime0.Add(time.Hour))
	if got := mustLoad(t, src); got.Get("io.github.x/a", "1.0.1") == nil {
		t.Error("edited file not re-read")
	}
}

// TestFileSourceDirectorySymlinks mimics a Kubernetes ConfigMap mount:
// server.json links to ..data/server.json, and an update swaps the ..data
// link to a new hidden directory. The swap must be seen as a change, and the
// hidden directories must not be read twice.
func TestFileSourceDirectorySymlinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeAt(t, filepath.Join(dir, "..2025_06_01", "server.json"), []byte(serverJSON("io.github.x/cm", "1.0.0")), mtime0)
	for _, link := range [][2]string{{"..2025_06_01", "..data"}, {filepath.Join("..data", "server.json"), "server.json"}} {
		if err := os.Symlink(link[0], filepath.Join(dir, link[1])); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
	}
	src, _, _ := newTestSource(t, FileOptions{Path: dir})
	if snap := mustLoad(t, src); snap.Len() != 1 || snap.Get("io.github.x/cm", "1.0.0") == nil {
		t.Fatalf("got %v", keysOf(snap.Entries()))
	}

	// The update: a new hidden directory, then an atomic swap of ..data.
	writeAt(t, filepath.Join(dir, "..2025_06_02", "server.json"), []byte(serverJSON("io.github.x/cm", "1.0.1")), mtime0.Add(time.Hour))
	if err := os.Symlink("..2025_06_02", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if snap := mustLoad(t, src); snap.Len() != 1 || snap.Get("io.github.x/cm", "1.0.1") == nil {
		t.Errorf("after the swap: %v", keysOf(snap.Entries()))
	}
}

func TestFileSourceMaxBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "big.json")
	data := readTestdata(t, "catalog", "official-seed.json")
	writeAt(t, path, data, mtime0)
	srv := newFakeUpstream(t, data, "")

	limit := int64(len(data) - 1)
	for _, tt := range []struct {
		name, path, want string
	}{
		{"file", path, "exceeds the limit of"},
		{"directory", dir, "exceed the limit of"},
		{"url", srv.URL, "body exceeds the limit of"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "directory" {
				writeAt(t, filepath.Join(dir, "s", "server.json"), data, mtime0)
			}
			src, _, _ := newTestSource(t, FileOptions{Path: tt.path, MaxBytes: limit, HTTPClient: srv.Client()})
			mustFail(t, src, "failed", tt.want)
			// Exactly at the limit is allowed.
			src, _, _ = newTestSource(t, FileOptions{Path: tt.path, MaxBytes: limit + 1, HTTPClient: srv.Client()})
			mustLoad(t, src)
		})
	}
}

// fakeUpstream is an HTTP file server with a switchable body, ETag and
// Last-Modified, recording the conditional headers it receives.
type fakeUpstream struct {
	*httptest.Server
	mu           sync.Mutex
	body         []byte
	etag         string
	lastModified string
	status       int // when set, answer with it instead
	ifNoneMatch  []string
	ifModSince   []string
	served       int // 200 responses
}

func newFakeUpstream(t testing.TB, body []byte, etag string) *fakeUpstream {
	f := &fakeUpstream{body: body, etag: etag}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
	f.ifNoneMatch, f.ifModSince = append(f.ifNoneMatch, inm), append(f.ifModSince, ims)
	switch {
	case f.status != 0:
		http.Error(w, "upstream trouble", f.status)
		return
	case f.etag != "" && inm == f.etag, f.etag == "" && f.lastModified != "" && ims == f.lastModified:
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if f.etag != "" {
		w.Header().Set("ETag", f.etag)
	}
	if f.lastModified != "" {
		w.Header().Set("Last-Modified", f.lastModified)
	}
	f.served++
	_, _ = w.Write(f.body)
}

func (f *fakeUpstream) set(body []byte, etag string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body, f.etag, f.status = body, etag, status
}

// requests returns the number of requests and the last request's
// If-None-Match and If-Modified-Since headers.
func (f *fakeUpstream) requests() (n int, inm, ims string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n = len(f.ifNoneMatch); n > 0 {
		inm, ims = f.ifNoneMatch[n-1], f.ifModSince[n-1]
	}
	return n, inm, ims
}

func (f *fakeUpstream) full() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served
}

func TestFileSourceURLETag(t *testing.T) {
	t.Parallel()
	good := readTestdata(t, "catalog", "official-seed.json")
	up := newFakeUpstream(t, good, `"v1"`)
	src, _, rec := newTestSource(t, FileOptions{Path: up.URL + "/registry.json", HTTPClient: up.Client()})

	snap := mustLoad(t, src)
	if n, inm, _ := up.requests(); n != 1 || inm != "" || snap.Len() != 4 {
		t.Fatalf("first load: %d requests, If-None-Match %q, %d entries", n, inm, snap.Len())
	}
	// Unchanged: a conditional GET answered 304, nothing re-parsed.
	if mustLoad(t, src) != snap {
		t.Error("a 304 replaced the snapshot")
	}
	if n, inm, _ := up.requests(); n != 2 || inm != `"v1"` || up.full() != 1 {
		t.Errorf("second load: %d requests, If-None-Match %q, %d full responses", n, inm, up.full())
	}

	// Changed upstream: the ETag no longer matches, the new body is read.
	changed := seedPlus(t, serverJSON("io.github.x/new", "1.0.0"))
	up.set(changed, `"v2"`, 0)
	next := mustLoad(t, src)
	if next.Len() != 5 || next == snap {
		t.Fatalf("changed body not loaded: %d entries", next.Len())
	}

	// Upstream failing: stale, then back (304 for the ETag we hold): ok.
	up.set(changed, `"v2"`, http.StatusInternalServerError)
	mustFail(t, src, "stale", "HTTP 500", up.URL)
	up.set(changed, `"v2"`, 0)
	if mustLoad(t, src) != next {
		t.Error("recovered with a 304, yet the snapshot changed")
	}

	// A broken body, then the last good one again under its ETag: ok.
	up.set([]byte(`{"servers":[{"server":{}}]}`), `"v3"`, 0)
	mustFail(t, src, "stale", `missing "name"`, "servers[0]")
	up.set(changed, `"v2"`, 0)
	if mustLoad(t, src) != next {
		t.Error("the last good version was re-parsed")
	}
	if n, inm, _ := up.requests(); inm != `"v2"` {
		t.Errorf("request %d sent If-None-Match %q, want the last good ETag", n, inm)
	}
	if rec.count() != 7 {
		t.Errorf("OnLoad called %d times, want 7", rec.count())
	}
}

// TestFileSourceURLWithoutValidators: with no ETag, Last-Modified is used;
// with neither, an identical body is recognised by its hash.
func TestFileSourceURLWithoutValidators(t *testing.T) {
	t.Parallel()
	good := readTestdata(t, "catalog", "official-seed.json")

	up := newFakeUpstream(t, good, "")
	up.mu.Lock()
	up.lastModified = "Mon, 02 Jun 2025 10:00:00 GMT"
	up.mu.Unlock()
	src, _, _ := newTestSource(t, FileOptions{Path: up.URL, HTTPClient: up.Client()})
	snap := mustLoad(t, src)
	if mustLoad(t, src) != snap {
		t.Error("a 304 replaced the snapshot")
	}
	if n, _, ims := up.requests(); n != 2 || ims != "Mon, 02 Jun 2025 10:00:00 GMT" || up.full() != 1 {
		t.Errorf("%d requests, If-Modified-Since %q, %d full responses", n, ims, up.full())
	}

	plain := newFakeUpstream(t, good, "")
	src, _, _ = newTestSource(t, FileOptions{Path: plain.URL, HTTPClient: plain.Client()})
	snap = mustLoad(t, src)
	if mustLoad(t, src) != snap || plain.full() != 2 {
		t.Error("an identical body was re-parsed")
	}
	plain.set([]byte("[1,"), "", 0)
	mustFail(t, src, "stale", "invalid JSON", plain.URL)
	mustFail(t, src, "stale", "invalid JSON") // the same broken body: still an error
	plain.set(good, "", 0)
	if mustLoad(t, src) != snap {
		t.Error("the last good body was re-parsed")
	}
}

func TestFileSourceURLErrors(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, nil, "")
	up.set(nil, "", http.StatusNotFound)
	src, _, _ := newTestSource(t, FileOptions{Path: up.URL + "/missing.json", HTTPClient: up.Client()})
	mustFail(t, src, "failed", "HTTP 404", "/missing.json")

	// A 304 before anything was loaded is not success.
	up.set(nil, "", http.StatusNotModified)
	mustFail(t, src, "failed", "HTTP 304")

	// A closed server: the fetch error names the URL.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	src, _, _ = newTestSource(t, FileOptions{Path: closed.URL, HTTPClient: closed.Client()})
	mustFail(t, src, "failed", "fetch "+closed.URL)
}

func TestFileSourceBuiltin(t *testing.T) {
	t.Parallel()
	catalogue := fstest.MapFS{
		"toolhive.json":      {Data: readTestdata(t, "catalog", "toolhive.json")},
		"official-seed.json": {Data: readTestdata(t, "catalog", "official-seed.json")},
		"broken.json":        {Data: []byte("{")},
	}
	src, _, _ := newTestSource(t, FileOptions{Path: BuiltinPrefix + "toolhive", Builtin: catalogue})
	snap := mustLoad(t, src)
	if snap.Len() != 111 {
		t.Errorf("%d entries, want 111", snap.Len())
	}
	if mustLoad(t, src) != snap {
		t.Error("the built-in catalogue was re-parsed")
	}
	// Built-in data carries its own time: the file's last_updated.
	if e := snap.At(0); !e.PublishedAt.Equal(time.Date(2026, 9, 8, 8, 45, 56, 0, time.UTC)) {
		t.Errorf("published %v", e.PublishedAt)
	}

	src, _, _ = newTestSource(t, FileOptions{Path: "builtin:official-seed", Builtin: catalogue})
	if mustLoad(t, src).NameCount() != 3 {
		t.Error("official seed: want 3 names")
	}
	src, _, _ = newTestSource(t, FileOptions{Path: "builtin:broken", Builtin: catalogue})
	mustFail(t, src, "failed", `built-in catalogue "broken"`, "invalid JSON")
	// An unknown name, or no catalogue at all, is a configuration error.
	for _, tt := range []struct {
		opts FileOptions
		want string
	}{
		{FileOptions{Name: "x", Path: "builtin:nope", Builtin: catalogue}, "builtin:nope: no such built-in catalogue (have builtin:broken, builtin:official-seed, builtin:toolhive)"},
		{FileOptions{Name: "x", Path: "builtin:toolhive"}, "no built-in catalogue"},
		{FileOptions{Name: "x", Path: "builtin:", Builtin: catalogue}, "needs the name of a built-in catalogue"},
	} {
		if _, err := NewFileSource(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewFileSource(%s): err = %v, want %q", tt.opts.Path, err, tt.want)
		}
	}
}

// TestFileSourceAdmit: the filter sees finalised entries (derived status)
// and drops what it rejects.
func TestFileSourceAdmit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "registry.json")
	writeAt(t, path, readTestdata(t, "toolhive", "registry.json"), mtime0)
	var mu sync.Mutex
	seen := 0
	src, _, _ := newTestSource(t, FileOptions{Path: path, Admit: func(e *Entry) bool {
		mu.Lock()
		seen++
		mu.Unlock()
		return e.Status != "deprecated" && !strings.HasSuffix(e.Name, "-remote")
	}})
	snap := mustLoad(t, src)
	if seen != 102 {
		t.Errorf("Admit saw %d entries, want 102", seen)
	}
	if snap.Has("io.github.stacklok/genai-toolbox") {
		t.Error("deprecated entry admitted")
	}
	remote := 0
	for _, e := range parseTestdata(t, "toolhive", "registry.json").Entries {
		if strings.HasSuffix(e.Name, "-remote") {
			remote++
		}
	}
	if want := 102 - 1 - remote; snap.Len() != want || src.Status().Entries != want {
		t.Errorf("%d entries admitted, want %d", snap.Len(), want)
	}
}

// TestFileSourceRun: Run loads at once, re-checks on its interval and
// returns when the context ends (goleak checks nothing is left running).
func TestFileSourceRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "seed.json")
	writeAt(t, path, readTestdata(t, "catalog", "official-seed.json"), mtime0)

	// A built-in catalogue never changes: Run loads once and returns.
	src, _, rec := newTestSource(t, FileOptions{Path: BuiltinPrefix + "seed", Builtin: fstest.MapFS{"seed.json": {Data: readTestdata(t, "catalog", "official-seed.json")}}})
	src.Run(context.Background())
	if rec.count() != 1 || src.Snapshot() == nil {
		t.Fatalf("Run of a built-in catalogue: %d loads", rec.count())
	}

	loads := make(chan SourceStatus, 16)
	src = mustFileSource(t, FileOptions{Name: "run", Path: path, Interval: time.Millisecond,
		OnLoad: func(s SourceStatus, _ time.Duration) {
			select {
			case loads <- s:
			default:
			}
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(ctx)
	}()
	for range 3 { // the first load and two ticks
		if s := <-loads; s.State() != "ok" {
			t.Errorf("state %q: %s", s.State(), s.LastError)
		}
	}
	cancel()
	<-done
}

// TestFileSourceConcurrentReads: readers never block on or race with loads
// (run with -race).
func TestFileSourceConcurrentReads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "seed.json")
	writeAt(t, path, readTestdata(t, "catalog", "official-seed.json"), mtime0)
	src, _, _ := newTestSource(t, FileOptions{Path: path})
	mustLoad(t, src)
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Go(func() {
			for range 50 {
				if s := src.Snapshot(); s == nil || s.Len() < 4 {
					t.Error("reader saw no snapshot")
					return
				}
				_ = src.Status().State()
				if r == 0 {
					_ = src.Load(context.Background())
				}
			}
		})
	}
	for i := range 10 {
		writeAt(t, path, seedPlus(t, serverJSON("io.github.x/n", "1.0."+string(rune('0'+i)))), mtime0.Add(time.Duration(i+1)*time.Second))
		_ = src.Load(context.Background())
	}
	wg.Wait()
}

// newHangingServer answers no request until hang is closed (at cleanup).
func newHangingServer(t testing.TB, hang chan struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(hang)
		srv.Close()
	})
	return srv
}
