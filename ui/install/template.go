package install

import (
	"fmt"
	"regexp"
	"strings"
)

// A tmpl is one string of a snippet (an argument, an environment value, a
// URL, a header value) as literal text and references to variables the user
// must supply. Each client renders the references its own way: VS Code as
// ${input:id} prompts, the others as <id> placeholders.
type tmpl []seg

type seg struct {
	lit string
	v   *variable // nil for a literal
}

func lit(s string) tmpl { return tmpl{{lit: s}} }

func ref(v *variable) tmpl { return tmpl{{v: v}} }

// cat joins templates, merging adjacent literals so that checks on literal
// text see exactly what a client will read.
func cat(ts ...tmpl) tmpl {
	var out tmpl
	for _, t := range ts {
		for _, s := range t {
			if s.v == nil {
				if s.lit == "" {
					continue
				}
				if n := len(out); n > 0 && out[n-1].v == nil {
					out[n-1].lit += s.lit
					continue
				}
			}
			out = append(out, s)
		}
	}
	return out
}

func (t tmpl) render(placeholder func(*variable) string) string {
	var b strings.Builder
	for _, s := range t {
		if s.v != nil {
			b.WriteString(placeholder(s.v))
		} else {
			b.WriteString(s.lit)
		}
	}
	return b.String()
}

// literal returns the text of a template without variables.
func (t tmpl) literal() (string, bool) {
	var b strings.Builder
	for _, s := range t {
		if s.v != nil {
			return "", false
		}
		b.WriteString(s.lit)
	}
	return b.String(), true
}

func (t tmpl) check(what string) error {
	for _, s := range t {
		if s.v == nil {
			if err := checkText(what, s.lit); err != nil {
				return err
			}
		}
	}
	return nil
}

// variable is a value the user supplies when installing.
type variable struct {
	id          string // VS Code input id and placeholder name
	description string
	secret      bool
	choices     []string
}

func vscodeInput(v *variable) string { return "${input:" + v.id + "}" }

func placeholder(v *variable) string { return "<" + v.id + ">" }

// varSet holds the variables of one option, in first-use order, with
// distinct ids. key identifies the thing a variable stands for (an
// environment variable, an argument, a header, a {name} inside one), so two
// references to the same thing share one prompt.
type varSet struct {
	list  []*variable
	byKey map[string]*variable
	ids   map[string]bool
}

func newVarSet() *varSet {
	return &varSet{byKey: map[string]*variable{}, ids: map[string]bool{}}
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func (s *varSet) get(key, idHint string, in input, secret bool) *variable {
	if v, ok := s.byKey[key]; ok {
		v.secret = v.secret || secret
		return v
	}
	id := strings.Trim(unsafeID.ReplaceAllString(idHint, "_"), "-_.")
	if len(id) > 64 {
		id = id[:64]
	}
	if id == "" {
		id = "value"
	}
	base := id
	for n := 2; s.ids[id]; n++ {
		id = fmt.Sprintf("%s_%d", base, n)
	}
	v := &variable{id: id, secret: secret, description: describe(in.Description, id)}
	if !secret && len(in.Choices) > 0 && len(in.Choices) <= maxChoices {
		ok := true
		for _, c := range in.Choices {
			if checkText("a choice", c) != nil {
				ok = false
				break
			}
		}
		if ok {
			v.choices = append([]string(nil), in.Choices...)
		}
	}
	s.ids[id] = true
	s.byKey[key] = v
	s.list = append(s.list, v)
	return v
}

// describe makes a prompt's description: one short line, never anything a
// client could expand.
func describe(d, id string) string {
	d = strings.ReplaceAll(clip(d, maxDescription), "${", "$ {")
	if d == "" {
		return id
	}
	return d
}

// lookupFunc resolves a {name} that the input's own variables do not define
// (a package's arguments and environment variables, see the schema's note on
// transport URLs).
type lookupFunc func(name string) (tmpl, bool)

// emits reports whether an input yields a value without being forced: it has
// a value, a usable default, or is required.
func emits(in input) bool {
	return in.Value != nil || (in.Default != nil && *in.Default != "" && !in.IsSecret) || in.IsRequired
}

// resolve turns an input into a template: its value (with {variables}
// substituted), else its default, else — when required or forced — a
// variable the user supplies. ok is false for an optional input left unset.
// A secret never appears as literal text: a fixed secret value with no
// {variables} in it becomes a prompt too.
func (vs *varSet) resolve(key, idHint string, in varInput, force bool, lookup lookupFunc) (t tmpl, ok bool, err error) {
	switch {
	case in.Value != nil:
		t, refs, err := vs.expand(key, *in.Value, in.Variables, in.IsSecret, lookup)
		if err != nil {
			return nil, false, err
		}
		if in.IsSecret && refs == 0 {
			return ref(vs.get(key, idHint, in.input, true)), true, nil
		}
		return t, true, nil
	case in.Default != nil && *in.Default != "" && !in.IsSecret:
		return lit(*in.Default), true, nil
	case in.IsRequired || force:
		return ref(vs.get(key, idHint, in.input, in.IsSecret)), true, nil
	}
	return nil, false, nil
}

// expand substitutes {name} references in s from vars, then from lookup.
// A {name} neither defines stays as it is, as the schema says.
func (vs *varSet) expand(key, s string, vars map[string]input, secret bool, lookup lookupFunc) (t tmpl, refs int, err error) {
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+1:], '}')
		if j < 0 {
			break
		}
		name := s[i+1 : i+1+j]
		if name == "" || strings.ContainsAny(name, "{ \t") {
			t = cat(t, lit(s[:i+1]))
			s = s[i+1:]
			continue
		}
		var sub tmpl
		found := false
		if vin, ok := vars[name]; ok {
			sub, err = vs.variableValue(key+"{"+name+"}", name, vin, secret)
			if err != nil {
				return nil, 0, err
			}
			found = true
		} else if lookup != nil {
			sub, found = lookup(name)
		}
		if !found {
			sub = lit(s[i : i+j+2])
		} else {
			refs++
		}
		t = cat(t, lit(s[:i]), sub)
		s = s[i+j+2:]
	}
	return cat(t, lit(s)), refs, nil
}

// variableValue resolves one entry of an input's variables map. A variable
// that is needed to build the value is always prompted for when it has no
// value or default, required or not.
func (vs *varSet) variableValue(key, name string, in input, secret bool) (tmpl, error) {
	secret = secret || in.IsSecret
	switch {
	case in.Value != nil && !secret:
		return lit(*in.Value), nil
	case in.Default != nil && *in.Default != "" && !secret:
		return lit(*in.Default), nil
	}
	return ref(vs.get(key, name, in, secret)), nil
}
