// Package gitsource implements the git source kind: a registry file, or a
// directory of server.json files, in a git repository reached over https or
// on the local disk, read with go-git.
//
// Each load first lists the remote's refs (a pinned commit skips even that)
// and fetches only when the wanted ref has moved; https fetches are shallow
// (depth 1) into a local clone that is reused across loads and restarts.
// The registry files are read from the commit's tree in the object store,
// within the file and byte limits, and installed through an upstream.Holder,
// which persists the last good snapshot and keeps serving it when a new
// commit is broken.
package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/go-git/go-billy/v5/osfs"

	"github.com/mcpfed/mcpfed/upstream"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxFiles = 10000
	DefaultMaxBytes = 256 << 20
	DefaultTimeout  = 5 * time.Minute
)

// Kind is the source kind the Holder reports and persists under.
const Kind = "git"

// Options configure a git source.
type Options struct {
	// Name is the source's slug.
	Name string
	// Repository is an https:// or http:// URL, a file:// URL or a local
	// path. It must not hold a password: credentials come from the files.
	Repository string
	// Branch, Tag and Commit select what is served; at most one is set.
	// None means the remote's default branch (its HEAD). Commit is a full
	// 40-hex hash; a pinned commit is fetched once and never listed.
	Branch, Tag, Commit string
	// Path is a registry file, or a directory whose server.json files are
	// served, inside the repository ("" is the root directory).
	Path string
	// Interval between checks of the remote ref; zero loads once.
	Interval time.Duration
	// UsernameFile, PasswordFile and TokenFile hold https credentials, read
	// at each use and never logged. A token is sent as the password of basic
	// auth (what git hosts expect); without UsernameFile the user name is
	// "x-access-token". PasswordFile and TokenFile are alternatives.
	UsernameFile, PasswordFile, TokenFile string
	// MaxFiles bounds the number of server.json files read (default 10000).
	MaxFiles int
	// MaxBytes bounds the sum of the registry files read (default 256 MiB).
	MaxBytes int64
	// Timeout bounds one load: listing, fetching and reading (default 5m).
	Timeout time.Duration
	// CloneDir is where the local clone lives, reused across loads and
	// restarts. Empty keeps the clone in memory for the process's lifetime.
	// The directory must be empty, missing or a clone this source made.
	CloneDir string
	// StateDir, when set, persists the last good snapshot (see Holder).
	StateDir string
	// Admit, when set, drops entries it returns false for (the filter).
	Admit  func(*upstream.Entry) bool
	Clock  func() time.Time
	Logger *slog.Logger
	// OnLoad is called after every load attempt with the new status and
	// how long the attempt took (metrics).
	OnLoad func(upstream.SourceStatus, time.Duration)
}

// Source serves a registry held in a git repository as a snapshot.
type Source struct {
	*upstream.Holder
	o      Options
	remote remote
	ref    plumbing.ReferenceName // the wanted ref; empty for a pinned commit
	pinned plumbing.Hash
	path   string // inside the repository, fs.ValidPath form
	where  string // names the input in errors: URL, ref and path

	commit atomic.Pointer[string] // commit of the installed snapshot

	// Guarded by the holder's attempt serialisation.
	repo      *git.Repository
	stamp     plumbing.Hash // what the wanted ref pointed at for the installed snapshot
	failStamp plumbing.Hash // ... for the last commit that failed to parse or install

	// What the source did, for tests: remote listings, fetches, and clones
	// created (not opened).
	lists, fetches, clones atomic.Int64
}

// targetRef is the clone's ref for the fetched commit (or tag): a ref of
// its own, so it is sent as a "have" and no branch of the clone is touched.
const targetRef = plumbing.ReferenceName("refs/mcpfed/target")

// markerFile, inside CloneDir, records which repository the clone is of:
// it proves the directory is this source's to reset.
const markerFile = "mcpfed-repository"

