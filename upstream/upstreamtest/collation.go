package upstreamtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// Collation compares strings the way a database with a language-aware
// collation does (PostgreSQL on an en_US or ICU en-US database): American
// English rules from golang.org/x/text/collate, where punctuation sorts
// before digits and letters and case only breaks ties ("a_b" < "a-b" <
// "alpha" < "Zeta"). Strings the collation finds equal are ordered by bytes,
// as PostgreSQL's deterministic collations do. Safe for concurrent use.
type Collation struct {
	mu sync.Mutex // a collate.Collator reuses internal buffers
	c  *collate.Collator
}

// NewCollation returns the American English collation.
func NewCollation() *Collation {
	return &Collation{c: collate.New(language.AmericanEnglish)}
}

// Compare returns -1, 0 or +1 as a sorts before, with, or after b.
func (c *Collation) Compare(a, b string) int {
	c.mu.Lock()
	r := c.c.CompareString(a, b)
	c.mu.Unlock()
	if r != 0 {
		return r
	}
	return strings.Compare(a, b)
}

// compareKey orders (name, version) pairs as `ORDER BY server_name,
// version` does on such a database.
func (c *Collation) compareKey(an, av, bn, bv string) int {
	if r := c.Compare(an, bn); r != 0 {
		return r
	}
	return c.Compare(av, bv)
}

// Sort sorts s in collation order.
func (c *Collation) Sort(s []string) { slices.SortStableFunc(s, c.Compare) }

// CollatedEntry returns a ServerResponse body ({"server": ..., "_meta":
// {official block}}) for name and version, for NewCollated. Unlike Put,
// nothing is computed: zero times are served as the zero time, Status ""
// as "active", and IsLatest as given.
func CollatedEntry(name, version string, o Official) json.RawMessage {
	status := o.Status
	if status == "" {
		status = StatusActive
	}
	w := wireOfficial{
		Status:        status,
		StatusMessage: o.StatusMessage,
		PublishedAt:   o.PublishedAt.UTC(),
		UpdatedAt:     o.UpdatedAt.UTC(),
		IsLatest:      o.IsLatest,
	}
	if !o.StatusChangedAt.IsZero() {
		t := o.StatusChangedAt.UTC()
		w.StatusChangedAt = &t
	}
	b, _ := json.Marshal(struct { // plain values: cannot fail
		Server json.RawMessage            `json:"server"`
		Meta   map[string]json.RawMessage `json:"_meta"`
	}{ServerJSON(name, version), map[string]json.RawMessage{officialKey: mustMarshal(w)}})
	return b
}

func mustMarshal(v wireOfficial) json.RawMessage {
	b, _ := json.Marshal(v) // plain struct: cannot fail
	return b
}

// Collated is a read-only fake upstream registry (an http.Handler) that
// serves its entries ordered by a language-aware collation instead of byte
// order, as the official registry does on a database with such a
// collation. Under /v0.1 and /v0:
//
//	GET /servers                                 name, then version, in collation order; keyset cursor paging
//	GET /servers/{serverName}/versions           the name's versions in the order they were given
//	GET /servers/{serverName}/versions/{version} one version; {version} may be "latest"
//
// List parameters follow the official registry: limit (default 30, 1..100,
// else 422), cursor (opaque; one it did not issue is 400), search
// (case-insensitive substring of the name), version ("latest" keeps isLatest
// entries, anything else is exact), include_deleted, updated_since (RFC
// 3339, updatedAt strictly later, implies include_deleted; with
// include_deleted=false it is 400). The last page has no nextCursor.
// Deleted versions are hidden unless include_deleted=true, on the per-server
// endpoints too.
//
// The per-server version order is the input order, so a test chooses it
// (e.g. oldest first, or shuffled) to check a client does not depend on it.
type Collated struct {
	coll    *Collation
	sorted  []collEntry      // list order
	byName  map[string][]int // indexes into given, input order
	given   []collEntry      // input order
	handler http.Handler
}

