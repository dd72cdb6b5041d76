package gitsource

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/mcpfed/mcpfed/upstream"
)

// Defaults of a git source's options, applied to zero values (the
// configuration does not restate them).
const (
	// DefaultInterval is how often the remote ref is checked.
	DefaultInterval = 5 * time.Minute
	// DefaultMaxFiles bounds the server.json files of a directory.
	DefaultMaxFiles = 10000
	// DefaultMaxBytes bounds the registry files read, and any one object
	// fetched (see Options.MaxBytes).
	DefaultMaxBytes = 64 << 20
	// DefaultLoadTimeout bounds one load: listing, fetching and reading.
	DefaultLoadTimeout = 5 * time.Minute
)

// Options configure a git source. Zero values take the defaults above.
type Options struct {
	// Name is the source's slug.
	Name string
	// Repository is an https:// or http:// URL, a file:// URL or a local
	// path. It must not hold credentials: they come from the files.
	Repository string
	// Branch, Tag and Commit select what is served; at most one is set.
	// None means the remote's default branch (its HEAD). Commit is a full
	// 40-hex hash; a pinned commit is fetched once and never listed.
	Branch, Tag, Commit string
	// Path is a registry file, or a directory whose server.json files are
	// served, inside the repository ("" is the root directory).
	Path string
	// Interval between checks of the ref (DefaultInterval).
	Interval time.Duration
	// UsernameFile, PasswordFile and TokenFile hold https credentials, read
	// at each use (credential.ReadFile) and never logged. A token is sent as
	// the password of basic auth (what git hosts expect); without
	// UsernameFile the user name is "x-access-token". PasswordFile and
	// TokenFile are alternatives.
	UsernameFile, PasswordFile, TokenFile string
	// MaxFiles bounds the number of server.json files read (DefaultMaxFiles):
	// the walk stops at the first one past it, before reading any.
	MaxFiles int
	// MaxBytes bounds the sum of the registry files read
	// (DefaultMaxBytes), checked from the object headers before any content
	// is read. It also bounds every object a fetch receives (but never
	// below 1 MiB): go-git would inflate a larger one in memory, so a
	// commit holding one anywhere in its tree fails the load.
	MaxBytes int64
	// LoadTimeout bounds one load: listing, fetching and reading
	// (DefaultLoadTimeout).
	LoadTimeout time.Duration
	// CloneDir is where the local clone of an http(s) repository lives,
	// reused across loads and restarts. The directory must be empty,
	// missing or a clone this source made. Empty (or ReadOnly) clones into
	// a temporary directory that Close removes. A local repository is read
	// in place: nothing is cloned.
	CloneDir string
	// ReadOnly writes nothing that outlives the source: the clone goes to a
	// temporary directory removed by Close, whatever CloneDir says, and the
	// persisted snapshot is restored but never saved (mcpfed check).
	ReadOnly bool
	// Optional lets a local repository be missing when the source is built:
	// loads fail (and the source is not ready) until it appears. Otherwise
	// New refuses a missing local repository.
	Optional bool
	// Store persists the last good snapshot; nil with StateDir set is
	// upstream.NewStateDirStore(StateDir, Name, "git", 2×MaxBytes).
	Store    upstream.SnapshotStore
	StateDir string
	// Admit, when set, drops entries it returns false for (the filter).
	Admit func(*upstream.Entry) bool
	// Read, when set, reads the commit's tree in place of
	// upstream.ParseTree (its signature), after the same limits are
	// checked: a source of curation decisions (curation.TreeReader).
	Read   func(fsys fs.FS, root string, maxFiles int, maxBytes int64) (*upstream.Document, error)
	Clock  func() time.Time
	Logger *slog.Logger
	// OnLoad is called after every load attempt with the new status and
	// how long the attempt took (metrics).
	OnLoad func(upstream.SourceStatus, time.Duration)
}

