package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var (
	durationType = reflect.TypeFor[time.Duration]()
	sourceType   = reflect.TypeFor[SourceConfig]()
)

// Problem is one thing wrong with the configuration, located where the
// operator wrote it: "mcpfed.yaml:7: sources[2].interval: ...".
type Problem struct {
	// Origin is the file or variable the value came from; Line its line
	// there (0: unknown).
	Origin string
	Line   int
	// Path is the field as the operator writes it (sources[2].interval).
	Path string
	Msg  string
}

func (p *Problem) Error() string {
	var b strings.Builder
	if p.Origin != "" {
		b.WriteString(p.Origin)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// position is where a field was written: a line of a file or variable,
// or a variable or flag of its own (name).
type position struct {
	origin string
	line   int
	name   string
}

// decoder reads a YAML (or JSON) document into Go values by the names the
// operator writes (the yaml tags), collecting every problem with its path
// and line, and remembering where each field was written.
type decoder struct {
	origin string
	kinds  []Kind
	probs  []error
	where  map[string]position
	depth  int
}

func (d *decoder) fail(line int, path, format string, args ...any) {
	d.probs = append(d.probs, &Problem{Origin: d.origin, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// parse reads data as one YAML document into out (a pointer).
func (d *decoder) parse(data []byte, out any, path string) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := syntaxError(data, err)
		d.fail(line, "", "%s", msg)
		return
	}
	if len(doc.Content) == 0 {
		return // empty document
	}
	d.decode(doc.Content[0], reflect.ValueOf(out).Elem(), path)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// maxSearchBytes bounds the search for the line of a syntax error (it
// parses growing prefixes of the document).
const maxSearchBytes = 64 << 10

// syntaxError is the line of a syntax error in data, and its message. The
// parser reports some errors at the line where the enclosing list or
// mapping starts (and 0-based); the line is rather the first one at which
// the document stops parsing: the first k such that lines 1..k fail.
func syntaxError(data []byte, err error) (int, string) {
	msg, line := strings.TrimPrefix(err.Error(), "yaml: "), 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	lines := strings.SplitAfter(string(data), "\n")
	if len(data) <= maxSearchBytes {
		for k := 1; k <= len(lines); k++ {
			var n yaml.Node
			if yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n) != nil {
				line = k
				break
			}
		}
	}
	return line, "invalid YAML: " + msg
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// maxDepth bounds nesting: an alias may refer to the node holding it.
const maxDepth = 32

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDepth {
		d.fail(n.Line, path, "nested too deeply (does an alias refer to itself?)")
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // written but empty: the default
	}
	if path != "" {
		d.where[path] = position{origin: d.origin, line: n.Line}
	}
	if v.Type() == sourceType {
		d.decodeSource(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, path, "expects fields (name: value), not %s", describe(n))
			return
		}
		d.decodeFields(n, path, func(key string) (reflect.Value, bool) {
			f, ok := fieldByName(v.Type(), key)
			if !ok {
				return reflect.Value{}, false
			}
			return v.FieldByIndex(f.index), true
		}, func(key string) string { return unknownField(key, fieldNames(v.Type())) })
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n.Line, path, "expects a list ([a, b] or one \"- item\" per line), not %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, path, "expects name: value pairs, not %s", describe(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, elem, join(path, k.Value))
			v.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
	case reflect.Interface:
		// A free-form value (claims): whatever YAML or JSON holds.
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n.Line, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, path, "expects a single value, not %s", describe(n))
			return
		}
		if err := setScalar(v, n.Value); err != nil {
			d.fail(n.Line, path, "%v", err)
		}
	}
}

// decodeFields reads a mapping's keys through field, reporting duplicates
// and the keys it does not know (with unknown's message).
func (d *decoder) decodeFields(n *yaml.Node, path string, field func(string) (reflect.Value, bool), unknown func(string) string) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" {
			continue // after the keys written here, which win
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k.Line, join(path, k.Value), "given twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		fv, ok := field(k.Value)
		if !ok {
			if msg := unknown(k.Value); strings.HasPrefix(msg, path+".") {
				d.fail(k.Line, "", "%s", msg) // the message names the field itself
			} else if msg != "" {
				d.fail(k.Line, path, "%s", msg)
			}
			continue
		}
		d.decode(val, fv, join(path, k.Value))
	}
	// Merge keys (<<: *defaults) fill what the mapping does not set.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Tag != "!!merge" {
			continue
		}
		val := n.Content[i+1]
		sources := []*yaml.Node{val}
		if val.Kind == yaml.SequenceNode {
			sources = val.Content
		}
		for _, m := range sources {
			for m.Kind == yaml.AliasNode {
				m = m.Alias
			}
			if m.Kind != yaml.MappingNode {
				d.fail(m.Line, path, "<< merges a mapping, not %s", describe(m))
				continue
			}
			rest := &yaml.Node{Kind: yaml.MappingNode}
			for j := 0; j+1 < len(m.Content); j += 2 {
				if _, set := seen[m.Content[j].Value]; !set {
					seen[m.Content[j].Value] = m.Content[j].Line
					rest.Content = append(rest.Content, m.Content[j], m.Content[j+1])
				}
			}
			d.depth++
			if d.depth <= maxDepth {
				d.decodeFields(rest, path, field, unknown)
			} else {
				d.fail(m.Line, path, "nested too deeply (does an alias refer to itself?)")
			}
			d.depth--
		}
	}
}

