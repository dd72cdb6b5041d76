package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BuiltinPrefix selects a file of the built-in catalogue as a file source's
// path, e.g. "builtin:toolhive".
const BuiltinPrefix = "builtin:"

// ErrUnchanged is returned by a read when the file has not changed since the
// last successful load.
var ErrUnchanged = errors.New("unchanged since last load")

// FileOptions configure a file source.
type FileOptions struct {
	// Name is the source's slug.
	Name string
	// Path is a file, a directory of server.json files, an http(s) URL, or
	// BuiltinPrefix followed by the name of a built-in catalogue file.
	Path string
	// Interval between change checks; zero disables re-reading.
	Interval time.Duration
	// MaxBytes bounds one file (or the sum of a directory's files).
	MaxBytes int64
	// Admit, when set, drops entries it returns false for (the source's filter).
	Admit func(*Entry) bool
	// Builtin is the embedded catalogue that BuiltinPrefix paths read from.
	Builtin fs.FS
	// HTTPClient fetches URLs. Defaults to a client with a 30s timeout.
	HTTPClient *http.Client
	// StateDir, when set, persists the last good snapshot (see Holder).
	StateDir string
	Clock    func() time.Time
	Logger   *slog.Logger
	// OnLoad is called after every load attempt with the new status and how
	// long the attempt took (metrics).
	OnLoad func(SourceStatus, time.Duration)
}

// SourceStatus is what an operator needs to know about a source's loading.
type SourceStatus struct {
	Name        string
	Kind        string
	Entries     int
	Revision    string
	LastAttempt time.Time
	LastSuccess time.Time
	// LastError is the error of the last attempt, empty when it succeeded.
	LastError string
	// Loaded reports whether the source has a snapshot to serve.
	Loaded bool
	// Commit is the commit a git source serves; Breaker a live source's
	// circuit breaker state (closed, half-open, open).
	Commit, Breaker string
}

// ErrNotResyncable is returned by Resync of a source that has nothing to
// resync (a live source is queried on demand).
var ErrNotResyncable = errors.New("source cannot be resynced")

// State summarises the status: ok, stale (serving the last good snapshot
// after a failed reload), failed (nothing to serve), restored (serving the
// persisted snapshot before the first attempt) or pending (no attempt yet).
func (s SourceStatus) State() string {
	switch {
	case s.LastAttempt.IsZero() && s.Loaded:
		return "restored"
	case s.LastAttempt.IsZero():
		return "pending"
	case s.LastError == "":
		return "ok"
	case s.Loaded:
		return "stale"
	}
	return "failed"
}

// FileSource serves a registry file, directory or URL as a snapshot and
// re-reads it when it changes. A broken new version keeps the last good
// snapshot and reports the error.
type FileSource struct {
	*Holder
	opts FileOptions

	// Guarded by the holder's attempt serialisation.
	stamp     string // change stamp of the last successful read
	failStamp string // change stamp of the last failed read (not re-parsed)
	etag      string
	modified  string
}

// NewFileSource returns an unloaded file source; call Load or Run.
func NewFileSource(opts FileOptions) *FileSource {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 20
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	h := NewHolder(HolderOptions{
		Name: opts.Name, Kind: "file", Admit: opts.Admit, StateDir: opts.StateDir,
		Clock: opts.Clock, Logger: opts.Logger, OnLoad: opts.OnLoad,
	})
	return &FileSource{Holder: h, opts: opts}
}

// Run serves the persisted snapshot if there is one, loads at once, then
// checks for changes every Interval until ctx ends.
func (s *FileSource) Run(ctx context.Context) {
	RunLoop(ctx, s.opts.Interval, s.Restore, s.Load)
}

// Load reads the source once. It returns nil when the content is unchanged.
func (s *FileSource) Load(ctx context.Context) error {
	return s.Attempt(ctx, s.opts.Path, s.load)
}

func (s *FileSource) load(ctx context.Context, now time.Time) error {
	doc, stamp, err := s.read(ctx)
	if err != nil {
		s.failStamp = stamp // a broken version is not re-parsed until it changes
		return err
	}
	if doc == nil { // unchanged
		if stamp == s.stamp {
			// Back to the last good version (a URL serving it again, a 304):
			// the failure of the broken version in between is over.
			s.failStamp = ""
		}
		if s.failStamp != "" {
			return ErrStillFailing
		}
		return ErrUnchanged
	}
	if err := s.Install(doc, now); err != nil {
		s.failStamp = stamp
		return err
	}
	s.stamp, s.failStamp = stamp, ""
	return nil
}

