package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Format names a registry data layout that mcpfed detects by shape.
type Format string

// The formats a file source reads.
const (
	// FormatUpstream is the registry-upstream file: {"$schema","version","meta","data":{"servers":[…]}}.
	FormatUpstream Format = "upstream"
	// FormatToolHive is ToolHive's legacy registry.json: {"servers":{…},"remote_servers":{…}}.
	FormatToolHive Format = "toolhive-legacy"
	// FormatServerList is a saved API response: {"servers":[{"server":…,"_meta":…}],"metadata":…}.
	FormatServerList Format = "server-list"
	// FormatServerJSON is one server.json object.
	FormatServerJSON Format = "server.json"
	// FormatArray is a JSON array of server.json objects (or of ServerList items).
	FormatArray Format = "array"
	// FormatDirectory is a directory tree of server.json files.
	FormatDirectory Format = "directory"
)

// ErrUnknownFormat is returned for JSON that is none of the registry formats.
var ErrUnknownFormat = errors.New("unrecognised registry format")

// Document is the result of parsing one registry file.
type Document struct {
	Format  Format
	Entries []*Entry
	// LastUpdated is the file's own timestamp (meta.last_updated or
	// last_updated), zero when it has none. Derived publication times use it.
	LastUpdated time.Time
	// Artifacts are the skills and plugins the document carries (ToolHive's
	// registry extensions: data.skills and data.plugins of the upstream
	// format; other formats carry none), in file order.
	Artifacts map[ArtifactKind][]*Artifact
}

// Parse detects the format of data and indexes every server in it. Errors
// name the position of the offending record (e.g. `data.servers[3]`) and,
// for syntax errors, the line and column.
func Parse(data []byte) (*Document, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	trimmed = bytes.TrimPrefix(trimmed, []byte("\ufeff"))
	if !json.Valid(trimmed) {
		return nil, syntaxError(data, len(data)-len(trimmed), trimmed)
	}
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, err
		}
		entries, err := parseItems(items, "")
		if err != nil {
			return nil, err
		}
		return &Document{Format: FormatArray, Entries: entries}, nil
	case len(trimmed) > 0 && trimmed[0] == '{':
		return parseObject(trimmed)
	}
	return nil, fmt.Errorf("%w: top level must be a JSON object or array", ErrUnknownFormat)
}

