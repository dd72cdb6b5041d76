package upstream

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
)

// MCPFedNamespace is mcpfed's key in a server's publisher-provided `_meta`
// (the kubernetes source writes an entry's authorization claims there).
const MCPFedNamespace = "io.github.mcpfed"

// EntryClaims are the claims a caller must hold to see an entry, as
// ToolHive's authz-claims annotation states them: for each claim, every
// listed value. Invalid claims (not an object of strings and lists of
// strings) hide the entry from everyone: a restriction that cannot be
// read is not lifted.
type EntryClaims struct {
	Need    map[string][]string
	Invalid bool
}

// parseEntryClaims reads {"authzClaims": {...}} from mcpfed's
// publisher-provided block; nil when there are none.
func parseEntryClaims(raw json.RawMessage) *EntryClaims {
	var own struct {
		AuthzClaims json.RawMessage `json:"authzClaims"`
	}
	if err := json.Unmarshal(raw, &own); err != nil {
		return &EntryClaims{Invalid: true}
	}
	return ParseClaims(own.AuthzClaims)
}

// ParseClaims reads claims as ToolHive's authz-claims annotation writes
// them: a JSON object whose values are strings or non-empty lists of
// strings. Empty input and {} are no claims (nil); anything else that is
// not that shape — null included: a restriction written but unreadable —
// is Invalid. The kubernetes source and the
// entries it makes read claims through this one function.
func ParseClaims(raw json.RawMessage) *EntryClaims {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil || claims == nil {
		return &EntryClaims{Invalid: true}
	}
	if len(claims) == 0 {
		return nil
	}
	c := &EntryClaims{Need: map[string][]string{}}
	for k, v := range claims {
		switch v := v.(type) {
		case string:
			c.Need[k] = []string{v}
		case []any:
			for _, x := range v {
				s, ok := x.(string)
				if !ok {
					return &EntryClaims{Invalid: true}
				}
				c.Need[k] = append(c.Need[k], s)
			}
			slices.Sort(c.Need[k])
			c.Need[k] = slices.Compact(c.Need[k])
		default:
			return &EntryClaims{Invalid: true}
		}
		if k == "" || len(c.Need[k]) == 0 {
			return &EntryClaims{Invalid: true}
		}
	}
	return c
}

// Object is the claims as the JSON object they were read from (each
// claim's single value as a string, several as a list).
func (c *EntryClaims) Object() map[string]any {
	if c == nil || c.Invalid {
		return nil
	}
	out := make(map[string]any, len(c.Need))
	for k, vs := range c.Need {
		if len(vs) == 1 {
			out[k] = vs[0]
			continue
		}
		list := make([]any, len(vs))
		for i, v := range vs {
			list[i] = v
		}
		out[k] = list
	}
	return out
}

// GuaranteedBy reports whether every caller admitted by a view's access
// claims holds these: for each claim the entry needs, the view demands
// exactly that one value (a view's list means any of its values, so it
// guarantees a value only when it lists that one alone). nil claims are
// guaranteed by any view; invalid ones by none.
func (c *EntryClaims) GuaranteedBy(view map[string]any) bool {
	if c == nil {
		return true
	}
	if c.Invalid {
		return false
	}
	for _, k := range slices.Sorted(maps.Keys(c.Need)) {
		need := c.Need[k]
		if len(need) != 1 {
			return false // one view claim cannot demand two values at once
		}
		if !demandsOnly(view[k], need[0]) {
			return false
		}
	}
	return true
}

func demandsOnly(want any, value string) bool {
	switch w := want.(type) {
	case string:
		return w == value
	case []any:
		return len(w) > 0 && !slices.ContainsFunc(w, func(x any) bool { s, ok := x.(string); return !ok || s != value })
	case []string:
		return len(w) > 0 && !slices.ContainsFunc(w, func(s string) bool { return s != value })
	}
	return false
}
