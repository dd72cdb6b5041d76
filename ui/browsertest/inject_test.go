package browsertest

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// domProblems lists what in the current document could run or navigate
// to code: event-handler attributes, script-capable URLs in URL
// attributes, links that are not http(s), scripts other than mcpfed's
// assets, inline styles and scripts, frames, objects, meta refreshes,
// base elements, forms posting elsewhere, images from anywhere but
// mcpfed, https and data:image.
const domProblems = `(() => {
  const bad = [];
  const origin = location.origin;
  const describe = (el) => '<' + el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '>';
  const urlAttrs = ['href', 'src', 'action', 'formaction', 'srcset', 'poster', 'background', 'data', 'xlink:href', 'ping', 'cite', 'manifest', 'srcdoc'];
  const scriptURL = /^(javascript|vbscript|data:text\/html|data:application|data:image\/svg)/;
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      const n = a.name.toLowerCase();
      if (n.startsWith('on')) bad.push(describe(el) + ' has the handler ' + n + '=' + JSON.stringify(a.value));
      if (n === 'style') bad.push(describe(el) + ' has an inline style');
      if (urlAttrs.includes(n)) {
        const v = a.value.replace(/[\u0000-\u0020\u007f]/g, '').toLowerCase();
        const img = el.tagName === 'IMG' && n === 'src' && v.startsWith('data:image/');
        if (scriptURL.test(v) && !img) bad.push(describe(el) + ' ' + n + '=' + JSON.stringify(a.value));
      }
    }
    if (['IFRAME', 'FRAME', 'OBJECT', 'EMBED', 'BASE', 'APPLET'].includes(el.tagName)) bad.push(describe(el) + ' element');
    if (el.tagName === 'STYLE') bad.push('an inline <style> element');
    if (el.tagName === 'META' && el.httpEquiv) bad.push('<meta http-equiv=' + JSON.stringify(el.httpEquiv) + '>');
  }
  for (const a of document.querySelectorAll('a[href], area[href]')) {
    if (a.protocol !== 'http:' && a.protocol !== 'https:') bad.push('link to ' + JSON.stringify(a.getAttribute('href')));
    if (a.origin !== origin && !/\bnoopener\b/.test(a.rel)) bad.push('offsite link without rel=noopener: ' + a.href);
  }
  for (const s of document.scripts) {
    if (!s.src) bad.push('an inline <script>: ' + JSON.stringify(s.textContent.slice(0, 80)));
    else if (!s.src.startsWith(origin + '/ui/assets/')) bad.push('a script from ' + s.src);
  }
  for (const l of document.querySelectorAll('link[href]')) {
    if (!l.href.startsWith(origin + '/')) bad.push('a <link> to ' + l.href);
  }
  for (const f of document.forms) {
    if (new URL(f.action, location.href).origin !== origin) bad.push('a form posting to ' + f.action);
  }
  for (const img of document.images) {
    const u = new URL(img.src, location.href);
    const ok = u.origin === origin || u.protocol === 'https:' || (u.protocol === 'data:' && /^data:image\//i.test(img.src));
    if (!ok) bad.push('an image from ' + JSON.stringify(img.getAttribute('src')));
  }
  return bad;
})()`

// checkDOM fails the test for everything domProblems finds.
func checkDOM(t *testing.T, ctx context.Context, tab *Tab, page string) {
	t.Helper()
	for _, p := range mustRun(t, ctx, tab, "inspect the DOM", chromedp.Evaluate[[]string](domProblems)) {
		t.Errorf("%s: %s", page, p)
	}
}

// fixtureNames are the servers of testdata/inject.json.
func fixtureNames(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "inject.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data struct {
			Servers []struct{ Name string } `json:"servers"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range doc.Data.Servers {
		names = append(names, s.Name)
	}
	return names
}

// TestInjectionFixturesDoNotRun loads every page of the hostile view,
// whose entries carry script tags, event handlers, javascript: and
// data:text/html URLs and quote-breaking strings in every field, and
// search and error pages that reflect such strings. A hook installed
// before each document records any dialog or window.open a payload
// would call. Each page is loaded twice: as served, and with the
// Content-Security-Policy bypassed, so that the escaping itself is
// tested and not only the policy that backs it up. Nothing may run, no
// link may be anything but http(s), no element may carry a handler, the
// console stays clean (a CSP violation is an error there), and the raw
// server.json on each page is the API's byte for byte after parsing.
func TestInjectionFixturesDoNotRun(t *testing.T) {
	t.Parallel()
	payloads := []string{
		`<script>alert("q")</script>`,
		`"><img src=x onerror=alert("q-img")>`,
		`' autofocus onfocus='alert("q-focus")`,
		`javascript:alert("q-js")`,
	}
	type visitCase struct {
		path   string
		status int64 // 0: any status below 500
	}
	var pages []visitCase
	pages = append(pages, visitCase{viewPrefix(hostileView) + "/", 200})
	for _, n := range fixtureNames(t) {
		pages = append(pages, visitCase{serverPath(hostileView, n), 200})
	}
	for _, p := range payloads {
		q := url.QueryEscape(p)
		pages = append(pages,
			visitCase{viewPrefix(hostileView) + "/?q=" + q, 200},
			visitCase{"/?q=" + q + "&status=" + q + "&transport=" + q + "&type=" + q + "&source=" + q, 0},
			visitCase{"/?cursor=" + q, 0},
			visitCase{"/servers/" + url.PathEscape(p), 0},
			visitCase{"/registry/" + url.PathEscape(p) + "/", 0},
		)
	}
	for _, bypass := range []bool{false, true} {
		name := "csp"
		if bypass {
			name = "csp-bypassed"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := setup(t)
			tab := newTab(t, ctx, TabOptions{BypassCSP: bypass})
			for _, pc := range pages {
				resp, err := Run(ctx, tab, chromedp.NavigateResponse(env.server.URL+pc.path))
				if err != nil {
					t.Fatalf("open %s: %v", pc.path, err)
				}
				switch {
				case pc.status != 0 && resp.Status != pc.status:
					t.Errorf("%s: status %d, want %d", pc.path, resp.Status, pc.status)
				case resp.Status >= 500:
					t.Errorf("%s: status %d", pc.path, resp.Status)
				}
				if resp.MimeType != "text/html" {
					t.Errorf("%s: MIME type %q, want text/html", pc.path, resp.MimeType)
				}
				checkDOM(t, ctx, tab, pc.path)
				checkClean(t, ctx, tab, allowErrorStatus(resp.Status))
			}
			for _, n := range fixtureNames(t) {
				visit(t, ctx, tab, serverPath(hostileView, n), 200)
				checkServerPage(t, ctx, tab, hostileView, n)
			}
		})
	}
}

// allowErrorStatus drops the console line Chromium writes for a document
// answered with an error status, when that status was expected.
func allowErrorStatus(status int64) func(chromedp.ConsoleMessage) bool {
	return func(m chromedp.ConsoleMessage) bool {
		return status >= 400 && m.Source == "network" && m.Type == chromedp.ConsoleError &&
			strings.Contains(m.Text, "status of "+strconv.FormatInt(status, 10))
	}
}
