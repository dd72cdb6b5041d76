package upstream

import (
	"encoding/json"
	"testing"
)

func TestEntryClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		meta   string // mcpfed's publisher-provided block, "" for none
		view   map[string]any
		admits bool
	}{
		{"no claims: any view", ``, nil, true},
		{"empty claims: any view", `{"authzClaims":{}}`, nil, true},
		{"claims: an anonymous view", `{"authzClaims":{"groups":"team-a"}}`, nil, false},
		{"claims: the view demands them", `{"authzClaims":{"groups":"team-a"}}`, map[string]any{"groups": "team-a"}, true},
		{"claims: the view demands them and more", `{"authzClaims":{"groups":"team-a"}}`, map[string]any{"groups": "team-a", "org": "acme"}, true},
		{"claims: a one-value list", `{"authzClaims":{"groups":"team-a"}}`, map[string]any{"groups": []any{"team-a"}}, true},
		{"claims: the view admits either of two", `{"authzClaims":{"groups":"team-a"}}`, map[string]any{"groups": []any{"team-a", "team-b"}}, false},
		{"claims: another value", `{"authzClaims":{"groups":"team-a"}}`, map[string]any{"groups": "team-b"}, false},
		{"claims: another claim", `{"authzClaims":{"groups":"team-a"}}`, map[string]any{"org": "team-a"}, false},
		{"two values needed: no view claim guarantees both", `{"authzClaims":{"groups":["a","b"]}}`, map[string]any{"groups": "a"}, false},
		{"one value written as a list", `{"authzClaims":{"groups":["a","a"]}}`, map[string]any{"groups": "a"}, true},
		{"invalid claims hide the entry", `{"authzClaims":{"groups":5}}`, map[string]any{"groups": "5"}, false},
		{"invalid block hides the entry", `"nope"`, map[string]any{"groups": "a"}, false},
		{"a list holding a number", `{"authzClaims":{"groups":["a",1]}}`, map[string]any{"groups": "a"}, false},
		{"null claims hide the entry", `{"authzClaims":null}`, map[string]any{"groups": "a"}, false},
		{"an empty list hides the entry", `{"authzClaims":{"groups":[]}}`, map[string]any{"groups": "a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			server := map[string]any{"name": "com.example/x", "version": "1.0.0", "description": "x"}
			if tt.meta != "" {
				server["_meta"] = map[string]any{PublisherMetaKey: map[string]any{MCPFedNamespace: json.RawMessage(tt.meta)}}
			}
			raw, _ := json.Marshal(server)
			e, err := NewEntry(raw, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Claims.GuaranteedBy(tt.view); got != tt.admits {
				t.Errorf("GuaranteedBy(%v) = %t, want %t (claims %+v)", tt.view, got, tt.admits, e.Claims)
			}
		})
	}
}