// Validate checks the options as written, before defaults, without touching
// the file system or the network. Messages name the options by their
// configuration names (repository, branch, tag, commit, path, interval,
// maxFiles, maxBytes, loadTimeout, tokenFile, usernameFile, passwordFile),
// so a caller only prefixes where the source is configured; all problems
// are joined. No message quotes the repository URL's credentials.
func (o Options) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Name == "" || strings.ContainsAny(o.Name, `/\`) {
		add("name %q: a non-empty slug is required", o.Name)
	}
	rem, err := parseRepository(o.Repository)
	if err != nil {
		errs = append(errs, err)
	}
	if _, _, err := o.selection(); err != nil {
		errs = append(errs, err)
	}
	if _, err := o.treePath(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, upstream.LoadBounds{Interval: o.Interval, LoadTimeout: o.LoadTimeout, MaxBytes: o.MaxBytes, MaxFiles: o.MaxFiles}.Problems(
		upstream.LoadBounds{Interval: DefaultInterval, LoadTimeout: DefaultLoadTimeout, MaxBytes: DefaultMaxBytes, MaxFiles: DefaultMaxFiles})...)
	if o.PasswordFile != "" && o.TokenFile != "" {
		add("tokenFile and passwordFile exclude each other: set one")
	}
	if o.UsernameFile != "" && o.PasswordFile == "" && o.TokenFile == "" {
		add("usernameFile needs passwordFile or tokenFile")
	}
	if o.hasCredentials() && err == nil && rem.local {
		add("tokenFile, usernameFile and passwordFile apply only to an http(s) repository")
	}
	return errors.Join(errs...)
}

func (o Options) hasCredentials() bool {
	return o.UsernameFile != "" || o.PasswordFile != "" || o.TokenFile != ""
}

// selection is the ref to follow, or the pinned commit.
func (o Options) selection() (plumbing.ReferenceName, plumbing.Hash, error) {
	set := 0
	for _, v := range []string{o.Branch, o.Tag, o.Commit} {
		if v != "" {
			set++
		}
	}
	var ref plumbing.ReferenceName
	var what string
	switch {
	case set > 1:
		return "", plumbing.ZeroHash, errors.New("branch, tag and commit exclude each other: set one, or none for the default branch")
	case o.Branch != "":
		ref, what = refName(o.Branch, "refs/heads/"), "branch"
	case o.Tag != "":
		ref, what = refName(o.Tag, "refs/tags/"), "tag"
	case o.Commit != "":
		c := strings.ToLower(o.Commit)
		if len(c) != 40 || !plumbing.IsHash(c) {
			return "", plumbing.ZeroHash, fmt.Errorf("commit %q must be a full 40-character hexadecimal hash", o.Commit)
		}
		return "", plumbing.NewHash(c), nil
	default:
		return plumbing.HEAD, plumbing.ZeroHash, nil
	}
	if ref.Validate() != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("%s %q is not a valid git ref name", what, ref.Short())
	}
	return ref, plumbing.ZeroHash, nil
}

// treePath is Path in fs.ValidPath form ("." for the root).
func (o Options) treePath() (string, error) {
	p := "."
	if t := strings.Trim(o.Path, "/"); t != "" {
		p = path.Clean(t)
	}
	if !fs.ValidPath(p) {
		return "", fmt.Errorf("path %q is not a path inside the repository", o.Path)
	}
	return p, nil
}

// withDefaults fills zero values.
func (o Options) withDefaults() Options {
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.LoadTimeout == 0 {
		o.LoadTimeout = DefaultLoadTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Store == nil && o.StateDir != "" {
		// Each entry is saved with its _meta block: room beyond the files' bytes.
		o.Store = upstream.NewStateDirStore(o.StateDir, o.Name, Kind, 2*o.MaxBytes)
	}
	if o.ReadOnly && o.Store != nil {
		o.Store = upstream.ReadOnly(o.Store)
	}
	return o
}
