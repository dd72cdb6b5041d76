package install

import (
	"reflect"
	"testing"
)

func TestShellQuoteRoundTrips(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", "-y", "@scope/pkg@1.2.3", "pkg==0.5.0", "a b", "it's", "''", `"double"`,
		`back\slash`, "$HOME", "${env:HOME}", "$(rm -rf ~)", "`id`", "a;b|c&d", "<VAR>", "~user",
		"*", "?", "[x]", "#comment", "x=y z", "tab\there", "{\"json\":['x']}", "ünïcödé", "!bang",
		"--header=K: V", "'\"'\"'",
	} {
		q := shellQuote(s)
		got := argvOf(t, "x "+q)
		if want := []string{"x", s}; !reflect.DeepEqual(got, want) {
			t.Errorf("shellQuote(%q) = %s splits to %q", s, q, got)
		}
	}
}

func TestShellLineAssignments(t *testing.T) {
	t.Parallel()
	line := shellLine([]string{"A=1", "B=<b c>", "C=it's"}, []string{"npx", "-y", "p@1"})
	if want := `A=1 B='<b c>' C='it'\''s' npx -y p@1`; line != want {
		t.Fatalf("got  %s\nwant %s", line, want)
	}
	got := argvOf(t, line)
	if want := []string{"A=1", "B=<b c>", "C=it's", "npx", "-y", "p@1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("split %q", got)
	}
}

func TestSplitShellRejectsWhatAShellWouldInterpret(t *testing.T) {
	t.Parallel()
	for _, line := range []string{"a;b", "a $x", "a `x`", "a | b", "a > f", "~/x", "a 'open", `a "open`, "a *", "a #c", `a "$x"`} {
		if _, err := splitShell(line); err == nil {
			t.Errorf("splitShell(%q) accepted it", line)
		}
	}
}
