package curation

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mcpfed/mcpfed/store"
)

// A decisions document is what a decisions source (a file or git source
// with `decisions: true`) holds: YAML or JSON, one key, decisions, a list
// of the records the API writes:
//
//	decisions:
//	  - serverName: io.github.acme/weather
//	    versions: ">=1.2 <2"          # "*", an exact version or a range
//	    decision: approved            # or denied
//	    note: reviewed in PLAT-123    # optional
//	    who: alice                    # optional: who decided
//
// Parsing is strict (an unknown key, a missing field, a record given twice
// or a YAML alias is an error, so a typo never widens or narrows a rule
// unseen) and bounded: the document's size is the source's to bound,
// and at most MaxDocumentDecisions records are read. A document that fails
// is not applied: the last good one stays.

// MaxDocumentDecisions bounds the records of one document.
const MaxDocumentDecisions = 100000

// maxDocumentErrors bounds the problems one parse reports.
const maxDocumentErrors = 20

// maxWhoLength bounds a document's who.
const maxWhoLength = 256

// ErrDocument marks a decisions document that cannot be read.
var ErrDocument = errors.New("invalid decisions document")

// ParseDocument reads a decisions document. Errors name the line and the
// record's position (line 7: decisions[2].versions: ...).
func ParseDocument(data []byte) ([]store.Decision, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrDocument, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%w: empty (write decisions: [] for none)", ErrDocument)
	}
	p := docParser{}
	top := root.Content[0]
	if !p.mapping(top, "") {
		return nil, p.err()
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch {
		case k.Value != "decisions":
			p.fail(k.Line, "", "unknown key %q (a decisions document has one key, decisions)", clip(k.Value))
		case list != nil:
			p.fail(k.Line, "decisions", "given twice (first on line %d)", list.Line)
		default:
			list = v
		}
	}
	switch {
	case list == nil && len(p.errs) == 0:
		p.fail(top.Line, "", "no decisions key (write decisions: [] for none)")
	case list != nil && list.Kind == yaml.AliasNode:
		p.fail(list.Line, "decisions", "YAML aliases are not accepted")
	case list != nil && list.Kind == yaml.ScalarNode && list.Tag == "!!null":
		list = &yaml.Node{Kind: yaml.SequenceNode}
	case list != nil && list.Kind != yaml.SequenceNode:
		p.fail(list.Line, "decisions", "expects a list")
	}
	if len(p.errs) > 0 {
		return nil, p.err()
	}
	if len(list.Content) > MaxDocumentDecisions {
		return nil, fmt.Errorf("%w: more than %d decisions", ErrDocument, MaxDocumentDecisions)
	}
	out := make([]store.Decision, 0, len(list.Content))
	first := map[[2]string]int{}
	for i, item := range list.Content {
		if len(p.errs) >= maxDocumentErrors {
			break
		}
		d, ok := p.decision(item, fmt.Sprintf("decisions[%d]", i))
		if !ok {
			continue
		}
		key := [2]string{d.ServerName, d.Versions}
		if line, dup := first[key]; dup {
			p.fail(item.Line, fmt.Sprintf("decisions[%d]", i), "%s %q is decided twice (first on line %d)", d.ServerName, d.Versions, line)
			continue
		}
		first[key] = item.Line
		out = append(out, d)
	}
	if len(p.errs) > 0 {
		return nil, p.err()
	}
	return out, nil
}

// docParser collects the problems of one document.
type docParser struct {
	errs []error
}

func (p *docParser) fail(line int, path, format string, args ...any) {
	if len(p.errs) >= maxDocumentErrors {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	p.errs = append(p.errs, fmt.Errorf("line %d: %s", line, msg))
}

func (p *docParser) err() error {
	return fmt.Errorf("%w: %w", ErrDocument, errors.Join(p.errs...))
}

func (p *docParser) mapping(n *yaml.Node, path string) bool {
	switch n.Kind {
	case yaml.MappingNode:
		return true
	case yaml.AliasNode:
		p.fail(n.Line, path, "YAML aliases are not accepted")
	default:
		p.fail(n.Line, path, "expects a mapping")
	}
	return false
}

// decision reads one record.
func (p *docParser) decision(n *yaml.Node, path string) (store.Decision, bool) {
	var d store.Decision
	if !p.mapping(n, path) {
		return d, false
	}
	fields := map[string]*string{
		"serverName": &d.ServerName, "versions": &d.Versions, "decision": &d.Decision, "note": &d.Note, "who": &d.Who,
	}
	seen := map[string]bool{}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		dst, known := fields[k.Value]
		switch {
		case seen[k.Value]:
			p.fail(k.Line, path+"."+k.Value, "given twice")
			ok = false
		case !known:
			p.fail(k.Line, path, "unknown key %q (serverName, versions, decision, note or who)", clip(k.Value))
			ok = false
		case v.Kind != yaml.ScalarNode || v.Tag == "!!null":
			p.fail(v.Line, path+"."+k.Value, "expects a string")
			ok = false
		default:
			*dst = v.Value
			seen[k.Value] = true
		}
	}
	for _, req := range []string{"serverName", "versions", "decision"} {
		if !seen[req] && ok {
			p.fail(n.Line, path, "%s is required", req)
			ok = false
		}
	}
	if !ok {
		return d, false
	}
	if err := ValidateDecision(&d); err != nil {
		for _, e := range flatten(err) {
			p.fail(n.Line, path, "%v", e)
		}
		return d, false
	}
	if err := checkText(d.Who, maxWhoLength); err != nil {
		p.fail(n.Line, path+".who", "%v", err)
		return d, false
	}
	return d, true
}

// flatten lists the errors joined in err.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
