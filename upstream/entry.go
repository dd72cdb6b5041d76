// Package upstream owns where registry data comes from: the source kinds
// (file today; git and api later), the registry data formats and their
// conversion, and the immutable snapshot index that the engine reads.
package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	v0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
	"github.com/modelcontextprotocol/registry/pkg/model"
)

// Keys of the `_meta` objects mcpfed reads and writes.
const (
	OfficialMetaKey   = "io.modelcontextprotocol.registry/official"
	PublisherMetaKey  = "io.modelcontextprotocol.registry/publisher-provided"
	ToolHiveNamespace = "io.github.stacklok"
	// ProvenanceMetaKey is mcpfed's own namespaced key in a response's `_meta`:
	// it names the source that served the entry.
	ProvenanceMetaKey = "io.github.mcpfed/provenance"
)

// ErrInvalidEntry marks a server record that cannot be served (bad name,
// missing version, ...). Loaders wrap it with the record's position.
var ErrInvalidEntry = errors.New("invalid server entry")

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$`)

// Entry is one server version as mcpfed serves it. The server body is kept as
// the raw JSON it arrived as (compacted), so no field is ever lost; the other
// fields index it.
type Entry struct {
	Name        string
	Version     string
	Title       string
	Description string

	Status          model.Status
	StatusMessage   string
	StatusChangedAt time.Time
	PublishedAt     time.Time
	UpdatedAt       time.Time
	IsLatest        bool

	// Claims are the authorization claims a caller needs to see the entry
	// (publisher-provided _meta["io.github.mcpfed"].authzClaims; see
	// EntryClaims), nil for an entry anyone may see.
	Claims *EntryClaims

	Tags         []string
	Transports   []string
	PackageTypes []string
	// OCIImages are the identifiers of the server's "oci" packages without
	// tag or digest (OCIRepository: "ghcr.io/github/github-mcp-server"):
	// what a running instance's image is matched against.
	OCIImages []string

	// Server is the server.json object, byte for byte (whitespace compacted).
	Server json.RawMessage
	// ExtraMeta holds the response-level `_meta` keys other than the official
	// block, in the order they arrived, so they are passed on untouched.
	ExtraMeta []MetaField

	// Source is the name of the source that holds this entry. Set by the
	// snapshot builder.
	Source string
	// Encoded is the complete ServerResponse object, built once by the
	// snapshot builder so serving is a copy.
	Encoded []byte

	// hasOfficial reports whether the data carried its own official block
	// (then times and isLatest are kept instead of derived).
	hasOfficial bool
	// toolHiveStatus is the status found in ToolHive's publisher extension.
	toolHiveStatus string
	// search is the lower-cased name, title and description.
	search string
}

// MetaField is one key of a `_meta` object with its raw value.
type MetaField struct {
	Key   string
	Value json.RawMessage
}

// Key is the sort key of an entry: name, then version, byte order.
type Key struct {
	Name    string
	Version string
}

// Key returns the entry's sort key.
func (e *Entry) Key() Key { return Key{Name: e.Name, Version: e.Version} }

// Less orders keys by name, then version, both in byte order (the official order).
func (k Key) Less(o Key) bool {
	if k.Name != o.Name {
		return k.Name < o.Name
	}
	return k.Version < o.Version
}

// Compare returns -1, 0 or +1 as k sorts before, equal to, or after o.
func (k Key) Compare(o Key) int {
	if c := strings.Compare(k.Name, o.Name); c != 0 {
		return c
	}
	return strings.Compare(k.Version, o.Version)
}

// MatchesSearch reports whether the lower-cased needle is a substring of the
// name, title or description.
func (e *Entry) MatchesSearch(lowerNeedle string) bool {
	return strings.Contains(e.search, lowerNeedle)
}

// serverIndexFields is the part of server.json mcpfed decodes to index an entry.
type serverIndexFields struct {
	Name        *string `json:"name"`
	Version     *string `json:"version"`
	Title       string  `json:"title"`
	Description *string `json:"description"`
	Packages    []struct {
		RegistryType string `json:"registryType"`
		Identifier   string `json:"identifier"`
		Transport    struct {
			Type string `json:"type"`
		} `json:"transport"`
	} `json:"packages"`
	Remotes []struct {
		Type string `json:"type"`
	} `json:"remotes"`
	Meta map[string]json.RawMessage `json:"_meta"`
}

// toolHiveExtension is the subset of ToolHive's publisher extension used for
// indexing (tags) and for deriving the official status.
type toolHiveExtension struct {
	Status string   `json:"status"`
	Tags   []string `json:"tags"`
}

// NewEntry indexes one server.json object. responseMeta is the
// response-level `_meta` (from a ServerList or API source) or nil.
func NewEntry(server json.RawMessage, responseMeta json.RawMessage) (*Entry, error) {
	compact := []byte(server)
	if hasInsignificantSpace(server) {
		var buf bytes.Buffer
		if err := json.Compact(&buf, server); err != nil {
			return nil, fmt.Errorf("%w: server is not valid JSON: %w", ErrInvalidEntry, err)
		}
		compact = buf.Bytes()
	}
	if len(compact) == 0 || compact[0] != '{' {
		return nil, fmt.Errorf("%w: server must be a JSON object", ErrInvalidEntry)
	}
	var f serverIndexFields
	if err := json.Unmarshal(compact, &f); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("%w: server is not valid JSON: %w", ErrInvalidEntry, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidEntry, err)
	}
	e := &Entry{Server: compact, Title: f.Title}
	if err := e.setIdentity(f); err != nil {
		return nil, err
	}
	e.indexTransports(f)
	if err := e.indexPublisherMeta(f.Meta); err != nil {
		return nil, err
	}
	if len(responseMeta) > 0 && !bytes.Equal(bytes.TrimSpace(responseMeta), []byte("null")) {
		if err := e.setResponseMeta(responseMeta); err != nil {
			return nil, err
		}
	}
	e.search = strings.ToLower(e.Name + "\x00" + e.Title + "\x00" + e.Description)
	return e, nil
}

func (e *Entry) setIdentity(f serverIndexFields) error {
	switch {
	case f.Name == nil || *f.Name == "":
		return fmt.Errorf("%w: missing \"name\"", ErrInvalidEntry)
	case len(*f.Name) < 3 || len(*f.Name) > 200 || !namePattern.MatchString(*f.Name):
		return fmt.Errorf("%w: name %q must be namespace/name (reverse-DNS namespace, exactly one slash, 3 to 200 characters of [a-zA-Z0-9._-])", ErrInvalidEntry, *f.Name)
	case f.Version == nil || *f.Version == "":
		return fmt.Errorf("%w: server %q: missing \"version\"", ErrInvalidEntry, *f.Name)
	case len(*f.Version) > 255:
		return fmt.Errorf("%w: server %q: version longer than 255 characters", ErrInvalidEntry, *f.Name)
	case *f.Version == "latest":
		return fmt.Errorf("%w: server %q: \"latest\" is reserved and cannot be a version", ErrInvalidEntry, *f.Name)
	case f.Description == nil || *f.Description == "":
		return fmt.Errorf("%w: server %q version %q: missing \"description\"", ErrInvalidEntry, *f.Name, *f.Version)
	case utf8.RuneCountInString(*f.Description) > 100:
		return fmt.Errorf("%w: server %q version %q: description longer than 100 characters", ErrInvalidEntry, *f.Name, *f.Version)
	case utf8.RuneCountInString(f.Title) > 100:
		return fmt.Errorf("%w: server %q version %q: title longer than 100 characters", ErrInvalidEntry, *f.Name, *f.Version)
	}
	e.Name, e.Version, e.Description = *f.Name, *f.Version, *f.Description
	return nil
}

func (e *Entry) indexTransports(f serverIndexFields) {
	for _, p := range f.Packages {
		e.PackageTypes = appendUnique(e.PackageTypes, p.RegistryType)
		e.Transports = appendUnique(e.Transports, p.Transport.Type)
		if p.RegistryType == "oci" {
			e.OCIImages = appendUnique(e.OCIImages, OCIRepository(strings.TrimSpace(p.Identifier)))
		}
	}
	for _, r := range f.Remotes {
		e.Transports = appendUnique(e.Transports, r.Type)
	}
}

// indexPublisherMeta reads ToolHive's publisher extension, when present, for
// tags and the status it records.
func (e *Entry) indexPublisherMeta(meta map[string]json.RawMessage) error {
	raw, ok := meta[PublisherMetaKey]
	if !ok {
		return nil
	}
	var publishers map[string]json.RawMessage
	if err := json.Unmarshal(raw, &publishers); err != nil {
		return nil // not ToolHive's layout; nothing to index, nothing lost
	}
	if own, ok := publishers[MCPFedNamespace]; ok {
		e.Claims = parseEntryClaims(own)
	}
	var byKey map[string]toolHiveExtension
	if err := json.Unmarshal(publishers[ToolHiveNamespace], &byKey); err != nil {
		return nil
	}
	for _, ext := range byKey {
		for _, t := range ext.Tags {
			e.Tags = appendUnique(e.Tags, t)
		}
		if ext.Status != "" && e.toolHiveStatus == "" {
			e.toolHiveStatus = ext.Status
		}
	}
	return nil
}

// setResponseMeta keeps the official block (normalised) and every other key.
func (e *Entry) setResponseMeta(raw json.RawMessage) error {
	fields, err := splitObject(raw)
	if err != nil {
		return fmt.Errorf("%w: server %q version %q: _meta: %w", ErrInvalidEntry, e.Name, e.Version, err)
	}
	for _, f := range fields {
		switch f.Key {
		case OfficialMetaKey:
			var off v0.RegistryExtensions
			if err := json.Unmarshal(f.Value, &off); err != nil {
				return fmt.Errorf("%w: server %q version %q: official _meta: %w", ErrInvalidEntry, e.Name, e.Version, err)
			}
			for _, tf := range []struct {
				name string
				t    time.Time
			}{{"publishedAt", off.PublishedAt}, {"updatedAt", off.UpdatedAt}, {"statusChangedAt", off.StatusChangedAt}} {
				if err := servableTime(tf.t); err != nil {
					return fmt.Errorf("%w: server %q version %q: official _meta: %s: %w", ErrInvalidEntry, e.Name, e.Version, tf.name, err)
				}
			}
			st, err := ParseStatus(string(off.Status))
			if err != nil {
				return fmt.Errorf("%w: server %q version %q: official _meta: %w", ErrInvalidEntry, e.Name, e.Version, err)
			}
			e.hasOfficial = true
			e.Status = st
			e.PublishedAt, e.UpdatedAt, e.StatusChangedAt = off.PublishedAt, off.UpdatedAt, off.StatusChangedAt
			e.IsLatest = off.IsLatest
			if off.StatusMessage != nil {
				e.StatusMessage = *off.StatusMessage
			}
		case ProvenanceMetaKey:
			// Re-stamped by this mcpfed; an upstream mcpfed's stamp is replaced.
		default:
			e.ExtraMeta = append(e.ExtraMeta, f)
		}
	}
	return nil
}

// servableTime rejects a time that cannot be written back as RFC 3339 in
// UTC: an offset can move year 9999 into 10000, which encoding/json refuses.
func servableTime(t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("%s is outside years 0000 to 9999 in UTC", t.Format(time.RFC3339))
	}
	return nil
}

// ParseStatus maps a status string, in any case, to the official constant.
// An empty string is active.
func ParseStatus(s string) (model.Status, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "active":
		return model.StatusActive, nil
	case "deprecated":
		return model.StatusDeprecated, nil
	case "deleted":
		return model.StatusDeleted, nil
	}
	return "", fmt.Errorf("unknown status %q (want active, deprecated or deleted)", s)
}

// HasOfficialMeta reports whether the entry arrived with its own official block.
func (e *Entry) HasOfficialMeta() bool { return e.hasOfficial }

// provenanceJSON is the value of ProvenanceMetaKey for a source.
func provenanceJSON(source string) []byte {
	name, _ := json.Marshal(source) // a string: cannot fail
	return append(append([]byte(`{"source":`), name...), '}')
}

const serverPrefix = `{"server":`

// encode builds the ServerResponse bytes:
// {"server":…,"_meta":{official,…extra,provenance}}. The official block has
// RFC 3339 times, a lower-case status, and statusChangedAt, statusMessage
// and updatedAt only when known. Server is then re-pointed into the
// encoding, so the body is held once.
func (e *Entry) encode(provenance []byte) {
	size := len(serverPrefix) + len(e.Server) + len(OfficialMetaKey) + len(ProvenanceMetaKey) + len(provenance) + len(e.StatusMessage) + 200
	for _, f := range e.ExtraMeta {
		size += len(f.Key) + len(f.Value) + 8
	}
	b := make([]byte, 0, size)
	b = append(b, serverPrefix...)
	b = append(b, e.Server...)
	b = append(b, `,"_meta":{"`+OfficialMetaKey+`":{"status":"`...)
	b = append(b, e.Status...)
	b = append(b, '"')
	if e.StatusMessage != "" {
		msg, _ := json.Marshal(e.StatusMessage) // a string: cannot fail
		b = append(b, `,"statusMessage":`...)
		b = append(b, msg...)
	}
	if !e.StatusChangedAt.IsZero() {
		b = appendTime(append(b, `,"statusChangedAt":`...), e.StatusChangedAt)
	}
	b = appendTime(append(b, `,"publishedAt":`...), e.PublishedAt)
	if !e.UpdatedAt.IsZero() {
		b = appendTime(append(b, `,"updatedAt":`...), e.UpdatedAt)
	}
	b = strconv.AppendBool(append(b, `,"isLatest":`...), e.IsLatest)
	b = append(b, '}')
	for _, f := range e.ExtraMeta {
		k, _ := json.Marshal(f.Key) // a string: cannot fail
		b = append(b, ',')
		b = append(b, k...)
		b = append(b, ':')
		b = append(b, f.Value...)
	}
	b = append(b, `,"`+ProvenanceMetaKey+`":`...)
	b = append(b, provenance...)
	b = append(b, `}}`...)
	e.Server = b[len(serverPrefix) : len(serverPrefix)+len(e.Server) : len(serverPrefix)+len(e.Server)]
	e.Encoded = b
}

// appendTime writes t as a JSON RFC 3339 string in UTC, as encoding/json would.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// hasInsignificantSpace reports whether JSON text has whitespace outside
// strings, i.e. whether compacting it would change it. Registry answers are
// compact already; checking is far cheaper than compacting them again.
func hasInsignificantSpace(b []byte) bool {
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return true
		}
	}
	return false
}

// splitObject decodes a JSON object into its fields in order, values raw and compacted.
func splitObject(raw json.RawMessage) ([]MetaField, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("must be a JSON object")
	}
	var out []MetaField
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			return nil, err
		}
		out = append(out, MetaField{Key: key, Value: c.Bytes()})
	}
	return out, nil
}

func appendUnique(list []string, s string) []string {
	if s == "" {
		return list
	}
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
