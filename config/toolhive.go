package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A toolhive-registry-server configuration file is read as it is: an
// operator moving from ToolHive's registry server points mcpfed at the file
// they have. It is recognised by its shape (see toolHiveDocument) and mapped
// onto mcpfed's sources, views and auth. Every field is accounted for: it
// becomes a mcpfed field (a ToolHiveRule), or it is reported as a warning
// naming it (database.*, telemetry.*, fields mcpfed does not know), never
// dropped in silence. Where ToolHive's rule cannot be said in mcpfed's
// terms without letting more callers see more (claims), the file is
// refused with a problem rather than read loosely.
//
// The forms read (field names and meaning from toolhive-registry-server's
// config package and docs/configuration.md):
//
//   - multi-source (v1): sources[] (git, api, file, kubernetes or managed,
//     with syncPolicy, filter, claims) and registries[] (name, ordered
//     sources, claims), auth (mode, oauth.providers), database, telemetry;
//   - registries (v0.6 to v0.x): registries[] each with its own source
//     block, syncPolicy and filter;
//   - single-source (v0.5): registryName, source {type, format, git|api|file},
//     syncPolicy, filter.

// The forms of a toolhive-registry-server file.
const (
	ToolHiveMultiSource  = "multi-source"
	ToolHiveRegistries   = "registries"
	ToolHiveSingleSource = "single-source"
)

// Bounds of reading a ToolHive file: an alias can make a small file a
// large tree, and every ignored leaf is a warning.
const (
	maxToolHiveVisits   = 100_000
	maxToolHiveWarnings = 1000
)

// ToolHiveMapping is how a toolhive-registry-server file became mcpfed's
// configuration.
type ToolHiveMapping struct {
	// Origin is the file; Form one of the ToolHive* forms.
	Origin, Form string
	// Rules say which ToolHive field became which mcpfed field, in the
	// order of the file.
	Rules []ToolHiveRule
	// Warnings name every field mcpfed does not use, and every difference
	// in meaning an operator must know about.
	Warnings []ToolHiveWarning
	// trans turns a mcpfed field's path into the ToolHive field it came
	// from, for the messages of problems; own are the problems found while
	// reading, which name ToolHive's fields already.
	trans map[string]string
	own   []*Problem
}

// ToolHiveRule is one ToolHive field and the mcpfed field it became.
type ToolHiveRule struct {
	Line     int
	From, To string
}

// ToolHiveWarning is a field of a ToolHive file mcpfed does not use, or
// uses with a difference.
type ToolHiveWarning struct {
	Origin string
	Line   int
	Path   string
	Msg    string
}

func (w ToolHiveWarning) String() string {
	var b strings.Builder
	if w.Origin != "" {
		b.WriteString(w.Origin)
		if w.Line > 0 {
			fmt.Fprintf(&b, ":%d", w.Line)
		}
		b.WriteString(": ")
	}
	if w.Path != "" {
		b.WriteString(w.Path + ": ")
	}
	b.WriteString(w.Msg)
	return b.String()
}

// ToolHive is how the configuration file was read when it is a
// toolhive-registry-server configuration; nil otherwise.
func (c Config) ToolHive() *ToolHiveMapping { return c.toolhive }

// Warnings are the configuration's warnings, one line each: the fields of
// a toolhive-registry-server file that mcpfed does not use. They are
// worth a log line at start, not a refusal.
func (c Config) Warnings() []string {
	if c.toolhive == nil {
		return nil
	}
	out := make([]string, len(c.toolhive.Warnings))
	for i, w := range c.toolhive.Warnings {
		out[i] = w.String()
	}
	return out
}

// Describe is the mapping as comment lines (YAML stays valid around them):
// the form, each rule, then each warning, with the line it was written on.
func (m *ToolHiveMapping) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: a toolhive-registry-server configuration (%s form), read as mcpfed's\n", m.Origin, m.Form)
	b.WriteString("# mapping (line: ToolHive field -> mcpfed field):\n")
	for _, r := range m.Rules {
		fmt.Fprintf(&b, "#   %d: %s -> %s\n", r.Line, r.From, r.To)
	}
	fmt.Fprintf(&b, "# warnings (%d):\n", len(m.Warnings))
	for _, w := range m.Warnings {
		fmt.Fprintf(&b, "#   %d: %s: %s\n", w.Line, w.Path, w.Msg)
	}
	return b.String()
}

// translate names a problem's field as the ToolHive file wrote it: a
// problem with sources[1].interval is about sources[2].syncPolicy.interval
// when a managed source was left out before it.
func (m *ToolHiveMapping) translate(probs []error) {
	if m == nil {
		return
	}
	for _, e := range probs {
		p, ok := e.(*Problem)
		if !ok || p.Origin != m.Origin || p.Path == "" || slices.Contains(m.own, p) {
			continue
		}
		for q := p.Path; q != ""; q = parent(q) {
			if from, ok := m.trans[q]; ok {
				p.Path = from + p.Path[len(q):]
				break
			}
		}
	}
}

