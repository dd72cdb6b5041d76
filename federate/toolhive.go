package federate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mcpfed/mcpfed/upstream"
)

// ToolHivePath is ToolHive's registry extension namespace under an API
// prefix: skills and plugins are served under {prefix}/x/dev.toolhive/{kind}.
const ToolHivePath = "/x/dev.toolhive"

// ToolHive's list parameters: its default page is larger than the servers'.
const (
	DefaultArtifactLimit = 50
	MaxArtifactLimit     = 100
)

// artifactStatuses are the statuses ToolHive's schemas allow.
var artifactStatuses = []string{"active", "deprecated", "archived"}

// artifactQuery is a parsed list request for skills or plugins.
type artifactQuery struct {
	Cursor string
	Limit  int
	Search string // lower-cased
	Status []string
}

// fingerprint identifies the filters a cursor is valid for.
func (q artifactQuery) fingerprint(kind upstream.ArtifactKind, view string) string {
	return Query{Search: string(kind) + "\x00" + q.Search + "\x00" + strings.Join(q.Status, ",")}.fingerprint(view)
}

func (q artifactQuery) key() string {
	return strings.Join([]string{q.Cursor, strconv.Itoa(q.Limit), q.Search, strings.Join(q.Status, ",")}, "\x00")
}

// parseArtifactQuery validates the list parameters as ToolHive's registry
// server reads them (limit 1..100, default 50; status a comma-separated
// list), with the servers' rules for search.
func parseArtifactQuery(v url.Values) (artifactQuery, error) {
	q := artifactQuery{Limit: DefaultArtifactLimit}
	for _, name := range []string{"cursor", "limit", "search", "status"} {
		if len(v[name]) > 1 {
			return q, badRequest("parameter %q given more than once", name)
		}
	}
	q.Cursor = v.Get("cursor")
	if s, ok := single(v, "limit"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxArtifactLimit {
			return q, badRequest("limit must be an integer from 1 to %d, got %q", MaxArtifactLimit, s)
		}
		q.Limit = n
	}
	search, err := parseSearch(strings.TrimSpace(v.Get("search")))
	if err != nil {
		return q, err
	}
	q.Search = search
	if s, ok := single(v, "status"); ok {
		for _, st := range strings.Split(s, ",") {
			st = strings.ToLower(strings.TrimSpace(st))
			if !slices.Contains(artifactStatuses, st) {
				return q, badRequest("status must be a comma-separated list of %s, got %q", strings.Join(artifactStatuses, ", "), s)
			}
			if !slices.Contains(q.Status, st) {
				q.Status = append(q.Status, st)
			}
		}
		slices.Sort(q.Status)
	}
	return q, nil
}

// parseSearch checks a search needle and lower-cases it.
func parseSearch(search string) (string, error) {
	if !utf8.ValidString(search) {
		return "", badRequest("search is not valid UTF-8")
	}
	// Entries index their texts as one string with control characters
	// between fields; a needle holding one could match across two.
	if strings.ContainsFunc(search, isControl) {
		return "", badRequest("search must not contain control characters")
	}
	if utf8.RuneCountInString(search) > maxSearchRunes {
		return "", badRequest("search is longer than %d characters", maxSearchRunes)
	}
	return strings.ToLower(search), nil
}

// registerArtifacts mounts ToolHive's skills and plugins endpoints under
// pattern (a prefix of the root or of a view).
func (a *API) registerArtifacts(pattern, label string, views viewLookup) {
	for _, kind := range upstream.ArtifactKinds {
		base := pattern + ToolHivePath + "/" + string(kind)
		lbase := label + ToolHivePath + "/" + string(kind)
		a.route(base, lbase, a.viewed(views, func(w http.ResponseWriter, r *http.Request, v served) {
			a.listArtifacts(w, r, lbase, kind, v)
		}))
		for _, suffix := range []string{"/{namespace}/{name}", "/{namespace}/{name}/versions", "/{namespace}/{name}/versions/{version}"} {
			route := lbase + suffix
			a.route(base+suffix, route, a.viewed(views, func(w http.ResponseWriter, r *http.Request, v served) {
				a.artifact(w, r, route, kind, v)
			}))
		}
	}
}

