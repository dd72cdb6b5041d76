package curation

import (
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream"
)

// TestMain fails the run if a test leaves a goroutine behind (Set.Run,
// DocumentSource.Run, test servers).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func rec(name, versions, decision string) Record {
	return Record{Decision: store.Decision{ServerName: name, Versions: versions, Decision: decision}}
}

func entry(name, version string) *upstream.Entry {
	return &upstream.Entry{Name: name, Version: version}
}

func TestAdmit(t *testing.T) {
	t.Parallel()
	const a, b, c = "io.github.acme/a", "io.github.acme/b", "io.github.acme/c"
	records := []Record{
		rec(a, "*", Approved),
		rec(a, "1.3.0", Denied),
		rec(b, ">=1.2 <2", Approved),
		rec(b, "1.5.x", Denied),
		rec(c, "*", Denied),
		rec(c, "1.0.0", Approved),
		rec("io.github.acme/only-denied", "1.0.0", Denied),
	}
	rules, errs := Build(records, 1, true)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tests := []struct {
		name, version string
		want          bool
	}{
		{a, "1.0.0", true},
		{a, "1.3.0", false}, // a denial wins over "*"
		{a, "2024.01.01", true},
		{b, "1.2.0", true},
		{b, "1.5.3", false},
		{b, "1.6.0", true},
		{b, "2.0.0", false},
		{b, "1.7.0-rc.1", false}, // an approval's range leaves pre-releases out
		{c, "1.0.0", false},      // denied "*" wins over an exact approval
		{"io.github.acme/only-denied", "2.0.0", false},
		{"io.github.acme/unknown", "1.0.0", false},
	}
	for _, tc := range tests {
		if got := rules.Admit(entry(tc.name, tc.version)); got != tc.want {
			t.Errorf("Admit(%s %s) = %v, want %v", tc.name, tc.version, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name, version string
		want          bool
	}{{a, "9.9.9", true}, {b, "1.7.0-rc.1", false}, {b, "1.5.1-rc.1", true}, {b, "1.5.0-rc.1", false}, {"io.github.acme/only-denied", "2.0.0", false}, {c, "0.1.0", true}} {
		if got := rules.Decided(tc.name, tc.version); got != tc.want {
			t.Errorf("Decided(%s %s) = %v, want %v", tc.name, tc.version, got, tc.want)
		}
	}
	if rules.Generation() != 1 || !rules.Ready() || rules.Len() != len(records) {
		t.Errorf("generation %d ready %v len %d", rules.Generation(), rules.Ready(), rules.Len())
	}
}

// TestNotReadyShowsNothing: until every origin of decisions has been read,
// an approved-only view shows nothing (a denial not yet read must not let
// a version through).
func TestNotReadyShowsNothing(t *testing.T) {
	t.Parallel()
	rules, _ := Build([]Record{rec("io.github.acme/a", "*", Approved)}, 1, false)
	if rules.Admit(entry("io.github.acme/a", "1.0.0")) {
		t.Error("a rule not ready admitted an entry")
	}
	var none *Rules
	if none.Admit(entry("io.github.acme/a", "1.0.0")) || none.Decided("io.github.acme/a", "1.0.0") || none.Ready() || none.Generation() != 0 {
		t.Error("a nil rule admits or decides")
	}
}

// TestUnreadableRecords: a record another version of mcpfed wrote, or one
// written into the database by hand, never shows more than was written.
func TestUnreadableRecords(t *testing.T) {
	t.Parallel()
	rules, errs := Build([]Record{
		rec("io.github.acme/a", "*", Approved),
		rec("io.github.acme/a", "^1.2", Denied), // unreadable denial: every version
		rec("io.github.acme/b", "~1.2", Approved),
		rec("io.github.acme/c", "*", "maybe"),
		{Decision: store.Decision{ServerName: "io.github.acme/d", Versions: "*", Decision: Approved}, Document: "reviews"},
		{Decision: store.Decision{ServerName: "io.github.acme/d", Versions: "~1", Decision: "rejected"}, Document: "reviews"},
	}, 1, true)
	if len(errs) != 4 {
		t.Fatalf("errors %v", errs)
	}
	for _, name := range []string{"io.github.acme/a", "io.github.acme/b", "io.github.acme/c", "io.github.acme/d"} {
		if rules.Admit(entry(name, "1.2.0")) {
			t.Errorf("%s admitted", name)
		}
	}
	if !strings.Contains(errs[3].Error(), `decisions source "reviews"`) {
		t.Errorf("the error does not name the document: %v", errs[3])
	}
}

func TestValidateDecision(t *testing.T) {
	t.Parallel()
	good := store.Decision{ServerName: "io.github.acme/a", Versions: ">=1.2    <2", Decision: Approved, Note: "ok\nline two"}
	if err := ValidateDecision(&good); err != nil || good.Versions != ">=1.2 <2" {
		t.Fatalf("%v %q", err, good.Versions)
	}
	tests := []struct {
		d    store.Decision
		want []string
	}{
		{store.Decision{}, []string{"serverName: required", "versions: invalid versions: empty", `decision: "" is not approved or denied`}},
		{store.Decision{ServerName: "noslash", Versions: "*", Decision: Denied}, []string{`serverName: "noslash" must be namespace/name`}},
		{store.Decision{ServerName: "a/b/c", Versions: "*", Decision: Denied}, []string{"exactly one slash"}},
		{store.Decision{ServerName: "io_x/b", Versions: "*", Decision: Denied}, []string{"has a character"}},
		{store.Decision{ServerName: "io.x/" + strings.Repeat("b", 200), Versions: "*", Decision: Denied}, []string{"3 to 200 characters"}},
		{store.Decision{ServerName: "io.x/b", Versions: "*", Decision: "Approved"}, []string{`decision: "Approved" is not approved or denied`}},
		{store.Decision{ServerName: "io.x/b", Versions: "*", Decision: Denied, Note: strings.Repeat("n", MaxNoteLength+1)}, []string{"note: longer than"}},
		{store.Decision{ServerName: "io.x/b", Versions: "*", Decision: Denied, Note: "bell\a"}, []string{"note: has a control character"}},
		{store.Decision{ServerName: "io.x/b", Versions: "*", Decision: Denied, Note: "\xff"}, []string{"note: is not valid UTF-8"}},
	}
	for _, tc := range tests {
		err := ValidateDecision(&tc.d)
		if err == nil {
			t.Errorf("%+v accepted", tc.d)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %v does not say %q", tc.d, err, w)
			}
		}
	}
}

// BenchmarkAdmit: the predicate costs a map lookup for a server without
// decisions and a few comparisons for one with.
func BenchmarkAdmit(b *testing.B) {
	var records []Record
	for i := range 1000 {
		name := "io.github.acme/s" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
		records = append(records, rec(name, ">=1.2 <2", Approved), rec(name, "1.5.x", Denied))
	}
	rules, _ := Build(records, 1, true)
	decided, undecided := entry(records[0].ServerName, "1.6.0"), entry("io.github.other/x", "1.0.0")
	b.ResetTimer()
	for range b.N {
		rules.Admit(decided)
		rules.Admit(undecided)
	}
}