// New validates the options and returns an unloaded source; call Run, or
// Restore and Load. Every problem found is reported.
func New(o Options) (*Source, error) {
	installLocalTransport()
	var errs []error
	if o.Name == "" || strings.ContainsAny(o.Name, `/\`) {
		errs = append(errs, fmt.Errorf("name %q: a non-empty slug is required", o.Name))
	}
	rem, err := parseRepository(o.Repository)
	if err != nil {
		errs = append(errs, err)
	}
	s := &Source{o: o, remote: rem}
	set := 0
	for _, v := range []string{o.Branch, o.Tag, o.Commit} {
		if v != "" {
			set++
		}
	}
	switch {
	case set > 1:
		errs = append(errs, errors.New("at most one of branch, tag and commit may be set"))
	case o.Branch != "":
		s.ref = refName(o.Branch, "refs/heads/")
	case o.Tag != "":
		s.ref = refName(o.Tag, "refs/tags/")
	case o.Commit != "":
		if !plumbing.IsHash(strings.ToLower(o.Commit)) {
			errs = append(errs, fmt.Errorf("commit %q: a full 40-character hash is required", o.Commit))
		}
		s.pinned = plumbing.NewHash(strings.ToLower(o.Commit))
	default:
		s.ref = plumbing.HEAD
	}
	if s.ref != "" && s.ref.Validate() != nil {
		errs = append(errs, fmt.Errorf("%q is not a valid git ref name", s.ref.Short()))
	}
	s.path = "."
	if p := strings.Trim(o.Path, "/"); p != "" {
		s.path = path.Clean(p)
	}
	if !fs.ValidPath(s.path) {
		errs = append(errs, fmt.Errorf("path %q is not a path inside the repository", o.Path))
	}
	if o.PasswordFile != "" && o.TokenFile != "" {
		errs = append(errs, errors.New("passwordFile and tokenFile are alternatives; set one"))
	}
	creds := o.UsernameFile != "" || o.PasswordFile != "" || o.TokenFile != ""
	if o.UsernameFile != "" && o.PasswordFile == "" && o.TokenFile == "" {
		errs = append(errs, errors.New("usernameFile needs passwordFile or tokenFile"))
	}
	if creds && rem.local {
		errs = append(errs, errors.New("credentials are only for http(s) repositories"))
	}
	if o.Interval < 0 || o.Timeout < 0 || o.MaxFiles < 0 || o.MaxBytes < 0 {
		errs = append(errs, errors.New("interval, timeout, maxFiles and maxBytes may not be negative"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("git source %q: %w", o.Name, errors.Join(errs...))
	}

	if s.o.MaxFiles == 0 {
		s.o.MaxFiles = DefaultMaxFiles
	}
	if s.o.MaxBytes == 0 {
		s.o.MaxBytes = DefaultMaxBytes
	}
	if s.o.Timeout == 0 {
		s.o.Timeout = DefaultTimeout
	}
	if s.o.Logger == nil {
		s.o.Logger = slog.New(slog.DiscardHandler)
	}
	if creds && rem.plain {
		s.o.Logger.Warn("credentials will be sent over plain http", "source", o.Name, "repository", rem.url)
	}
	s.where = fmt.Sprintf("%s (%s, path %s)", rem.url, s.describeRef(), s.path)
	s.Holder = upstream.NewHolder(upstream.HolderOptions{
		Name: o.Name, Kind: Kind, Admit: o.Admit, StateDir: o.StateDir,
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

// Run serves the persisted snapshot if there is one, loads at once, then
// checks the remote ref every Interval until ctx ends.
func (s *Source) Run(ctx context.Context) {
	upstream.RunLoop(ctx, s.o.Interval, s.Restore, s.Load)
}

// Load checks the remote once, fetching and installing a new commit when
// the ref has moved. It returns nil when nothing changed.
func (s *Source) Load(ctx context.Context) error {
	return s.Attempt(ctx, s.where, s.load)
}

func (s *Source) load(ctx context.Context, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	want := s.pinned
	if want.IsZero() {
		var err error
		if want, err = s.resolveRemote(ctx); err != nil {
			return err
		}
	}
	if err := s.judged(want); err != nil {
		return err
	}
	repo, err := s.open()
	if err != nil {
		return err
	}
	got, err := s.fetch(ctx, repo, want)
	if err != nil {
		return err
	}
	// The ref may have moved again between listing and fetching.
	if err := s.judged(got); err != nil {
		return err
	}
	commit, err := s.install(repo, got, now)
	if err != nil {
		s.failStamp = got // not read again until the ref moves
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

// resolveRemote lists the remote's refs and returns what the wanted ref
// points at (a commit, or an annotated tag object).
func (s *Source) resolveRemote(ctx context.Context) (plumbing.Hash, error) {
	auth, err := s.auth()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	s.lists.Add(1)
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{s.remote.dial}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("list refs: %w", err)
	}
	byName := make(map[plumbing.ReferenceName]*plumbing.Reference, len(refs))
	for _, r := range refs {
		byName[r.Name()] = r
	}
	r := byName[s.ref]
	for hops := 0; r != nil && r.Type() == plumbing.SymbolicReference && hops < 5; hops++ {
		r = byName[r.Target()]
	}
	if r == nil || r.Type() != plumbing.HashReference {
		return plumbing.ZeroHash, fmt.Errorf("%s not found on the remote", s.describeRef())
	}
	return r.Hash(), nil
}

// fetch brings want into the clone, unless it is there already, and
// returns what the ref pointed at when fetched (it may have moved since
// the listing).
func (s *Source) fetch(ctx context.Context, repo *git.Repository, want plumbing.Hash) (plumbing.Hash, error) {
	if repo.Storer.HasEncodedObject(want) == nil {
		// Already fetched (a restart, or the ref moved back): point the
		// target ref at it so later fetches send it as a have.
		return want, repo.Storer.SetReference(plumbing.NewHashReference(targetRef, want))
	}
	auth, err := s.auth()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	src := s.ref.String()
	if !s.pinned.IsZero() {
		src = s.pinned.String()
	}
	opts := &git.FetchOptions{
		RemoteURL: s.remote.dial,
		RefSpecs:  []config.RefSpec{config.RefSpec("+" + src + ":" + targetRef.String())},
		Depth:     1,
		Auth:      auth,
		Tags:      git.NoTags,
		Force:     true,
	}
	if s.remote.local {
		opts.Depth = 0 // the in-process server cannot do shallow fetches
	}
	rem := git.NewRemote(repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{s.remote.dial}})
	s.fetches.Add(1)
	err = rem.FetchContext(ctx, opts)
	if errors.Is(err, git.ErrExactSHA1NotSupported) {
		// The server will not hand out a commit by its hash: fetch every
		// branch and tag in full and look for it there.
		s.o.Logger.Warn("the remote does not serve commits by hash; fetching all branches and tags", "source", s.o.Name, "repository", s.remote.url)
		opts.Depth = 0
		opts.RefSpecs = []config.RefSpec{"+refs/heads/*:refs/mcpfed/heads/*", "+refs/tags/*:refs/mcpfed/tags/*"}
		s.fetches.Add(1)
		err = rem.FetchContext(ctx, opts)
	}
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return plumbing.ZeroHash, fmt.Errorf("fetch: %w", err)
	}
	if !s.pinned.IsZero() {
		if repo.Storer.HasEncodedObject(want) != nil {
			return plumbing.ZeroHash, fmt.Errorf("commit %s not found on the remote", want)
		}
		return want, repo.Storer.SetReference(plumbing.NewHashReference(targetRef, want))
	}
	ref, err := repo.Storer.Reference(targetRef)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch: %w", err)
	}
	return ref.Hash(), nil
}

// install reads the path from the commit's tree and installs it.
func (s *Source) install(repo *git.Repository, h plumbing.Hash, now time.Time) (plumbing.Hash, error) {
	commit, err := peelCommit(repo, h)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	tree, err := commit.Tree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", commit.Hash, err)
	}
	fsys := &treeFS{s: repo.Storer, root: tree, when: commit.Committer.When}
	doc, err := upstream.ParseTree(fsys, s.path, s.o.MaxFiles, s.o.MaxBytes)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", commit.Hash.String()[:12], err)
	}
	if err := s.Install(doc, now); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", commit.Hash.String()[:12], err)
	}
	return commit.Hash, nil
}

// peelCommit follows annotated tags to the commit.
func peelCommit(repo *git.Repository, h plumbing.Hash) (*object.Commit, error) {
	for range 10 {
		obj, err := repo.Object(plumbing.AnyObject, h)
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

// open returns the clone, opening or creating it on first use. A directory
// holding a clone of another repository (a changed configuration) is
// reset, but only when the marker shows this source made it.
func (s *Source) open() (*git.Repository, error) {
	if s.repo != nil {
		return s.repo, nil
	}
	if s.o.CloneDir == "" {
		repo, err := git.Init(memory.NewStorage(), nil)
		if err != nil {
			return nil, err
		}
		s.clones.Add(1)
		s.repo = repo
		return repo, nil
	}
	dir := s.o.CloneDir
	marker, err := os.ReadFile(filepath.Join(dir, markerFile))
	switch {
	case err == nil && strings.TrimSpace(string(marker)) == s.remote.url:
		repo, err := git.Open(storage(dir), nil)
		if err == nil {
			s.o.Logger.Debug("reusing the local clone", "source", s.o.Name, "dir", dir)
			s.repo = repo
			return repo, nil
		}
		s.o.Logger.Warn("local clone unreadable; cloning afresh", "source", s.o.Name, "dir", dir, "error", err)
	case err == nil:
		s.o.Logger.Info("local clone is of another repository; cloning afresh", "source", s.o.Name, "dir", dir)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("clone directory: %w", err)
	default:
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			return nil, fmt.Errorf("clone directory %s is not empty and is not a clone made by mcpfed", dir)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clone directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("clone directory: %w", err)
	}
	// The marker goes first: a crash before the clone is complete leaves a
	// directory this source may reset.
	if err := os.WriteFile(filepath.Join(dir, markerFile), []byte(s.remote.url+"\n"), 0o640); err != nil {
		return nil, fmt.Errorf("clone directory: %w", err)
	}
	repo, err := git.Init(storage(dir), nil)
	if err != nil {
		return nil, fmt.Errorf("clone directory: %w", err)
	}
	s.clones.Add(1)
	s.o.Logger.Info("created the local clone", "source", s.o.Name, "dir", dir)
	s.repo = repo
	return repo, nil
}

// storage is a bare repository in dir with a small object cache: objects
// are read once per new commit, so go-git's default 96 MiB cache would
// only hold memory.
func storage(dir string) *filesystem.Storage {
	return filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRU(4*cache.MiByte))
}
