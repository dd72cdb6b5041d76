package curation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/credential"
	"github.com/mcpfed/mcpfed/upstream"
)

// A decisions source of kind file is read here, not by the file source:
// the file source reads registry formats only, and a decisions document is
// not one. The reading keeps the file source's rules: a regular file read
// within maxBytes (never a FIFO or a device), or an http(s) URL fetched
// conditionally within loadTimeout and maxBytes, with credentials from
// files sent to the URL's host only; a document that fails keeps the last
// good one, which is also kept in the state directory for the next start.

// MaxDocumentBytes bounds a decisions document whatever the source's
// maxBytes says: the document is parsed as a whole.
const MaxDocumentBytes = 8 << 20

// DocumentOptions configure a decisions source of kind file.
type DocumentOptions struct {
	// Name is the source's name (sources[].name).
	Name string
	// Path is a local file; URL an http(s) URL. Give one.
	Path, URL string
	// Interval between reads; zero reads once.
	Interval time.Duration
	// LoadTimeout bounds one read (upstream.DefaultLoadTimeout).
	LoadTimeout time.Duration
	// MaxBytes bounds the document (at most MaxDocumentBytes).
	MaxBytes int64
	// Optional lets a local path be missing at start.
	Optional bool
	// Credentials for an https URL, read at each fetch.
	TokenFile, UsernameFile, PasswordFile string
	// HTTPClient fetches the URL (a client with http.DefaultTransport).
	HTTPClient *http.Client
	// StateDir keeps the last good document (NAME.decisions.yaml) and
	// restores it at start; "" keeps nothing. ReadOnly restores, never saves.
	StateDir string
	ReadOnly bool
	// Set receives the decisions.
	Set    *Set
	Clock  func() time.Time
	Logger *slog.Logger
	// OnLoad is called after every load attempt (metrics).
	OnLoad func(upstream.SourceStatus, time.Duration)
}

// FileDocumentOptions are the options of a decisions source configured
// as kind file, its defaults applied (what the process adds: Set,
// StateDir, ReadOnly, HTTPClient, clock, logger, OnLoad).
func FileDocumentOptions(name string, s upstream.FileSpec) DocumentOptions {
	return DocumentOptions{Name: name, Path: s.Path, URL: s.URL, Interval: s.Interval, LoadTimeout: s.LoadTimeout,
		MaxBytes: s.MaxBytes, Optional: s.Optional, TokenFile: s.TokenFile, UsernameFile: s.UsernameFile, PasswordFile: s.PasswordFile}
}

// DocumentSource reads a decisions document from a file or URL into a Set.
// It has the methods of a snapshot source (Name, Load, Restore, Run,
// Resync, Status), so it is listed and resynced like one; its snapshot is
// always empty: it serves decisions, not servers.
type DocumentSource struct {
	*upstream.Holder
	o     DocumentOptions
	where string

	mu               sync.Mutex // guards what follows (loads are serialised by the holder)
	stamp, failStamp string
	etag, modified   string
}

// NewDocumentSource checks the options and returns an unloaded source.
func NewDocumentSource(o DocumentOptions) (*DocumentSource, error) {
	switch {
	case o.Set == nil:
		return nil, errors.New("decisions source: no Set")
	case (o.Path == "") == (o.URL == ""):
		return nil, errors.New("give path or url")
	case strings.HasPrefix(o.Path, upstream.BuiltinPrefix):
		return nil, fmt.Errorf("path %s: a decisions source cannot read the built-in catalogue", o.Path)
	case o.URL != "" && !strings.HasPrefix(o.URL, "https://") && !strings.HasPrefix(o.URL, "http://"):
		return nil, fmt.Errorf("url %q must be http:// or https://", credential.RedactURL(o.URL))
	}
	if o.URL != "" {
		if err := upstream.CheckURLCredentials("url", o.URL); err != nil {
			return nil, err
		}
	}
	if o.MaxBytes <= 0 || o.MaxBytes > MaxDocumentBytes {
		o.MaxBytes = MaxDocumentBytes
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = upstream.DefaultLoadTimeout
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: http.DefaultTransport}
	}
	where := o.Path
	if o.URL != "" {
		u, err := url.Parse(o.URL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("url %q is not a valid URL", credential.RedactURL(o.URL))
		}
		where = credential.RedactURL(o.URL)
		if o.TokenFile != "" || o.UsernameFile != "" {
			o.HTTPClient = credential.StayOnHost(o.HTTPClient, u)
		}
	} else if !o.Optional {
		if _, err := os.Stat(o.Path); err != nil {
			return nil, fmt.Errorf("path %s: %w", o.Path, err)
		}
	}
	s := &DocumentSource{o: o, where: where}
	s.Holder = upstream.NewHolder(upstream.HolderOptions{Name: o.Name, Kind: "file", Clock: o.Clock, Logger: o.Logger, OnLoad: o.OnLoad})
	return s, nil
}

// Run restores the kept document, loads, then reloads every interval
// until ctx ends.
func (s *DocumentSource) Run(ctx context.Context) {
	upstream.RunLoop(ctx, s.o.Interval, s.Restore, s.Load)
}

// Resync loads now (an operator's request).
func (s *DocumentSource) Resync(ctx context.Context) error { return s.Load(ctx) }

// Load makes one attempt, bounded by loadTimeout.
func (s *DocumentSource) Load(ctx context.Context) error {
	return s.Attempt(ctx, s.where, func(ctx context.Context, now time.Time) error {
		ctx, cancel := context.WithTimeout(ctx, s.o.LoadTimeout)
		defer cancel()
		return s.load(ctx, now)
	})
}

