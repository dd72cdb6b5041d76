package curation

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/mcpfed/mcpfed/upstream"
)

// The grammar of a decision's versions (what a reviewer writes):
//
//	versions   = "*" | exact | range
//	exact      = a version as published, with no space, operator or
//	             wildcard ("1.2.3", "2024.06.01", "v1.2"): that version
//	             string only, byte for byte
//	range      = set *( "||" set )             ; any of the sets
//	set        = part *( " " part )            ; all of the parts
//	part       = [op] bound | wildcard
//	op         = ">=" | ">" | "<=" | "<" | "="  ; none: "="
//	bound      = ["v"] MAJOR ["." MINOR ["." PATCH ["-" PRERELEASE]]]
//	wildcard   = MAJOR ".x" | MAJOR ".*" | MAJOR "." MINOR ".x" | MAJOR "." MINOR ".*"
//
// Ranges compare by semantic-version precedence (golang.org/x/mod/semver).
// A bound with missing parts stands for every version it starts:
// ">=1.2" is ">=1.2.0", ">1.2" is ">=1.3.0", "<=1.2" takes in every 1.2.x,
// "<2" stops below 2.0.0 and its pre-releases, "=1.2" and "1.2.x" are
// every 1.2.x. Ranges cover semantic versions only: a version that is not
// MAJOR.MINOR.PATCH (a date, "1.2") is covered by "*" or its exact string.
//
// Pre-releases: an approval's range covers a pre-release (1.5.0-beta.1)
// only when a part of the same set names a pre-release of the same
// MAJOR.MINOR.PATCH (">=1.5.0-beta.0 <2"); a denial's range covers every
// version within it, pre-releases included. Both err towards showing less:
// approving ">=1.2 <2" does not approve 1.5.0-beta.1, denying it denies it.
// "*" covers every version, pre-releases too.

// Bounds of what a reviewer may write, so a rule stays cheap to evaluate.
const (
	MaxVersionsLength = 256
	maxAlternatives   = 8
	maxParts          = 8
)

// AllVersions is the versions of a decision about every version.
const AllVersions = "*"

// Range is a parsed versions field. The zero value covers nothing.
type Range struct {
	text  string
	all   bool
	exact string
	sets  [][]constraint
}

// constraint is one comparison: the version v (with a leading "v") and
// how a candidate must compare with it.
type constraint struct {
	op string // >=, >, <=, <, =
	v  string
	// pre: the reviewer wrote a pre-release here (the pre-release rule of
	// approvals); the -0 that ends a partial upper bound does not count.
	pre bool
}

// ErrVersions marks a versions field that is not of the grammar.
var ErrVersions = errors.New("invalid versions")

// ParseVersions reads a versions field. Its String is the field with
// spaces normalised (one between parts, " || " between sets).
func ParseVersions(s string) (Range, error) {
	if len(s) > MaxVersionsLength {
		return Range{}, fmt.Errorf("%w: longer than %d characters", ErrVersions, MaxVersionsLength)
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Range{}, fmt.Errorf("%w: empty (write \"*\" for every version)", ErrVersions)
	case s == AllVersions:
		return Range{text: s, all: true}, nil
	case !isRange(s):
		if err := checkExact(s); err != nil {
			return Range{}, err
		}
		return Range{text: s, exact: s}, nil
	}
	alts := strings.Split(s, "||")
	if len(alts) > maxAlternatives {
		return Range{}, fmt.Errorf("%w: %q has more than %d alternatives (||)", ErrVersions, s, maxAlternatives)
	}
	r := Range{}
	texts := make([]string, 0, len(alts))
	for _, alt := range alts {
		parts := strings.Fields(alt)
		switch {
		case len(parts) == 0:
			return Range{}, fmt.Errorf("%w: %q has an empty alternative around ||", ErrVersions, s)
		case len(parts) > maxParts:
			return Range{}, fmt.Errorf("%w: %q has more than %d parts in one alternative", ErrVersions, s, maxParts)
		}
		var set []constraint
		for _, p := range parts {
			cs, err := parsePart(p)
			if err != nil {
				return Range{}, fmt.Errorf("%w: %q: %w", ErrVersions, s, err)
			}
			set = append(set, cs...)
		}
		r.sets = append(r.sets, set)
		texts = append(texts, strings.Join(parts, " "))
	}
	r.text = strings.Join(texts, " || ")
	return r, nil
}

// isRange reports whether s is written as a range: an operator, a space,
// an alternative, a wildcard part, or npm's ^ and ~ (refused, with the
// way to write them). The official registry refuses such
// versions at publication, so no published version reads as a range.
func isRange(s string) bool {
	if strings.ContainsAny(s, "<>=^~ \t|") {
		return true
	}
	for _, p := range strings.Split(s, ".") {
		if p == "x" || p == "X" || p == "*" {
			return true
		}
	}
	return false
}

func checkExact(s string) error {
	for _, c := range s {
		if c < 0x21 || c == 0x7f {
			return fmt.Errorf("%w: %q has a control character", ErrVersions, s)
		}
	}
	if s == "latest" {
		return fmt.Errorf("%w: \"latest\" is not a version (write \"*\" for every version)", ErrVersions)
	}
	return nil
}

var ops = []string{">=", "<=", ">", "<", "="}

