package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/registry/pkg/model"
)

// ArtifactKind names a ToolHive registry extension that lists artifacts
// other than servers: skills and plugins (served under
// /v0.1/x/dev.toolhive/{kind}).
type ArtifactKind string

// The artifact kinds mcpfed serves.
const (
	Skills  ArtifactKind = "skills"
	Plugins ArtifactKind = "plugins"
)

// ArtifactKinds lists the kinds in a fixed order.
var ArtifactKinds = []ArtifactKind{Skills, Plugins}

// artifactNamePattern is ToolHive's skill (and plugin) name: lower-case
// alphanumerics and hyphens, starting and ending with an alphanumeric.
var artifactNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// artifactNamespacePattern is a reverse-DNS namespace (no slash).
var artifactNamespacePattern = regexp.MustCompile(`^[a-zA-Z0-9.-]+$`)

// Artifact is one version of a skill or plugin as mcpfed serves it. Like a
// server, the object is kept as the raw JSON it arrived as (compacted), so
// no field is lost; the other fields index it.
type Artifact struct {
	Kind        ArtifactKind
	Namespace   string
	Name        string
	Version     string
	Title       string
	Description string
	// Status is as the data says (active, deprecated, archived), lower-cased;
	// "active" when absent.
	Status string
	// PackageTypes are the packages' registryType values (oci, git).
	PackageTypes []string
	// Raw is the artifact object, byte for byte (whitespace compacted).
	Raw json.RawMessage
	// Source is the name of the source that holds it, set when indexed.
	Source string

	search string
}

// ArtifactKey orders artifacts: namespace/name, then version, byte order.
type ArtifactKey struct {
	ID      string // namespace + "/" + name
	Version string
}

// Compare returns -1, 0 or +1 as k sorts before, equal to, or after o.
func (k ArtifactKey) Compare(o ArtifactKey) int {
	if c := strings.Compare(k.ID, o.ID); c != 0 {
		return c
	}
	return strings.Compare(k.Version, o.Version)
}

// ID is namespace/name: the artifact's identity across versions, and the
// name that filters and namespace reservations match.
func (a *Artifact) ID() string { return a.Namespace + "/" + a.Name }

// Key returns the artifact's sort key.
func (a *Artifact) Key() ArtifactKey { return ArtifactKey{ID: a.ID(), Version: a.Version} }

// MatchesSearch reports whether the lower-cased needle is a substring of
// the namespace/name, title or description.
func (a *Artifact) MatchesSearch(lowerNeedle string) bool {
	return strings.Contains(a.search, lowerNeedle)
}

// FilterEntry is the artifact as the server filters and reservations see
// it: its namespace/name as the name, its status (archived counts as
// deleted) and its package types. Tags and transports are empty, so a
// filter that includes only some tags or transports admits no artifact.
func (a *Artifact) FilterEntry() *Entry {
	st := model.StatusActive
	switch a.Status {
	case "deprecated":
		st = model.StatusDeprecated
	case "archived", "deleted":
		st = model.StatusDeleted
	}
	return &Entry{Name: a.ID(), Version: a.Version, Title: a.Title, Description: a.Description, Status: st, PackageTypes: a.PackageTypes}
}

// artifactIndexFields is the part of an artifact object mcpfed decodes.
type artifactIndexFields struct {
	Namespace   *string `json:"namespace"`
	Name        *string `json:"name"`
	Version     *string `json:"version"`
	Title       string  `json:"title"`
	Description *string `json:"description"`
	Status      string  `json:"status"`
	Packages    []struct {
		RegistryType string `json:"registryType"`
	} `json:"packages"`
}