func (s *DocumentSource) load(ctx context.Context, now time.Time) error {
	data, stamp, err := s.read(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		return err
	case data == nil && stamp == s.stamp:
		s.failStamp = ""
		return upstream.ErrUnchanged
	case data == nil:
		return upstream.ErrStillFailing
	}
	decs, err := ParseDocument(data)
	if err != nil {
		s.failStamp = stamp
		return err
	}
	s.o.Set.SetDocument(s.o.Name, decs)
	if err := s.Install(&upstream.Document{}, now); err != nil {
		return err
	}
	s.stamp, s.failStamp = stamp, ""
	s.keep(data)
	s.o.Logger.Info("decisions document read", "source", s.o.Name, "decisions", len(decs))
	return nil
}

// read returns the document, or nil data when it is what was last read
// (the stamp says which: the last good or the last failed).
func (s *DocumentSource) read(ctx context.Context) ([]byte, string, error) {
	if s.o.URL != "" {
		return s.fetch(ctx)
	}
	info, err := os.Stat(s.o.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && s.o.Optional:
		return nil, "", fmt.Errorf("%s does not exist yet (optional source: waiting for it to appear)", s.o.Path)
	case err != nil:
		return nil, "", err
	case info.IsDir():
		return nil, "", fmt.Errorf("%s is a directory: a decisions source reads one file", s.o.Path)
	}
	stamp := fmt.Sprintf("%d/%d", info.ModTime().UnixNano(), info.Size())
	if s.seen(stamp) {
		return nil, stamp, nil
	}
	data, err := upstream.ReadRegular(ctx, s.o.Path, s.o.MaxBytes)
	if err != nil {
		s.setFailed(stamp)
		return nil, "", err
	}
	return data, stamp, nil
}

func (s *DocumentSource) seen(stamp string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (stamp == s.stamp && s.Snapshot() != nil) || stamp == s.failStamp
}

func (s *DocumentSource) setFailed(stamp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStamp = stamp
}

// fetch GETs the URL conditionally; a 304 is what was last read.
func (s *DocumentSource) fetch(ctx context.Context) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.o.URL, nil)
	if err != nil {
		return nil, "", fmt.Errorf("fetch %s: invalid URL", s.where)
	}
	req.Header.Set("Accept", "application/yaml, application/json;q=0.9, */*;q=0.1")
	if err := (credential.Files{Token: s.o.TokenFile, Username: s.o.UsernameFile, Password: s.o.PasswordFile}).Authorize(req); err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	if s.Snapshot() != nil {
		if s.etag != "" {
			req.Header.Set("If-None-Match", s.etag)
		}
		if s.modified != "" {
			req.Header.Set("If-Modified-Since", s.modified)
		}
	}
	stamp := s.stamp
	s.mu.Unlock()
	resp, err := s.o.HTTPClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("fetch %s: %w", s.where, redactURLError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && stamp != "":
		return nil, stamp, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", fmt.Errorf("fetch %s: HTTP %s", s.where, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, s.o.MaxBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("fetch %s: %w", s.where, redactURLError(err))
	}
	if int64(len(data)) > s.o.MaxBytes {
		return nil, "", fmt.Errorf("fetch %s: body exceeds the limit of %d bytes: %w", s.where, s.o.MaxBytes, upstream.ErrTooLarge)
	}
	sum := sha256.Sum256(data)
	stamp = hex.EncodeToString(sum[:])
	s.mu.Lock()
	s.etag, s.modified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	s.mu.Unlock()
	if s.seen(stamp) {
		return nil, stamp, nil
	}
	return data, stamp, nil
}

// redactURLError rewrites the URL net/http puts in its errors.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, credential.RedactURL(ue.URL), ue.Err)
	}
	return err
}

// keptPath is where the last good document of the named source is kept.
func keptPath(stateDir, name string) string {
	return filepath.Join(stateDir, name+".decisions.yaml")
}

// keep writes the last good document atomically; a failure is logged:
// the decisions stay in memory.
func (s *DocumentSource) keep(data []byte) {
	if s.o.StateDir == "" || s.o.ReadOnly {
		return
	}
	if err := writeAtomic(keptPath(s.o.StateDir, s.o.Name), data); err != nil {
		s.o.Logger.Warn("could not keep the decisions document", "source", s.o.Name, "error", err)
	}
}

// writeAtomic writes a temporary file in the same directory, synced, then
// renames it over path: a crash leaves the old or the new file, never a
// torn one.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readKept reads and parses the document kept for the named source: nil
// when there is none or it is unreadable (logged).
func readKept(stateDir, name string, logger *slog.Logger) []byte {
	if stateDir == "" {
		return nil
	}
	data, err := upstream.ReadRegular(context.Background(), keptPath(stateDir, name), MaxDocumentBytes)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			logger.Warn("ignoring the kept decisions document", "source", name, "error", err)
		}
		return nil
	}
	return data
}

// Restore applies the kept document, if there is a good one, until the
// first load replaces it. It reports whether one was applied.
func (s *DocumentSource) Restore() bool {
	data := readKept(s.o.StateDir, s.o.Name, s.o.Logger)
	if data == nil {
		return false
	}
	decs, err := ParseDocument(data)
	if err != nil {
		s.o.Logger.Warn("ignoring the kept decisions document", "source", s.o.Name, "error", err)
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stamp != "" {
		return false // a load got there first
	}
	s.o.Set.SetDocument(s.o.Name, decs)
	s.o.Logger.Info("applying the kept decisions document until the first read", "source", s.o.Name, "decisions", len(decs))
	return true
}
