package gitsource

import (
	"context"
	"errors"
	"fmt"
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
// blob's size is known from its header before it is read (the limits apply
// first). Symlinks and submodules show as irregular files; they are not
// followed. Trees and sizes are cached for the load: a walk looks each path
// up from the root, and a tree of thousands of entries is decoded once.
// Once ctx ends, every Open fails with its error.
type treeFS struct {
	ctx   context.Context
	s     storer.EncodedObjectStorer
	root  *object.Tree
	when  time.Time // the commit's time, as every file's modification time
	trees map[plumbing.Hash]*object.Tree
	sizes map[plumbing.Hash]int64
}

func newTreeFS(ctx context.Context, s storer.EncodedObjectStorer, root *object.Tree, when time.Time) *treeFS {
	return &treeFS{ctx: ctx, s: s, root: root, when: when,
		trees: map[plumbing.Hash]*object.Tree{}, sizes: map[plumbing.Hash]int64{}}
}

// tree decodes a tree object once.
func (t *treeFS) tree(h plumbing.Hash) (*object.Tree, error) {
	if tr, ok := t.trees[h]; ok {
		return tr, nil
	}
	tr, err := object.GetTree(t.s, h)
	if err != nil {
		return nil, err
	}
	t.trees[h] = tr
	return tr, nil
}

// size is an object's size from its header, without reading its content.
func (t *treeFS) size(h plumbing.Hash) (int64, error) {
	if n, ok := t.sizes[h]; ok {
		return n, nil
	}
	n, err := t.s.EncodedObjectSize(h)
	if err != nil {
		return 0, err
	}
	t.sizes[h] = n
	return n, nil
}

// checkSize refuses an object larger than limit from its header.
func checkSize(s storer.EncodedObjectStorer, h plumbing.Hash, limit int64) error {
	n, err := s.EncodedObjectSize(h)
	if err != nil {
		return fmt.Errorf("object %s: %w", h, err)
	}
	if n > limit {
		return fmt.Errorf("%w: object %s is %d bytes (maxBytes is %d)", ErrObjectTooLarge, h, n, limit)
	}
	return nil
}

// checkLimits applies upstream.ParseTree's directory limits before it runs,
// from the trees alone: the server.json files under root (hidden
// directories skipped, as ParseTree does) are counted first, stopping at
// the first past maxFiles without looking at any blob, then their sizes are
// summed from the object headers, stopping at the first past maxBytes. No
// content is read. A root that is a file is left to ParseTree, which
// checks its size from the header before reading it.
func (t *treeFS) checkLimits(root string, maxFiles int, maxBytes int64) error {
	dir := t.root
	if root != "." {
		e, err := t.lookup(root)
		if err != nil {
			return &fs.PathError{Op: "open", Path: root, Err: err}
		}
		if e.Mode != filemode.Dir {
			return nil
		}
		if dir, err = t.tree(e.Hash); err != nil {
			return &fs.PathError{Op: "open", Path: root, Err: err}
		}
	}
	type file struct {
		path string
		hash plumbing.Hash
		mode filemode.FileMode
	}
	var files []file
	visited := 0
	var walk func(p string, tr *object.Tree) error
	walk = func(p string, tr *object.Tree) error {
		for _, e := range tr.Entries {
			if visited++; visited%1024 == 0 {
				if err := t.ctx.Err(); err != nil {
					return err
				}
			}
			name := path.Join(p, e.Name)
			if e.Mode == filemode.Dir {
				if strings.HasPrefix(e.Name, ".") {
					continue
				}
				sub, err := t.tree(e.Hash)
				if err != nil {
					return &fs.PathError{Op: "open", Path: name, Err: err}
				}
				if err := walk(name, sub); err != nil {
					return err
				}
				continue
			}
			if e.Name != "server.json" {
				continue
			}
			if maxFiles > 0 && len(files) == maxFiles {
				return fmt.Errorf("%s: more than %d server.json files (the limit)", root, maxFiles)
			}
			files = append(files, file{name, e.Hash, e.Mode})
		}
		return nil
	}
	if err := walk(root, dir); err != nil {
		return err
	}
	var total int64
	for _, f := range files {
		if f.mode != filemode.Regular && f.mode != filemode.Deprecated && f.mode != filemode.Executable {
			continue // ParseTree names it as not a regular file
		}
		n, err := t.size(f.hash)
		if err != nil {
			return &fs.PathError{Op: "stat", Path: f.path, Err: err}
		}
		if total += n; maxBytes > 0 && total > maxBytes {
			return fmt.Errorf("%s: server.json files exceed the limit of %d bytes (reached at %s)", root, maxBytes, f.path)
		}
	}
	return nil
}

func (t *treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if err := t.ctx.Err(); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if name == "." {
		return &treeDir{fsys: t, name: name, tree: t.root}, nil
	}
	e, err := t.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if e.Mode == filemode.Dir {
		sub, err := t.tree(e.Hash)
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
		if tree, err = t.tree(e.Hash); err != nil {
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
		size, err := t.size(e.Hash)
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

// treeFile opens its blob on the first Read, and reads no more than the
// size its header gave, whatever the content holds.
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
		r, err := blob.Reader()
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
		}
		f.r = limitedReadCloser{io.LimitReader(r, f.info.size), r}
	}
	return f.r.Read(p)
}

type limitedReadCloser struct {
	io.Reader
	io.Closer
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
