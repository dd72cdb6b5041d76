package filter

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

// entry builds an indexed entry with ToolHive tags, transports and package types.
func entry(t *testing.T, name, status string, tags []string, pkgType, transport string) *upstream.Entry {
	t.Helper()
	server := map[string]any{
		"name": name, "version": "1.0.0", "description": "d",
		"packages": []any{map[string]any{"registryType": pkgType, "identifier": "x", "transport": map[string]any{"type": transport}}},
		"_meta": map[string]any{upstream.PublisherMetaKey: map[string]any{
			upstream.ToolHiveNamespace: map[string]any{"x": map[string]any{"status": status, "tags": tags}},
		}},
	}
	raw, err := json.Marshal(server)
	if err != nil {
		t.Fatal(err)
	}
	e, err := upstream.NewEntry(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	upstream.Finalize([]*upstream.Entry{e}, time.Time{})
	return e
}

func TestFilterMatch(t *testing.T) {
	t.Parallel()
	db := entry(t, "io.github.acme/db", "Active", []string{"Database", "sql"}, "oci", "stdio")
	old := entry(t, "io.github.acme/deprecated-thing", "Deprecated", []string{"beta"}, "npm", "streamable-http")
	other := entry(t, "com.example/tool", "Active", nil, "pypi", "sse")
	tests := []struct {
		name string
		spec Spec
		want []bool // db, old, other
	}{
		{"empty admits all", Spec{}, []bool{true, true, true}},
		{"name include", Spec{Names: IncludeExclude{Include: []string{"io.github.*/*"}}}, []bool{true, true, false}},
		{"name exclude", Spec{Names: IncludeExclude{Exclude: []string{"*/deprecated-*"}}}, []bool{true, false, true}},
		{"star does not cross slash", Spec{Names: IncludeExclude{Include: []string{"io.github.*"}}}, []bool{false, false, false}},
		{"tags include ignores case", Spec{Tags: IncludeExclude{Include: []string{"DATABASE"}}}, []bool{true, false, false}},
		{"tags exclude", Spec{Tags: IncludeExclude{Exclude: []string{"beta"}}}, []bool{true, false, true}},
		{"status", Spec{Status: []string{"active"}}, []bool{true, false, true}},
		{"status any case", Spec{Status: []string{"Deprecated"}}, []bool{false, true, false}},
		{"transports", Spec{Transports: []string{"sse", "stdio"}}, []bool{true, false, true}},
		{"package types", Spec{PackageTypes: []string{"npm"}}, []bool{false, true, false}},
		{"all parts together", Spec{Names: IncludeExclude{Include: []string{"io.github.acme/*"}}, Status: []string{"active"}, PackageTypes: []string{"oci"}}, []bool{true, false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := New(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range []*upstream.Entry{db, old, other} {
				if got := f.Match(e); got != tc.want[i] {
					t.Errorf("Match(%s) = %v, want %v", e.Name, got, tc.want[i])
				}
			}
		})
	}
	var nilFilter *Filter
	if !nilFilter.Match(db) || !nilFilter.MatchName("a/b") {
		t.Error("a nil filter must admit everything")
	}
}

func TestFilterValidation(t *testing.T) {
	t.Parallel()
	_, err := New(Spec{Names: IncludeExclude{Include: []string{"[bad", ""}}, Status: []string{"retired", ""}})
	if err == nil {
		t.Fatal("invalid spec accepted")
	}
	for _, want := range []string{`bad pattern "[bad"`, "empty pattern", `"retired" is not`, `"" is not`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestReservations(t *testing.T) {
	t.Parallel()
	r, err := NewReservations(map[string][]string{"acme": {"com.acme/*"}, "team": {"io.github.team/*", "com.acme/special"}}, []string{"acme", "team", "public"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		source, name string
		want         bool
	}{
		{"acme", "com.acme/tool", true},
		{"public", "com.acme/tool", false},
		{"team", "com.acme/tool", false},
		{"public", "io.github.team/x", false},
		{"team", "io.github.team/x", true},
		{"public", "com.example/x", true},
		// Overlapping patterns: both claimants may serve it, others may not.
		{"acme", "com.acme/special", true},
		{"team", "com.acme/special", true},
		{"public", "com.acme/special", false},
	}
	for _, tc := range tests {
		if got := r.Admits(tc.source, tc.name); got != tc.want {
			t.Errorf("Admits(%s, %s) = %v, want %v", tc.source, tc.name, got, tc.want)
		}
	}
	if _, err := NewReservations(map[string][]string{"a": {"x/*"}, "b": {"x/*"}}, []string{"a", "b"}); err == nil || !strings.Contains(err.Error(), `already reserved by source "a"`) {
		t.Errorf("duplicate reservation: %v", err)
	}
	var none *Reservations
	if !none.Admits("a", "x/y") {
		t.Error("nil reservations must admit")
	}
}

func TestReservationsAmong(t *testing.T) {
	t.Parallel()
	r, err := NewReservations(map[string][]string{"acme": {"com.acme/*"}, "team": {"io.github.team/*", "com.acme/special"}}, []string{"acme", "team", "public"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		among        []string
		source, name string
		want         bool
	}{
		// acme is outside the view: its pattern bars nobody in it.
		{[]string{"team", "public"}, "public", "com.acme/tool", true},
		{[]string{"team", "public"}, "public", "com.acme/special", false},
		{[]string{"team", "public"}, "public", "io.github.team/x", false},
		// team is outside: only acme's pattern holds.
		{[]string{"public", "acme"}, "public", "io.github.team/x", true},
		{[]string{"public", "acme"}, "public", "com.acme/special", false},
		{[]string{"public", "acme"}, "acme", "com.acme/special", true},
		// Every source: the same as the whole set.
		{[]string{"acme", "team", "public"}, "public", "com.acme/tool", false},
		{nil, "public", "com.acme/tool", true},
	}
	for _, tc := range tests {
		if got := r.Among(tc.among).Admits(tc.source, tc.name); got != tc.want {
			t.Errorf("Among(%v).Admits(%s, %s) = %v, want %v", tc.among, tc.source, tc.name, got, tc.want)
		}
	}
	if all := r.Among([]string{"public", "team", "acme"}); all != r {
		t.Error("Among every source should return the set itself")
	}
	var none *Reservations
	if none.Among([]string{"a"}) != nil {
		t.Error("nil reservations among any sources must stay nil")
	}
}