type collEntry struct {
	name, version string
	deleted       bool
	isLatest      bool
	updatedAt     time.Time
	body          json.RawMessage // compacted ServerResponse
}

// errCollatedEntry reports an entry NewCollated cannot serve.
var errCollatedEntry = errors.New("collated entry")

// NewCollated indexes entries: ServerResponse objects as CollatedEntry
// builds them, or as the official registry serves them. Duplicate
// name@version pairs are an error.
func NewCollated(entries []json.RawMessage) (*Collated, error) {
	c := &Collated{coll: NewCollation(), byName: map[string][]int{}}
	seen := map[[2]string]bool{}
	for i, raw := range entries {
		e, err := parseCollEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("%w %d: %w", errCollatedEntry, i, err)
		}
		k := [2]string{e.name, e.version}
		if seen[k] {
			return nil, fmt.Errorf("%w %d: duplicate %s@%s", errCollatedEntry, i, e.name, e.version)
		}
		seen[k] = true
		c.byName[e.name] = append(c.byName[e.name], len(c.given))
		c.given = append(c.given, e)
	}
	c.sorted = slices.Clone(c.given)
	slices.SortStableFunc(c.sorted, func(a, b collEntry) int {
		return c.coll.compareKey(a.name, a.version, b.name, b.version)
	})
	mux := http.NewServeMux()
	for _, v := range []string{"/v0.1", "/v0"} {
		mux.HandleFunc("GET "+v+"/servers", c.list)
		mux.HandleFunc("GET "+v+"/servers/{name}/versions", c.versions)
		mux.HandleFunc("GET "+v+"/servers/{name}/versions/{version}", c.version)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		collProblem(w, http.StatusNotFound, "Not Found")
	})
	c.handler = mux
	return c, nil
}