// toolHiveDocument parses data and reports whether it has the shape of a
// toolhive-registry-server configuration. mcpfed's own shape wins: a
// source with a kind, or views, is mcpfed's.
func toolHiveDocument(data []byte) (*yaml.Node, bool) {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil, false
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, false
	}
	if directKey(top, "views") != nil {
		return nil, false
	}
	thv := false
	for _, key := range []string{"registries", "registryName", "database", "telemetry", "fileStorage"} {
		if directKey(top, key) != nil {
			thv = true
		}
	}
	if s := directKey(top, "source"); s != nil && s.Kind == yaml.MappingNode {
		thv = thv || directKey(s, "type") != nil || hasSourceBlock(s)
	}
	if a := directKey(top, "auth"); a != nil && a.Kind == yaml.MappingNode && directKey(a, "mode") != nil {
		thv = true
	}
	if s := directKey(top, "sources"); s != nil && s.Kind == yaml.SequenceNode {
		for _, item := range s.Content {
			if item.Kind != yaml.MappingNode {
				continue
			}
			if directKey(item, "kind") != nil {
				return nil, false
			}
			thv = thv || hasSourceBlock(item)
		}
	}
	return &doc, thv
}

// toolHiveBlocks are the source blocks of ToolHive, one per source.
var toolHiveBlocks = []string{"git", "api", "file", "managed", "kubernetes"}

func hasSourceBlock(n *yaml.Node) bool {
	return slices.ContainsFunc(toolHiveBlocks, func(k string) bool {
		v := directKey(n, k)
		return v != nil && v.Kind == yaml.MappingNode
	})
}