func parseObject(data []byte) (*Document, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	servers, hasServers := top["servers"]
	_, hasRemote := top["remote_servers"]
	switch {
	case top["data"] != nil:
		return parseUpstream(top)
	case hasRemote || (hasServers && firstByte(servers) == '{'):
		return parseToolHive(top)
	case hasServers && firstByte(servers) == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(servers, &items); err != nil {
			return nil, err
		}
		entries, err := parseItems(items, "servers")
		if err != nil {
			return nil, err
		}
		return &Document{Format: FormatServerList, Entries: entries}, nil
	case top["name"] != nil:
		e, err := NewEntry(data, nil)
		if err != nil {
			return nil, err
		}
		return &Document{Format: FormatServerJSON, Entries: []*Entry{e}}, nil
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return nil, fmt.Errorf("%w: an object with keys [%s]; expected an upstream registry file (\"data\"), a ToolHive registry.json (\"servers\" map), a ServerList (\"servers\" array) or a server.json (\"name\")",
		ErrUnknownFormat, strings.Join(keys, ", "))
}

func parseUpstream(top map[string]json.RawMessage) (*Document, error) {
	var body struct {
		Servers []json.RawMessage `json:"servers"`
		Skills  []json.RawMessage `json:"skills"`
		Plugins []json.RawMessage `json:"plugins"`
	}
	if err := json.Unmarshal(top["data"], &body); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	doc := &Document{Format: FormatUpstream}
	if raw, ok := top["meta"]; ok {
		var meta struct {
			LastUpdated string `json:"last_updated"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("meta: %w", err)
		}
		t, err := parseOptionalTime(meta.LastUpdated)
		if err != nil {
			return nil, fmt.Errorf("meta.last_updated: %w", err)
		}
		doc.LastUpdated = t
	}
	for i, raw := range body.Servers {
		e, err := NewEntry(raw, nil)
		if err != nil {
			return nil, fmt.Errorf("data.servers[%d]: %w", i, err)
		}
		doc.Entries = append(doc.Entries, e)
	}
	for _, list := range []struct {
		kind  ArtifactKind
		items []json.RawMessage
	}{{Skills, body.Skills}, {Plugins, body.Plugins}} {
		arts, err := parseArtifacts(list.kind, list.items, "data."+string(list.kind))
		if err != nil {
			return nil, err
		}
		doc.addArtifacts(list.kind, arts)
	}
	return doc, nil
}

// parseArtifacts indexes a list of skills or plugins. An invalid one, or a
// version listed twice, fails the list with its position (path[i]).
func parseArtifacts(kind ArtifactKind, items []json.RawMessage, path string) ([]*Artifact, error) {
	out := make([]*Artifact, 0, len(items))
	first := make(map[ArtifactKey]int, len(items))
	for i, raw := range items {
		a, err := NewArtifact(kind, raw)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", path, i, err)
		}
		if j, dup := first[a.Key()]; dup {
			return nil, fmt.Errorf("%s[%d]: %w: %s version %q is already at %s[%d]", path, i, ErrInvalidEntry, a.ID(), a.Version, path, j)
		}
		first[a.Key()] = i
		out = append(out, a)
	}
	return out, nil
}

// addArtifacts appends artifacts of one kind to the document's.
func (d *Document) addArtifacts(kind ArtifactKind, arts []*Artifact) {
	if len(arts) == 0 {
		return
	}
	if d.Artifacts == nil {
		d.Artifacts = make(map[ArtifactKind][]*Artifact, len(ArtifactKinds))
	}
	d.Artifacts[kind] = append(d.Artifacts[kind], arts...)
}

// ArtifactCount is the number of artifact versions of kind the document holds.
func (d *Document) ArtifactCount(kind ArtifactKind) int { return len(d.Artifacts[kind]) }

// parseItems reads array elements that are either server.json objects or
// ServerList items ({"server":…,"_meta":…}).
func parseItems(items []json.RawMessage, path string) ([]*Entry, error) {
	entries := make([]*Entry, 0, len(items))
	for i, raw := range items {
		var item struct {
			Server json.RawMessage `json:"server"`
			Meta   json.RawMessage `json:"_meta"`
			Name   json.RawMessage `json:"name"`
		}
		if firstByte(raw) != '{' {
			return nil, fmt.Errorf("%s[%d]: %w: must be a JSON object", path, i, ErrInvalidEntry)
		}
		if err := json.Unmarshal(raw, &item); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", path, i, err)
		}
		var (
			e   *Entry
			err error
		)
		if item.Server != nil && item.Name == nil {
			e, err = NewEntry(item.Server, item.Meta)
		} else {
			e, err = NewEntry(raw, nil)
		}
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", path, i, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func parseOptionalTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want an RFC 3339 time, got %q", s)
	}
	if err := servableTime(t); err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func firstByte(raw json.RawMessage) byte {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 {
		return 0
	}
	return t[0]
}

// syntaxError locates the first JSON syntax error in trimmed (orig without
// its first skip bytes) as line:column of orig, the file the operator edits.
func syntaxError(orig []byte, skip int, trimmed []byte) error {
	var v any
	err := json.Unmarshal(trimmed, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read, the offending one included; a
		// truncated document is reported just past its last byte.
		end := skip + max(int(se.Offset)-1, 0)
		if strings.HasPrefix(se.Error(), "unexpected end") {
			end = skip + int(se.Offset)
		}
		start := 0
		if bytes.HasPrefix(orig, []byte("\ufeff")) {
			start = 3 // a byte-order mark is no column in an editor
		}
		line, col := 1, 1
		for _, b := range orig[start:max(start, min(end, len(orig)))] {
			switch {
			case b == '\n':
				line, col = line+1, 1
			case b&0xC0 != 0x80: // count characters, not UTF-8 continuation bytes
				col++
			}
		}
		return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
	}
	if err == nil {
		err = errors.New("unexpected data after the top-level value")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// UndatedTime is the publication date of an entry whose data carries none:
// no official block with publishedAt, no document date (an upstream file's
// meta.last_updated, a ToolHive file's last_updated, a git source's commit
// time, a URL's Last-Modified). It is fixed, not the time a process first saw
// the entry, so that replicas and restarts serve the same bytes, ETags and
// updated_since answers.
var UndatedTime = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)

// Finalize derives what the data did not carry: for entries without an
// official block, the status (from ToolHive's extension, lower-cased); for
// every entry without a publication time, the document's date (lastUpdated),
// else UndatedTime; updatedAt of entries without an official block follows
// publishedAt. It only fills what is missing, so finalizing again (a
// directory's files with their own dates first, then the whole document) or
// re-installing kept entries changes nothing.
func Finalize(entries []*Entry, lastUpdated time.Time) {
	date := UndatedTime
	if !lastUpdated.IsZero() {
		date = lastUpdated.UTC()
	}
	for _, e := range entries {
		if e.PublishedAt.IsZero() {
			e.PublishedAt = date
		}
		if e.hasOfficial {
			continue
		}
		st, err := ParseStatus(e.toolHiveStatus)
		if err != nil {
			st = "active" // ToolHive statuses other than active/deprecated have no official meaning
		}
		e.Status = st
		if e.UpdatedAt.IsZero() {
			e.UpdatedAt = e.PublishedAt
		}
	}
}

// DateIfUndated gives the document a date when its data carries none: a git
// source passes its commit time, a URL its Last-Modified. Entries without a
// publication time of their own are then dated by it (see Finalize).
func (d *Document) DateIfUndated(t time.Time) {
	if d.LastUpdated.IsZero() && !t.IsZero() && servableTime(t) == nil {
		d.LastUpdated = t.UTC()
	}
}

// merge appends a directory file's entries and artifacts to d, entries
// dated by that file's own date first: the directory document has none of
// its own. A version in two files is found when the snapshot is built.
func (d *Document) merge(file *Document) {
	if !file.LastUpdated.IsZero() {
		Finalize(file.Entries, file.LastUpdated)
	}
	d.Entries = append(d.Entries, file.Entries...)
	for _, kind := range ArtifactKinds {
		d.addArtifacts(kind, file.Artifacts[kind])
	}
}
