package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Operation names what a Request asks of a registry API.
type Operation string

// The read operations of the registry API.
const (
	OpList     Operation = "list"     // GET /servers
	OpVersions Operation = "versions" // GET /servers/{name}/versions
	OpVersion  Operation = "version"  // GET /servers/{name}/versions/{version}
	// OpArtifacts lists skills or plugins (ToolHive's registry extension):
	// GET /v0.1/x/dev.toolhive/{kind}, with Cursor and Limit.
	OpArtifacts Operation = "artifacts"
	// OpArtifactVersions lists one artifact's versions:
	// GET /v0.1/x/dev.toolhive/{kind}/{namespace}/{name}/versions, Name
	// being namespace/name.
	OpArtifactVersions Operation = "artifact_versions"
)

// Request is one read of a registry API. Live sources and every decorator
// around them (breaker, rate limit, cache, metrics) take and pass it on.
type Request struct {
	Op Operation
	// Name is the server name of OpVersions and OpVersion, the
	// namespace/name of OpArtifactVersions.
	Name string
	// Kind is the artifact kind of OpArtifacts and OpArtifactVersions.
	Kind ArtifactKind
	// Version is the version of OpVersion ("latest" allowed), or the
	// version filter of OpList ("latest" or exact).
	Version string
	// List parameters.
	Cursor         string
	Limit          int
	Search         string
	UpdatedSince   time.Time
	IncludeDeleted bool
}

// Key is a canonical form of the request: equal requests have equal keys
// (caches, singleflight).
func (r Request) Key() string {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("kind", string(r.Kind))
	set("name", r.Name)
	set("version", r.Version)
	set("cursor", r.Cursor)
	if r.Limit > 0 {
		v.Set("limit", strconv.Itoa(r.Limit))
	}
	set("search", r.Search)
	if !r.UpdatedSince.IsZero() {
		v.Set("updated_since", r.UpdatedSince.UTC().Format(time.RFC3339Nano))
	}
	if r.IncludeDeleted {
		v.Set("include_deleted", "true")
	}
	return string(r.Op) + "?" + v.Encode()
}

// Response is a registry's answer to a Request.
type Response struct {
	// Entries are indexed and encoded for serving (Seal was applied).
	Entries []*Entry
	// Artifacts are the skills or plugins of an OpArtifacts or
	// OpArtifactVersions answer, in the upstream's order, Source set.
	Artifacts []*Artifact
	// NextCursor is the upstream's cursor for the next list page ("" at the end).
	NextCursor string
	// Size is the upstream body size in bytes (cache accounting).
	Size int64
	// FetchedAt is when the upstream answered.
	FetchedAt time.Time
	// Stale reports an answer served from cache after its freshness ran out,
	// because the upstream could not answer.
	Stale bool
	// NotFound records an upstream 404 so that caches can keep it; Fetch
	// callers see ErrNotFound instead.
	NotFound bool
	// Dropped counts the records the upstream sent that are not in Entries
	// (DropReason says why, e.g. DropInvalid). An answer with Dropped > 0 is
	// not the upstream's whole answer: whoever serves it must not call it
	// complete. A source's own filter is a choice, not a loss: it does not
	// count here.
	Dropped    int
	DropReason string
}

// Index is a live source's local copy of its upstream's full list, for
// answering list queries in byte order when the upstream lists in another
// (a database with a language-aware collation). The snapshot holds every
// version, deleted ones included, with the upstream's official metadata.
// Shared between callers: do not modify.
type Index struct {
	Snapshot *Snapshot
	// BuiltAt is when the crawl behind it completed.
	BuiltAt time.Time
	// Stale reports an index past its freshness whose refresh failed.
	Stale bool
	// Dropped counts the records the upstream listed that Snapshot does not
	// hold (DropReason says why); an answer built on it is not complete.
	Dropped    int
	DropReason string
}

// DropInvalid is the DropReason of records skipped because they fail
// validation (see NewEntry).
const DropInvalid = "invalid upstream record skipped"

// Fetcher reads a registry API. Decorators wrap a Fetcher in a Fetcher.
type Fetcher interface {
	Fetch(ctx context.Context, req Request) (*Response, error)
}

// Errors a Fetcher returns for conditions callers (breaker, cache, engine) test.
var (
	// ErrNotFound is the upstream's 404 for a name or version.
	ErrNotFound = errors.New("not found upstream")
	// ErrBreakerOpen is returned without contacting the upstream while its
	// circuit breaker is open.
	ErrBreakerOpen = errors.New("circuit breaker open")
)

// StatusError is an upstream HTTP answer that is not a success.
type StatusError struct {
	Code int
	// RetryAfter is the upstream's Retry-After on a 429 or 503, zero if none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("upstream answered HTTP %d (retry after %s)", e.Code, e.RetryAfter)
	}
	return fmt.Sprintf("upstream answered HTTP %d", e.Code)
}

// ClientFault reports a 4xx other than 429: the request was refused, the
// upstream is not failing (a breaker does not count it).
func (e *StatusError) ClientFault() bool {
	return e.Code >= 400 && e.Code < 500 && e.Code != 429
}

// Seal stamps entries that did not come through a snapshot with their
// source and builds their encoded form.
func Seal(source string, entries []*Entry) {
	prov := provenanceJSON(source)
	for _, e := range entries {
		e.Source = source
		e.encode(prov)
	}
}
