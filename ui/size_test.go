package ui

import (
	"io/fs"
	"testing"

	"github.com/mcpfed/mcpfed"
)

// maxFirstLoad is the budget for a first load of the root page,
// icons excluded: the page, its stylesheet, its script and the favicon.
const maxFirstLoad = 100 << 10

// TestFirstLoadSize: the root page of the built-in catalogue (a full
// page of 30 servers) and every asset it loads fit the budget
// uncompressed.
func TestFirstLoadSize(t *testing.T) {
	t.Parallel()
	var sources []fixedSource
	for _, name := range mcpfed.BuiltinSources {
		data, err := fs.ReadFile(mcpfed.Builtin(), name+".json")
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, parseSource(t, name, data))
	}
	f := newFixture(t, sources...)
	rec := f.get(t, "/")
	if got := len(names(parse(t, rec.Body.Bytes()))); got != 30 {
		t.Fatalf("%d servers on the root page, want a full page", got)
	}
	total := rec.Body.Len()
	sizes := map[string]int{"/": rec.Body.Len()}
	for _, u := range []string{f.ui.assets.urls.CSS, f.ui.assets.urls.JS, f.ui.assets.urls.Icon} {
		a := f.get(t, u, "Accept", "*/*")
		sizes[u] = a.Body.Len()
		total += a.Body.Len()
	}
	gz := len(f.get(t, "/", "Accept-Encoding", "gzip").Body.Bytes())
	for _, u := range []string{f.ui.assets.urls.CSS, f.ui.assets.urls.JS, f.ui.assets.urls.Icon} {
		gz += f.get(t, u, "Accept", "*/*", "Accept-Encoding", "gzip").Body.Len()
	}
	t.Logf("first load: %d bytes (%d gzipped) %v", total, gz, sizes)
	if total > maxFirstLoad {
		t.Errorf("first load is %d bytes, over the %d budget: %v", total, maxFirstLoad, sizes)
	}
}
