package browsertest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestHarnessCatchesWhatItLooksFor is the harness's own negative control:
// a page that does everything the catalogue must not (an executed event
// handler, a javascript: link, an inline script, a script from another
// origin, an uncaught exception) is caught by each check.
func TestHarnessCatchesWhatItLooksFor(t *testing.T) {
	t.Parallel()
	ctx := setup(t)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>bad</title>
<img src="data:," onerror="alert('handler')">
<a href="javascript:alert('link')">x</a>
<script>window.open('https://example.com/'); throw new Error('boom')</script>
<script src="https://cdn.example/lib.js"></script>
<img src="https://icons.example/a.png">`))
	}))
	t.Cleanup(bad.Close)
	tab, err := env.browser.NewTab(ctx, TabOptions{Origin: bad.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tab.Close)
	if err := Do(ctx, tab, chromedp.Navigate(bad.URL)); err != nil {
		t.Fatal(err)
	}
	pwned, err := tab.Pwned(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pwned, "alert(handler)") || !slices.Contains(pwned, "open(https://example.com/)") {
		t.Errorf("the hook recorded %q, want alert(handler) and open(https://example.com/)", pwned)
	}
	dom, err := Run(ctx, tab, chromedp.Evaluate[[]string](domProblems))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"has the handler onerror", `link to "javascript:alert('link')"`, "an inline <script>", "a script from https://cdn.example/lib.js"} {
		if !slices.ContainsFunc(dom, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("the DOM check missed %q: %q", want, dom)
		}
	}
	_, _ = Run(ctx, tab, chromedp.Evaluate[chromedp.Void](`0`))
	problems := strings.Join(tab.Problems(nil), "\n")
	for _, want := range []string{"exception: Uncaught Error: boom", "request for another origin: Script https://cdn.example/lib.js"} {
		if !strings.Contains(problems, want) {
			t.Errorf("Problems missed %q:\n%s", want, problems)
		}
	}
	if strings.Contains(problems, "icons.example") {
		t.Errorf("an image of another origin is a problem; it should get the placeholder:\n%s", problems)
	}
	if off := tab.Offsite(); !slices.ContainsFunc(off, func(r Request) bool { return r.URL == "https://icons.example/a.png" }) {
		t.Errorf("the icon request was not recorded: %v", off)
	}
}

// TestPolicyBlocksWhatTheBypassLetsRun checks the two modes the injection
// test loads pages in: on a catalogue page as served, the page's policy
// blocks an inline handler (and says so on the console); with the policy
// bypassed the same handler runs and the hook records it. So a payload
// that escaped the escaping would be caught in the bypassed mode.
func TestPolicyBlocksWhatTheBypassLetsRun(t *testing.T) {
	t.Parallel()
	const probe = `document.body.insertAdjacentHTML('beforeend', '<img src="data:," onerror="alert(\'probe\')">')`
	for _, bypass := range []bool{false, true} {
		t.Run(map[bool]string{false: "csp", true: "csp-bypassed"}[bypass], func(t *testing.T) {
			t.Parallel()
			ctx := setup(t)
			tab := newTab(t, ctx, TabOptions{BypassCSP: bypass})
			visit(t, ctx, tab, "/", 200)
			checkClean(t, ctx, tab, nil)
			mustRun(t, ctx, tab, "probe", chromedp.Evaluate[chromedp.Void](probe))
			ran, err := Run(ctx, tab, chromedp.Poll[bool](`window.__pwned.includes('alert(probe)')`,
				chromedp.WithPollingTimeout(2*time.Second)))
			if bypass && (err != nil || !ran) {
				t.Errorf("with the policy bypassed the probe's handler did not run: %v", err)
			}
			if !bypass {
				if err == nil {
					t.Error("the page's policy let an inline handler run")
				}
				problems := strings.Join(tab.Problems(nil), "\n")
				if !strings.Contains(problems, "Content Security Policy") {
					t.Errorf("the blocked handler left no CSP error on the console: %q", problems)
				}
			}
		})
	}
}
