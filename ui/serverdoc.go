package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpfed/mcpfed/upstream"
)

// Bounds on what one server page lists of a server.json: a source decides
// how long its lists are, the page does not grow with them.
const (
	maxRows     = 100
	maxPairs    = 60
	maxDepth    = 6
	maxTextRune = 4000
)

// obj reads a decoded JSON object leniently: a field of the wrong type
// reads as absent, so one odd field of a source's server.json does not
// cost the page (the raw server.json shows it as it is).
type obj map[string]any

func parseServer(raw json.RawMessage) obj {
	var m map[string]any
	_ = json.Unmarshal(raw, &m) // valid JSON object: the loader checked it
	return m
}

func asObj(v any) obj {
	m, _ := v.(map[string]any)
	return m
}

func (o obj) str(k string) string {
	s, _ := o[k].(string)
	return s
}

func (o obj) boolean(k string) bool {
	b, _ := o[k].(bool)
	return b
}

func (o obj) list(k string) []any {
	l, _ := o[k].([]any)
	return l
}

func (o obj) obj(k string) obj { return asObj(o[k]) }

// strs reads a list of strings, skipping other elements.
func (o obj) strs(k string) []string {
	var out []string
	for _, v := range o.list(k) {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
		if len(out) == maxRows {
			break
		}
	}
	return out
}

// icon is the first icon a page may load (see safeIcon).
func (o obj) icon() template.URL {
	for _, ic := range o.list("icons") {
		if src := safeIcon(asObj(ic).str("src")); src != "" {
			return src
		}
	}
	return ""
}

// packageView is one package of a server.
type packageView struct {
	RegistryType, Identifier, Version, RuntimeHint string
	Transport, TransportURL                        string
	RegistryBaseURL, FileSHA256                    string
	RuntimeArgs, PackageArgs, Env, Headers         inputTable
}

func newPackageView(p obj) packageView {
	t := p.obj("transport")
	return packageView{
		RegistryType: p.str("registryType"), Identifier: p.str("identifier"), Version: p.str("version"),
		RuntimeHint: p.str("runtimeHint"), Transport: t.str("type"), TransportURL: t.str("url"),
		RegistryBaseURL: p.str("registryBaseUrl"), FileSHA256: p.str("fileSha256"),
		RuntimeArgs: newInputTable("Runtime arguments", p.list("runtimeArguments"), true),
		PackageArgs: newInputTable("Package arguments", p.list("packageArguments"), true),
		Env:         newInputTable("Environment variables", p.list("environmentVariables"), false),
		Headers:     newInputTable("Headers", t.list("headers"), false),
	}
}

// remoteView is one remote of a server.
type remoteView struct {
	Type, URL          string
	Headers, Variables inputTable
}

func newRemoteView(r obj) remoteView {
	v := remoteView{
		Type: r.str("type"), URL: r.str("url"),
		Headers: newInputTable("Headers", r.list("headers"), false),
	}
	vars := r.obj("variables")
	var rows []any
	for _, k := range sortedKeys(vars) {
		in := asObj(vars[k])
		if in == nil {
			continue
		}
		named := obj{"name": k}
		for kk, vv := range in {
			if kk != "name" {
				named[kk] = vv
			}
		}
		rows = append(rows, map[string]any(named))
	}
	v.Variables = newInputTable("URL variables", rows, false)
	return v
}

// inputTable lists arguments, environment variables, headers or
// variables: what a user supplies, with its marks.
type inputTable struct {
	Caption string
	Rows    []inputRow
	More    int
}

type inputRow struct {
	Name, Kind, Description, Default, Value string
	Flags, Choices                          []string
}