// directKey is the value of key written in mapping n, merge keys aside:
// recognising the shape needs no more, and following merges of merges
// grows with the product of their sizes.
func directKey(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Tag != "!!merge" && k.Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

// thvReader reads one ToolHive file: problems and warnings with the
// ToolHive field's path and line, and for every mcpfed field it sets, the
// line (where) and the ToolHive path (trans) its problems are shown with.
type thvReader struct {
	out    *ToolHiveMapping
	where  map[string]position
	probs  []error
	visits int
	capped bool
}

func (r *thvReader) fail(line int, path, format string, args ...any) {
	p := &Problem{Origin: r.out.Origin, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
	r.probs = append(r.probs, p)
	r.out.own = append(r.out.own, p)
}

func (r *thvReader) warn(line int, path, format string, args ...any) {
	if len(r.out.Warnings) >= maxToolHiveWarnings {
		if !r.capped {
			r.capped = true
			r.out.Warnings = append(r.out.Warnings, ToolHiveWarning{Origin: r.out.Origin, Line: line, Path: path,
				Msg: fmt.Sprintf("more than %d warnings: the rest are left out", maxToolHiveWarnings)})
		}
		return
	}
	r.out.Warnings = append(r.out.Warnings, ToolHiveWarning{Origin: r.out.Origin, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// rule records that from became to; place (when not empty) is the mcpfed
// path whose problems are shown at from's line and name.
func (r *thvReader) rule(line int, from, to, place string) {
	r.out.Rules = append(r.out.Rules, ToolHiveRule{Line: line, From: from, To: to})
	if place != "" {
		r.place(place, line, from)
	}
}

func (r *thvReader) place(mcpfed string, line int, from string) {
	r.where[mcpfed] = position{origin: r.out.Origin, line: line}
	r.out.trans[mcpfed] = from
}

// spend counts a visited node; false once the budget is spent.
func (r *thvReader) spend(line int, path string) bool {
	r.visits++
	if r.visits == maxToolHiveVisits+1 {
		r.fail(line, path, "the document is too large once its aliases are expanded (more than %d values)", maxToolHiveVisits)
	}
	return r.visits <= maxToolHiveVisits
}

// thvMap is one mapping of the file: its keys are taken by name, and the
// keys never taken are reported by finish. A nil *thvMap is an absent or
// invalid mapping: every key is absent.
type thvMap struct {
	r       *thvReader
	path    string
	line    int
	entries []thvEntry
	used    map[string]bool
}

type thvEntry struct {
	key  string
	line int
	val  *yaml.Node
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// mapping reads n as the mapping at path; nil (with a problem) when it is
// something else, nil (without one) when it is absent.
func (r *thvReader) mapping(n *yaml.Node, path string) *thvMap {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if !r.spend(n.Line, path) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		r.fail(n.Line, path, "expects fields (name: value), not %s", describe(n))
		return nil
	}
	m := &thvMap{r: r, path: path, line: n.Line, used: map[string]bool{}}
	seen := map[string]int{}
	m.collect(n, seen, 0)
	return m
}

// collect adds n's keys, then those its merge keys (<<: *x) bring that
// are not written here.
func (m *thvMap) collect(n *yaml.Node, seen map[string]int, depth int) {
	if depth > maxDepth {
		m.r.fail(n.Line, m.path, "nested too deeply (does an alias refer to itself?)")
		return
	}
	if depth > 0 && !m.r.spend(n.Line, m.path) {
		return
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			if depth == 0 {
				m.r.fail(k.Line, join(m.path, k.Value), "given twice (first on line %d)", first)
			}
			continue
		}
		seen[k.Value] = k.Line
		m.entries = append(m.entries, thvEntry{key: k.Value, line: k.Line, val: v})
	}
	for _, v := range merges {
		v = resolve(v)
		list := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			list = v.Content
		}
		for _, x := range list {
			x = resolve(x)
			if x.Kind != yaml.MappingNode {
				m.r.fail(x.Line, m.path, "<< merges a mapping, not %s", describe(x))
				continue
			}
			m.collect(x, seen, depth+1)
		}
	}
}

func (m *thvMap) entry(key string) (thvEntry, bool) {
	if m == nil {
		return thvEntry{}, false
	}
	for _, e := range m.entries {
		if e.key == key {
			return e, true
		}
	}
	return thvEntry{}, false
}

// has reports whether key is written (even as null), without taking it.
func (m *thvMap) has(key string) bool {
	_, ok := m.entry(key)
	return ok
}

// take marks key as read and returns its value (nil when absent or null)
// and the line of its key.
func (m *thvMap) take(key string) (*yaml.Node, int) {
	e, ok := m.entry(key)
	if !ok {
		return nil, 0
	}
	m.used[key] = true
	v := resolve(e.val)
	if isNull(v) {
		return nil, e.line
	}
	return v, e.line
}

// str takes key as a single value.
func (m *thvMap) str(key string) (string, int, bool) {
	v, line := m.take(key)
	if v == nil {
		return "", line, false
	}
	if v.Kind != yaml.ScalarNode {
		m.r.fail(v.Line, join(m.path, key), "expects a single value, not %s", describe(v))
		return "", line, false
	}
	return v.Value, v.Line, true
}

// strs takes key as a list of single values.
func (m *thvMap) strs(key string) ([]string, int, bool) {
	v, line := m.take(key)
	if v == nil {
		return nil, line, false
	}
	path := join(m.path, key)
	if v.Kind != yaml.SequenceNode {
		m.r.fail(v.Line, path, "expects a list ([a, b] or one \"- item\" per line), not %s", describe(v))
		return nil, line, false
	}
	out := make([]string, 0, len(v.Content))
	ok := true
	for i, item := range v.Content {
		item = resolve(item)
		if !m.r.spend(item.Line, path) {
			return nil, line, false
		}
		if item.Kind != yaml.ScalarNode {
			m.r.fail(item.Line, fmt.Sprintf("%s[%d]", path, i), "expects a single value, not %s", describe(item))
			ok = false
			continue
		}
		out = append(out, item.Value)
	}
	return out, v.Line, ok
}

// list takes key as a list of nodes.
func (m *thvMap) list(key string) ([]*yaml.Node, int) {
	v, line := m.take(key)
	if v == nil {
		return nil, line
	}
	if v.Kind != yaml.SequenceNode {
		m.r.fail(v.Line, join(m.path, key), "expects a list ([a, b] or one \"- item\" per line), not %s", describe(v))
		return nil, line
	}
	return v.Content, v.Line
}

// ignore takes key and warns about it with msg: once for the field, or,
// with leaves, once for every value under it (database.host,
// database.port, ...).
func (m *thvMap) ignore(key string, leaves bool, format string, args ...any) {
	e, ok := m.entry(key)
	if !ok {
		return
	}
	m.used[key] = true
	msg := fmt.Sprintf(format, args...)
	path := join(m.path, key)
	if !leaves {
		m.r.warn(e.line, path, "%s", msg)
		return
	}
	m.r.ignoreTree(e.val, e.line, path, msg, 0)
}

// ignoreTree warns once for each value under n (a list is one value: the
// field's); an empty mapping is one value too.
func (r *thvReader) ignoreTree(n *yaml.Node, line int, path, msg string, depth int) {
	n = resolve(n)
	if !r.spend(line, path) || r.capped {
		return
	}
	if n == nil || n.Kind != yaml.MappingNode || len(n.Content) == 0 || depth > maxDepth {
		r.warn(line, path, "%s", msg)
		return
	}
	sub := r.mapping(n, path)
	if sub == nil {
		return
	}
	for _, e := range sub.entries {
		r.ignoreTree(e.val, e.line, join(path, e.key), msg, depth+1)
	}
}

// finish warns about every key not taken: ToolHive has no such field
// (known lists those it has here, for a suggestion).
func (m *thvMap) finish(known ...string) {
	if m == nil {
		return
	}
	for _, e := range m.entries {
		if m.used[e.key] {
			continue
		}
		msg := "not a toolhive-registry-server field mcpfed knows; ignored"
		if s := closest(e.key, known); s != "" {
			msg = fmt.Sprintf("not a toolhive-registry-server field mcpfed knows (did you mean %q?); ignored", s)
		}
		m.r.warn(e.line, join(m.path, e.key), "%s", msg)
	}
}
