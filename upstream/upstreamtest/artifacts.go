package upstreamtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Skills and plugins (ToolHive's registry extension, as its registry
// server serves it), under /v0.1 only:
//
//	GET /x/dev.toolhive/{kind}                                      {"<kind>":[…],"metadata":{"count","nextCursor"}}: latest versions
//	GET /x/dev.toolhive/{kind}/{namespace}/{name}                   the latest version
//	GET /x/dev.toolhive/{kind}/{namespace}/{name}/versions          {"<kind>":[…],"metadata":{"count"}}: every version, highest first
//	GET /x/dev.toolhive/{kind}/{namespace}/{name}/versions/{version}
//
// A kind the test has not put or enabled (ServeArtifacts) is a 404, as on
// a registry without the extension (the official one). The list: limit
// 1..100 (default 50, anything else 400), an opaque cursor (400 when not
// issued here), search as a case-insensitive substring of namespace/name
// or description; ordered by namespace/name. An artifact's latest version
// is its highest: semver above non-semver, else the one put last. The
// list faults CursorLoop, NoProgress, Endless (names under
// EndlessNamespace, bodies padded by EndlessPad) and OutOfOrder apply.

// artifactData holds the artifacts, per kind; a kind is served once it is
// in the map.
type artifactData struct {
	mu    sync.RWMutex
	kinds map[string]*artifactSet
	seq   int64
}

type artifactSet struct {
	byID map[string][]*artifactRec // versions in insertion order
	ids  []string                  // sorted
}

type artifactRec struct {
	id, version, lower string
	raw                []byte
	seq                int64
}

// ArtifactJSON returns a minimal valid skill or plugin for namespace, name
// and version, for tests that do not care about the body.
func ArtifactJSON(namespace, name, version string) json.RawMessage {
	b, _ := json.Marshal(struct { // plain struct: cannot fail
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Version     string `json:"version"`
	}{namespace, name, "Test artifact " + namespace + "/" + name, version})
	return b
}

// ServeArtifacts makes the registry serve kind ("skills", "plugins", or
// any other name) even while it holds none of it: an empty list, not a 404.
func (r *Registry) ServeArtifacts(kind string) {
	a := &r.artifacts
	a.mu.Lock()
	defer a.mu.Unlock()
	a.set(kind)
}

// StopArtifacts removes kind and everything in it: its endpoints are 404
// again.
func (r *Registry) StopArtifacts(kind string) {
	a := &r.artifacts
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.kinds, kind)
}

// PutArtifact adds one version of a skill or plugin, or replaces the one
// with the same namespace, name and version, and serves kind. Only what
// keys it is checked (a JSON object with string namespace, name and
// version), so a test can serve invalid artifacts on purpose.
func (r *Registry) PutArtifact(kind string, raw json.RawMessage) {
	r.t.Helper()
	if err := r.putArtifacts(kind, []json.RawMessage{raw}); err != nil {
		r.t.Fatalf("upstreamtest: PutArtifact: %v", err)
	}
}

// DeleteArtifact removes one version; it reports whether there was one.
func (r *Registry) DeleteArtifact(kind, namespace, name, version string) bool {
	a := &r.artifacts
	a.mu.Lock()
	defer a.mu.Unlock()
	set := a.kinds[kind]
	if set == nil {
		return false
	}
	id := namespace + "/" + name
	i := slices.IndexFunc(set.byID[id], func(rec *artifactRec) bool { return rec.version == version })
	if i < 0 {
		return false
	}
	set.byID[id] = slices.Delete(set.byID[id], i, i+1)
	if len(set.byID[id]) == 0 {
		delete(set.byID, id)
		set.ids = slices.DeleteFunc(set.ids, func(s string) bool { return s == id })
	}
	return true
}

// ArtifactCount returns how many versions of kind the registry holds.
func (r *Registry) ArtifactCount(kind string) int {
	a := &r.artifacts
	a.mu.RLock()
	defer a.mu.RUnlock()
	n := 0
	if set := a.kinds[kind]; set != nil {
		for _, versions := range set.byID {
			n += len(versions)
		}
	}
	return n
}

