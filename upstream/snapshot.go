package upstream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
)

// Snapshot is an immutable index of one source's entries, ordered by
// (name, version). It is built once per load and swapped atomically; readers
// never see a half-built index.
type Snapshot struct {
	entries []*Entry
	names   []nameRange
	byName  map[string]int
	// search is every entry's lower-cased name, title and description, one
	// after the other, each ended by a newline; starts[i] is where entry
	// i's text begins. A search scans this one buffer (bytes.Index) instead
	// of chasing 100,000 pointers.
	search []byte
	starts []int32
	// artifacts are the source's skills and plugins, by kind (absent: none).
	artifacts map[ArtifactKind]*Artifacts
	// Revision is a content hash: it changes exactly when what is served changes.
	Revision string
	// BuiltAt is when the snapshot was built.
	BuiltAt time.Time
}

type nameRange struct {
	name   string
	lo, hi int // entries[lo:hi] are this name's versions, ordered by version string
	latest int // index into entries
	// byRecency lists entries[lo:hi] newest publication first (the /versions order).
	byRecency []*Entry
}

// NewSnapshot indexes entries for the named source. Entries must carry
// their times already (see Loader); isLatest is computed here by the
// official rules unless the data carried a consistent official block.
// Two entries with the same name and version are an error.
func NewSnapshot(source string, entries []*Entry, now time.Time) (*Snapshot, error) {
	return BuildSnapshot(source, entries, now, SnapshotOptions{})
}

// SnapshotOptions tune BuildSnapshot.
type SnapshotOptions struct {
	// RecomputeLatest ignores isLatest as the data carries it. A mirror needs
	// this: a version that loses isLatest upstream does not show up in an
	// updated_since poll, so the flags it holds can be out of date.
	RecomputeLatest bool
	// Artifacts are the source's skills and plugins, indexed with the
	// entries (NewArtifacts: a version listed twice is an error). They are
	// part of the Revision; Len and the other counts are servers only.
	Artifacts map[ArtifactKind][]*Artifact
}

// BuildSnapshot is NewSnapshot with options. The snapshot holds copies of
// the entries; the caller's are not modified.
func BuildSnapshot(source string, entries []*Entry, now time.Time, o SnapshotOptions) (*Snapshot, error) {
	// Work on copies: the caller's entries may be in a snapshot that is
	// being served (a mirror rebuilds from the entries it keeps), and this
	// build sets isLatest, the source and the encoding.
	sorted := make([]*Entry, len(entries))
	for i, e := range entries {
		cp := *e
		sorted[i] = &cp
	}
	slices.SortFunc(sorted, func(a, b *Entry) int { return a.Key().Compare(b.Key()) }) // keys are unique (checked below)
	s := &Snapshot{entries: sorted, byName: make(map[string]int), BuiltAt: now}
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j].Name == sorted[i].Name {
			if sorted[j].Version == sorted[j-1].Version {
				return nil, fmt.Errorf("%w: server %q version %q appears more than once", ErrInvalidEntry, sorted[j].Name, sorted[j].Version)
			}
			j++
		}
		nr := nameRange{name: sorted[i].Name, lo: i, hi: j}
		nr.latest = markLatest(sorted[i:j], o.RecomputeLatest) + i
		nr.byRecency = slices.Clone(sorted[i:j])
		slices.SortStableFunc(nr.byRecency, func(a, b *Entry) int {
			if c := compareTime(b.PublishedAt, a.PublishedAt); c != 0 {
				return c
			}
			return -CompareVersions(a, b)
		})
		s.byName[nr.name] = len(s.names)
		s.names = append(s.names, nr)
		i = j
	}
	h := sha256.New()
	prov := provenanceJSON(source)
	for _, e := range sorted {
		e.Source = source
		e.encode(prov)
		h.Write(e.Encoded)
		h.Write([]byte{0})
	}
	if err := s.indexArtifacts(source, o.Artifacts, h); err != nil {
		return nil, err
	}
	s.Revision = hex.EncodeToString(h.Sum(nil)[:12])
	s.indexSearch()
	return s, nil
}