// ServeCollated starts a Collated registry on 127.0.0.1, closed when the
// test ends; the server's URL is the base URL for clients.
func ServeCollated(t testing.TB, entries []json.RawMessage) *httptest.Server {
	t.Helper()
	c, err := NewCollated(entries)
	if err != nil {
		t.Fatalf("upstreamtest: %v", err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return srv
}

func parseCollEntry(raw json.RawMessage) (collEntry, error) {
	var doc struct {
		Server struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"server"`
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return collEntry{}, fmt.Errorf("decode: %w", err)
	}
	if doc.Server.Name == "" || doc.Server.Version == "" {
		return collEntry{}, errors.New("server.name and server.version are required")
	}
	var off wireOfficial
	if m, ok := doc.Meta[officialKey]; ok {
		if err := json.Unmarshal(m, &off); err != nil {
			return collEntry{}, fmt.Errorf("decode %s: %w", officialKey, err)
		}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return collEntry{}, fmt.Errorf("compact: %w", err)
	}
	return collEntry{
		name: doc.Server.Name, version: doc.Server.Version,
		deleted: off.Status == StatusDeleted, isLatest: off.IsLatest,
		updatedAt: off.UpdatedAt, body: b.Bytes(),
	}, nil
}

// Order returns "name@version" of every entry in list order.
func (c *Collated) Order() []string {
	out := make([]string, len(c.sorted))
	for i, e := range c.sorted {
		out[i] = e.name + "@" + e.version
	}
	return out
}

// ServeHTTP serves the read API.
func (c *Collated) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

type collQuery struct {
	limit          int
	after          *[2]string
	search         string
	version        string
	includeDeleted bool
	updatedSince   time.Time
}

func parseCollQuery(v map[string][]string) (collQuery, int, string) {
	get := func(k string) string {
		if s := v[k]; len(s) > 0 {
			return s[0]
		}
		return ""
	}
	q := collQuery{limit: 30, search: strings.TrimSpace(get("search")), version: get("version")}
	if s := get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return q, http.StatusUnprocessableEntity, "limit must be an integer from 1 to 100"
		}
		q.limit = n
	}
	if s := get("cursor"); s != "" {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		name, version, ok := strings.Cut(string(raw), "\x00")
		if err != nil || !ok {
			return q, http.StatusBadRequest, "invalid cursor"
		}
		q.after = &[2]string{name, version}
	}
	deleted, deletedSet := false, false
	if s := get("include_deleted"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, http.StatusUnprocessableEntity, "include_deleted must be a boolean"
		}
		deleted, deletedSet = b, true
	}
	q.includeDeleted = deleted
	if s := get("updated_since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return q, http.StatusBadRequest, "updated_since must be RFC 3339"
		}
		if deletedSet && !deleted {
			return q, http.StatusBadRequest, "updated_since implies include_deleted"
		}
		q.updatedSince, q.includeDeleted = t, true
	}
	return q, 0, ""
}

func (q *collQuery) match(e *collEntry) bool {
	switch {
	case e.deleted && !q.includeDeleted:
		return false
	case q.search != "" && !strings.Contains(strings.ToLower(e.name), strings.ToLower(q.search)):
		return false
	case q.version == "latest" && !e.isLatest:
		return false
	case q.version != "" && q.version != "latest" && q.version != e.version:
		return false
	case !q.updatedSince.IsZero() && !e.updatedAt.After(q.updatedSince):
		return false
	}
	return true
}

func (c *Collated) list(w http.ResponseWriter, r *http.Request) {
	q, status, detail := parseCollQuery(r.URL.Query())
	if status != 0 {
		collProblem(w, status, detail)
		return
	}
	start := 0
	if q.after != nil {
		// Keyset: the first entry after the cursor's key in collation order.
		start, _ = slices.BinarySearchFunc(c.sorted, *q.after, func(e collEntry, k [2]string) int {
			return c.coll.compareKey(e.name, e.version, k[0], k[1])
		})
		if start < len(c.sorted) && c.sorted[start].name == q.after[0] && c.sorted[start].version == q.after[1] {
			start++
		}
	}
	var page []*collEntry
	next := ""
	for i := start; i < len(c.sorted); i++ {
		e := &c.sorted[i]
		if !q.match(e) {
			continue
		}
		if len(page) == q.limit {
			last := page[len(page)-1]
			next = base64.RawURLEncoding.EncodeToString([]byte(last.name + "\x00" + last.version))
			break
		}
		page = append(page, e)
	}
	writeCollList(w, page, next)
}

func (c *Collated) matching(r *http.Request) ([]*collEntry, bool) {
	name := r.PathValue("name")
	includeDeleted, _ := strconv.ParseBool(r.URL.Query().Get("include_deleted"))
	idx, ok := c.byName[name]
	if !ok {
		return nil, false
	}
	var out []*collEntry
	for _, i := range idx {
		if e := &c.given[i]; !e.deleted || includeDeleted {
			out = append(out, e)
		}
	}
	return out, len(out) > 0
}

func (c *Collated) versions(w http.ResponseWriter, r *http.Request) {
	es, ok := c.matching(r)
	if !ok {
		collProblem(w, http.StatusNotFound, "Server not found")
		return
	}
	writeCollList(w, es, "")
}

func (c *Collated) version(w http.ResponseWriter, r *http.Request) {
	es, _ := c.matching(r)
	want := r.PathValue("version")
	for _, e := range es {
		if (want == "latest" && e.isLatest) || e.version == want {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(e.body)
			return
		}
	}
	collProblem(w, http.StatusNotFound, "Server not found")
}

func writeCollList(w http.ResponseWriter, page []*collEntry, next string) {
	var b bytes.Buffer
	b.WriteString(`{"servers":[`)
	for i, e := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.body)
	}
	b.WriteString(`],"metadata":{`)
	if next != "" {
		nj, _ := json.Marshal(next) // a string: cannot fail
		b.WriteString(`"nextCursor":`)
		b.Write(nj)
		b.WriteByte(',')
	}
	b.WriteString(`"count":` + strconv.Itoa(len(page)) + `}}`)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b.Bytes())
}

func collProblem(w http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(struct { // plain values: cannot fail
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{http.StatusText(status), status, detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
