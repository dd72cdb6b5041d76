package upstream

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// serverList builds a ServerList document: each item "version:status:isLatest".
func serverList(name string, items ...string) []byte {
	var parts []string
	for i, it := range items {
		f := strings.Split(it, ":")
		parts = append(parts, fmt.Sprintf(`{"server":{"name":%q,"version":%q,"description":"d"},"_meta":{%q:{"status":%q,"publishedAt":"2025-01-0%dT00:00:00Z","isLatest":%s}}}`,
			name, f[0], OfficialMetaKey, f[1], i+1, f[2]))
	}
	return []byte(`{"servers":[` + strings.Join(parts, ",") + `]}`)
}

// TestLatestSkipsDeletedVersions follows the official registry: the latest
// is the highest version that is not deleted; if all are, the highest one.
func TestLatestSkipsDeletedVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		items     []string
		recompute bool
		want      string
	}{
		{"highest active", []string{"1.0.0:active:false", "2.0.0:active:false"}, true, "2.0.0"},
		{"highest is deleted", []string{"1.0.0:active:false", "2.0.0:deleted:false"}, true, "1.0.0"},
		{"deprecated still counts", []string{"1.0.0:active:false", "2.0.0:deprecated:false"}, true, "2.0.0"},
		{"all deleted", []string{"1.0.0:deleted:false", "2.0.0:deleted:false"}, true, "2.0.0"},
		{"upstream flag kept", []string{"1.0.0:active:true", "2.0.0:active:false"}, false, "1.0.0"},
		{"upstream flag recomputed for a mirror", []string{"1.0.0:active:true", "2.0.0:active:false"}, true, "2.0.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Parse(serverList("com.example/x", tc.items...))
			if err != nil {
				t.Fatal(err)
			}
			snap, err := BuildSnapshot("s", doc.Entries, time.Unix(0, 0), SnapshotOptions{RecomputeLatest: tc.recompute})
			if err != nil {
				t.Fatal(err)
			}
			if got := snap.Latest("com.example/x").Version; got != tc.want {
				t.Errorf("latest = %s, want %s", got, tc.want)
			}
			marked := 0
			for _, e := range snap.Entries() {
				if e.IsLatest {
					marked++
				}
			}
			if marked != 1 {
				t.Errorf("%d versions marked latest", marked)
			}
		})
	}
}
