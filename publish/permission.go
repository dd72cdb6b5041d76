package publish

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mcpfed/mcpfed/auth"
)

// The actions a permission grants, as the official registry names them:
// publish (new versions, and their status) and edit (status only).
const (
	ActionPublish = "publish"
	ActionEdit    = "edit"
)

// Permission lets its holder do Action on the names Resource covers. The
// JSON shape is the official registry token's.
type Permission struct {
	Action   string `json:"action"`
	Resource string `json:"resource"`
}

// checkPattern accepts "*", a namespace prefix ending in "/*" or ".*", or
// an exact server name. A bare "com.acme*" is refused: it would also cover
// com.acmecorp/....
func checkPattern(p string) error {
	switch {
	case p == "":
		return errors.New("must not be empty")
	case p == "*":
		return nil
	case strings.ContainsFunc(p, func(r rune) bool { return !isNameRune(r) && r != '*' }):
		return fmt.Errorf("%q: only letters, digits, '.', '-', '_', '/' and a final '*'", p)
	case strings.Count(p, "*") > 1 || strings.Contains(strings.TrimSuffix(p, "*"), "*"):
		return fmt.Errorf("%q: '*' may only end the pattern", p)
	case strings.HasSuffix(p, "*") && !strings.HasSuffix(p, "/*") && !strings.HasSuffix(p, ".*"):
		return fmt.Errorf("%q: a prefix must end in \"/*\" (one namespace) or \".*\" (its sub-namespaces)", p)
	case strings.Count(p, "/") > 1:
		return fmt.Errorf("%q: a server name has exactly one '/'", p)
	case !strings.HasSuffix(p, "*") && strings.Count(p, "/") != 1:
		return fmt.Errorf("%q: an exact name is namespace/name; a namespace is written namespace/*", p)
	}
	return nil
}

func isNameRune(r rune) bool {
	return ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') ||
		r == '.' || r == '-' || r == '_' || r == '/'
}

// covers reports whether pattern covers the server name: "*" every name,
// "prefix*" the names starting with prefix, otherwise the name itself.
func covers(pattern, name string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, prefix)
	}
	return name == pattern
}

// intersect returns the pattern covering exactly the names both a and b
// cover, and false when they share none.
func intersect(a, b string) (string, bool) {
	ap, aPrefix := strings.CutSuffix(a, "*")
	bp, bPrefix := strings.CutSuffix(b, "*")
	switch {
	case aPrefix && bPrefix:
		// Two prefixes overlap only when one extends the other; the
		// longer is the narrower.
		if strings.HasPrefix(ap, bp) {
			return a, true
		}
		if strings.HasPrefix(bp, ap) {
			return b, true
		}
	case aPrefix:
		if strings.HasPrefix(b, ap) {
			return b, true
		}
	case bPrefix:
		if strings.HasPrefix(a, bp) {
			return a, true
		}
	case a == b:
		return a, true
	}
	return "", false
}

// allowed reports whether perms let their holder do one of actions on name.
func allowed(perms []Permission, name string, actions ...string) bool {
	return slices.ContainsFunc(perms, func(p Permission) bool {
		return slices.Contains(actions, p.Action) && covers(p.Resource, name)
	})
}

// everything is an admin's permissions.
var everything = []Permission{{ActionPublish, "*"}, {ActionEdit, "*"}}

// granted returns the permissions the publishers rules give a caller with
// these claims: publish and edit on every namespace of every matching rule.
func granted(rules []Publisher, claims map[string]any) []Permission {
	var out []Permission
	for _, r := range rules {
		if !auth.MatchClaims(claims, r.Claims) {
			continue
		}
		for _, ns := range r.Namespaces {
			for _, a := range []string{ActionPublish, ActionEdit} {
				p := Permission{a, ns}
				if !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// restrict keeps, of what a proof grants, the part the publishers rules
// also grant to the proof's claims: each proof permission intersected with
// each rule permission of the same action.
func restrict(proof []Permission, rules []Publisher, claims map[string]any) []Permission {
	var out []Permission
	for _, g := range granted(rules, claims) {
		for _, p := range proof {
			if p.Action != g.Action {
				continue
			}
			if r, ok := intersect(p.Resource, g.Resource); ok && !slices.Contains(out, Permission{p.Action, r}) {
				out = append(out, Permission{p.Action, r})
			}
		}
	}
	return out
}

// publishPatterns lists the resources perms may publish, for messages.
func publishPatterns(perms []Permission) []string {
	var out []string
	for _, p := range perms {
		if p.Action == ActionPublish && !slices.Contains(out, p.Resource) {
			out = append(out, p.Resource)
		}
	}
	return out
}