// read returns the parsed document, or nil when unchanged since the last
// good (or last failed) read, and the change stamp of what it read.
func (s *FileSource) read(ctx context.Context) (*Document, string, error) {
	p := s.opts.Path
	switch {
	case strings.HasPrefix(p, BuiltinPrefix):
		return s.readBuiltin(strings.TrimPrefix(p, BuiltinPrefix))
	case strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://"):
		return s.readURL(ctx, p)
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, "", err
	}
	if info.IsDir() {
		return s.readDir(p)
	}
	stamp := fmt.Sprintf("%d/%d", info.ModTime().UnixNano(), info.Size())
	if s.unchanged(stamp) {
		return nil, stamp, nil
	}
	if info.Size() > s.opts.MaxBytes {
		return nil, stamp, fmt.Errorf("%s: %d bytes exceeds the limit of %d", p, info.Size(), s.opts.MaxBytes)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, stamp, err
	}
	doc, err := Parse(data)
	if err != nil {
		return nil, stamp, err // Load names the path
	}
	return doc, stamp, nil
}

func (s *FileSource) unchanged(stamp string) bool {
	return stamp == s.stamp && s.Snapshot() != nil || stamp == s.failStamp
}

func (s *FileSource) readBuiltin(name string) (*Document, string, error) {
	if s.opts.Builtin == nil {
		return nil, "", errors.New("no built-in catalogue in this build")
	}
	stamp := "builtin:" + name
	if s.unchanged(stamp) {
		return nil, stamp, nil
	}
	data, err := fs.ReadFile(s.opts.Builtin, name+".json")
	if err != nil {
		return nil, stamp, fmt.Errorf("built-in catalogue %q: %w", name, err)
	}
	doc, err := Parse(data)
	if err != nil {
		return nil, stamp, fmt.Errorf("built-in catalogue %q: %w", name, err)
	}
	return doc, stamp, nil
}

// readDir loads every file named server.json below dir (hidden directories
// skipped). The stamp covers each file's path, size and mtime.
func (s *FileSource) readDir(dir string) (*Document, string, error) {
	type file struct {
		path string
		info fs.FileInfo
	}
	var files []file
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "server.json" {
			return nil
		}
		// Stat, not d.Info: a symlinked server.json (a Kubernetes ConfigMap
		// mount swaps its ..data link) must be stamped by its target.
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		total += info.Size()
		files = append(files, file{p, info})
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", f.path, f.info.Size(), f.info.ModTime().UnixNano())
	}
	stamp := hex.EncodeToString(h.Sum(nil))
	if s.unchanged(stamp) {
		return nil, stamp, nil
	}
	if total > s.opts.MaxBytes {
		return nil, stamp, fmt.Errorf("%s: %d bytes of server.json files exceed the limit of %d", dir, total, s.opts.MaxBytes)
	}
	doc := &Document{Format: FormatDirectory}
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return nil, stamp, err
		}
		d, err := Parse(data)
		if err != nil {
			return nil, stamp, fmt.Errorf("%s: %w", f.path, err)
		}
		doc.Entries = append(doc.Entries, d.Entries...)
	}
	return doc, stamp, nil
}

// readURL fetches with a conditional GET; a 304 means unchanged.
func (s *FileSource) readURL(ctx context.Context, url string) (*Document, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "application/json")
	if s.Snapshot() != nil {
		if s.etag != "" {
			req.Header.Set("If-None-Match", s.etag)
		}
		if s.modified != "" {
			req.Header.Set("If-Modified-Since", s.modified)
		}
	}
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && s.Snapshot() != nil:
		return nil, s.stamp, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", fmt.Errorf("fetch %s: HTTP %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.MaxBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("fetch %s: %w", url, err)
	}
	if int64(len(data)) > s.opts.MaxBytes {
		return nil, "", fmt.Errorf("fetch %s: body exceeds the limit of %d bytes", url, s.opts.MaxBytes)
	}
	sum := sha256.Sum256(data)
	stamp := hex.EncodeToString(sum[:])
	etag, modified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if s.unchanged(stamp) {
		s.etag, s.modified = etag, modified
		return nil, stamp, nil
	}
	doc, err := Parse(data)
	if err != nil {
		return nil, stamp, err // Load names the URL
	}
	s.etag, s.modified = etag, modified
	return doc, stamp, nil
}