// decodeSource reads one source: its common fields into the SourceConfig,
// the rest into its kind's Spec. A field that another kind has is said not
// to apply to this one.
func (d *decoder) decodeSource(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "expects a source (name: ..., kind: ...), not %s", describe(n))
		return
	}
	sc := v.Addr().Interface().(*SourceConfig)
	if k := lookup(n, "kind"); k != nil && k.Kind == yaml.ScalarNode {
		sc.Kind = k.Value
	}
	kind, known := findKind(d.kinds, sc.Kind)
	var spec reflect.Value
	if known {
		sc.Spec = kind.New()
		spec = reflect.ValueOf(sc.Spec).Elem()
	}
	common := fieldNames(sourceType)
	d.decodeFields(n, path, func(key string) (reflect.Value, bool) {
		if f, ok := fieldByName(sourceType, key); ok {
			return v.FieldByIndex(f.index), true
		}
		if known {
			if f, ok := fieldByName(spec.Type(), key); ok {
				return spec.FieldByIndex(f.index), true
			}
		}
		return reflect.Value{}, false
	}, func(key string) string {
		var all []string
		for _, k := range d.kinds {
			names := fieldNames(reflect.TypeOf(k.New()).Elem())
			if k.Name != sc.Kind && slices.Contains(names, key) {
				if !known {
					return "" // the missing or unknown kind is the problem
				}
				return fmt.Sprintf("%s does not apply to kind %s", join(path, key), sc.Kind)
			}
			all = append(all, names...)
		}
		if known {
			all = append(common, fieldNames(spec.Type())...)
		} else {
			all = append(all, common...)
		}
		return unknownField(key, all)
	})
}

// lookup is the value of key in mapping n, written there or merged in.
// Each mapping is searched once: merge keys that merge the same anchors
// again (ten per level, ten levels deep) would otherwise cost 10^10 steps.
func lookup(n *yaml.Node, key string) *yaml.Node {
	return lookupIn(n, key, 0, map[*yaml.Node]bool{})
}

func lookupIn(n *yaml.Node, key string, depth int, seen map[*yaml.Node]bool) *yaml.Node {
	if depth > maxDepth || seen[n] {
		return nil
	}
	seen[n] = true
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		switch {
		case k.Tag == "!!merge":
			merged = append(merged, val)
		case k.Value == key:
			return val
		}
	}
	for _, m := range merged {
		list := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			list = m.Content
		}
		for _, x := range list {
			for x.Kind == yaml.AliasNode {
				x = x.Alias
			}
			if x.Kind == yaml.MappingNode {
				if v := lookupIn(x, key, depth+1, seen); v != nil {
					return v
				}
			}
		}
	}
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func unknownField(key string, known []string) string {
	msg := fmt.Sprintf("unknown field %q", key)
	if s := closest(key, known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return msg
}

// setScalar parses s into v, with a message that says what to write.
func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return durationError(s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a whole number of 0 or more", s)
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("cannot be set from %q", s)
	}
	return nil
}

// durationError says how to write a duration: a bare number gets its
// likely meaning in seconds.
func durationError(s string) error {
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return fmt.Errorf("%q is not a duration: write %ss", s, s)
	}
	return fmt.Errorf("%q is not a duration: write a number and a unit, e.g. 30s, 5m or 1h", s)
}

// field is a struct field by the name the operator writes.
type field struct {
	name  string
	index []int
}

// structFields lists t's fields by their yaml names (unexported and
// yaml:"-" fields are left out).
func structFields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		out = append(out, field{name, f.Index})
	}
	return out
}

func fieldByName(t reflect.Type, name string) (field, bool) {
	for _, f := range structFields(t) {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func fieldNames(t reflect.Type) []string {
	fs := structFields(t)
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

// closest is the known name nearest to s, if it is near enough to be a
// likely typo (case aside, about a third of it edited at most).
func closest(s string, known []string) string {
	best, bestD := "", len(s)/3+2
	for _, k := range known {
		d := editDistance(strings.ToLower(s), strings.ToLower(k))
		if d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
