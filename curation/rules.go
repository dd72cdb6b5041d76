// Package curation decides what an organisation lets its developers see:
// decisions (approve or deny a range of a server's versions) made through
// the API and kept in the store, or written in decisions documents that
// file sources carry (reviewed by pull request), feed one rule that views
// with `curation: approved-only` apply. A version is shown iff some
// approval covers it and no denial does: a denial always wins.
//
// The rule is built once per change of the decisions (Rules) and swapped
// atomically (Set), so a view asks a map and a few comparisons per entry.
package curation

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream"
)

// The values of a decision.
const (
	Approved = "approved"
	Denied   = "denied"
)

// ApprovedOnly is the value of views[].curation that shows only approved
// versions.
const ApprovedOnly = "approved-only"

// Record is a decision and where it came from.
type Record struct {
	store.Decision
	// Document names the decisions source (sources[].name) it was read
	// from; "" for a decision made through the API (kept in the store).
	Document string
}

// Rules is the rule of approved-only views for one state of the
// decisions. It is immutable: safe for concurrent use.
type Rules struct {
	generation uint64
	ready      bool
	byName     map[string]*serverRules
	records    int
}

type serverRules struct {
	approve, deny []Range
}

// denyAll stands for a denial that could not be read: it covers every
// version, so an unreadable record never shows more than was written.
var denyAll = Range{text: AllVersions, all: true}

// Build compiles records into Rules. A record that cannot be read (versions
// out of the grammar, an unknown decision: written by another version of
// mcpfed, or into the database by hand) is reported; an unreadable
// approval is left out and an unreadable denial, or an unknown decision,
// denies every version of its server. ready says that every origin of
// decisions has been read at least once: until then Admit shows nothing.
func Build(records []Record, generation uint64, ready bool) (*Rules, []error) {
	r := &Rules{generation: generation, ready: ready, byName: make(map[string]*serverRules, len(records)), records: len(records)}
	var errs []error
	for _, rec := range records {
		sr := r.byName[rec.ServerName]
		if sr == nil {
			sr = &serverRules{}
			r.byName[rec.ServerName] = sr
		}
		rng, err := ParseVersions(rec.Versions)
		switch {
		case rec.Decision.Decision != Approved && rec.Decision.Decision != Denied:
			errs = append(errs, fmt.Errorf("decision on %s %q%s: %q is not approved or denied: every version is denied", rec.ServerName, rec.Versions, origin(rec), rec.Decision.Decision))
			sr.deny = append(sr.deny, denyAll)
		case err != nil && rec.Decision.Decision == Denied:
			errs = append(errs, fmt.Errorf("denial of %s%s: %w: every version is denied", rec.ServerName, origin(rec), err))
			sr.deny = append(sr.deny, denyAll)
		case err != nil:
			errs = append(errs, fmt.Errorf("approval of %s%s: %w: left out", rec.ServerName, origin(rec), err))
		case rec.Decision.Decision == Denied:
			sr.deny = append(sr.deny, rng)
		default:
			sr.approve = append(sr.approve, rng)
		}
	}
	return r, errs
}

func origin(rec Record) string {
	if rec.Document == "" {
		return ""
	}
	return fmt.Sprintf(" (decisions source %q)", rec.Document)
}

// Admit reports whether an approved-only view shows e: some approval
// covers its version and no denial does. A nil Rules, or one built before
// every origin was read, shows nothing.
func (r *Rules) Admit(e *upstream.Entry) bool {
	if r == nil || !r.ready {
		return false
	}
	sr := r.byName[e.Name]
	if sr == nil || len(sr.approve) == 0 {
		return false
	}
	v := parseVersion(e.Version)
	for _, d := range sr.deny {
		if d.covers(v, true) {
			return false
		}
	}
	for _, a := range sr.approve {
		if a.covers(v, false) {
			return true
		}
	}
	return false
}

// Decided reports whether some decision, approval or denial, covers the
// version: the review queue lists the versions none does.
func (r *Rules) Decided(name, ver string) bool {
	if r == nil {
		return false
	}
	sr := r.byName[name]
	if sr == nil {
		return false
	}
	v := parseVersion(ver)
	for _, d := range sr.deny {
		if d.covers(v, true) {
			return true
		}
	}
	for _, a := range sr.approve {
		if a.covers(v, false) {
			return true
		}
	}
	return false
}

// Generation grows with every change of the decisions: part of the key of
// anything cached from an approved-only view.
func (r *Rules) Generation() uint64 {
	if r == nil {
		return 0
	}
	return r.generation
}

// Ready reports whether every origin of decisions has been read.
func (r *Rules) Ready() bool { return r != nil && r.ready }

// Len is the number of records the rules were built from.
func (r *Rules) Len() int {
	if r == nil {
		return 0
	}
	return r.records
}

// Bounds of one decision as written.
const (
	MaxNoteLength = 2000
	// maxNameLength is the official registry's bound on a server name.
	maxNameLength = 200
)

// ValidateDecision checks a decision as written (API or document): the
// server name, the versions (normalised in place), the decision and the
// note. Messages name the field first ("versions: ...").
func ValidateDecision(d *store.Decision) error {
	var errs []error
	if err := checkServerName(d.ServerName); err != nil {
		errs = append(errs, fmt.Errorf("serverName: %w", err))
	}
	rng, err := ParseVersions(d.Versions)
	if err != nil {
		errs = append(errs, fmt.Errorf("versions: %w", err))
	} else {
		d.Versions = rng.String()
	}
	if d.Decision != Approved && d.Decision != Denied {
		errs = append(errs, fmt.Errorf("decision: %q is not approved or denied", d.Decision))
	}
	if err := checkText(d.Note, MaxNoteLength); err != nil {
		errs = append(errs, fmt.Errorf("note: %w", err))
	}
	return errors.Join(errs...)
}

// checkServerName applies the official registry's shape of a name:
// namespace/name, 3 to 200 characters of [a-zA-Z0-9._-] with one slash.
func checkServerName(name string) error {
	ns, n, ok := strings.Cut(name, "/")
	switch {
	case name == "":
		return errors.New("required")
	case len(name) < 3 || len(name) > maxNameLength:
		return fmt.Errorf("%q must be 3 to %d characters", clip(name), maxNameLength)
	case !ok || ns == "" || n == "" || strings.Contains(n, "/"):
		return fmt.Errorf("%q must be namespace/name, with exactly one slash", name)
	case strings.ContainsFunc(ns, func(c rune) bool { return !isNameChar(c) || c == '_' }),
		strings.ContainsFunc(n, func(c rune) bool { return !isNameChar(c) }):
		return fmt.Errorf("%q has a character other than letters, digits, '.', '-' (and '_' after the slash)", name)
	}
	return nil
}

func isNameChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_'
}

// checkText accepts valid UTF-8 of at most limit bytes, without control
// characters other than newline and tab.
func checkText(s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("longer than %d bytes", limit)
	}
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if strings.ContainsFunc(s, func(c rune) bool { return (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f }) {
		return errors.New("has a control character")
	}
	return nil
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "…"
}

// sortRecords orders records as the store does: server name, then
// versions, then origin (the API's first).
func sortRecords(recs []Record) {
	slices.SortStableFunc(recs, func(a, b Record) int {
		if c := strings.Compare(a.ServerName, b.ServerName); c != 0 {
			return c
		}
		if c := strings.Compare(a.Versions, b.Versions); c != 0 {
			return c
		}
		return strings.Compare(a.Document, b.Document)
	})
}
