package curation

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"strings"

	"github.com/mcpfed/mcpfed/upstream"
)

// A decisions source of kind git is fetched by the git source (its
// transport, limits, credentials and clone), which hands the commit's tree
// to TreeReader instead of parsing it as a registry: see "Needs the lead"
// in the notes of issue 14 (gitsource.Options.Read).

// ReadDocumentFS reads the decisions document at name in fsys (a commit's
// tree): a regular file of at most maxBytes (and MaxDocumentBytes), its
// size checked before anything is read.
func ReadDocumentFS(fsys fs.FS, name string, maxBytes int64) ([]byte, error) {
	name = path.Clean(strings.Trim(name, "/"))
	if maxBytes <= 0 || maxBytes > MaxDocumentBytes {
		maxBytes = MaxDocumentBytes
	}
	info, err := fs.Stat(fsys, name)
	switch {
	case err != nil:
		return nil, err
	case info.IsDir():
		return nil, fmt.Errorf("%s is a directory: a decisions source reads one file (path: decisions.yaml)", name)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("%s: not a regular file (%s)", name, info.Mode().Type())
	case info.Size() > maxBytes:
		return nil, fmt.Errorf("%s: %d bytes exceeds the limit of %d: %w", name, info.Size(), maxBytes, upstream.ErrTooLarge)
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%s: grew past the limit of %d bytes: %w", name, maxBytes, upstream.ErrTooLarge)
	}
	return data, nil
}

// TreeReader is what a git source of decisions reads its commit's tree
// with, in place of upstream.ParseTree (its signature): it reads the
// document at root within maxBytes, applies its decisions to set under
// name, keeps it in stateDir ("" keeps nothing) for the next start
// (RestoreKept), and returns an empty registry document: the source
// serves no servers. A document that fails is not applied; the git source
// reports the error and the last good decisions stay.
func TreeReader(set *Set, name, stateDir string, logger *slog.Logger) func(fsys fs.FS, root string, maxFiles int, maxBytes int64) (*upstream.Document, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(fsys fs.FS, root string, _ int, maxBytes int64) (*upstream.Document, error) {
		data, err := ReadDocumentFS(fsys, root, maxBytes)
		if err != nil {
			return nil, err
		}
		decs, err := ParseDocument(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", root, err)
		}
		set.SetDocument(name, decs)
		if stateDir != "" {
			if err := writeAtomic(keptPath(stateDir, name), data); err != nil {
				logger.Warn("could not keep the decisions document", "source", name, "error", err)
			}
		}
		logger.Info("decisions document read", "source", name, "decisions", len(decs))
		return &upstream.Document{}, nil
	}
}

// RestoreKept applies the document TreeReader kept for the named source,
// if there is a good one: call it before the source's first load, so a
// restart while the repository cannot be reached keeps the decisions. It
// reports whether one was applied.
func RestoreKept(set *Set, name, stateDir string, logger *slog.Logger) bool {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	data := readKept(stateDir, name, logger)
	if data == nil {
		return false
	}
	decs, err := ParseDocument(data)
	if err != nil {
		logger.Warn("ignoring the kept decisions document", "source", name, "error", err)
		return false
	}
	set.SetDocument(name, decs)
	return true
}
