package upstreamtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Status is a server version's lifecycle status.
type Status string

// The official statuses. Any other non-empty string is stored and served as
// given, so a test can feed a client a status it does not know.
const (
	StatusActive     Status = "active"
	StatusDeprecated Status = "deprecated"
	StatusDeleted    Status = "deleted"
)

// officialKey is the response `_meta` key of the registry-managed block.
const officialKey = "io.modelcontextprotocol.registry/official"

// Official is the registry-managed metadata of one server version: what is
// served under _meta["io.modelcontextprotocol.registry/official"], plus any
// further response-level _meta keys.
//
// Zero fields passed to Put are filled in: Status "active", PublishedAt now
// (or the replaced version's), UpdatedAt PublishedAt for a new version and
// now for a replaced one, StatusChangedAt PublishedAt (or now when the status
// changes). IsLatest is computed by the registry and ignored on input.
type Official struct {
	Status          Status
	StatusMessage   string
	StatusChangedAt time.Time
	PublishedAt     time.Time
	UpdatedAt       time.Time
	IsLatest        bool
	// ExtraMeta holds further response-level _meta keys (raw JSON values),
	// served after the official block in key order, so a test can check that
	// a client keeps keys it does not know.
	ExtraMeta map[string]json.RawMessage
}

// Record is one stored server version as the registry serves it.
type Record struct {
	Name     string
	Version  string
	Server   json.RawMessage // the server.json object (compacted)
	Official Official
	// Response is the exact ServerResponse JSON the registry serves for it.
	Response json.RawMessage
}

type key struct{ name, version string }

func (k key) compare(o key) int {
	if c := strings.Compare(k.name, o.name); c != 0 {
		return c
	}
	return strings.Compare(k.version, o.version)
}

// record is one version. Records are never mutated while a request may read
// them without the lock: every change happens under the write lock, and enc
// is replaced, never written into.
type record struct {
	key
	lowerName string
	server    json.RawMessage
	off       Official
	enc       []byte
}

// dataset is the registry's index: sorted holds every record in (name,
// version) byte order so a cursor is a binary search; byName serves the
// per-server endpoints and isLatest.
type dataset struct {
	mu     sync.RWMutex
	sorted []*record
	byKey  map[key]*record
	byName map[string][]*record
}

func (d *dataset) init() {
	d.byKey = make(map[key]*record)
	d.byName = make(map[string][]*record)
}

// seek returns the index of the first record after k.
func (d *dataset) seek(k key) int {
	i, found := slices.BinarySearchFunc(d.sorted, k, func(r *record, k key) int { return r.key.compare(k) })
	if found {
		i++
	}
	return i
}

// latest returns the name's isLatest record, or nil.
func (d *dataset) latest(name string) *record {
	for _, r := range d.byName[name] {
		if r.off.IsLatest {
			return r
		}
	}
	return nil
}

// ServerJSON returns a minimal valid server.json for name and version, for
// tests that do not care about the body.
func ServerJSON(name, version string) json.RawMessage {
	b, _ := json.Marshal(struct { // plain struct: cannot fail
		Schema      string `json:"$schema"`
		Name        string `json:"name"`
		Description string `json:"description"`
		Version     string `json:"version"`
	}{serverSchema, name, "Test server " + name, version})
	return b
}

const serverSchema = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"

// newRecord indexes a server.json object. Only what keys it is checked: the
// fake serves invalid-but-keyable data on purpose, so clients' validation can
// be tested.
func newRecord(server json.RawMessage) (*record, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, server); err != nil {
		return nil, fmt.Errorf("server is not valid JSON: %w", err)
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, errors.New("server must be a JSON object")
	}
	var f struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(buf.Bytes(), &f); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	switch {
	case f.Name == "":
		return nil, errors.New(`server has no "name"`)
	case f.Version == "":
		return nil, fmt.Errorf(`server %q has no "version"`, f.Name)
	case f.Version == "latest":
		return nil, fmt.Errorf(`server %q: "latest" is reserved and cannot be a version`, f.Name)
	}
	return &record{key: key{f.Name, f.Version}, lowerName: strings.ToLower(f.Name), server: buf.Bytes()}, nil
}

type pending struct {
	rec  *record
	meta Official
}

// Put adds a server version, or replaces the one with the same name and
// version (its body, and the metadata fields given). It fails the test if
// server is not a JSON object with a string name and version.
func (r *Registry) Put(server json.RawMessage, meta Official) {
	r.t.Helper()
	rec, err := newRecord(server)
	if err == nil {
		err = checkExtraMeta(meta.ExtraMeta)
	}
	if err != nil {
		r.t.Fatalf("upstreamtest: Put: %v", err)
		return // for a testing.TB whose Fatalf returns
	}
	r.data.mu.Lock()
	defer r.data.mu.Unlock()
	r.upsertLocked([]pending{{rec, meta}})
}

