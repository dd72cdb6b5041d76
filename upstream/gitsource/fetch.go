package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/mcpfed/mcpfed/upstream"
)

// targetRef is the clone's ref for the fetched commit (or tag): a ref of
// its own, so it is sent as a "have" and no branch of the clone is touched.
const targetRef = plumbing.ReferenceName("refs/mcpfed/target")

// markerFile, inside the clone directory, records which repository the
// clone is of: it proves the directory is this source's to reset.
const markerFile = "mcpfed-repository"

// fetchRemote brings what the wanted ref points at into the clone and
// returns the clone's store and that commit (or tag).
func (s *Source) fetchRemote(ctx context.Context) (storer.EncodedObjectStorer, plumbing.Hash, func(), error) {
	want := s.pinned
	if want.IsZero() {
		var err error
		if want, err = s.resolveRemote(ctx); err != nil {
			return nil, plumbing.ZeroHash, nil, err
		}
	}
	if err := s.judged(want); err != nil {
		return nil, plumbing.ZeroHash, nil, err
	}
	sto, err := s.openClone()
	if err != nil {
		return nil, plumbing.ZeroHash, nil, err
	}
	release := func() { _ = sto.Close() }
	got, err := s.fetch(ctx, sto, want)
	if errors.Is(err, ErrObjectTooLarge) {
		s.failStamp = want // not fetched again until the ref moves
	}
	return sto, got, release, err
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
		return plumbing.ZeroHash, fmt.Errorf("list refs: %w", s.redact(err))
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

// redact replaces the dialled URL in go-git's error texts by the one shown:
// a query could carry a secret.
func (s *Source) redact(err error) error {
	if err == nil || s.remote.dial == s.remote.url || !strings.Contains(err.Error(), s.remote.dial) {
		return err
	}
	return redactedError{err: err, text: strings.ReplaceAll(err.Error(), s.remote.dial, s.remote.url)}
}

type redactedError struct {
	err  error
	text string
}

func (e redactedError) Error() string { return e.text }
func (e redactedError) Unwrap() error { return e.err }

// fetch brings want into the clone, unless it is there already, and
// returns what the ref pointed at when fetched (it may have moved since
// the listing). Every object received is checked against MaxBytes before
// go-git reads it (guardedStorage).
func (s *Source) fetch(ctx context.Context, sto *filesystem.Storage, want plumbing.Hash) (plumbing.Hash, error) {
	if sto.HasEncodedObject(want) == nil {
		// Already fetched (a restart, or the ref moved back): point the
		// target ref at it so later fetches send it as a have.
		return want, sto.SetReference(plumbing.NewHashReference(targetRef, want))
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
	guarded := &guardedStorage{Storage: sto, limit: s.objectLimit(), dir: s.cloneDir()}
	rem := git.NewRemote(guarded, &config.RemoteConfig{Name: "origin", URLs: []string{s.remote.dial}})
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
		return plumbing.ZeroHash, fmt.Errorf("fetch: %w", s.redact(err))
	}
	if !s.pinned.IsZero() {
		if sto.HasEncodedObject(want) != nil {
			return plumbing.ZeroHash, fmt.Errorf("commit %s not found on the remote", want)
		}
		return want, sto.SetReference(plumbing.NewHashReference(targetRef, want))
	}
	ref, err := sto.Reference(targetRef)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch: %w", err)
	}
	return ref.Hash(), nil
}

// cloneDir is where the clone lives: CloneDir, or a temporary directory
// (made by openClone) when there is none or the source is read-only.
func (s *Source) cloneDir() string {
	if s.o.CloneDir == "" || s.o.ReadOnly {
		return s.tempDir
	}
	return s.o.CloneDir
}

// openClone opens the clone, creating it on first use. A directory holding
// a clone of another repository (a changed configuration) is reset, but
// only when the marker shows this source made it.
func (s *Source) openClone() (*filesystem.Storage, error) {
	if (s.o.CloneDir == "" || s.o.ReadOnly) && s.tempDir == "" {
		dir, err := os.MkdirTemp("", "mcpfed-git-"+s.o.Name+"-")
		if err != nil {
			return nil, fmt.Errorf("temporary clone directory: %w", err)
		}
		s.tempDir = dir
	}
	dir := s.cloneDir()
	// The marker holds one URL: a bounded read of a regular file.
	marker, err := upstream.ReadRegular(context.Background(), filepath.Join(dir, markerFile), 64<<10)
	switch {
	case err == nil && strings.TrimSpace(string(marker)) == s.remote.url:
		sto := cloneStorage(dir)
		if _, err := git.Open(sto, nil); err == nil {
			s.o.Logger.Debug("reusing the local clone", "source", s.o.Name, "dir", dir)
			return sto, nil
		}
		_ = sto.Close()
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
	sto := cloneStorage(dir)
	if _, err := git.Init(sto, nil); err != nil {
		_ = sto.Close()
		return nil, fmt.Errorf("clone directory: %w", err)
	}
	s.clones.Add(1)
	s.o.Logger.Info("created the local clone", "source", s.o.Name, "dir", dir)
	return sto, nil
}

// cloneStorage is a bare repository in dir with a small object cache:
// objects are read once per new commit, so go-git's default 96 MiB cache
// would only hold memory. Pack files stay open until Close, once per load.
func cloneStorage(dir string) *filesystem.Storage {
	return filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(4*cache.MiByte),
		filesystem.Options{KeepDescriptors: true})
}
