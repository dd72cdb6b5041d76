// Package federate is the engine that answers registry queries from many
// sources (fan-out, k-way merge, shadowing, reservations, cursor, partial
// results) and the HTTP API that exposes it.
package federate

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Errors callers test for; the HTTP layer maps them to status codes in one place.
var (
	// ErrBadRequest is any invalid input: a 400.
	ErrBadRequest = errors.New("bad request")
	// ErrNotFound is a server or version no source holds: a 404.
	ErrNotFound = errors.New("not found")
	// ErrRequiredSourceFailed means a required source could not answer: a 502.
	ErrRequiredSourceFailed = errors.New("required source failed")
)

// Limits of the list endpoint.
const (
	DefaultLimit   = 30
	MaxLimit       = 100
	maxSearchRunes = 256
)

// LatestVersion is the version value that selects the latest version.
const LatestVersion = "latest"

// Query is a parsed list request.
type Query struct {
	Cursor string
	Limit  int
	// Search is the lower-cased substring to find in name, title or description.
	Search string
	// UpdatedSince keeps entries updated strictly after it; zero means no filter.
	UpdatedSince time.Time
	// Version is "", LatestVersion, or an exact version.
	Version        string
	IncludeDeleted bool

	// The web catalogue's filters; not parameters of the list endpoint
	// (ParseListQuery never sets them). Each, when set, keeps only the
	// entries with that value, applied with the other entry filters
	// (Query.matches) before the page is cut, so a cursor pages through
	// the filtered list. They take part in the cursor's fingerprint and
	// the response cache key.
	//
	// Status is an official status (active, deprecated, deleted).
	Status string
	// Transport is a transport type of a package or a remote (stdio,
	// streamable-http, sse).
	Transport string
	// PackageType is a package registry type (npm, pypi, oci, …).
	PackageType string
	// Source keeps the entries served by the named source. Shadowing is
	// decided before it: a name a higher-priority source holds is not
	// listed for a lower one.
	Source string
}

// filterParts are the catalogue filters in a fixed order, for the cursor
// fingerprint and the cache key; nil when none is set, so the keys and
// fingerprints of API queries are what they were before these filters
// existed (cursors handed out by an older replica stay valid).
func (q Query) filterParts() []string {
	if q.Status == "" && q.Transport == "" && q.PackageType == "" && q.Source == "" {
		return nil
	}
	return []string{"filters", q.Status, q.Transport, q.PackageType, q.Source}
}

// listParams are the parameters the list endpoint understands; others are ignored.
var listParams = []string{"cursor", "limit", "search", "updated_since", "version", "include_deleted"}

// requestError is an error about the request itself; its message is the
// problem's detail as the client should read it, its kind the sentinel
// that decides the status.
type requestError struct {
	kind error
	msg  string
}

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() error { return e.kind }

func badRequest(format string, args ...any) error {
	return &requestError{ErrBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &requestError{ErrNotFound, fmt.Sprintf(format, args...)}
}

// ParseListQuery validates the list endpoint's parameters. Unknown
// parameters are ignored; a known one given twice is an error.
func ParseListQuery(v url.Values) (Query, error) {
	q := Query{Limit: DefaultLimit}
	for _, name := range listParams {
		if len(v[name]) > 1 {
			return q, badRequest("parameter %q given more than once", name)
		}
	}
	q.Cursor = v.Get("cursor")
	if s, ok := single(v, "limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return q, badRequest("limit must be an integer from 1 to %d, got %q", MaxLimit, s)
		}
		q.Limit = n
	}
	search, err := parseSearch(v.Get("search"))
	if err != nil {
		return q, err
	}
	q.Search = search
	if s, ok := single(v, "updated_since"); ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, badRequest("updated_since must be an RFC 3339 time such as 2025-08-07T13:15:04Z, got %q", s)
		}
		q.UpdatedSince = t
		q.IncludeDeleted = true // incremental sync must see deletions
	}
	q.Version = v.Get("version")
	if len(q.Version) > 255 {
		return q, badRequest("version is longer than 255 characters")
	}
	if strings.ContainsFunc(q.Version, isControl) {
		return q, badRequest("version must not contain control characters")
	}
	deleted, err := ParseBool(v, "include_deleted")
	if err != nil {
		return q, err
	}
	if _, given := single(v, "include_deleted"); given && !deleted && !q.UpdatedSince.IsZero() {
		// As the official registry: an incremental sync must see deletions.
		return q, badRequest("Cannot set include_deleted=false when using updated_since")
	}
	q.IncludeDeleted = q.IncludeDeleted || deleted
	return q, nil
}

// ParseBool reads an optional boolean parameter (true/false/1/0).
func ParseBool(v url.Values, name string) (bool, error) {
	if len(v[name]) > 1 {
		return false, badRequest("parameter %q given more than once", name)
	}
	s, ok := single(v, name)
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest("%s must be true or false, got %q", name, s)
	}
	return b, nil
}

// single returns a parameter that is present and non-empty.
func single(v url.Values, name string) (string, bool) {
	s := v.Get(name)
	return s, s != ""
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