func newInputTable(caption string, items []any, args bool) inputTable {
	t := inputTable{Caption: caption}
	for i, raw := range items {
		if i == maxRows {
			t.More = len(items) - i
			break
		}
		in := asObj(raw)
		row := inputRow{
			Name: in.str("name"), Description: in.str("description"), Default: in.str("default"),
			Value: in.str("value"), Choices: in.strs("choices"),
		}
		if args {
			row.Kind = in.str("type")
			if row.Name == "" {
				row.Name = in.str("valueHint")
			}
		}
		for _, f := range []struct {
			key, label string
		}{{"isRequired", "required"}, {"isSecret", "secret"}, {"isRepeated", "repeated"}} {
			if in.boolean(f.key) {
				row.Flags = append(row.Flags, f.label)
			}
		}
		if f := in.str("format"); f != "" && f != "string" {
			row.Flags = append(row.Flags, f)
		}
		if ph := in.str("placeholder"); ph != "" && row.Value == "" {
			row.Flags = append(row.Flags, "e.g. "+ph)
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// toolHiveView is ToolHive's publisher-provided metadata for one image or
// URL (_meta["io.modelcontextprotocol.registry/publisher-provided"]
// ["io.github.stacklok"][<image or url>]).
type toolHiveView struct {
	Key, Tier, Status, Stars, LastUpdated, Overview string
	Tags, Tools                                     []string
	Permissions, Provenance, Custom                 pairTable
}

// pairTable is a nested JSON object shown as dotted keys and values.
type pairTable struct {
	Caption string
	Rows    []pair
}

type pair struct{ Key, Value string }

func toolHiveViews(doc obj) []toolHiveView {
	byKey := doc.obj("_meta").obj(upstream.PublisherMetaKey).obj(upstream.ToolHiveNamespace)
	var out []toolHiveView
	for _, k := range sortedKeys(byKey) {
		ext := asObj(byKey[k])
		if ext == nil {
			continue
		}
		meta := ext.obj("metadata")
		v := toolHiveView{
			Key: k, Tier: ext.str("tier"), Status: ext.str("status"), LastUpdated: meta.str("last_updated"),
			Overview: truncate(ext.str("overview"), maxTextRune), Tags: ext.strs("tags"), Tools: ext.strs("tools"),
			Permissions: flatten("Permissions", ext["permissions"]),
			Provenance:  flatten("Provenance", ext["provenance"]),
			Custom:      flatten("Custom metadata", ext["custom_metadata"]),
		}
		if n, ok := meta["stars"].(float64); ok {
			v.Stars = strconv.FormatFloat(n, 'f', -1, 64)
		}
		out = append(out, v)
		if len(out) == maxRows {
			break
		}
	}
	return out
}

// flatten lists a JSON value's leaves by dotted path, lists of scalars
// joined, within maxPairs rows and maxDepth levels.
func flatten(caption string, v any) pairTable {
	t := pairTable{Caption: caption}
	var walk func(prefix string, v any, depth int)
	walk = func(prefix string, v any, depth int) {
		if len(t.Rows) >= maxPairs {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			if depth == maxDepth {
				t.Rows = append(t.Rows, pair{prefix, "…"})
				return
			}
			for _, k := range sortedKeys(x) {
				walk(join(prefix, k), x[k], depth+1)
			}
		case []any:
			if scalars(x) {
				parts := make([]string, len(x))
				for i, e := range x {
					parts[i] = scalar(e)
				}
				t.Rows = append(t.Rows, pair{prefix, truncate(strings.Join(parts, ", "), maxTextRune)})
				return
			}
			for i, e := range x {
				walk(prefix+"["+strconv.Itoa(i)+"]", e, depth+1)
			}
		case nil:
		default:
			t.Rows = append(t.Rows, pair{prefix, truncate(scalar(x), maxTextRune)})
		}
	}
	walk("", v, 0)
	return t
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func scalars(l []any) bool {
	for _, e := range l {
		switch e.(type) {
		case map[string]any, []any:
			return false
		}
	}
	return true
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func truncate(s string, runes int) string {
	if len(s) <= runes {
		return s
	}
	r := []rune(s)
	if len(r) <= runes {
		return s
	}
	return string(r[:runes]) + "…"
}