func (r *Registry) putArtifacts(kind string, items []json.RawMessage) error {
	recs := make([]*artifactRec, 0, len(items))
	for i, raw := range items {
		rec, err := newArtifactRec(raw)
		if err != nil {
			return fmt.Errorf("%s[%d]: %w", kind, i, err)
		}
		recs = append(recs, rec)
	}
	a := &r.artifacts
	a.mu.Lock()
	defer a.mu.Unlock()
	set := a.set(kind)
	for _, rec := range recs {
		a.seq++
		rec.seq = a.seq
		versions := set.byID[rec.id]
		if i := slices.IndexFunc(versions, func(o *artifactRec) bool { return o.version == rec.version }); i >= 0 {
			versions[i] = rec
			continue
		}
		if len(versions) == 0 {
			i, _ := slices.BinarySearch(set.ids, rec.id)
			set.ids = slices.Insert(set.ids, i, rec.id)
		}
		set.byID[rec.id] = append(versions, rec)
	}
	return nil
}

func (a *artifactData) set(kind string) *artifactSet {
	if a.kinds == nil {
		a.kinds = map[string]*artifactSet{}
	}
	set := a.kinds[kind]
	if set == nil {
		set = &artifactSet{byID: map[string][]*artifactRec{}}
		a.kinds[kind] = set
	}
	return set
}

func newArtifactRec(raw json.RawMessage) (*artifactRec, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	var f struct {
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		Version     string `json:"version"`
		Description string `json:"description"`
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, errors.New("must be a JSON object")
	}
	if err := json.Unmarshal(buf.Bytes(), &f); err != nil {
		return nil, err
	}
	if f.Namespace == "" || f.Name == "" || f.Version == "" {
		return nil, errors.New(`needs "namespace", "name" and "version"`)
	}
	id := f.Namespace + "/" + f.Name
	return &artifactRec{id: id, version: f.Version, lower: strings.ToLower(id + "\x00" + f.Description), raw: buf.Bytes()}, nil
}

// compareArtifactVersions orders two versions of one artifact: semver
// precedence when both are semver, semver above non-semver, else the one
// put later.
func compareArtifactVersions(a, b *artifactRec) int {
	if c := compareSemverFirst(a.version, b.version); c != 0 {
		return c
	}
	return int(a.seq - b.seq)
}

func (set *artifactSet) latest(id string) *artifactRec {
	versions := set.byID[id]
	if len(versions) == 0 {
		return nil
	}
	return slices.MaxFunc(versions, compareArtifactVersions)
}

// artifactRoute serves …/x/dev.toolhive/{rest}.
func (r *Registry) artifactRoute(req *http.Request, rest string, eff *effect) response {
	segs := strings.Split(rest, "/")
	a := &r.artifacts
	a.mu.RLock()
	defer a.mu.RUnlock()
	set := a.kinds[segs[0]]
	if set == nil || segs[0] == "" {
		return problem(http.StatusNotFound, "not found")
	}
	if req.Method != http.MethodGet {
		resp := problem(http.StatusMethodNotAllowed, "method not allowed")
		resp.header = http.Header{"Allow": {http.MethodGet}}
		return resp
	}
	kind := segs[0]
	if len(segs) == 1 {
		return r.artifactList(req, kind, set, eff)
	}
	for i, s := range segs[1:] {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return problem(http.StatusBadRequest, "invalid path segment")
		}
		segs[i+1] = u
	}
	if len(segs) < 3 || len(segs) > 5 || (len(segs) >= 4 && segs[3] != "versions") {
		return problem(http.StatusNotFound, "not found")
	}
	id := segs[1] + "/" + segs[2]
	versions := slices.Clone(set.byID[id])
	if len(versions) == 0 {
		return problem(http.StatusNotFound, "not found")
	}
	switch len(segs) {
	case 3:
		return response{status: http.StatusOK, ctype: ctypeJSON, body: slices.Clone(set.latest(id).raw)}
	case 4:
		slices.SortFunc(versions, func(x, y *artifactRec) int { return compareArtifactVersions(y, x) })
		if eff.OutOfOrder {
			slices.Reverse(versions)
		}
		return response{status: http.StatusOK, ctype: ctypeJSON, body: artifactList(kind, versions, "")}
	}
	for _, rec := range versions {
		if rec.version == segs[4] {
			return response{status: http.StatusOK, ctype: ctypeJSON, body: slices.Clone(rec.raw)}
		}
	}
	return problem(http.StatusNotFound, "not found")
}

