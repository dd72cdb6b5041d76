package gitsource

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// readLocal opens a local repository's own store, read in place, and
// resolves what is served. Nothing is copied: objects are read where they
// are, larger ones refused from their headers, and the repository is never
// written. A repository changed while it is read (a gc) fails that load;
// the next one reads it again.
func (s *Source) readLocal() (storer.EncodedObjectStorer, plumbing.Hash, func(), error) {
	sto, err := openLocalStore(s.remote.path)
	if err != nil {
		return nil, plumbing.ZeroHash, nil, fmt.Errorf("repository %s: %w", s.remote.url, err)
	}
	release := func() {
		if c, ok := sto.(io.Closer); ok {
			_ = c.Close()
		}
	}
	want := s.pinned
	if want.IsZero() {
		s.lists.Add(1)
		ref, err := storer.ResolveReference(sto, s.ref)
		switch {
		case errors.Is(err, plumbing.ErrReferenceNotFound):
			return nil, plumbing.ZeroHash, release, fmt.Errorf("%s not found in the repository", s.describeRef())
		case err != nil:
			return nil, plumbing.ZeroHash, release, fmt.Errorf("read %s: %w", s.describeRef(), err)
		}
		want = ref.Hash()
	} else if sto.HasEncodedObject(want) != nil {
		return nil, plumbing.ZeroHash, release, fmt.Errorf("commit %s not found in the repository", want)
	}
	return sto, want, release, nil
}

// openLocalStore opens the object store of the repository in dir: its .git
// directory, or dir itself when bare. Pack files stay open until Close (one
// open per load, not per object) and the object cache is small: objects are
// read once per new commit.
func openLocalStore(dir string) (storage.Storer, error) {
	gitDir := filepath.Join(dir, ".git")
	info, err := os.Stat(gitDir)
	switch {
	case err == nil && info.IsDir():
	case err == nil:
		// A .git file points elsewhere (a linked worktree, a submodule):
		// go-git follows it.
		repo, err := git.PlainOpen(dir)
		if err != nil {
			return nil, err
		}
		return repo.Storer, nil
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(dir); err != nil {
			return nil, errors.Unwrap(err) // "no such file or directory", without repeating the path
		}
		if !isBare(dir) {
			return nil, git.ErrRepositoryNotExists
		}
		gitDir = dir
	default:
		return nil, err
	}
	return filesystem.NewStorageWithOptions(osfs.New(gitDir), cache.NewObjectLRU(4*cache.MiByte),
		filesystem.Options{KeepDescriptors: true}), nil
}

// isBare reports whether dir looks like a bare repository.
func isBare(dir string) bool {
	for _, name := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}
