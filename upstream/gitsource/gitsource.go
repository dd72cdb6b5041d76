// Package gitsource implements the git source kind: a registry file, or a
// directory of server.json files, in a git repository reached over https or
// on the local disk, read with go-git.
//
// A local repository is read in place: its refs and objects are read from
// its own store, nothing is copied or written. For an http(s) repository,
// each load first lists the remote's refs (a pinned commit skips even that)
// and fetches only when the wanted ref has moved; fetches are shallow
// (depth 1) into a local clone that is reused across loads and restarts,
// and every object received is checked against maxBytes from the pack's
// headers before go-git inflates it. The registry files are read from the
// commit's tree within the file and byte limits, checked from the trees and
// object headers before any content is read, and installed through an
// upstream.Holder, which persists the last good snapshot and keeps serving
// it when a new commit is broken.
package gitsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/mcpfed/mcpfed/upstream"
)

// Kind is the source kind the Holder reports and persists under.
const Kind = "git"

// ErrClosed is returned by a load after Close.
var ErrClosed = errors.New("git source closed")

// Source serves a registry held in a git repository as a snapshot. Its
// methods are safe for concurrent use; Status never waits for a load.
type Source struct {
	*upstream.Holder
	o      Options
	remote remote
	ref    plumbing.ReferenceName // the wanted ref; empty for a pinned commit
	pinned plumbing.Hash
	path   string // inside the repository, fs.ValidPath form
	where  string // names the input in errors and logs: URL, ref and path

	commit atomic.Pointer[string] // commit of the installed snapshot

	// mu guards the clone directory against Close; loads are serialised by
	// the holder and hold it for their whole run. Status never takes it.
	mu      sync.Mutex
	tempDir string // the temporary clone directory, removed by Close
	closed  bool
	// What the wanted ref pointed at for the installed snapshot, and for
	// the last commit that failed to read or install (guarded by the
	// holder's attempt serialisation).
	stamp, failStamp plumbing.Hash

	// What the source did, for tests: ref listings (or local ref reads),
	// fetches, and clones created (not opened).
	lists, fetches, clones atomic.Int64
}

// New validates the options and returns an unloaded source; call Run, or
// Restore and Load, and Close at the end. Every problem found is reported.
func New(o Options) (*Source, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("git source %q: %w", o.Name, err)
	}
	o = o.withDefaults()
	rem, _ := parseRepository(o.Repository)
	ref, pinned, _ := o.selection()
	p, _ := o.treePath()
	if rem.local && !o.Optional {
		if _, err := os.Stat(rem.path); err != nil {
			return nil, fmt.Errorf("git source %q: repository %s: %w (set optional: true to wait for it)", o.Name, rem.url, errors.Unwrap(err))
		}
	}
	s := &Source{o: o, remote: rem, ref: ref, pinned: pinned, path: p}
	if o.hasCredentials() && rem.plain {
		s.o.Logger.Warn("credentials will be sent over plain http", "source", o.Name, "repository", rem.url)
	}
	s.where = fmt.Sprintf("%s (%s, path %s)", rem.url, s.describeRef(), s.path)
	s.Holder = upstream.NewHolder(upstream.HolderOptions{
		Name: o.Name, Kind: Kind, Admit: o.Admit, Store: o.Store,
		Clock: o.Clock, Logger: s.o.Logger, OnLoad: o.OnLoad,
	})
	return s, nil
}

// refName accepts a short name or the full ref.
func refName(name, prefix string) plumbing.ReferenceName {
	if strings.HasPrefix(name, prefix) {
		return plumbing.ReferenceName(name)
	}
	return plumbing.ReferenceName(prefix + name)
}

func (s *Source) describeRef() string {
	switch {
	case !s.pinned.IsZero():
		return "commit " + s.pinned.String()
	case s.ref == plumbing.HEAD:
		return "default branch"
	case s.ref.IsTag():
		return "tag " + s.ref.Short()
	}
	return "branch " + s.ref.Short()
}

// Commit is the hash of the commit the current snapshot was read from,
// empty until a load installed one (a restored snapshot has none).
func (s *Source) Commit() string {
	if c := s.commit.Load(); c != nil {
		return *c
	}
	return ""
}

// Status is the holder's status with the served commit. It never waits for
// a running load.
func (s *Source) Status() upstream.SourceStatus {
	st := s.Holder.Status()
	st.Commit = s.Commit()
	return st
}

// Run serves the persisted snapshot if there is one, loads at once, then
// checks the ref every Interval until ctx ends.
func (s *Source) Run(ctx context.Context) {
	upstream.RunLoop(ctx, s.o.Interval, s.Restore, s.Load)
}