// parsePart reads one part into the constraints it stands for.
func parsePart(p string) ([]constraint, error) {
	op := ""
	for _, o := range ops {
		if strings.HasPrefix(p, o) {
			op, p = o, p[len(o):]
			break
		}
	}
	if p == "" {
		return nil, fmt.Errorf("%q needs a version after it", op)
	}
	if strings.HasPrefix(p, "^") || strings.HasPrefix(p, "~") {
		return nil, fmt.Errorf("%q: ^ and ~ are not accepted; write the bounds (>=1.2.0 <2)", op+p)
	}
	if strings.ContainsAny(p, "<>=") {
		return nil, fmt.Errorf("%q: write one operator per part, with a space between parts", op+p)
	}
	if w, ok := wildcard(p); ok {
		if op != "" {
			return nil, fmt.Errorf("%q: a wildcard takes no operator", op+p)
		}
		p, op = w, "="
	}
	b, err := parseBound(p)
	if err != nil {
		return nil, err
	}
	if op == "" {
		op = "="
	}
	if b.parts == 3 {
		return []constraint{{op: op, v: b.v, pre: b.pre}}, nil
	}
	// A partial bound stands for every version it starts.
	lo, next := b.v, b.next
	switch op {
	case ">=":
		return []constraint{{op: ">=", v: lo}}, nil
	case ">":
		return []constraint{{op: ">=", v: next}}, nil
	case "<=":
		return []constraint{{op: "<", v: next + "-0"}}, nil
	case "<":
		return []constraint{{op: "<", v: lo + "-0"}}, nil
	}
	return []constraint{{op: ">=", v: lo}, {op: "<", v: next + "-0"}}, nil
}

// wildcard reads MAJOR.x, MAJOR.*, MAJOR.x.x, MAJOR.MINOR.x and
// MAJOR.MINOR.* as the partial bound they stand for.
func wildcard(p string) (string, bool) {
	fields := strings.Split(p, ".")
	isWild := func(f string) bool { return f == "x" || f == "X" || f == "*" }
	n := len(fields)
	for n > 1 && isWild(fields[n-1]) {
		n--
	}
	if n == len(fields) || n > 2 {
		return "", false
	}
	return strings.Join(fields[:n], "."), true
}

// bound is a parsed version bound.
type bound struct {
	v     string // with "v", missing parts filled with 0
	next  string // the first version after every one it starts (partial only)
	parts int
	pre   bool
}

func parseBound(p string) (bound, error) {
	core := strings.TrimPrefix(p, "v")
	if strings.Contains(core, "+") {
		return bound{}, fmt.Errorf("%q: build metadata has no place in a range (it does not order versions)", p)
	}
	num, pre, hasPre := strings.Cut(core, "-")
	fields := strings.Split(num, ".")
	if hasPre && len(fields) < 3 {
		return bound{}, fmt.Errorf("%q: a pre-release needs MAJOR.MINOR.PATCH", p)
	}
	if len(fields) > 3 || !semver.IsValid("v"+core) {
		return bound{}, fmt.Errorf("%q is not a version (MAJOR[.MINOR[.PATCH[-PRERELEASE]]], a wildcard such as 1.x, or \"*\" alone)", p)
	}
	b := bound{parts: len(fields), pre: hasPre && pre != ""}
	full := append(fields, "0", "0")[:3]
	b.v = "v" + strings.Join(full, ".")
	if hasPre {
		b.v += "-" + pre
	}
	if b.parts < 3 {
		next := []string{"0", "0", "0"}
		copy(next, fields[:b.parts-1])
		next[b.parts-1] = increment(fields[b.parts-1])
		b.next = "v" + strings.Join(next, ".")
	}
	return b, nil
}

// increment adds one to a decimal number of any length.
func increment(n string) string {
	d := []byte(n)
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] < '9' {
			d[i]++
			return string(d)
		}
		d[i] = '0'
	}
	return "1" + string(d)
}

// String is the versions field as normalised.
func (r Range) String() string { return r.text }

// All reports whether the range is "*".
func (r Range) All() bool { return r.all }

// version is a candidate version, parsed once for every range it meets.
type version struct {
	raw    string
	sv     string // with "v"; "" when not MAJOR.MINOR.PATCH semver
	triple string // MAJOR.MINOR.PATCH of sv, with "v"
	pre    bool
}

func parseVersion(raw string) version {
	v := version{raw: raw}
	if !upstream.IsSemver(raw) {
		return v
	}
	v.sv = raw
	if !strings.HasPrefix(raw, "v") {
		v.sv = "v" + raw
	}
	v.triple = v.sv
	if i := strings.IndexAny(v.sv, "-+"); i >= 0 {
		v.triple = v.sv[:i]
	}
	v.pre = semver.Prerelease(v.sv) != ""
	return v
}

// Covers reports whether the range covers the version, for an approval
// (denial false) or a denial (see the pre-release rule above).
func (r Range) Covers(v string, denial bool) bool { return r.covers(parseVersion(v), denial) }

func (r Range) covers(v version, denial bool) bool {
	switch {
	case r.all:
		return true
	case r.exact != "":
		if r.exact == v.raw {
			return true
		}
		// A denial of 1.2.3 also denies v1.2.3 and 1.2.3+build (the same
		// version by semver precedence): a denial errs towards covering.
		ev := parseVersion(r.exact)
		return denial && ev.sv != "" && v.sv != "" && semver.Compare(ev.sv, v.sv) == 0
	case v.sv == "":
		return false
	}
	for _, set := range r.sets {
		if setCovers(set, v, denial) {
			return true
		}
	}
	return false
}

func setCovers(set []constraint, v version, denial bool) bool {
	samePre := false
	for _, c := range set {
		cmp := semver.Compare(v.sv, c.v)
		var ok bool
		switch c.op {
		case ">=":
			ok = cmp >= 0
		case ">":
			ok = cmp > 0
		case "<=":
			ok = cmp <= 0
		case "<":
			ok = cmp < 0
		default:
			ok = cmp == 0
		}
		if !ok {
			return false
		}
		if c.pre && strings.HasPrefix(c.v, v.triple+"-") {
			samePre = true
		}
	}
	return denial || !v.pre || samePre
}
