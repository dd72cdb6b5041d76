package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mcpfed/mcpfed/upstream"
)

// ArtifactStats describe one walk of an upstream's skills or plugins.
type ArtifactStats struct {
	Requests int
	Bytes    int64
	// Listed counts the artifacts the list pages held; Versions the
	// versions held at the end (every version of every artifact).
	Listed, Versions int
	// VersionReads counts the artifacts whose versions were read, Reused
	// those whose versions an earlier walk read were kept (their listed
	// latest version had not changed).
	VersionReads, Reused int
	// VersionErrors counts the artifacts whose versions could not be read
	// (their listed version is still served); FirstVersionError is the
	// first such error.
	VersionErrors     int
	FirstVersionError string
	// Dropped counts records the upstream sent that failed validation.
	Dropped int
	// None reports an upstream that serves no such extension (404, 405, 501).
	None bool
}

// add accounts one answer against the bounds.
func (st *ArtifactStats) add(resp *upstream.Response, b CrawlBounds) error {
	st.Bytes += resp.Size
	st.Dropped += resp.Dropped
	switch {
	case st.Bytes > b.MaxBytes:
		return fmt.Errorf("%w: more than %d bytes", ErrCrawlTooLarge, b.MaxBytes)
	case st.Versions+len(resp.Artifacts) > b.MaxEntries:
		return fmt.Errorf("%w: more than %d artifacts", ErrCrawlTooLarge, b.MaxEntries)
	}
	return nil
}

// artifactWalk reads one kind of artifact from an upstream: every page of
// the list (ToolHive's list holds each artifact's latest version only),
// then, with versions set, each artifact's versions. Every request counts
// against one set of bounds (pages, bytes, artifacts); the deadline is the
// caller's ctx.
type artifactWalk struct {
	fetch    upstream.Fetcher
	kind     upstream.ArtifactKind
	pageSize int
	bounds   CrawlBounds
	versions bool
	// reuse, when set, returns the versions an earlier walk read for an
	// artifact whose list records (listed) are byte for byte the same.
	reuse func(id string, listed []byte) ([]*upstream.Artifact, bool)
}

// artifactCrawl is what a walk read.
type artifactCrawl struct {
	// items holds every version read, each key once, in key order.
	items []*upstream.Artifact
	// listed is, per artifact, its list records (raw, concatenated): what
	// tells a later walk whether its versions may have changed. versionsOf
	// holds the versions read for it (not set when reading them failed).
	listed     map[string][]byte
	versionsOf map[string][]*upstream.Artifact
	stats      ArtifactStats
}

// run walks the list, then the versions. A 404 (or 405, 501) on the first
// list page is "serves none": an empty crawl, no error.
func (w *artifactWalk) run(ctx context.Context) (*artifactCrawl, error) {
	c := &artifactCrawl{listed: map[string][]byte{}, versionsOf: map[string][]*upstream.Artifact{}}
	byID, err := w.list(ctx, c)
	if err != nil || c.stats.None {
		return c, err
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		listed := byID[id]
		var raw bytes.Buffer
		for _, a := range listed {
			raw.Write(a.Raw)
			raw.WriteByte(0)
		}
		c.listed[id] = raw.Bytes()
		versions := listed
		if w.versions {
			got, err := w.versionsOf(ctx, c, id, raw.Bytes())
			switch {
			case err != nil && (ctx.Err() != nil || errors.Is(err, ErrCrawlTooLarge)):
				return nil, err
			case err != nil:
				c.stats.VersionErrors++
				if c.stats.FirstVersionError == "" {
					c.stats.FirstVersionError = err.Error()
				}
			default:
				versions = mergeArtifacts(listed, got)
				c.versionsOf[id] = versions
			}
		}
		c.items = append(c.items, versions...)
		c.stats.Versions = len(c.items)
	}
	return c, nil
}

