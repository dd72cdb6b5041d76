package config

import (
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mcpfed/mcpfed/auth"
)

// MarshalViews writes views as mcpfed's configuration file spells them,
// each with its access block written out: a view written without one is
// anonymous, so a view needing a token shows access: {} at least.
func MarshalViews(views []ViewConfig) ([]byte, error) {
	list := &yaml.Node{Kind: yaml.SequenceNode}
	for _, v := range views {
		n, err := ordered(reflect.ValueOf(v))
		if err != nil {
			return nil, err
		}
		access := &yaml.Node{Kind: yaml.MappingNode}
		if v.Access.Anonymous {
			access.Content = append(access.Content, scalar("anonymous"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		} else if len(v.Access.Claims) > 0 {
			var claims yaml.Node
			if err := claims.Encode(v.Access.Claims); err != nil {
				return nil, err
			}
			access.Content = append(access.Content, scalar("claims"), &claims)
		}
		// ordered leaves a zero access out, and writes a set one its own
		// way: replace or add it.
		if i := slices.IndexFunc(n.Content, func(k *yaml.Node) bool { return k.Value == "access" }); i >= 0 && i%2 == 0 {
			n.Content[i+1] = access
		} else {
			n.Content = append(n.Content, scalar("access"), access)
		}
		list.Content = append(list.Content, n)
	}
	return MarshalYAML(list)
}

// MarshalAuth writes the auth: block as mcpfed's configuration file spells
// it, leaving out what is not set.
func MarshalAuth(a auth.Config) ([]byte, error) {
	n, err := ordered(reflect.ValueOf(a))
	if err != nil {
		return nil, err
	}
	return MarshalYAML(n)
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

// ordered is v as a YAML tree keyed by yaml names in the order fields are
// declared, leaving out zero values (plain's order is the map's).
func ordered(v reflect.Value) (*yaml.Node, error) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
		}
		v = v.Elem()
	}
	switch {
	case v.Kind() == reflect.Struct && v.Type() != durationType:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range structFields(v.Type()) {
			fv := v.FieldByIndex(f.index)
			if fv.IsZero() {
				continue
			}
			c, err := ordered(fv)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, scalar(f.name), c)
		}
		return n, nil
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			c, err := ordered(v.Index(i))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	}
	var n yaml.Node
	if err := n.Encode(plain(v)); err != nil {
		return nil, err
	}
	return &n, nil
}

// MarshalViewsAndAuth writes the views: and auth: blocks of c as a
// configuration file holds them (check -offline shows them after the
// sources when they came from a toolhive-registry-server file).
func MarshalViewsAndAuth(c Config) ([]byte, error) {
	views, err := MarshalViews(c.Views)
	if err != nil {
		return nil, err
	}
	a, err := MarshalAuth(c.Auth)
	if err != nil {
		return nil, err
	}
	return append(yamlBlock("views", views), yamlBlock("auth", a)...), nil
}

// yamlBlock is name: body, body indented as a block, or on the line when it
// is an empty list or mapping.
func yamlBlock(name string, body []byte) []byte {
	s := strings.TrimSuffix(string(body), "\n")
	if s == "[]" || s == "{}" {
		return []byte(name + ": " + s + "\n")
	}
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return []byte(name + ":\n" + strings.Join(lines, "") + "\n")
}
