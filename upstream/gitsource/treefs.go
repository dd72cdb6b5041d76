package gitsource

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// treeFS is a commit's tree as an fs.FS, so the registry files are read
// straight from the object store: nothing is written to a worktree, and a
// blob's size is known before it is read (the limits apply first).
// Symlinks and submodules show as irregular files; they are not followed.
type treeFS struct {
	s    storer.EncodedObjectStorer
	root *object.Tree
	when time.Time // the commit's time, as every file's modification time
}

func (t *treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &treeDir{fsys: t, name: name, tree: t.root}, nil
	}
	e, err := t.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if e.Mode == filemode.Dir {
		sub, err := object.GetTree(t.s, e.Hash)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &treeDir{fsys: t, name: name, tree: sub}, nil
	}
	info, err := t.info(path.Base(name), e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeFile{fsys: t, name: name, hash: e.Hash, info: info}, nil
}

// lookup finds a path's entry one directory at a time, so that a file
// used as a directory is "not exist" while a missing object (a damaged
// store) stays an error of its own.
func (t *treeFS) lookup(name string) (*object.TreeEntry, error) {
	tree := t.root
	parts := strings.Split(name, "/")
	for i, part := range parts {
		// One component at a time; go-git also refuses names such as .git.
		e, err := tree.FindEntry(part)
		if err != nil {
			return nil, fs.ErrNotExist
		}
		if i == len(parts)-1 {
			return e, nil
		}
		if e.Mode != filemode.Dir {
			return nil, fs.ErrNotExist
		}
		if tree, err = object.GetTree(t.s, e.Hash); err != nil {
			return nil, err
		}
	}
	return nil, fs.ErrNotExist // unreachable: name has a component
}

func (t *treeFS) info(name string, e *object.TreeEntry) (fileInfo, error) {
	fi := fileInfo{name: name, when: t.when}
	switch e.Mode {
	case filemode.Dir:
		fi.mode = fs.ModeDir | 0o555
	case filemode.Regular, filemode.Deprecated:
		fi.mode = 0o444
	case filemode.Executable:
		fi.mode = 0o555
	case filemode.Symlink:
		fi.mode = fs.ModeSymlink | 0o444
	default: // a submodule: a commit of another repository
		fi.mode = fs.ModeIrregular
	}
	if fi.mode.IsRegular() {
		size, err := t.s.EncodedObjectSize(e.Hash)
		if err != nil {
			return fileInfo{}, err
		}
		fi.size = size
	}
	return fi, nil
}

type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
	when time.Time
}

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi fileInfo) ModTime() time.Time { return fi.when }
func (fi fileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi fileInfo) Sys() any           { return nil }

// treeFile opens its blob on the first Read.
type treeFile struct {
	fsys *treeFS
	name string
	hash plumbing.Hash
	info fileInfo
	r    io.ReadCloser
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *treeFile) Read(p []byte) (int, error) {
	if !f.info.mode.IsRegular() {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: errors.New("not a regular file")}
	}
	if f.r == nil {
		blob, err := object.GetBlob(f.fsys.s, f.hash)
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
		}
		if f.r, err = blob.Reader(); err != nil {
			return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
		}
	}
	return f.r.Read(p)
}

func (f *treeFile) Close() error {
	if f.r == nil {
		return nil
	}
	err := f.r.Close()
	f.r = nil
	return err
}

type treeDir struct {
	fsys *treeFS
	name string
	tree *object.Tree
	next int // entries already returned by ReadDir
}

func (d *treeDir) Stat() (fs.FileInfo, error) {
	return fileInfo{name: path.Base(d.name), mode: fs.ModeDir | 0o555, when: d.fsys.when}, nil
}

func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}

func (d *treeDir) Close() error { return nil }

// ReadDir follows fs.ReadDirFile; fs.ReadDir and fs.WalkDir sort the result.
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.tree.Entries[d.next:]
	if n > 0 && len(rest) == 0 {
		return nil, io.EOF
	}
	if n > 0 && n < len(rest) {
		rest = rest[:n]
	}
	out := make([]fs.DirEntry, 0, len(rest))
	for i := range rest {
		out = append(out, dirEntry{fsys: d.fsys, e: rest[i]})
	}
	d.next += len(rest)
	return out, nil
}

// dirEntry looks the blob's size up only when Info is asked for.
type dirEntry struct {
	fsys *treeFS
	e    object.TreeEntry
}

func (de dirEntry) Name() string { return de.e.Name }
func (de dirEntry) IsDir() bool  { return de.e.Mode == filemode.Dir }

func (de dirEntry) Type() fs.FileMode {
	switch de.e.Mode {
	case filemode.Dir:
		return fs.ModeDir
	case filemode.Regular, filemode.Deprecated, filemode.Executable:
		return 0
	case filemode.Symlink:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}

func (de dirEntry) Info() (fs.FileInfo, error) { return de.fsys.info(de.e.Name, &de.e) }