// list follows the list's cursor chain; it returns each artifact's listed
// versions (an upstream such as mcpfed may list several).
func (w *artifactWalk) list(ctx context.Context, c *artifactCrawl) (map[string][]*upstream.Artifact, error) {
	req := upstream.Request{Op: upstream.OpArtifacts, Kind: w.kind, Limit: w.pageSize}
	keys := map[upstream.ArtifactKey]bool{}
	byID := map[string][]*upstream.Artifact{}
	seen := map[string]bool{"": true}
	for page := 1; ; page++ {
		if c.stats.Requests >= w.bounds.MaxPages {
			return nil, fmt.Errorf("%s: %w: more than %d pages", w.kind, ErrCrawlTooLarge, w.bounds.MaxPages)
		}
		resp, err := w.fetch.Fetch(ctx, req)
		c.stats.Requests++
		if errors.Is(err, upstream.ErrNotFound) && page == 1 {
			c.stats.None = true
			return nil, nil
		}
		if err != nil {
			if cause := context.Cause(ctx); errors.Is(cause, ErrCrawlTimeout) {
				err = cause
			}
			return nil, fmt.Errorf("%s page %d: %w", w.kind, page, err)
		}
		if err := c.stats.add(resp, w.bounds); err != nil {
			return nil, fmt.Errorf("%s: %w", w.kind, err)
		}
		fresh := 0
		for _, a := range resp.Artifacts {
			c.stats.Listed++
			if keys[a.Key()] {
				continue // listed twice: the first copy stands
			}
			keys[a.Key()] = true
			byID[a.ID()] = append(byID[a.ID()], a)
			fresh++
		}
		c.stats.Versions = len(keys)
		if resp.NextCursor == "" {
			return byID, nil
		}
		if seen[resp.NextCursor] {
			return nil, fmt.Errorf("%s page %d: upstream repeated a cursor (%d bytes)", w.kind, page, len(resp.NextCursor))
		}
		if fresh == 0 {
			return nil, fmt.Errorf("%s page %d: %w", w.kind, page, ErrNoProgress)
		}
		seen[resp.NextCursor] = true
		req.Cursor = resp.NextCursor
	}
}

// versionsOf reads one artifact's versions, unless an earlier walk's can
// stand. A 404 (the artifact went away since the list) gives none. The
// walk is lenient where the list is strict: ToolHive's versions endpoint
// takes no cursor, so a page that repeats itself or brings nothing new
// ends it with what was read.
func (w *artifactWalk) versionsOf(ctx context.Context, c *artifactCrawl, id string, listed []byte) ([]*upstream.Artifact, error) {
	if w.reuse != nil {
		if got, ok := w.reuse(id, listed); ok {
			c.stats.Reused++
			return got, nil
		}
	}
	c.stats.VersionReads++
	req := upstream.Request{Op: upstream.OpArtifactVersions, Kind: w.kind, Name: id}
	keys := map[upstream.ArtifactKey]bool{}
	var out []*upstream.Artifact
	seen := map[string]bool{"": true}
	for {
		if c.stats.Requests >= w.bounds.MaxPages {
			return nil, fmt.Errorf("%s %s versions: %w: more than %d pages", w.kind, id, ErrCrawlTooLarge, w.bounds.MaxPages)
		}
		resp, err := w.fetch.Fetch(ctx, req)
		c.stats.Requests++
		if errors.Is(err, upstream.ErrNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s versions: %w", w.kind, id, err)
		}
		if err := c.stats.add(resp, w.bounds); err != nil {
			return nil, fmt.Errorf("%s %s versions: %w", w.kind, id, err)
		}
		fresh := 0
		for _, a := range resp.Artifacts {
			if a.ID() != id || keys[a.Key()] {
				continue // another artifact's, or a repeat
			}
			keys[a.Key()] = true
			out = append(out, a)
			fresh++
		}
		if resp.NextCursor == "" || seen[resp.NextCursor] || fresh == 0 {
			return out, nil
		}
		seen[resp.NextCursor] = true
		req.Cursor = resp.NextCursor
	}
}

// mergeArtifacts is the union of an artifact's listed versions and those
// its versions endpoint gave, each key once (the listed copy first).
func mergeArtifacts(listed, versions []*upstream.Artifact) []*upstream.Artifact {
	out := slices.Clone(listed)
	for _, a := range versions {
		if !slices.ContainsFunc(listed, func(l *upstream.Artifact) bool { return l.Key() == a.Key() }) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *upstream.Artifact) int { return a.Key().Compare(b.Key()) })
	return out
}
