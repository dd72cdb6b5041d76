package auth

import (
	"encoding/json"
	"testing"
)

func TestMatchClaim(t *testing.T) {
	t.Parallel()
	claims, err := decodeClaims([]byte(`{
		"sub": "alice",
		"groups": ["engineering", "platform"],
		"realm_access": {"roles": ["reader", "admin"], "level": 3},
		"https://example.com/roles": ["auditor"],
		"email_verified": true,
		"tenant": 42,
		"big": 9007199254740993,
		"ratio": 0.5,
		"mixed": ["1", 2, false],
		"empty": [],
		"nested": {"a": {"b": {"c": "deep"}}},
		"kubernetes.io": {"serviceaccount": {"name": "ci"}}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want any
		ok   bool
	}{
		{"string", "sub", "alice", true},
		{"string mismatch", "sub", "bob", false},
		{"list claim contains", "groups", "platform", true},
		{"list claim any of want list", "groups", []any{"x", "engineering"}, true},
		{"list claim none of want list", "groups", []any{"x", "y"}, false},
		{"dotted path", "realm_access.roles", "admin", true},
		{"dotted path mismatch", "realm_access.roles", "owner", false},
		{"dotted number", "realm_access.level", 3, true},
		{"deep path", "nested.a.b.c", "deep", true},
		{"path through a scalar", "sub.x", "alice", false},
		{"missing claim", "department", "x", false},
		{"missing nested", "realm_access.missing", "x", false},
		{"claim name with dots", "https://example.com/roles", "auditor", true},
		{"dotted key inside a path", "kubernetes.io.serviceaccount.name", "ci", true},
		{"boolean", "email_verified", true, true},
		{"boolean mismatch", "email_verified", false, false},
		{"boolean is not a string", "email_verified", "true", false},
		{"int", "tenant", 42, true},
		{"float equal to int", "tenant", 42.0, true},
		{"number is not a string", "tenant", "42", false},
		{"json number", "tenant", json.Number("42"), true},
		{"large integer exact", "big", int64(9007199254740993), true},
		{"large integer off by one", "big", int64(9007199254740992), false},
		{"fraction", "ratio", 0.5, true},
		{"uint", "tenant", uint8(42), true},
		{"mixed list string", "mixed", "1", true},
		{"mixed list number", "mixed", 2, true},
		{"mixed list bool", "mixed", false, true},
		{"mixed list number is not string", "mixed", "2", false},
		{"empty list claim", "empty", "x", false},
		{"object claim does not match a scalar", "realm_access", "reader", false},
		{"empty path", "", "x", false},
		{"Go string slice want", "groups", []string{"x", "platform"}, true},
		{"empty segment", "realm_access..roles", "admin", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := MatchClaim(claims, tc.path, tc.want); got != tc.ok {
				t.Fatalf("MatchClaim(%q, %v) = %v, want %v", tc.path, tc.want, got, tc.ok)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	alice := Identity{Kind: KindOIDC, Issuer: "https://idp", Subject: "alice", Claims: map[string]any{
		"groups": []any{"engineering"}, "realm_access": map[string]any{"roles": []any{"reader"}}, "verified": true,
	}}
	bot := Identity{Kind: KindStatic, Subject: "ci-bot", Claims: map[string]any{"groups": []any{"platform"}}}
	anon := Identity{}
	needGroups := Access{Claims: map[string]any{"groups": []any{"engineering", "platform"}}}
	needBoth := Access{Claims: map[string]any{"groups": "engineering", "realm_access.roles": "admin"}}
	tests := []struct {
		name   string
		access Access
		id     Identity
		want   Result
		reason string
	}{
		{"anonymous view, no token", Access{Anonymous: true}, anon, ResultAllow, "anonymous access"},
		{"anonymous view, token", Access{Anonymous: true}, alice, ResultAllow, "anonymous access"},
		{"protected view, no token", needGroups, anon, ResultUnauthenticated, "a token is required"},
		{"zero access needs a token", Access{}, anon, ResultUnauthenticated, "a token is required"},
		{"zero access, any valid token", Access{}, bot, ResultAllow, "authenticated"},
		{"claims match (oidc)", needGroups, alice, ResultAllow, "claims match"},
		{"claims match (static)", needGroups, bot, ResultAllow, "claims match"},
		{"every key must match", needBoth, alice, ResultForbidden, `claim "realm_access.roles" does not match`},
		{"claims missing", needGroups, Identity{Kind: KindOIDC, Subject: "eve", Claims: map[string]any{}}, ResultForbidden, `claim "groups" does not match`},
		{"boolean claim", Access{Claims: map[string]any{"verified": true}}, alice, ResultAllow, "claims match"},
		{"nil claims map", needGroups, Identity{Kind: KindOIDC, Subject: "x"}, ResultForbidden, `claim "groups" does not match`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := Decide(tc.access, tc.id)
			if d.Result != tc.want || d.Reason != tc.reason {
				t.Fatalf("Decide = %+v, want %s (%s)", d, tc.want, tc.reason)
			}
			if d.Allowed() != (tc.want == ResultAllow) {
				t.Errorf("Allowed = %v", d.Allowed())
			}
		})
	}
}
