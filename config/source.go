package config

import (
	"bytes"
	"encoding/json"
	"github.com/mcpfed/mcpfed/credential"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/gitsource"
	"github.com/mcpfed/mcpfed/upstream/kube"
	"github.com/mcpfed/mcpfed/upstream/managed"
	"github.com/mcpfed/mcpfed/upstream/remote"
)

// SourceConfig is one source: the fields every kind has, and its kind's own
// (Spec). In the file both are written side by side (DESIGN.md's names):
//
//   - name: acme
//     kind: file
//     path: /data/acme.json
type SourceConfig struct {
	Name       string      `yaml:"name"`
	Kind       string      `yaml:"kind"`
	Namespaces []string    `yaml:"namespaces"`
	Required   bool        `yaml:"required"`
	Filter     filter.Spec `yaml:"filter"`
	// Decisions marks a file or git source that holds a curation
	// decisions document (curation.ParseDocument), not servers: it feeds
	// approved-only views' rule and is listed in no view.
	Decisions bool `yaml:"decisions"`
	// Spec holds the kind's fields (*upstream.FileSpec, *gitsource.Spec,
	// *remote.Spec, *kube.Spec, *managed.Spec); nil when the kind is
	// missing or unknown.
	Spec Spec `yaml:"-"`
}

// Spec is one kind's part of a source, declared beside its component. Its
// struct's yaml tags are the fields the kind accepts: a field of another
// kind is reported as not applying to it.
type Spec interface {
	// ApplyDefaults sets the component's defaults on fields left unset.
	ApplyDefaults()
	// Validate lists every problem; a message starting with a field's name
	// and a colon ("interval: ...") is shown as sources[i].interval: ....
	Validate() error
}

// Kind declares a source kind to the configuration.
type Kind struct {
	Name string
	New  func() Spec
}

// Kinds are the source kinds mcpfed runs.
func Kinds() []Kind {
	return []Kind{
		{Name: "file", New: func() Spec { return &upstream.FileSpec{} }},
		{Name: "git", New: func() Spec { return &gitsource.Spec{} }},
		{Name: "api", New: func() Spec { return &remote.Spec{} }},
		{Name: "kubernetes", New: func() Spec { return &kube.Spec{} }},
		{Name: managed.Kind, New: func() Spec { return &managed.Spec{} }},
	}
}

// kindNames lists the kinds for messages: "file, git, api, kubernetes or managed".
func kindNames(kinds []Kind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func findKind(kinds []Kind, name string) (Kind, bool) {
	i := slices.IndexFunc(kinds, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return kinds[i], true
}

// Fields is the source as written: the common fields and the kind's,
// without the unset ones. It is what MarshalJSON and MarshalYAML write, and
// what MCPFED_SOURCES reads back.
func (s SourceConfig) Fields() map[string]any {
	out := plain(reflect.ValueOf(s)).(map[string]any)
	if s.Spec != nil {
		if m, ok := plain(reflect.ValueOf(s.Spec)).(map[string]any); ok {
			for k, v := range m {
				out[k] = v
			}
		}
	}
	return out
}

// MarshalJSON writes the source with the names an operator writes; the
// keys are sorted, so equal sources give equal bytes.
func (s SourceConfig) MarshalJSON() ([]byte, error) { return json.Marshal(s.Fields()) }

// MarshalYAML writes the source with the names an operator writes, in
// the order they are declared: name and kind first.
func (s SourceConfig) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	parts := []reflect.Value{reflect.ValueOf(s)}
	if s.Spec != nil {
		parts = append(parts, reflect.ValueOf(s.Spec).Elem())
	}
	for _, v := range parts {
		for _, f := range structFields(v.Type()) {
			fv := v.FieldByIndex(f.index)
			if fv.IsZero() {
				continue
			}
			var val yaml.Node
			if err := val.Encode(plain(fv)); err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.name}, &val)
		}
	}
	return n, nil
}

// plain is v as maps, lists and scalars keyed by yaml names, leaving out
// zero values; durations are written as Go durations ("1h0m0s").
func plain(v reflect.Value) any {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Struct:
		out := map[string]any{}
		for _, f := range structFields(v.Type()) {
			fv := v.FieldByIndex(f.index)
			if fv.IsZero() {
				continue
			}
			if p := plain(fv); p != nil {
				out[f.name] = p
			}
		}
		return out
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = plain(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range v.MapKeys() {
			out[k.String()] = plain(v.MapIndex(k))
		}
		return out
	}
	return v.Interface()
}

// MarshalSources writes sources as MCPFED_SOURCES (or a file's sources:)
// reads them: YAML with the operator's field names.
func MarshalSources(sources []SourceConfig) ([]byte, error) {
	return MarshalYAML(sources)
}

// MarshalSourcesRedacted is MarshalSources for showing to people (check
// -offline): every url and repository without credentials or query, every
// header value replaced. A header may carry an API key and a query a token,
// whatever the validation lets through.
func MarshalSourcesRedacted(sources []SourceConfig) ([]byte, error) {
	plain, err := MarshalYAML(sources)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(plain, &doc); err != nil {
		return nil, err
	}
	redactNode(&doc, "")
	return MarshalYAML(&doc)
}

// redactNode walks a YAML tree; key is the mapping key n is the value of.
func redactNode(n *yaml.Node, key string) {
	switch {
	case n.Kind == yaml.ScalarNode && (key == "url" || key == "repository"):
		n.Value = credential.RedactURL(n.Value)
	case n.Kind == yaml.MappingNode && key == "headers":
		for i := 1; i < len(n.Content); i += 2 {
			n.Content[i].Value, n.Content[i].Tag, n.Content[i].Style = "<redacted>", "!!str", 0
		}
		return
	case n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			redactNode(n.Content[i+1], n.Content[i].Value)
		}
		return
	}
	for _, c := range n.Content {
		redactNode(c, "")
	}
}

// MarshalYAML writes v as YAML indented by two spaces.
func MarshalYAML(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