// NewArtifact indexes one skill or plugin object, checking the fields
// ToolHive's schemas require (namespace, name, description, version) and
// their bounds.
func NewArtifact(kind ArtifactKind, raw json.RawMessage) (*Artifact, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("%w: not valid JSON: %w", ErrInvalidEntry, err)
	}
	compact := buf.Bytes()
	if len(compact) == 0 || compact[0] != '{' {
		return nil, fmt.Errorf("%w: a %s entry must be a JSON object", ErrInvalidEntry, kind)
	}
	var f artifactIndexFields
	if err := json.Unmarshal(compact, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidEntry, err)
	}
	a := &Artifact{Kind: kind, Raw: compact, Title: f.Title, Status: strings.ToLower(f.Status)}
	switch {
	case f.Namespace == nil || len(*f.Namespace) < 3 || len(*f.Namespace) > 128 || !artifactNamespacePattern.MatchString(*f.Namespace):
		return nil, fmt.Errorf("%w: namespace must be reverse-DNS, 3 to 128 characters of [a-zA-Z0-9.-]", ErrInvalidEntry)
	case f.Name == nil || len(*f.Name) > 64 || !artifactNamePattern.MatchString(*f.Name):
		return nil, fmt.Errorf("%w: %s: name must be 1 to 64 characters of [a-z0-9-], starting and ending with a letter or digit", ErrInvalidEntry, *f.Namespace)
	case f.Version == nil || *f.Version == "" || len(*f.Version) > 255:
		return nil, fmt.Errorf("%w: %s/%s: version must be 1 to 255 characters", ErrInvalidEntry, *f.Namespace, *f.Name)
	case *f.Version == "latest":
		return nil, fmt.Errorf("%w: %s/%s: \"latest\" is reserved and cannot be a version", ErrInvalidEntry, *f.Namespace, *f.Name)
	case f.Description == nil || *f.Description == "" || utf8.RuneCountInString(*f.Description) > 1024:
		return nil, fmt.Errorf("%w: %s/%s version %q: description must be 1 to 1024 characters", ErrInvalidEntry, *f.Namespace, *f.Name, *f.Version)
	}
	a.Namespace, a.Name, a.Version, a.Description = *f.Namespace, *f.Name, *f.Version, *f.Description
	if a.Status == "" {
		a.Status = "active"
	}
	for _, p := range f.Packages {
		a.PackageTypes = appendUnique(a.PackageTypes, p.RegistryType)
	}
	a.search = strings.ToLower(a.ID() + "\x00" + a.Title + "\x00" + a.Description)
	return a, nil
}

// Artifacts is an immutable index of one source's artifacts of one kind,
// ordered by (namespace/name, version). The zero value and nil are empty.
type Artifacts struct {
	items []*Artifact
	stale bool
}

// Stale reports a list served from cache past its freshness because its
// upstream could not be read (answers that use it say so, and are not
// kept in the response cache).
func (a *Artifacts) Stale() bool { return a != nil && a.stale }

// AsStale is the same list marked stale (the original, shared through a
// cache, is not changed).
func (a *Artifacts) AsStale() *Artifacts {
	if a == nil {
		return &Artifacts{stale: true}
	}
	return &Artifacts{items: a.items, stale: true}
}

// NewArtifacts indexes items for the named source: it copies them, sets
// their Source and sorts them. Two items with the same key are an error.
func NewArtifacts(source string, items []*Artifact) (*Artifacts, error) {
	sorted := make([]*Artifact, len(items))
	for i, a := range items {
		cp := *a
		cp.Source = source
		sorted[i] = &cp
	}
	slices.SortFunc(sorted, func(a, b *Artifact) int { return a.Key().Compare(b.Key()) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Key() == sorted[i-1].Key() {
			return nil, fmt.Errorf("%w: %s %s version %q appears more than once", ErrInvalidEntry, sorted[i].Kind, sorted[i].ID(), sorted[i].Version)
		}
	}
	return &Artifacts{items: sorted}, nil
}

// Len is the number of artifact versions.
func (a *Artifacts) Len() int {
	if a == nil {
		return 0
	}
	return len(a.items)
}

// All returns the artifacts in key order. The slice is shared: do not modify it.
func (a *Artifacts) All() []*Artifact {
	if a == nil {
		return nil
	}
	return a.items
}
