package federate

import (
	"encoding/json"

	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
)

// View is a selection of the merged catalogue: the root (/v0.1, /v0) or a
// named view served under /registry/{view}/v0.1. A nil *View is every
// member in configured order, unfiltered, public.
type View struct {
	Name   string
	Filter *filter.Filter
	// Sources is an ordered subset of the engine's members, by name (nil
	// or empty: every member in configured order). Priority inside the
	// view is this order, first wins; shadowing and reservations are
	// decided among these sources only (a namespace reserved by a source
	// outside the view bars nobody in it). Filter applies after.
	Sources []string
	// Private marks a view that needs a token: its complete answers are
	// Cache-Control: private (with max-age) and Vary on Authorization.
	Private bool
	// Claims are the claims every caller of the view holds (its access
	// rule's; nil for an anonymous view). An entry that needs claims
	// (upstream.EntryClaims) is served only by views whose claims
	// guarantee them, so no answer depends on who asked and the response
	// cache stays per view.
	Claims map[string]any
	// Curated, when set, is the view's curation rule (curation:
	// approved-only): only the entries it admits are served, after the
	// view's filter. CurationGeneration changes whenever the rule does;
	// cached answers of the view are keyed by it.
	Curated            func(*upstream.Entry) bool
	CurationGeneration func() uint64
}

func (v *View) name() string {
	if v == nil {
		return ""
	}
	return v.Name
}

// identity is what a cursor's fingerprint holds of the view: its name and,
// for a view over a subset, its sources (a cursor from another view is
// refused, and so is one from the same view before its sources changed).
func (v *View) identity() string {
	id := v.name()
	if v != nil && len(v.Sources) > 0 {
		id += "\x00" + scopeKey(v.Sources)
	}
	if v != nil && len(v.Claims) > 0 {
		claims, _ := json.Marshal(v.Claims) // maps of JSON values: keys sorted, cannot fail
		id += "\x00" + string(claims)
	}
	return id
}

// curated reports whether the view has a curation rule.
func (v *View) curated() bool { return v != nil && v.Curated != nil }

func (v *View) admits(e *upstream.Entry) bool {
	if v == nil {
		return e.Claims == nil
	}
	return e.Claims.GuaranteedBy(v.Claims) && v.Filter.Match(e) && (v.Curated == nil || v.Curated(e))
}