const artifactCursorTag = "a1."

func (r *Registry) artifactList(req *http.Request, kind string, set *artifactSet, eff *effect) response {
	v := req.URL.Query()
	limit := 50
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return problem(http.StatusBadRequest, "invalid limit parameter: must be between 1 and 100")
		}
		limit = n
	}
	var after string
	if c := v.Get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		id, ok := strings.CutPrefix(string(stripRepeat(raw)), artifactCursorTag)
		if err != nil || !ok {
			return problem(http.StatusBadRequest, "invalid cursor")
		}
		after = id
	}
	if eff.Endless {
		return endlessArtifacts(kind, after, limit, eff.EndlessPad)
	}
	search := strings.ToLower(strings.TrimSpace(v.Get("search")))
	i, found := slices.BinarySearch(set.ids, after)
	if found {
		i++
	}
	var page []*artifactRec
	more := false
	for _, id := range set.ids[i:] {
		rec := set.latest(id)
		if search != "" && !strings.Contains(rec.lower, search) {
			continue
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, rec)
	}
	next := ""
	if more {
		next = artifactCursor(page[len(page)-1].id)
	}
	if eff.CursorLoop {
		next = v.Get("cursor")
		if next == "" {
			next = artifactCursor("")
		}
	}
	if eff.NoProgress {
		seq := r.repeatSeq.Add(1)
		next = base64.RawURLEncoding.EncodeToString([]byte(repeatTag + strconv.FormatInt(seq, 10) + "." + artifactCursorTag + after))
	}
	if eff.OutOfOrder {
		slices.Reverse(page)
	}
	return response{status: http.StatusOK, ctype: ctypeJSON, body: artifactList(kind, page, next)}
}

func artifactCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(artifactCursorTag + id))
}

func artifactList(kind string, page []*artifactRec, next string) []byte {
	var b bytes.Buffer
	kj, _ := json.Marshal(kind) // a string: cannot fail
	b.WriteString("{")
	b.Write(kj)
	b.WriteString(":[")
	for i, rec := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(rec.raw)
	}
	b.WriteString(`],"metadata":{"count":` + strconv.Itoa(len(page)))
	if next != "" {
		nj, _ := json.Marshal(next)
		b.WriteString(`,"nextCursor":`)
		b.Write(nj)
	}
	b.WriteString("}}")
	return b.Bytes()
}

// endlessArtifacts is a list answer of an Endless fault: limit fresh
// artifacts after the cursor's, each padded, and a cursor to more.
func endlessArtifacts(kind, after string, limit, pad int) response {
	first := 0
	if n, ok := strings.CutPrefix(after, EndlessNamespace+"/a"); ok {
		if i, err := strconv.Atoi(n); err == nil {
			first = i + 1
		}
	}
	padding := strings.Repeat("x", max(pad, 0))
	page := make([]*artifactRec, limit)
	for i := range page {
		name := fmt.Sprintf("a%09d", first+i)
		raw, _ := json.Marshal(map[string]any{ // plain values: cannot fail
			"namespace": EndlessNamespace, "name": name, "version": "1.0.0",
			"description": "Endless test artifact", "metadata": map[string]string{"pad": padding},
		})
		page[i] = &artifactRec{id: EndlessNamespace + "/" + name, raw: raw}
	}
	return response{status: http.StatusOK, ctype: ctypeJSON, body: artifactList(kind, page, artifactCursor(page[limit-1].id))}
}
