package curation

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

const approveA = "decisions:\n  - {serverName: io.github.acme/a, versions: '*', decision: approved}\n"
const approveB = "decisions:\n  - {serverName: io.github.acme/b, versions: '1.x', decision: approved}\n"

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// A new mtime whatever the file system's resolution.
	later := time.Now().Add(time.Duration(len(content)) * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

// TestDocumentFromFile: a file's decisions reach the rule; a broken new
// version keeps the last good decisions and says why; the kept copy is
// applied at the next start until the first read.
func TestDocumentFromFile(t *testing.T) {
	t.Parallel()
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "decisions.yaml")
	write(t, path, approveA)
	set := NewSet(SetOptions{Documents: []string{"reviews"}})
	src, err := NewDocumentSource(DocumentOptions{Name: "reviews", Path: path, Set: set, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := src.Load(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := entry("io.github.acme/a", "1.0.0"), entry("io.github.acme/b", "1.2.0")
	if !set.Admit(a) || src.Status().State() != "ok" {
		t.Fatalf("not applied: %+v", src.Status())
	}
	if err := src.Load(ctx); err != nil {
		t.Fatalf("unchanged: %v", err)
	}
	write(t, path, "decisions:\n  - {serverName: io.github.acme/a, versions: '>=', decision: denied}\n")
	if err := src.Load(ctx); err == nil || !strings.Contains(err.Error(), "line 2: decisions[0]: versions") {
		t.Fatalf("a broken document: %v", err)
	}
	if !set.Admit(a) || src.Status().State() != "stale" {
		t.Fatalf("the last good decisions are not kept: %+v", src.Status())
	}
	write(t, path, approveB)
	if err := src.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if set.Admit(a) || !set.Admit(b) {
		t.Fatal("the new document is not applied")
	}
	kept, err := os.ReadFile(filepath.Join(state, "reviews.decisions.yaml"))
	if err != nil || string(kept) != approveB {
		t.Fatalf("kept %q %v", kept, err)
	}

	// The next start: the file is gone (optional), the kept copy applies.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	set2 := NewSet(SetOptions{Documents: []string{"reviews"}})
	src2, err := NewDocumentSource(DocumentOptions{Name: "reviews", Path: path, Optional: true, Set: set2, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if set2.Admit(b) {
		t.Fatal("admitted before anything was read")
	}
	if !src2.Restore() || !set2.Admit(b) {
		t.Fatal("the kept document is not restored")
	}
	if err := src2.Load(ctx); err == nil || !strings.Contains(err.Error(), "does not exist yet") {
		t.Fatalf("missing optional file: %v", err)
	}
	if !set2.Admit(b) {
		t.Fatal("a failed read dropped the restored decisions")
	}
}

func TestDocumentSourceRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	set := NewSet(SetOptions{})
	for name, o := range map[string]DocumentOptions{
		"no set":      {Name: "d", Path: dir},
		"neither":     {Name: "d", Set: set},
		"both":        {Name: "d", Set: set, Path: dir, URL: "https://x.invalid/d.yaml"},
		"builtin":     {Name: "d", Set: set, Path: upstream.BuiltinPrefix + "toolhive"},
		"ftp":         {Name: "d", Set: set, URL: "ftp://x.invalid/d.yaml"},
		"credentials": {Name: "d", Set: set, URL: "https://u:p@x.invalid/d.yaml"},
		"missing":     {Name: "d", Set: set, Path: filepath.Join(dir, "nope.yaml")},
	} {
		if _, err := NewDocumentSource(o); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "u:p") {
			t.Errorf("%s: the error shows the credentials: %v", name, err)
		}
	}
	src, err := NewDocumentSource(DocumentOptions{Name: "d", Set: set, Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Load(context.Background()); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory: %v", err)
	}
}

// TestDocumentFromURL: fetched conditionally, with the token sent to the
// URL's host only, within maxBytes.
func TestDocumentFromURL(t *testing.T) {
	t.Parallel()
	var body atomic.Value
	body.Store(approveA)
	var fetches, notModified atomic.Int64
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, "http://elsewhere.invalid/d.yaml", http.StatusFound)
			return
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("#", 2048)))
			return
		}
		b := body.Load().(string)
		etag := fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(b)))
		if r.Header.Get("If-None-Match") == etag {
			notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		_, _ = w.Write([]byte(b))
	}))
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set := NewSet(SetOptions{Documents: []string{"remote"}})
	src, err := NewDocumentSource(DocumentOptions{Name: "remote", URL: srv.URL + "/d.yaml", TokenFile: tokenFile, Set: set, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := src.Load(ctx); err != nil || !set.Admit(entry("io.github.acme/a", "1.0.0")) {
		t.Fatalf("first fetch: %v", err)
	}
	if err := src.Load(ctx); err != nil || notModified.Load() != 1 {
		t.Fatalf("conditional fetch: %v, %d not modified", err, notModified.Load())
	}
	body.Store(approveB)
	if err := src.Load(ctx); err != nil || !set.Admit(entry("io.github.acme/b", "1.0.0")) || set.Admit(entry("io.github.acme/a", "1.0.0")) {
		t.Fatalf("changed document: %v", err)
	}
	mu.Lock()
	for _, a := range auths {
		if a != "Bearer s3cret" {
			t.Errorf("Authorization %q", a)
		}
	}
	mu.Unlock()

	away, _ := NewDocumentSource(DocumentOptions{Name: "away", URL: srv.URL + "/away", TokenFile: tokenFile, Set: set, HTTPClient: srv.Client()})
	if err := away.Load(ctx); err == nil || !strings.Contains(err.Error(), "redirect to elsewhere.invalid refused") {
		t.Errorf("redirect to another host: %v", err)
	}
	big, _ := NewDocumentSource(DocumentOptions{Name: "big", URL: srv.URL + "/big", MaxBytes: 1024, Set: set, HTTPClient: srv.Client()})
	if err := big.Load(ctx); err == nil || !strings.Contains(err.Error(), "exceeds the limit of 1024 bytes") {
		t.Errorf("oversize: %v", err)
	}
}

// TestDocumentSourceRun: Run loads, reloads every interval and ends with
// ctx (goleak checks nothing is left).
func TestDocumentSourceRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "d.yaml")
	write(t, path, approveA)
	set := NewSet(SetOptions{Documents: []string{"d"}})
	src, err := NewDocumentSource(DocumentOptions{Name: "d", Path: path, Interval: 5 * time.Millisecond, Set: set})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { src.Run(ctx) })
	eventually(t, "first read", func() bool { return set.Admit(entry("io.github.acme/a", "1.0.0")) })
	write(t, path, approveB)
	eventually(t, "reread", func() bool { return set.Admit(entry("io.github.acme/b", "1.0.0")) })
	cancel()
	wg.Wait()
}

func TestFileDocumentOptions(t *testing.T) {
	t.Parallel()
	spec := upstream.FileSpec{Path: "/etc/mcpfed/decisions.yaml"}
	spec.ApplyDefaults()
	o := FileDocumentOptions("reviews", spec)
	if o.Name != "reviews" || o.Path != spec.Path || o.Interval != spec.Interval || o.MaxBytes != spec.MaxBytes {
		t.Errorf("%+v", o)
	}
}
