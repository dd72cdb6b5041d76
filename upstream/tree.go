package upstream

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// ParseTree parses root inside fsys: either one registry file (any format
// Parse knows) or a directory, of which every file named server.json below
// it is parsed (hidden directories skipped, the same rule as a file source's
// directory). At most maxFiles server.json files and maxBytes bytes in total
// are read; zero or less means no limit. Sizes are checked before anything
// is read, so an oversized tree costs no parsing. Errors name the file,
// relative to fsys.
func ParseTree(fsys fs.FS, root string, maxFiles int, maxBytes int64) (*Document, error) {
	root = path.Clean(strings.Trim(root, "/"))
	if root == "" {
		root = "."
	}
	info, err := fs.Stat(fsys, root)
	if err != nil {
		return nil, err // a PathError names root
	}
	switch {
	case info.IsDir():
		return parseTreeDir(fsys, root, maxFiles, maxBytes)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("%s: not a regular file or directory (%s)", root, info.Mode().Type())
	case maxBytes > 0 && info.Size() > maxBytes:
		return nil, fmt.Errorf("%s: %d bytes exceeds the limit of %d", root, info.Size(), maxBytes)
	}
	data, err := readTreeFile(fsys, root, treeByteLimit(maxBytes))
	if err != nil {
		return nil, err
	}
	doc, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", root, err)
	}
	return doc, nil
}

func parseTreeDir(fsys fs.FS, root string, maxFiles int, maxBytes int64) (*Document, error) {
	var files []string
	var total int64
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return fs.SkipDir
		}
		if d.IsDir() || d.Name() != "server.json" {
			return nil
		}
		if maxFiles > 0 && len(files) == maxFiles {
			return fmt.Errorf("%s: more than %d server.json files (the limit)", root, maxFiles)
		}
		// Stat, not d.Info: on a disk a symlinked server.json is taken by
		// its target, as the file source does.
		info, err := fs.Stat(fsys, p)
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file (%s)", p, info.Mode().Type())
		}
		total += info.Size()
		if maxBytes > 0 && total > maxBytes {
			return fmt.Errorf("%s: server.json files exceed the limit of %d bytes (reached at %s)", root, maxBytes, p)
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	doc := &Document{Format: FormatDirectory}
	budget := treeByteLimit(maxBytes)
	for _, p := range files {
		data, err := readTreeFile(fsys, p, budget)
		if err != nil {
			return nil, err
		}
		if budget >= 0 {
			budget -= int64(len(data))
		}
		d, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		doc.merge(d)
	}
	return doc, nil
}

// treeByteLimit turns ParseTree's "zero or less: no limit" into readTreeFile's.
func treeByteLimit(maxBytes int64) int64 {
	if maxBytes <= 0 {
		return -1
	}
	return maxBytes
}

// readTreeFile reads a file, failing once more than limit bytes arrive (a
// file on a disk may grow after it was measured); a negative limit is none.
func readTreeFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// What was opened, not what the path named when the walk measured it.
	if info, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	} else if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", name, ErrNotRegular, fileType(info.Mode()))
	}
	var r io.Reader = f
	if limit >= 0 {
		r = io.LimitReader(f, limit+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if limit >= 0 && int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than measured, past the %d bytes left under the limit", name, limit)
	}
	return data, nil
}
