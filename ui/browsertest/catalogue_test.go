package browsertest

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// resultNames are the data-name of the listed servers, in page order.
const resultNames = `Array.from(document.querySelectorAll('#results > li.server'), li => li.dataset.name)`

// pageState is what the catalogue shows: the results, the count, and
// whether there is a next page.
type pageState struct {
	Names   []string `json:"names"`
	Count   string   `json:"count"`
	HasNext bool     `json:"hasNext"`
	Links   []string `json:"links"`
}

const readPage = `({
  names: ` + resultNames + `,
  count: (document.getElementById('count') || {}).textContent || '',
  hasNext: !!document.querySelector('a#next[rel~="next"][href]'),
  links: Array.from(document.querySelectorAll('#results > li.server a.server-link'), a => a.getAttribute('href')),
})`

func readCatalogue(t *testing.T, ctx context.Context, tab *Tab) pageState {
	t.Helper()
	return mustRun(t, ctx, tab, "read the catalogue", chromedp.Evaluate[pageState](readPage))
}

// TestCatalogueRootPagesThroughEveryServer: the root page lists servers
// with the count shown, and following #next from page to page shows
// every server of the root view exactly once, as the API lists them.
// Runs with and without JavaScript: the pages must not need it.
func TestCatalogueRootPagesThroughEveryServer(t *testing.T) {
	t.Parallel()
	for _, js := range []bool{true, false} {
		name := "javascript"
		if !js {
			name = "no-javascript"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := setup(t)
			tab := newTab(t, ctx, TabOptions{})
			if !js {
				mustRun(t, ctx, tab, "disable scripts", chromedp.Steps(call(emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})))
			}
			want := latestNames(t, ctx, "")
			visit(t, ctx, tab, "/", 200)
			mustRun(t, ctx, tab, "search form", chromedp.Steps(
				chromedp.WaitReady(chromedp.CSS(`form#search[role="search"][method="get"] input#q[name="q"]`)),
			))

			var seen []string
			for page := 1; ; page++ {
				st := readCatalogue(t, ctx, tab)
				if len(st.Names) == 0 {
					t.Fatalf("page %d lists no servers", page)
				}
				if strings.TrimSpace(st.Count) == "" {
					t.Errorf("page %d: #count is empty", page)
				}
				for i, n := range st.Names {
					if slices.Contains(seen, n) {
						t.Errorf("page %d: %s was listed on an earlier page", page, n)
					}
					if i < len(st.Links) && st.Links[i] != serverPath("", n) {
						t.Errorf("page %d: %s links to %q, want %q", page, n, st.Links[i], serverPath("", n))
					}
				}
				if len(st.Links) != len(st.Names) {
					t.Errorf("page %d: %d servers but %d a.server-link", page, len(st.Names), len(st.Links))
				}
				seen = append(seen, st.Names...)
				if js {
					checkClean(t, ctx, tab, nil)
				}
				if !st.HasNext {
					break
				}
				if page == 50 {
					t.Fatal("still a next page after 50 pages")
				}
				follow(t, ctx, tab, "next page", chromedp.Click(chromedp.ID("next")), 200)
				if u := location(t, ctx, tab); u.Query().Get("cursor") == "" {
					t.Errorf("page %d: %s has no cursor", page+1, u)
				}
			}
			if !slices.Equal(sorted(seen), sorted(want)) {
				t.Errorf("the pages listed %d servers, the API %d\nmissing: %v\nextra: %v",
					len(seen), len(want), minus(want, seen), minus(seen, want))
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestSourcesPage: /sources shows a row per source of the view.
func TestSourcesPage(t *testing.T) {
	t.Parallel()
	ctx := setup(t)
	tab := newTab(t, ctx, TabOptions{})
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/sources", []string{"toolhive", "official-seed"}},
		{viewPrefix(hostileView) + "/sources", []string{"hostile"}},
	} {
		visit(t, ctx, tab, c.path, 200)
		rows := mustRun(t, ctx, tab, "sources", chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll('table#sources tr[data-source]'), tr => tr.dataset.source)`))
		for _, w := range c.want {
			if !slices.Contains(rows, w) {
				t.Errorf("%s: rows %v, want %s among them", c.path, rows, w)
			}
		}
		checkDOM(t, ctx, tab, c.path)
		checkClean(t, ctx, tab, nil)
	}
}