// listArtifacts serves GET …/x/dev.toolhive/{kind}: each artifact's latest
// version, ordered by namespace/name, a page at a time. No artifacts is an
// empty list, never a 404.
func (a *API) listArtifacts(w http.ResponseWriter, r *http.Request, route string, kind upstream.ArtifactKind, v served) {
	values, err := strictQuery(r)
	if err != nil {
		writeError(w, err)
		return
	}
	q, err := parseArtifactQuery(values)
	if err != nil {
		writeError(w, err)
		return
	}
	eng := a.o.Engine
	fp := q.fingerprint(kind, v.view.identity())
	var after string
	if q.Cursor != "" {
		c, err := eng.cursors.decode(q.Cursor, fp)
		if err != nil {
			writeError(w, err)
			return
		}
		after = c.Name
	}
	key := "artifacts|" + string(kind) + "|" + v.cacheScope() + "|" + q.key() + "|" + eng.Revision()
	a.serve(w, r, route, key, v, func(ctx context.Context) (*answer, error) {
		all, rep, err := eng.Artifacts(ctx, kind, v.view)
		if err != nil {
			return nil, withReport(err, rep)
		}
		page := make([]*upstream.Artifact, 0, q.Limit)
		var next string
		for _, art := range latestArtifacts(all) {
			if art.ID() <= after || !q.admits(art) {
				continue
			}
			if len(page) == q.Limit {
				last := page[len(page)-1]
				next = eng.cursors.encode(cursor{V: cursorVersion, Q: fp, Name: last.ID(), Version: last.Version, Owner: last.Source})
				break
			}
			page = append(page, art)
		}
		return newAnswer("application/json", encodeArtifacts(kind, page, next), rep), nil
	})
}

func (q artifactQuery) admits(art *upstream.Artifact) bool {
	if q.Search != "" && !art.MatchesSearch(q.Search) {
		return false
	}
	return len(q.Status) == 0 || slices.Contains(q.Status, art.Status)
}

// artifact serves one artifact's latest version, its versions, or one
// version: …/{kind}/{namespace}/{name}[/versions[/{version}]].
func (a *API) artifact(w http.ResponseWriter, r *http.Request, route string, kind upstream.ArtifactKind, v served) {
	if _, err := strictQuery(r); err != nil {
		writeError(w, err)
		return
	}
	id := r.PathValue("namespace") + "/" + r.PathValue("name")
	version := r.PathValue("version")
	listing := strings.HasSuffix(route, "/versions")
	if version == "" && !listing {
		version = LatestVersion
	}
	if len(id) > 256 || len(version) > 255 || strings.ContainsFunc(id+version, isControl) {
		writeError(w, notFound("no %s %q version %q", kindSingular(kind), id, version))
		return
	}
	eng := a.o.Engine
	key := fmt.Sprintf("artifact|%s|%s|%q|%q|%t|%s", kind, v.cacheScope(), id, version, listing, eng.Revision())
	a.serve(w, r, route, key, v, func(ctx context.Context) (*answer, error) {
		all, rep, err := eng.Artifacts(ctx, kind, v.view)
		if err != nil {
			return nil, withReport(err, rep)
		}
		versions := artifactVersions(all, id)
		if len(versions) == 0 {
			return nil, withReport(notFound("no %s %q", kindSingular(kind), id), rep)
		}
		if listing {
			return newAnswer("application/json", encodeArtifacts(kind, versions, ""), rep), nil
		}
		if version == LatestVersion {
			return newAnswer("application/json", versions[0].Raw, rep), nil
		}
		for _, art := range versions {
			if art.Version == version {
				return newAnswer("application/json", art.Raw, rep), nil
			}
		}
		return nil, withReport(notFound("no version %q of %s %q", version, kindSingular(kind), id), rep)
	})
}

func kindSingular(kind upstream.ArtifactKind) string {
	return strings.TrimSuffix(string(kind), "s")
}

// encodeArtifacts writes ToolHive's list shape:
// {"<kind>":[…],"metadata":{"count":N,"nextCursor":"…"}}, each artifact
// byte for byte as its source holds it.
func encodeArtifacts(kind upstream.ArtifactKind, items []*upstream.Artifact, next string) []byte {
	size := 64
	for _, it := range items {
		size += len(it.Raw) + 1
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"`...)
	buf = append(buf, kind...)
	buf = append(buf, `":[`...)
	for i, it := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, it.Raw...)
	}
	buf = append(buf, `],"metadata":{"count":`...)
	buf = strconv.AppendInt(buf, int64(len(items)), 10)
	if next != "" {
		buf = append(buf, `,"nextCursor":`...)
		quoted, _ := json.Marshal(next) // a string: cannot fail
		buf = append(buf, quoted...)
	}
	return append(buf, "}}"...)
}
