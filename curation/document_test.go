package curation

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mcpfed/mcpfed/store"
)

func TestParseDocument(t *testing.T) {
	t.Parallel()
	yamlDoc := `# reviewed by pull request
decisions:
  - serverName: io.github.acme/weather
    versions: ">=1.2   <2"
    decision: approved
    note: reviewed in PLAT-123
    who: alice
  - {serverName: io.github.acme/weather, versions: 1.5.x, decision: denied}
`
	got, err := ParseDocument([]byte(yamlDoc))
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Decision{
		{ServerName: "io.github.acme/weather", Versions: ">=1.2 <2", Decision: Approved, Note: "reviewed in PLAT-123", Who: "alice"},
		{ServerName: "io.github.acme/weather", Versions: "1.5.x", Decision: Denied},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	jsonDoc := `{"decisions":[{"serverName":"io.github.acme/a","versions":"*","decision":"approved"}]}`
	if got, err := ParseDocument([]byte(jsonDoc)); err != nil || len(got) != 1 || got[0].Versions != "*" {
		t.Errorf("JSON: %+v %v", got, err)
	}
	for _, empty := range []string{"decisions: []", "decisions:", `{"decisions": []}`} {
		if got, err := ParseDocument([]byte(empty)); err != nil || len(got) != 0 {
			t.Errorf("%q: %+v %v", empty, got, err)
		}
	}
}

// TestDocumentProblems: every problem is refused, with its line and the
// record's position, so a reviewer finds it in the pull request.
func TestDocumentProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"empty", "", []string{"empty"}},
		{"not a mapping", "[1, 2]", []string{"line 1: expects a mapping"}},
		{"no key", "other: 1\n", []string{`line 1: unknown key "other"`}},
		{"missing key", "{}\n", []string{"no decisions key"}},
		{"not a list", "decisions: {a: 1}\n", []string{"line 1: decisions: expects a list"}},
		{"syntax", "decisions: [\n", []string{"invalid decisions document"}},
		{"typo", "decisions:\n  - serverName: io.github.a/b\n    version: '*'\n    decision: approved\n", []string{
			`line 3: decisions[0]: unknown key "version" (serverName, versions, decision, note or who)`}},
		{"missing fields", "decisions:\n  - serverName: io.github.a/b\n", []string{"line 2: decisions[0]: versions is required"}},
		{"bad values", "decisions:\n  - {serverName: nope, versions: '>=1.2 <', decision: maybe}\n", []string{
			`line 2: decisions[0]: serverName: "nope" must be namespace/name`,
			`line 2: decisions[0]: versions: invalid versions: ">=1.2 <": "<" needs a version after it`,
			`line 2: decisions[0]: decision: "maybe" is not approved or denied`}},
		{"not a string", "decisions:\n  - {serverName: io.github.a/b, versions: [1], decision: approved}\n", []string{"line 2: decisions[0].versions: expects a string"}},
		{"twice", "decisions:\n  - {serverName: io.github.a/b, versions: '*', decision: approved}\n  - {serverName: io.github.a/b, versions: ' * ', decision: denied}\n",
			[]string{`line 3: decisions[1]: io.github.a/b "*" is decided twice (first on line 2)`}},
		{"alias", "decisions:\n  - &x {serverName: io.github.a/b, versions: '*', decision: approved}\n  - *x\n", []string{"line 3: decisions[1]: YAML aliases are not accepted"}},
		{"alias list", "x: &l []\ndecisions: *l\n", []string{`unknown key "x"`, "YAML aliases are not accepted"}},
		{"duplicate key", "decisions: []\ndecisions: []\n", []string{"line 2: decisions: given twice (first on line 1)"}},
		{"field twice", "decisions:\n  - {serverName: io.github.a/b, versions: '*', decision: approved, decision: denied}\n", []string{"decisions[0].decision: given twice"}},
		{"who", "decisions:\n  - {serverName: io.github.a/b, versions: '*', decision: approved, who: \"a\\u0007\"}\n", []string{"decisions[0].who: has a control character"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDocument([]byte(tc.doc))
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if !errors.Is(err, ErrDocument) {
				t.Errorf("not ErrDocument: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\ndoes not say %q", err, w)
				}
			}
		})
	}
}

// TestDocumentBounds: a document of many bad records reports a bounded
// number of problems, and one of too many records is refused whole.
func TestDocumentBounds(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("decisions:\n")
	for range 1000 {
		b.WriteString("  - {serverName: bad}\n")
	}
	_, err := ParseDocument([]byte(b.String()))
	if err == nil || len(flatten(errors.Unwrap(err))) > maxDocumentErrors+1 || strings.Count(err.Error(), "line ") > maxDocumentErrors {
		t.Errorf("%d problems reported", strings.Count(fmt.Sprint(err), "line "))
	}
	b.Reset()
	b.WriteString("decisions:\n")
	for range MaxDocumentDecisions + 1 {
		b.WriteString("- 1\n")
	}
	if _, err := ParseDocument([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("too many records: %v", err)
	}
}

// FuzzParseDocument: whatever a decisions source holds, parsing answers
// decisions that validate, or an ErrDocument, never a panic.
func FuzzParseDocument(f *testing.F) {
	for _, s := range []string{
		"decisions: []", "decisions:\n  - {serverName: io.github.a/b, versions: '*', decision: approved}\n",
		`{"decisions":[{"serverName":"a/b","versions":">=1 <2","decision":"denied","note":"x"}]}`,
		"decisions: &a [*a]", "- 1", "decisions: [{<<: {serverName: a/b}}]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		decs, err := ParseDocument([]byte(doc))
		if err != nil {
			if !errors.Is(err, ErrDocument) {
				t.Fatalf("not ErrDocument: %v", err)
			}
			return
		}
		for _, d := range decs {
			if err := ValidateDecision(&d); err != nil {
				t.Fatalf("returned an invalid decision %+v: %v", d, err)
			}
		}
	})
}