func checkExtraMeta(m map[string]json.RawMessage) error {
	for k, v := range m {
		if !json.Valid(v) {
			return fmt.Errorf("ExtraMeta[%q] is not valid JSON", k)
		}
	}
	return nil
}

// upsertLocked adds or replaces records, then restores the sort order and
// isLatest of every name it touched.
func (r *Registry) upsertLocked(items []pending) {
	d := &r.data
	now := r.clock()
	touched := make(map[string]struct{})
	var added []*record
	for _, it := range items {
		old := d.byKey[it.rec.key]
		meta := withDefaults(it.meta, old, now)
		if old != nil {
			// Keep the pointer: sorted and byName already hold it.
			old.server, old.off = it.rec.server, meta
		} else {
			it.rec.off = meta
			d.byKey[it.rec.key] = it.rec
			d.byName[it.rec.name] = append(d.byName[it.rec.name], it.rec)
			added = append(added, it.rec)
		}
		touched[it.rec.name] = struct{}{}
	}
	if len(added) <= 16 {
		for _, rec := range added {
			i := d.seek(rec.key)
			d.sorted = slices.Insert(d.sorted, i, rec)
		}
	} else {
		d.sorted = append(d.sorted, added...)
		slices.SortFunc(d.sorted, func(a, b *record) int { return a.key.compare(b.key) })
	}
	for name := range touched {
		d.recalcLatest(name)
	}
}

func withDefaults(m Official, old *record, now time.Time) Official {
	m.IsLatest = false
	m.ExtraMeta = maps.Clone(m.ExtraMeta) // the caller may reuse its map
	if old == nil {
		if m.Status == "" {
			m.Status = StatusActive
		}
		if m.PublishedAt.IsZero() {
			m.PublishedAt = now
		}
		if m.UpdatedAt.IsZero() {
			m.UpdatedAt = m.PublishedAt
		}
		if m.StatusChangedAt.IsZero() {
			m.StatusChangedAt = m.PublishedAt
		}
		return m
	}
	o := old.off
	if m.Status == "" {
		m.Status = o.Status
	}
	if m.StatusMessage == "" && m.Status == o.Status {
		m.StatusMessage = o.StatusMessage
	}
	if m.PublishedAt.IsZero() {
		m.PublishedAt = o.PublishedAt
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = now
	}
	if m.StatusChangedAt.IsZero() {
		m.StatusChangedAt = o.StatusChangedAt
		if m.Status != o.Status {
			m.StatusChangedAt = now
		}
	}
	if m.ExtraMeta == nil {
		m.ExtraMeta = o.ExtraMeta
	}
	return m
}

// wireOfficial is the official block in the field order the official
// registry writes it.
type wireOfficial struct {
	Status          Status     `json:"status"`
	StatusChangedAt *time.Time `json:"statusChangedAt,omitempty"`
	StatusMessage   string     `json:"statusMessage,omitempty"`
	PublishedAt     time.Time  `json:"publishedAt"`
	UpdatedAt       time.Time  `json:"updatedAt"`
	IsLatest        bool       `json:"isLatest"`
}

// encode builds the ServerResponse bytes once per change, so serving a page
// is concatenation (load tests at 100,000 entries stay cheap).
func (rec *record) encode() {
	o := rec.off
	w := wireOfficial{
		Status:        o.Status,
		StatusMessage: o.StatusMessage,
		PublishedAt:   o.PublishedAt.UTC(),
		UpdatedAt:     o.UpdatedAt.UTC(),
		IsLatest:      o.IsLatest,
	}
	if !o.StatusChangedAt.IsZero() {
		t := o.StatusChangedAt.UTC()
		w.StatusChangedAt = &t
	}
	off, _ := json.Marshal(w) // plain struct: cannot fail
	var b bytes.Buffer
	b.Grow(len(rec.server) + len(off) + 80)
	b.WriteString(`{"server":`)
	b.Write(rec.server)
	b.WriteString(`,"_meta":{"` + officialKey + `":`)
	b.Write(off)
	for _, k := range slices.Sorted(maps.Keys(o.ExtraMeta)) {
		if k == officialKey {
			continue // the registry owns this key
		}
		kj, _ := json.Marshal(k)
		b.WriteByte(',')
		b.Write(kj)
		b.WriteByte(':')
		var v bytes.Buffer
		if json.Compact(&v, o.ExtraMeta[k]) != nil {
			v.WriteString("null") // checked valid on the way in; never happens
		}
		b.Write(v.Bytes())
	}
	b.WriteString(`}}`)
	rec.enc = b.Bytes()
}

