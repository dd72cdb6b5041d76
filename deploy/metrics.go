package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Expr is one PromQL expression found in a deployment file.
type Expr struct {
	File string // path as walked from the directory given to Expressions
	Expr string
}

// Expressions returns every PromQL expression under dir: the "expr" fields
// of YAML files (Prometheus rule files, the PrometheusRule manifest) and the
// "expr" and "query" fields of JSON files (Grafana panel targets and
// template variables). Files are read in lexical order.
func Expressions(dir string) ([]Expr, error) {
	var out []Expr
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var keys []string
		var docs []any
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml":
			keys = []string{"expr"}
			docs, err = DecodeYAML(path)
		case ".json":
			keys = []string{"expr", "query"}
			var doc any
			doc, err = DecodeJSON(path)
			docs = []any{doc}
		default:
			return nil
		}
		if err != nil {
			return err
		}
		for _, doc := range docs {
			collect(doc, keys, func(s string) { out = append(out, Expr{File: path, Expr: s}) })
		}
		return nil
	})
	return out, err
}

// collect calls found with every string value under one of keys, at any depth.
func collect(v any, keys []string, found func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && slices.Contains(keys, k) {
				found(s)
				continue
			}
			collect(x, keys, found)
		}
	case []any:
		for _, x := range v {
			collect(x, keys, found)
		}
	}
}

// DecodeYAML decodes every document of a (multi-document) YAML file.
func DecodeYAML(path string) ([]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []any
	for {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, len(docs)+1, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// DecodeJSON decodes a JSON file, rejecting trailing data.
func DecodeJSON(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: data after the JSON value", path)
	}
	return doc, nil
}

// MetricPrefixes are the metric namespaces mcpfed exports: its own, and the
// Go runtime and process collectors.
var MetricPrefixes = []string{"mcpfed_", "go_", "process_"}

// histogramSuffixes name the series of one histogram (or summary).
var histogramSuffixes = []string{"_bucket", "_count", "_sum"}

var (
	// quoted strings (label values, regexps): never metric names.
	quotedPattern = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	identPattern  = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
)

// MetricsIn returns the metric names a PromQL expression uses, parsed
// loosely: identifiers outside quoted strings that start with one of
// MetricPrefixes, with the _bucket, _count and _sum series suffixes
// stripped (so a histogram is named as it is registered). Sorted, unique.
func MetricsIn(expr string) []string {
	expr = quotedPattern.ReplaceAllString(expr, `""`)
	var out []string
	for _, loc := range identPattern.FindAllStringIndex(expr, -1) {
		if loc[0] > 0 && expr[loc[0]-1] == '$' { // a Grafana variable
			continue
		}
		name := expr[loc[0]:loc[1]]
		if !hasMetricPrefix(name) {
			continue
		}
		for _, suf := range histogramSuffixes {
			if trimmed, ok := strings.CutSuffix(name, suf); ok {
				name = trimmed
				break
			}
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func hasMetricPrefix(name string) bool {
	for _, p := range MetricPrefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return true
		}
	}
	return false
}

// References maps every metric name used by the dashboards and rules under
// dir (see MetricsIn) to the files that use it.
func References(dir string) (map[string][]string, error) {
	exprs, err := Expressions(dir)
	if err != nil {
		return nil, err
	}
	refs := map[string][]string{}
	for _, e := range exprs {
		for _, name := range MetricsIn(e.Expr) {
			if !slices.Contains(refs[name], e.File) {
				refs[name] = append(refs[name], e.File)
			}
		}
	}
	return refs, nil
}

// MetricNames lists, sorted, every metric name the dashboards and alert
// rules under dir use (dir is the deploy directory, e.g. "../../deploy"
// from a test in cmd/mcpfed). Histograms and summaries are named without
// their _bucket, _count and _sum suffixes.
func MetricNames(dir string) ([]string, error) {
	refs, err := References(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(refs))
	for name := range refs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}
