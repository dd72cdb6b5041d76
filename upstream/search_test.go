package upstream

import (
	"os"
	"slices"
	"testing"
	"time"
)

// TestSearchIndexAgreesWithEntries: jumping through the search index finds
// exactly the entries a scan of every entry finds, for all versions and
// for latest versions only.
func TestSearchIndexAgreesWithEntries(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../testdata/toolhive/registry.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	extra, err := Parse(serverList("io.github.stacklok/github", "1.0.0-rc.1:active:false", "0.9.0:deleted:false"))
	if err != nil {
		t.Fatal(err)
	}
	entries := append(doc.Entries, extra.Entries...)
	Finalize(entries, doc.LastUpdated)
	snap, err := NewSnapshot("s", entries, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{"git", "github", "database", "mcp", "a", "io.github.stacklok/", "zzz-none", "server\x00"[:6], "é"} {
		var want, got []int
		for i, e := range snap.Entries() {
			if e.MatchesSearch(needle) {
				want = append(want, i)
			}
		}
		for i := snap.NextMatch(0, needle); i < snap.Len(); i = snap.NextMatch(i+1, needle) {
			got = append(got, i)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: index finds %v, scan finds %v", needle, got, want)
		}
		var wantL, gotL []int
		for i := range snap.LatestCount() {
			if snap.LatestAt(i).MatchesSearch(needle) {
				wantL = append(wantL, i)
			}
		}
		for i := snap.NextLatestMatch(0, needle); i < snap.LatestCount(); i = snap.NextLatestMatch(i+1, needle) {
			gotL = append(gotL, i)
		}
		if !slices.Equal(gotL, wantL) {
			t.Errorf("%q latest: index finds %v, scan finds %v", needle, gotL, wantL)
		}
	}
}