// indexArtifacts indexes the artifacts of each kind and adds them to the
// revision hash h. A snapshot without artifacts hashes as it did before
// artifacts existed, so its revision (an ETag input) does not move on
// upgrade. Compact JSON holds no raw control bytes, so the separators
// keep the hashed text unambiguous.
func (s *Snapshot) indexArtifacts(source string, byKind map[ArtifactKind][]*Artifact, h io.Writer) error {
	for _, kind := range ArtifactKinds {
		items := byKind[kind]
		if len(items) == 0 {
			continue
		}
		idx, err := NewArtifacts(source, items)
		if err != nil {
			return err
		}
		if s.artifacts == nil {
			s.artifacts = make(map[ArtifactKind]*Artifacts, len(ArtifactKinds))
		}
		s.artifacts[kind] = idx
		h.Write([]byte("\x01" + string(kind) + "\x00"))
		for _, a := range idx.All() {
			h.Write(a.Raw)
			h.Write([]byte{0})
		}
	}
	return nil
}

// Artifacts returns the snapshot's skills or plugins (every version,
// ordered by namespace/name, then version), nil when it holds none.
func (s *Snapshot) Artifacts(kind ArtifactKind) *Artifacts {
	if s == nil {
		return nil
	}
	return s.artifacts[kind]
}

// ArtifactMap returns the snapshot's artifacts by kind, as BuildSnapshot
// takes them (SnapshotOptions.Artifacts): to rebuild a snapshot that keeps
// them. Nil when it holds none.
func (s *Snapshot) ArtifactMap() map[ArtifactKind][]*Artifact {
	if s == nil || len(s.artifacts) == 0 {
		return nil
	}
	out := make(map[ArtifactKind][]*Artifact, len(s.artifacts))
	for kind, idx := range s.artifacts {
		out[kind] = idx.All()
	}
	return out
}

func (s *Snapshot) indexSearch() {
	size := 0
	for _, e := range s.entries {
		size += len(e.search) + 1
	}
	s.search = make([]byte, 0, size)
	s.starts = make([]int32, len(s.entries))
	for i, e := range s.entries {
		s.starts[i] = int32(len(s.search))
		s.search = append(append(s.search, e.search...), '\n')
	}
}

// NextMatch returns the index of the first entry at or after i whose name,
// title or description contains lowerNeedle (lower-cased, without control
// characters, so a match cannot span two entries or two fields), or Len().
func (s *Snapshot) NextMatch(i int, lowerNeedle string) int {
	if i >= len(s.entries) {
		return len(s.entries)
	}
	k := bytes.Index(s.search[s.starts[i]:], []byte(lowerNeedle))
	if k < 0 {
		return len(s.entries)
	}
	at := s.starts[i] + int32(k)
	// The entry whose text holds position at: the last start at or before it.
	return sort.Search(len(s.starts), func(j int) bool { return s.starts[j] > at }) - 1
}

// NextLatestMatch is NextMatch over the latest versions: the index (into
// the name list) of the first name at or after ni whose latest version
// matches, or LatestCount().
func (s *Snapshot) NextLatestMatch(ni int, lowerNeedle string) int {
	if ni >= len(s.names) {
		return len(s.names)
	}
	for j := s.NextMatch(s.names[ni].lo, lowerNeedle); j < len(s.entries); j = s.NextMatch(j+1, lowerNeedle) {
		n := s.byName[s.entries[j].Name]
		if s.names[n].latest == j {
			return n
		}
	}
	return len(s.names)
}

