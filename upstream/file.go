package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/credential"
)

// BuiltinPrefix selects a file of the built-in catalogue as a file source's
// path, e.g. "builtin:toolhive".
const BuiltinPrefix = "builtin:"

// ErrUnchanged is returned by a read when the file has not changed since the
// last successful load.
var ErrUnchanged = errors.New("unchanged since last load")

// SourceStatus is what an operator needs to know about a source's loading.
type SourceStatus struct {
	Name    string
	Kind    string
	Entries int // server versions
	// Skills and Plugins count the artifact versions held (ToolHive's
	// registry extensions); Entries does not include them.
	Skills, Plugins int
	Revision        string
	LastAttempt     time.Time
	LastSuccess     time.Time
	// LastError is the error of the last attempt, empty when it succeeded.
	LastError string
	// Loaded reports whether the source has a snapshot to serve.
	Loaded bool
	// Commit is the commit a git source serves; Breaker a live source's
	// circuit breaker state (closed, half-open, open).
	Commit, Breaker string
	// Order is how a live source answers list queries now: "bytes"
	// (forwarded) or "index" (from its local index of the full list).
	Order string
	// Loading reports an attempt in progress (a first crawl may take
	// minutes: readiness counts it as started, State as "loading").
	Loading bool
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
	case s.LastAttempt.IsZero() && s.Loading:
		return "loading"
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
	opts  FileOptions
	where string // the path, or the URL redacted: for errors and logs

	// Guarded by the holder's attempt serialisation.
	stamp     string // change stamp of the last successful read
	failStamp string // change stamp of the last failed read (not re-parsed)
	etag      string
	modified  string
}

// NewFileSource returns an unloaded file source; call Load or Run. Invalid
// options (see FileOptions.Validate), a built-in catalogue name that does
// not exist, and a local path that does not exist (unless Optional) or is
// neither a regular file nor a directory are errors.
func NewFileSource(opts FileOptions) (*FileSource, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	switch {
	case opts.isURL():
		if opts.TokenFile != "" || opts.UsernameFile != "" {
			u, err := url.Parse(opts.Path)
			if err != nil {
				return nil, fmt.Errorf("url %s is not a valid URL", credential.RedactURL(opts.Path))
			}
			opts.HTTPClient = credential.StayOnHost(opts.HTTPClient, u)
		}
	case opts.isBuiltin():
		if err := checkBuiltin(opts.Builtin, strings.TrimPrefix(opts.Path, BuiltinPrefix)); err != nil {
			return nil, err
		}
	default:
		if err := checkLocal(opts.Path, opts.Optional); err != nil {
			return nil, err
		}
	}
	h := NewHolder(HolderOptions{
		Name: opts.Name, Kind: "file", Admit: opts.Admit, Store: opts.Store,
		Clock: opts.Clock, Logger: opts.Logger, OnLoad: opts.OnLoad,
	})
	where := opts.Path
	if opts.isURL() {
		where = credential.RedactURL(opts.Path)
	}
	return &FileSource{Holder: h, opts: opts, where: where}, nil
}

// checkBuiltin reports a built-in catalogue name that is not in the build,
// listing those that are.
func checkBuiltin(fsys fs.FS, name string) error {
	if fsys == nil {
		return fmt.Errorf("path %s%s: this build has no built-in catalogue", BuiltinPrefix, name)
	}
	if _, err := fs.Stat(fsys, name+".json"); err == nil {
		return nil
	}
	files, _ := fs.Glob(fsys, "*.json")
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = BuiltinPrefix + strings.TrimSuffix(path.Base(f), ".json")
	}
	slices.Sort(names)
	return fmt.Errorf("path %s%s: no such built-in catalogue (have %s)", BuiltinPrefix, name, strings.Join(names, ", "))
}

// checkLocal refuses a missing path (unless optional) and one that could
// never be read: neither a regular file nor a directory.
func checkLocal(p string, optional bool) error {
	info, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist) && optional:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("path %s does not exist (set optional: true if it may appear later)", p)
	case err != nil:
		return fmt.Errorf("path %s: %w", p, err)
	case !info.IsDir() && !info.Mode().IsRegular():
		return fmt.Errorf("path %s is %s, %w or directory", p, fileType(info.Mode()), ErrNotRegular)
	}
	return nil
}

// Run serves the persisted snapshot if there is one, loads at once, then
// checks for changes every Interval until ctx ends.
func (s *FileSource) Run(ctx context.Context) {
	RunLoop(ctx, s.opts.Interval, s.Restore, s.Load)
}

// Load reads the source once, within LoadTimeout. It returns nil when the
// content is unchanged.
func (s *FileSource) Load(ctx context.Context) error {
	return s.Attempt(ctx, s.where, func(ctx context.Context, now time.Time) error {
		ctx, cancel := context.WithTimeout(ctx, s.opts.LoadTimeout)
		defer cancel()
		return s.load(ctx, now)
	})
}

// Resync loads the source now (an operator's request).
func (s *FileSource) Resync(ctx context.Context) error { return s.Load(ctx) }

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
	case s.opts.isBuiltin():
		return s.readBuiltin(strings.TrimPrefix(p, BuiltinPrefix))
	case s.opts.isURL():
		return s.readURL(ctx, p)
	}
	info, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) && s.opts.Optional {
		return nil, "", fmt.Errorf("%s does not exist yet (optional source: waiting for it to appear)", p)
	}
	if err != nil {
		return nil, "", err
	}
	if info.IsDir() {
		return s.readDir(ctx, p)
	}
	if !info.Mode().IsRegular() {
		return nil, "", fmt.Errorf("%s: %w (%s)", p, ErrNotRegular, fileType(info.Mode()))
	}
	stamp := fmt.Sprintf("%d/%d", info.ModTime().UnixNano(), info.Size())
	if s.unchanged(stamp) {
		return nil, stamp, nil
	}
	data, err := ReadRegular(ctx, p, s.opts.MaxBytes)
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
// skipped). The stamp covers each file's path, size and mtime. The walk
// stops at once when the files exceed MaxFiles or MaxBytes, when one is not
// a regular file, or when ctx ends.
func (s *FileSource) readDir(ctx context.Context, dir string) (*Document, string, error) {
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
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: walk stopped: %w", dir, err)
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "server.json" {
			return nil
		}
		if len(files) == s.opts.MaxFiles {
			return fmt.Errorf("%s: more than %d server.json files (maxFiles)", dir, s.opts.MaxFiles)
		}
		// Stat, not d.Info: a symlinked server.json (a Kubernetes ConfigMap
		// mount swaps its ..data link) must be stamped by its target.
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: %w (%s)", p, ErrNotRegular, fileType(info.Mode()))
		}
		total += info.Size()
		if total > s.opts.MaxBytes {
			return fmt.Errorf("%s: server.json files exceed the limit of %d bytes (reached at %s)", dir, s.opts.MaxBytes, p)
		}
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
	doc := &Document{Format: FormatDirectory}
	budget := s.opts.MaxBytes // what was measured may have grown since
	for _, f := range files {
		data, err := ReadRegular(ctx, f.path, budget)
		if err != nil {
			return nil, stamp, err
		}
		budget -= int64(len(data))
		d, err := Parse(data)
		if err != nil {
			return nil, stamp, fmt.Errorf("%s: %w", f.path, err)
		}
		doc.merge(d)
	}
	return doc, stamp, nil
}
