package browsertest

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
)

// screenshotDir is where -update writes the screenshots the README shows.
var screenshotDir = filepath.Join("..", "..", "docs", "screenshots")

// TestScreenshots takes the root catalogue and a server page at a phone's
// width (375 px) and a desktop's (1280 px), light and dark, checks that
// neither scrolls sideways, and writes the images as test output
// (t.ArtifactDir: kept with `go test -artifacts -outputdir DIR`); the light
// ones go to docs/screenshots with -update. Icons of other origins show
// the harness's placeholder: the browser has no network.
func TestScreenshots(t *testing.T) {
	t.Parallel()
	pages := []struct{ name, path string }{
		{"catalogue", "/"},
		{"server", serverPath("", airtable)},
	}
	sizes := []struct {
		width, height int64
		mobile        bool
	}{
		{375, 812, true},
		{1280, 900, false},
	}
	for _, p := range pages {
		for _, s := range sizes {
			for _, dark := range []bool{false, true} {
				name := p.name + "-" + strconv.FormatInt(s.width, 10)
				if dark {
					name += "-dark"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					ctx := setup(t)
					tab := newTab(t, ctx, TabOptions{Width: s.width, Height: s.height, Mobile: s.mobile, DarkMode: dark})
					visit(t, ctx, tab, p.path, 200)
					type widths struct{ Scroll, Client int64 }
					w := mustRun(t, ctx, tab, "widths", chromedp.Evaluate[widths](
						`({Scroll: document.documentElement.scrollWidth, Client: document.documentElement.clientWidth})`))
					if w.Scroll > w.Client {
						t.Errorf("%s at %d px scrolls sideways: the page is %d px wide", p.path, s.width, w.Scroll)
					}
					if p.path == "/" {
						// The budget: the first load of the root page
						// under 100 KB on the wire, icons excluded.
						size := mustRun(t, ctx, tab, "transfer size", chromedp.Evaluate[int64](`(() => {
  let n = performance.getEntriesByType('navigation')[0].transferSize;
  for (const r of performance.getEntriesByType('resource')) if (r.name.startsWith(location.origin + '/')) n += r.transferSize;
  return n;
})()`))
						if size <= 0 || size > 100<<10 {
							t.Errorf("the first load of / transferred %d bytes, want (0, 100 KiB]", size)
						}
						t.Logf("first load of / at %d px: %d bytes", s.width, size)
					}
					img := mustRun(t, ctx, tab, "screenshot", chromedp.CaptureScreenshot())
					cfg, err := png.DecodeConfig(bytes.NewReader(img))
					if err != nil {
						t.Fatalf("the screenshot is not a PNG: %v", err)
					}
					if int64(cfg.Width) != s.width {
						t.Errorf("the screenshot is %d px wide, want %d", cfg.Width, s.width)
					}
					checkClean(t, ctx, tab, nil)
					out := filepath.Join(t.ArtifactDir(), name+".png")
					if err := os.WriteFile(out, img, 0o644); err != nil {
						t.Fatal(err)
					}
					t.Logf("wrote %s", out)
					if *update && !dark {
						if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(filepath.Join(screenshotDir, name+".png"), img, 0o644); err != nil {
							t.Fatal(err)
						}
					}
				})
			}
		}
	}
}