// markLatest sets IsLatest on exactly one version and returns its offset.
// When the data already marks exactly one version latest (an official block
// from a registry) and recompute is off, that choice is kept; otherwise the
// official rules decide: the highest version that is not deleted (semver
// order, else publication time), or the highest deleted one if all are.
func markLatest(versions []*Entry, recompute bool) int {
	marked, allOfficial := -1, !recompute
	for i, e := range versions {
		if !e.hasOfficial {
			allOfficial = false
		}
		if e.IsLatest {
			if marked >= 0 {
				allOfficial = false // two claim it: recompute
			}
			marked = i
		}
	}
	if allOfficial && marked >= 0 {
		return marked
	}
	best := pickLatest(versions, false)
	if best < 0 { // every version deleted: the highest deleted one keeps the flag
		best = pickLatest(versions, true)
	}
	for i, e := range versions {
		e.IsLatest = i == best
	}
	return best
}

// pickLatest returns the offset of the highest version, skipping deleted
// ones unless allowDeleted; -1 if none qualifies.
// LatestOf picks the latest of one server's versions by the official
// rules: the highest version that is not deleted, else the highest
// deleted one; nil for none. (A curated view picks its latest among the
// versions it admits.)
func LatestOf(versions []*Entry) *Entry {
	i := pickLatest(versions, false)
	if i < 0 {
		i = pickLatest(versions, true)
	}
	if i < 0 {
		return nil
	}
	return versions[i]
}

func pickLatest(versions []*Entry, allowDeleted bool) int {
	best := -1
	for i, e := range versions {
		if !allowDeleted && e.Status == "deleted" {
			continue
		}
		if best < 0 || CompareVersions(e, versions[best]) > 0 {
			best = i
		}
	}
	return best
}

// Len is the number of entries (server versions).
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// NameCount is the number of distinct server names.
func (s *Snapshot) NameCount() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}

// At returns the i-th entry in (name, version) order.
func (s *Snapshot) At(i int) *Entry { return s.entries[i] }

// SeekAfter returns the index of the first entry whose key is greater than after.
func (s *Snapshot) SeekAfter(after Key) int {
	return sort.Search(len(s.entries), func(i int) bool { return after.Less(s.entries[i].Key()) })
}

// LatestCount is the number of names, i.e. of latest entries.
func (s *Snapshot) LatestCount() int { return len(s.names) }

// LatestAt returns the latest version of the i-th name in name order.
func (s *Snapshot) LatestAt(i int) *Entry { return s.entries[s.names[i].latest] }

// SeekLatestAfter returns the index (into the name list) of the first name
// whose latest entry's key is greater than after.
func (s *Snapshot) SeekLatestAfter(after Key) int {
	return sort.Search(len(s.names), func(i int) bool {
		return after.Less(s.entries[s.names[i].latest].Key())
	})
}

// Has reports whether the snapshot holds any version of name.
func (s *Snapshot) Has(name string) bool {
	if s == nil {
		return false
	}
	_, ok := s.byName[name]
	return ok
}

// Versions returns the versions of name, newest publication first.
// The slice is shared: do not modify it.
func (s *Snapshot) Versions(name string) []*Entry {
	if s == nil {
		return nil
	}
	i, ok := s.byName[name]
	if !ok {
		return nil
	}
	return s.names[i].byRecency
}

// Latest returns the latest version of name, or nil.
func (s *Snapshot) Latest(name string) *Entry {
	if s == nil {
		return nil
	}
	i, ok := s.byName[name]
	if !ok {
		return nil
	}
	return s.entries[s.names[i].latest]
}

// Get returns one version of name, or nil.
func (s *Snapshot) Get(name, version string) *Entry {
	if s == nil {
		return nil
	}
	i, ok := s.byName[name]
	if !ok {
		return nil
	}
	nr := s.names[i]
	versions := s.entries[nr.lo:nr.hi]
	j := sort.Search(len(versions), func(j int) bool { return versions[j].Version >= version })
	if j < len(versions) && versions[j].Version == version {
		return versions[j]
	}
	return nil
}

// Entries returns all entries in (name, version) order. Shared: do not modify.
func (s *Snapshot) Entries() []*Entry {
	if s == nil {
		return nil
	}
	return s.entries
}
