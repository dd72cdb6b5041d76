package auth

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
)

// Result is the outcome of an access decision.
type Result string

// The results; also the `result` label of mcpfed_auth_decisions_total and
// the `decision` of audit lines.
const (
	ResultAllow           Result = "allow"
	ResultUnauthenticated Result = "unauthenticated" // 401: a token is needed
	ResultInvalidToken    Result = "invalid_token"   // 401 error="invalid_token"
	ResultForbidden       Result = "forbidden"       // 403: valid token, claims do not match
	ResultRateLimited     Result = "rate_limited"    // 429
)

// Decision is the access decision for one request to one view.
type Decision struct {
	Result Result
	// Reason is a short, token-free explanation for the audit log: it
	// names claims, never their values.
	Reason string
}

// Allowed reports whether the request may proceed.
func (d Decision) Allowed() bool { return d.Result == ResultAllow }

// Decide applies a view's access rules to an identity: an anonymous
// identity is allowed only where Anonymous is set; an authenticated one is
// allowed where Anonymous is set, or where every key of Claims matches.
func Decide(access Access, id Identity) Decision {
	if access.Anonymous {
		return Decision{ResultAllow, "anonymous access"}
	}
	if id.Anonymous() {
		return Decision{ResultUnauthenticated, "a token is required"}
	}
	keys := make([]string, 0, len(access.Claims))
	for k := range access.Claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !MatchClaim(id.Claims, k, access.Claims[k]) {
			return Decision{ResultForbidden, fmt.Sprintf("claim %q does not match", k)}
		}
	}
	if len(keys) == 0 {
		return Decision{ResultAllow, "authenticated"}
	}
	return Decision{ResultAllow, "claims match"}
}

// MatchClaims reports whether claims satisfy every key of want.
func MatchClaims(claims map[string]any, want map[string]any) bool {
	for k, v := range want {
		if !MatchClaim(claims, k, v) {
			return false
		}
	}
	return true
}

// MatchClaim reports whether the claim at path (dotted: realm_access.roles)
// matches want: a list want means any of its values; a list claim matches
// if any element does. Strings match strings exactly, numbers match
// numbers by value, booleans match booleans: no conversions between kinds.
// At each level of the path the longest key present wins, so a claim
// named with dots (https://example.com/roles) is found as well.
func MatchClaim(claims map[string]any, path string, want any) bool {
	got, ok := lookup(claims, path)
	if !ok {
		return false
	}
	wants, isList := asList(want)
	if !isList {
		wants = []any{want}
	}
	gots, isList := asList(got)
	if !isList {
		gots = []any{got}
	}
	return slices.ContainsFunc(gots, func(g any) bool {
		return slices.ContainsFunc(wants, func(w any) bool { return scalarEqual(g, w) })
	})
}

func lookup(claims map[string]any, path string) (any, bool) {
	segs, err := splitClaimPath(path)
	if err != nil {
		return nil, false
	}
	var cur any = claims
	for len(segs) > 0 {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		found := false
		for n := len(segs); n >= 1; n-- {
			if v, ok := m[strings.Join(segs[:n], ".")]; ok {
				cur, segs, found = v, segs[n:], true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return cur, true
}

func scalarEqual(got, want any) bool {
	switch w := want.(type) {
	case string:
		g, ok := got.(string)
		return ok && g == w
	case bool:
		g, ok := got.(bool)
		return ok && g == w
	case json.Number:
		return numberEqual(got, w.String())
	}
	if ws, ok := number(want); ok {
		return numberEqual(got, ws)
	}
	return false
}

func numberEqual(got any, want string) bool {
	var gs string
	switch g := got.(type) {
	case json.Number:
		gs = g.String()
	default:
		s, ok := number(got)
		if !ok {
			return false
		}
		gs = s
	}
	a, ok1 := new(big.Rat).SetString(gs)
	b, ok2 := new(big.Rat).SetString(want)
	return ok1 && ok2 && a.Cmp(b) == 0
}