// Load checks the ref once, within LoadTimeout, fetching and installing a
// new commit when it has moved. It returns nil when nothing changed.
func (s *Source) Load(ctx context.Context) error {
	return s.Attempt(ctx, s.where, s.load)
}

// Resync is a load: there is nothing more to do for a git source.
func (s *Source) Resync(ctx context.Context) error { return s.Load(ctx) }

// Close removes the temporary clone, if any. A load still running is
// waited for (cancel its context first); later loads fail with ErrClosed.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.tempDir == "" {
		return nil
	}
	err := os.RemoveAll(s.tempDir)
	s.tempDir = ""
	if err != nil {
		return fmt.Errorf("remove the temporary clone: %w", err)
	}
	return nil
}

func (s *Source) load(ctx context.Context, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.LoadTimeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	var (
		sto     storer.EncodedObjectStorer
		got     plumbing.Hash
		release func()
		err     error
	)
	if s.remote.local {
		sto, got, release, err = s.readLocal()
	} else {
		sto, got, release, err = s.fetchRemote(ctx)
	}
	if release != nil {
		defer release()
	}
	if err != nil {
		return err
	}
	// The ref may have moved between listing and fetching.
	if err := s.judged(got); err != nil {
		return err
	}
	commit, err := s.install(ctx, sto, got, now)
	if err != nil {
		// A broken commit is not read again until the ref moves; one that
		// could not be read (out of time, objects gone in a gc) is.
		if ctx.Err() == nil && !errors.Is(err, plumbing.ErrObjectNotFound) {
			s.failStamp = got
		}
		return err
	}
	s.stamp, s.failStamp = got, plumbing.ZeroHash
	c := commit.String()
	s.commit.Store(&c)
	s.o.Logger.Info("git source at commit", "source", s.o.Name, "commit", c)
	return nil
}

// judged answers for what the ref points at when it was seen before: the
// installed commit (unchanged; a broken commit in between no longer stands)
// or the last broken one (not read again). It is nil for anything new.
func (s *Source) judged(h plumbing.Hash) error {
	switch h {
	case s.stamp:
		s.failStamp = plumbing.ZeroHash
		return upstream.ErrUnchanged
	case s.failStamp:
		return upstream.ErrStillFailing
	}
	return nil
}

// install reads the path from the commit's tree, within the limits checked
// before any content is read, and installs it. Entries without a date of
// their own are dated by the commit.
func (s *Source) install(ctx context.Context, sto storer.EncodedObjectStorer, h plumbing.Hash, now time.Time) (plumbing.Hash, error) {
	commit, err := peelCommit(sto, h, s.objectLimit())
	if err != nil {
		return plumbing.ZeroHash, err
	}
	short := commit.Hash.String()[:12]
	tree, err := commit.Tree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", short, err)
	}
	fsys := newTreeFS(ctx, sto, tree, commit.Committer.When)
	if err := fsys.checkLimits(s.path, s.o.MaxFiles, s.o.MaxBytes); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", short, err)
	}
	read := upstream.ParseTree
	if s.o.Read != nil {
		read = s.o.Read
	}
	doc, err := read(fsys, s.path, s.o.MaxFiles, s.o.MaxBytes)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", short, err)
	}
	doc.DateIfUndated(commit.Committer.When)
	if err := s.Install(doc, now); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", short, err)
	}
	return commit.Hash, nil
}

// minObjectLimit is the least bound on one object: commits and trees are
// read whatever maxBytes says about the registry files.
const minObjectLimit = 1 << 20

// objectLimit bounds any one object fetched or read: MaxBytes, at least
// minObjectLimit.
func (s *Source) objectLimit() int64 { return max(s.o.MaxBytes, minObjectLimit) }

// peelCommit follows annotated tags to the commit, reading no object
// larger than limit.
func peelCommit(sto storer.EncodedObjectStorer, h plumbing.Hash, limit int64) (*object.Commit, error) {
	for range 10 {
		if err := checkSize(sto, h, limit); err != nil {
			return nil, err
		}
		obj, err := object.GetObject(sto, h)
		if err != nil {
			return nil, fmt.Errorf("object %s: %w", h, err)
		}
		switch o := obj.(type) {
		case *object.Commit:
			return o, nil
		case *object.Tag:
			h = o.Target
		default:
			return nil, fmt.Errorf("%s is a %s, not a commit", h, obj.Type())
		}
	}
	return nil, fmt.Errorf("%s: too many nested tags", h)
}
