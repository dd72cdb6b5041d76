package upstream

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/credential"
)

// Defaults of a file source's options, applied to zero values (the
// configuration does not restate them).
const (
	// DefaultFileInterval is how often a local file or directory is checked
	// for changes.
	DefaultFileInterval = 30 * time.Second
	// DefaultURLInterval is how often a URL is fetched again (conditionally).
	DefaultURLInterval = 5 * time.Minute
	// DefaultMaxBytes bounds one file, a directory's files together, or a
	// URL's body.
	DefaultMaxBytes = 64 << 20
	// DefaultMaxFiles bounds the server.json files of a directory.
	DefaultMaxFiles = 10000
	// DefaultLoadTimeout bounds one load attempt, reads and fetch included.
	DefaultLoadTimeout = 2 * time.Minute
)

// FileOptions configure a file source. Zero values take the defaults above.
type FileOptions struct {
	// Name is the source's slug.
	Name string
	// Path is a file, a directory of server.json files, an http(s) URL, or
	// BuiltinPrefix followed by the name of a built-in catalogue file.
	Path string
	// Interval between change checks: DefaultFileInterval for a local path,
	// DefaultURLInterval for a URL; a built-in catalogue is read once.
	Interval time.Duration
	// MaxBytes bounds one file, the sum of a directory's files, or a URL's
	// body; whatever a file's size claims, no more is read.
	MaxBytes int64
	// MaxFiles bounds the server.json files of a directory.
	MaxFiles int
	// LoadTimeout bounds one load attempt.
	LoadTimeout time.Duration
	// Optional lets a local path be missing: the source waits (failed, not
	// ready) until it appears. Otherwise a missing path is an error of
	// NewFileSource.
	Optional bool
	// TokenFile (a bearer token) or UsernameFile and PasswordFile (basic
	// authentication) name secret files for an https URL, read at every
	// fetch, sent to the URL's host only.
	TokenFile, UsernameFile, PasswordFile string
	// Admit, when set, drops entries it returns false for (the source's filter).
	Admit func(*Entry) bool
	// Builtin is the embedded catalogue that BuiltinPrefix paths read from.
	Builtin fs.FS
	// HTTPClient fetches URLs; redirects to another host are refused when
	// credentials are set. Defaults to http.DefaultTransport's client; the
	// load timeout bounds every fetch.
	HTTPClient *http.Client
	// Store persists the last good snapshot; nil with StateDir set is
	// NewStateDirStore(StateDir, Name, "file", 2×MaxBytes).
	Store    SnapshotStore
	StateDir string
	// ReadOnly restores from the store and never saves (mcpfed check).
	ReadOnly bool
	Clock    func() time.Time
	Logger   *slog.Logger
	// OnLoad is called after every load attempt with the new status and how
	// long the attempt took (metrics).
	OnLoad func(SourceStatus, time.Duration)
}

// The kinds of location a file source reads.
func (o FileOptions) isURL() bool {
	return strings.HasPrefix(o.Path, "http://") || strings.HasPrefix(o.Path, "https://")
}

func (o FileOptions) isBuiltin() bool { return strings.HasPrefix(o.Path, BuiltinPrefix) }

// Validate checks the options as written, before defaults, without touching
// the file system or the network. Messages name the options by their
// configuration names (path, url, interval, maxBytes, maxFiles,
// loadTimeout, tokenFile, usernameFile, passwordFile), so a caller only
// prefixes where the source is configured; all problems are joined.
func (o FileOptions) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case o.Path == "":
		add("path or url is required: a file, a directory of server.json files, an https URL, or %s<name>", BuiltinPrefix)
	case o.isURL():
		u, err := url.Parse(o.Path)
		switch {
		case err != nil:
			add("url is not a valid URL: %s", credential.RedactURL(o.Path))
		case u.Host == "":
			add("url %s has no host", credential.RedactURL(o.Path))
		}
	case o.isBuiltin() && strings.TrimPrefix(o.Path, BuiltinPrefix) == "":
		add("path %s needs the name of a built-in catalogue after the colon", o.Path)
	}
	errs = append(errs, LoadBounds{Interval: o.Interval, LoadTimeout: o.LoadTimeout, MaxBytes: o.MaxBytes, MaxFiles: o.MaxFiles}.Problems(
		LoadBounds{Interval: DefaultFileInterval, LoadTimeout: DefaultLoadTimeout, MaxBytes: DefaultMaxBytes, MaxFiles: DefaultMaxFiles})...)
	if err := o.validateCredentials(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (o FileOptions) validateCredentials() error {
	if o.TokenFile == "" && o.UsernameFile == "" && o.PasswordFile == "" {
		return nil
	}
	var errs []error
	if !strings.HasPrefix(o.Path, "https://") {
		errs = append(errs, errors.New("tokenFile, usernameFile and passwordFile apply only to an https url (credentials are never sent in clear text)"))
	}
	if (o.UsernameFile == "") != (o.PasswordFile == "") {
		errs = append(errs, errors.New("usernameFile and passwordFile go together"))
	}
	if o.TokenFile != "" && (o.UsernameFile != "" || o.PasswordFile != "") {
		errs = append(errs, errors.New("tokenFile and usernameFile/passwordFile exclude each other: set one kind of credential"))
	}
	return errors.Join(errs...)
}

// withDefaults fills zero values.
func (o FileOptions) withDefaults() FileOptions {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.LoadTimeout == 0 {
		o.LoadTimeout = DefaultLoadTimeout
	}
	if o.Interval == 0 {
		switch {
		case o.isBuiltin(): // embedded: it never changes
		case o.isURL():
			o.Interval = DefaultURLInterval
		default:
			o.Interval = DefaultFileInterval
		}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Store == nil && o.StateDir != "" && !o.isBuiltin() {
		// Each entry is saved with its _meta block: room beyond the source's bytes.
		o.Store = NewStateDirStore(o.StateDir, o.Name, "file", 2*o.MaxBytes)
	}
	if o.ReadOnly {
		o.Store = ReadOnly(o.Store)
	}
	return o
}

// LoadBounds are the bounds of one load that file and git sources share.
type LoadBounds struct {
	Interval, LoadTimeout time.Duration
	MaxBytes              int64
	MaxFiles              int
}

// Problems lists the negative bounds by their YAML names, each with the
// kind's default (def) as the example of what to write.
func (b LoadBounds) Problems(def LoadBounds) []error {
	var errs []error
	if b.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval must not be negative (write a duration like %s)", shortDuration(def.Interval)))
	}
	if b.LoadTimeout < 0 {
		errs = append(errs, fmt.Errorf("loadTimeout must not be negative (write a duration like %s)", shortDuration(def.LoadTimeout)))
	}
	if b.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("maxBytes must not be negative (write a size in bytes like %d)", def.MaxBytes))
	}
	if b.MaxFiles < 0 {
		errs = append(errs, fmt.Errorf("maxFiles must not be negative (write a count like %d)", def.MaxFiles))
	}
	return errs
}

// shortDuration writes d as an operator would (5m, 2h, 30s), not 5m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