func (rec *record) export() Record {
	off := rec.off
	off.ExtraMeta = maps.Clone(off.ExtraMeta)
	return Record{Name: rec.name, Version: rec.version, Server: rec.server, Official: off, Response: rec.enc}
}

// SetStatus changes the status of one version, or of every version of the
// server when version is "" (like the official PATCH .../status endpoints):
// statusChangedAt and updatedAt become now, the status message is cleared,
// and isLatest is recomputed. It fails the test if nothing matches.
func (r *Registry) SetStatus(name, version string, status Status) {
	r.t.Helper()
	r.Update(name, version, func(o *Official) {
		o.Status = status
		o.StatusMessage = ""
	})
}

// Update edits the metadata of one version, or of every version of the
// server when version is "". fn gets a copy; fields it leaves unchanged that
// a real registry would move are set for it: updatedAt becomes now, and
// statusChangedAt too when the status changed. It fails the test if nothing
// matches.
func (r *Registry) Update(name, version string, fn func(*Official)) {
	r.t.Helper()
	if !r.update(name, version, fn) {
		r.t.Fatalf("upstreamtest: Update: no server %q version %q", name, version)
	}
}

func (r *Registry) update(name, version string, fn func(*Official)) bool {
	r.data.mu.Lock()
	defer r.data.mu.Unlock()
	targets := r.data.versionsOf(name, version)
	if len(targets) == 0 {
		return false
	}
	now := r.clock()
	for _, rec := range targets {
		before := rec.off
		after := before
		after.ExtraMeta = maps.Clone(before.ExtraMeta)
		fn(&after)
		if after.Status == "" {
			after.Status = StatusActive
		}
		if after.UpdatedAt.Equal(before.UpdatedAt) {
			after.UpdatedAt = now
		}
		if after.Status != before.Status && after.StatusChangedAt.Equal(before.StatusChangedAt) {
			after.StatusChangedAt = now
		}
		rec.off = after
	}
	r.data.recalcLatest(name)
	return true
}

// versionsOf returns the named version, or every version when version is "".
func (d *dataset) versionsOf(name, version string) []*record {
	if version == "" {
		return d.byName[name]
	}
	if rec := d.byKey[key{name, version}]; rec != nil {
		return []*record{rec}
	}
	return nil
}

// Delete removes a version outright (not a status change: it vanishes from
// every listing, include_deleted or not), or every version when version is
// "". It reports whether anything was removed.
func (r *Registry) Delete(name, version string) bool {
	r.data.mu.Lock()
	defer r.data.mu.Unlock()
	d := &r.data
	targets := slices.Clone(d.versionsOf(name, version))
	for _, rec := range targets {
		delete(d.byKey, rec.key)
		if i, ok := slices.BinarySearchFunc(d.sorted, rec.key, func(x *record, k key) int { return x.key.compare(k) }); ok {
			d.sorted = slices.Delete(d.sorted, i, i+1)
		}
		d.byName[name] = slices.DeleteFunc(d.byName[name], func(x *record) bool { return x == rec })
	}
	if len(d.byName[name]) == 0 {
		delete(d.byName, name)
	} else if len(targets) > 0 {
		d.recalcLatest(name)
	}
	return len(targets) > 0
}

// Clear removes every record, and every skill and plugin (their
// endpoints are 404 again).
func (r *Registry) Clear() {
	r.data.mu.Lock()
	r.data.sorted = nil
	r.data.init()
	r.data.mu.Unlock()
	r.artifacts.mu.Lock()
	r.artifacts.kinds = nil
	r.artifacts.mu.Unlock()
}

// Len returns the number of stored versions, deleted ones included.
func (r *Registry) Len() int {
	r.data.mu.RLock()
	defer r.data.mu.RUnlock()
	return len(r.data.sorted)
}

// Records returns every stored version in listing order (name, then
// version, byte order), deleted ones included: the expected result of a
// complete walk with include_deleted=true. The byte slices are shared; do
// not modify them.
func (r *Registry) Records() []Record {
	r.data.mu.RLock()
	defer r.data.mu.RUnlock()
	out := make([]Record, len(r.data.sorted))
	for i, rec := range r.data.sorted {
		out[i] = rec.export()
	}
	return out
}

// Get returns one version; version may be "latest".
func (r *Registry) Get(name, version string) (Record, bool) {
	r.data.mu.RLock()
	defer r.data.mu.RUnlock()
	var rec *record
	if version == "latest" {
		rec = r.data.latest(name)
	} else {
		rec = r.data.byKey[key{name, version}]
	}
	if rec == nil {
		return Record{}, false
	}
	return rec.export(), true
}
