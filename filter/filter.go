// Package filter selects registry entries: name globs, tags, status,
// transport and package type, and the namespace reservations that keep one
// source's namespace from being served by another.
package filter

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/mcpfed/mcpfed/upstream"
)

// IncludeExclude is a pair of pattern lists. An empty include list admits everything.
type IncludeExclude struct {
	Include []string `json:"include,omitempty" yaml:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty" yaml:"exclude,omitempty"`
}

// Spec is a filter as written in configuration.
type Spec struct {
	// Names are globs over server names: `*` matches any run of characters
	// except `/`, `?` one character, `[a-z]` a class (Go's path.Match).
	Names IncludeExclude `json:"names,omitzero" yaml:"names,omitempty"`
	// Tags are matched exactly, ignoring case, against ToolHive's tags.
	Tags IncludeExclude `json:"tags,omitzero" yaml:"tags,omitempty"`
	// Status lists the statuses to keep (active, deprecated, deleted).
	Status []string `json:"status,omitempty" yaml:"status,omitempty"`
	// Transports lists transport types to keep (stdio, streamable-http, sse).
	Transports []string `json:"transports,omitempty" yaml:"transports,omitempty"`
	// PackageTypes lists package registry types to keep (npm, pypi, oci, …).
	PackageTypes []string `json:"packageTypes,omitempty" yaml:"packageTypes,omitempty"`
}

// Filter is a compiled Spec. The zero value (and nil) admits everything.
type Filter struct {
	names        IncludeExclude
	tagsInclude  []string
	tagsExclude  []string
	status       []string
	transports   []string
	packageTypes []string
}

// New validates and compiles a spec, listing every problem.
func New(spec Spec) (*Filter, error) {
	var errs []error
	for _, p := range slices.Concat(spec.Names.Include, spec.Names.Exclude) {
		if err := ValidateGlob(p); err != nil {
			errs = append(errs, fmt.Errorf("names: %w", err))
		}
	}
	f := &Filter{
		names:        spec.Names,
		tagsInclude:  lower(spec.Tags.Include),
		tagsExclude:  lower(spec.Tags.Exclude),
		transports:   spec.Transports,
		packageTypes: spec.PackageTypes,
	}
	for _, s := range spec.Status {
		st, err := upstream.ParseStatus(s)
		if err != nil || s == "" {
			errs = append(errs, fmt.Errorf("status: %q is not active, deprecated or deleted", s))
			continue
		}
		f.status = append(f.status, string(st))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

// ValidateGlob checks a name pattern.
func ValidateGlob(pattern string) error {
	if pattern == "" {
		return errors.New("empty pattern")
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("bad pattern %q: %w", pattern, err)
	}
	return nil
}

// MatchGlob reports whether name matches pattern (a validated glob).
func MatchGlob(pattern, name string) bool {
	ok, _ := path.Match(pattern, name)
	return ok
}

// MatchName applies the name globs only.
func (f *Filter) MatchName(name string) bool {
	if f == nil {
		return true
	}
	if len(f.names.Include) > 0 && !slices.ContainsFunc(f.names.Include, func(p string) bool { return MatchGlob(p, name) }) {
		return false
	}
	return !slices.ContainsFunc(f.names.Exclude, func(p string) bool { return MatchGlob(p, name) })
}

// Match reports whether the entry passes every part of the filter.
func (f *Filter) Match(e *upstream.Entry) bool {
	if f == nil {
		return true
	}
	if !f.MatchName(e.Name) {
		return false
	}
	if len(f.status) > 0 && !slices.Contains(f.status, string(e.Status)) {
		return false
	}
	if len(f.tagsInclude) > 0 && !anyTag(e.Tags, f.tagsInclude) {
		return false
	}
	if anyTag(e.Tags, f.tagsExclude) {
		return false
	}
	if len(f.transports) > 0 && !anyOf(e.Transports, f.transports) {
		return false
	}
	if len(f.packageTypes) > 0 && !anyOf(e.PackageTypes, f.packageTypes) {
		return false
	}
	return true
}

func anyTag(tags, wanted []string) bool {
	for _, t := range tags {
		if slices.Contains(wanted, strings.ToLower(t)) {
			return true
		}
	}
	return false
}

func anyOf(have, wanted []string) bool {
	return slices.ContainsFunc(have, func(h string) bool { return slices.Contains(wanted, h) })
}

func lower(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	return out
}
