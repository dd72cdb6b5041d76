package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mcpfed/mcpfed/mcpfedtest"
)

var update = flag.Bool("update", false, "write the screenshots to docs/screenshots")

// The one mcpfed and the one browser every test uses (tabs are per test);
// nil with skipReason set when no browser is installed.
var (
	env        *harness
	skipReason string
)

type harness struct {
	browser *Browser
	server  *mcpfedtest.Process
	// tokens of the static bearer tokens the configuration defines.
	tokens map[string]string
}

// Names the fixture configuration defines.
const (
	hostileView = "hostile" // only testdata/inject.json
	privateView = "private" // official-seed, for tokens with groups [engineering]
)

// Bounds of the whole setup and of each test.
const (
	setupTimeout = 5 * time.Minute // a cold build of mcpfed with -race on 2 cores
	testTimeout  = 60 * time.Second
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	path, err := Find(os.Getenv)
	if err != nil {
		// A browser named by MCPFED_CHROMIUM that is not there is a
		// mistake to report, not a reason to skip.
		if os.Getenv("CI") == "true" || !errors.Is(err, ErrNoBrowser) {
			fmt.Fprintf(os.Stderr, "browsertest: %v (with CI=true or MCPFED_CHROMIUM set the browser tests must run; .ci/run installs chromium)\n", err)
			return 1
		}
		skipReason = fmt.Sprintf("browsertest: %v; skipping the browser tests (with CI=true they fail)", err)
		fmt.Fprintln(os.Stderr, skipReason)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "mcpfed-browsertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "browsertest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	h, err := setUp(path, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "browsertest:", err)
		return 1
	}
	env = h
	code := m.Run()
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "browsertest: the dead-end proxy refused %d connections\n", h.browser.Refused())
	}
	h.browser.Close()
	if err := h.server.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "browsertest: mcpfed did not stop cleanly: %v\n%s", err, h.server.Log())
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- mcpfed log (tail)\n%s\n--- browser output (tail, D-Bus noise left out)\n%s\n", tail(h.server.Log(), 8000), tail(withoutDBus(h.browser.Output()), 4000))
	}
	return code
}

func setUp(browserPath, dir string) (*harness, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	start := time.Now()
	bin, err := mcpfedtest.BuildContext(ctx, dir, mcpfedtest.Race(raceEnabled))
	if err != nil {
		return nil, err
	}
	built := time.Now()
	h := &harness{tokens: map[string]string{
		"reader":   "reader-7f3c9a1e5b2d4c6f8a0b1c2d3e4f5a6b",
		"outsider": "outsider-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
	}}
	config, err := writeConfig(dir, h.tokens)
	if err != nil {
		return nil, err
	}
	h.server, err = StartServer(ctx, bin, config, dir)
	if err != nil {
		return nil, err
	}
	served := time.Now()
	h.browser, err = Start(ctx, browserPath, filepath.Join(dir, "profile"))
	if err != nil {
		h.server.Stop()
		return nil, err
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "browsertest: built mcpfed (race=%v) in %s, served in %s, started %s in %s\n",
			raceEnabled, built.Sub(start).Round(time.Millisecond), served.Sub(built).Round(time.Millisecond),
			browserPath, time.Since(served).Round(time.Millisecond))
	}
	return h, nil
}

// writeConfig writes the configuration the tests serve: the built-in
// catalogue at the root, the injection fixture alone in its own view, and
// a view that needs a token with groups [engineering].
func writeConfig(dir string, tokens map[string]string) (string, error) {
	fixture, err := filepath.Abs(filepath.Join("testdata", "inject.json"))
	if err != nil {
		return "", err
	}
	for name, tok := range tokens {
		if err := os.WriteFile(filepath.Join(dir, name+".token"), []byte(tok+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	config := fmt.Sprintf(`stateDir: %[1]q
sources:
  - {name: toolhive, kind: file, path: "builtin:toolhive"}
  - {name: official-seed, kind: file, path: "builtin:official-seed"}
  - {name: hostile, kind: file, path: %[2]q}
auth:
  tokens:
    - {name: reader, tokenFile: %[3]q, claims: {groups: [engineering]}}
    - {name: outsider, tokenFile: %[4]q, claims: {groups: [sales]}}
views:
  - name: default
    sources: [toolhive, official-seed]
  - name: %[5]s
    sources: [hostile]
  - name: %[6]s
    sources: [official-seed]
    access: {anonymous: false, claims: {groups: [engineering]}}
`, filepath.Join(dir, "state"), fixture, filepath.Join(dir, "reader.token"), filepath.Join(dir, "outsider.token"), hostileView, privateView)
	path := filepath.Join(dir, "config.yaml")
	return path, os.WriteFile(path, []byte(config), 0o600)
}

// setup skips without a browser and returns the test's context.
func setup(t *testing.T) context.Context {
	t.Helper()
	if env == nil {
		t.Skip(skipReason)
	}
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newTab opens a tab on mcpfed's origin, closed when the test ends.
func newTab(t *testing.T, ctx context.Context, opts TabOptions) *Tab {
	t.Helper()
	opts.Origin = env.server.URL
	tab, err := env.browser.NewTab(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tab.Close)
	return tab
}

// visit loads path and fails the test unless the answer has status want
// and is HTML.
func visit(t *testing.T, ctx context.Context, tab *Tab, path string, want int64) *network.Response {
	t.Helper()
	resp, err := Run(ctx, tab, chromedp.NavigateResponse(env.server.URL+path))
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	checkResponse(t, path, resp, want)
	return resp
}

// follow runs a step that navigates (a click, a submit) and waits for the
// new page.
func follow(t *testing.T, ctx context.Context, tab *Tab, what string, step chromedp.Action[chromedp.Void], want int64) *network.Response {
	t.Helper()
	resp, err := Response(ctx, tab, step)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	checkResponse(t, what, resp, want)
	return resp
}

func checkResponse(t *testing.T, what string, resp *network.Response, want int64) {
	t.Helper()
	if resp == nil {
		t.Fatalf("%s: no response", what)
	}
	if resp.Status != want {
		t.Fatalf("%s: status %d, want %d", what, resp.Status, want)
	}
	if ct := resp.MimeType; ct != "text/html" {
		t.Errorf("%s: MIME type %q, want text/html", what, ct)
	}
	// What the browser received, whatever the status.
	for name, want := range pageHeaders {
		if !hasHeader(resp.Headers, name, want) {
			t.Errorf("%s: header %s is not %q (headers: %v)", what, name, want, resp.Headers)
		}
	}
}

// pageHeaders are the headers every page carries (the plan's contract).
var pageHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; img-src 'self' https: data:; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
}

// mustRun runs a and fails the test on error.
func mustRun[T any](t *testing.T, ctx context.Context, tab *Tab, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := Run(ctx, tab, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// location is the tab's current URL.
func location(t *testing.T, ctx context.Context, tab *Tab) *url.URL {
	t.Helper()
	u, err := url.Parse(mustRun(t, ctx, tab, "location", chromedp.Location()))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checkClean fails the test for anything wrong in the tab since the last
// check: console errors and warnings, exceptions, dialogs, requests for
// other origins that are not images; and for hooked calls in the current
// document.
func checkClean(t *testing.T, ctx context.Context, tab *Tab, allow func(chromedp.ConsoleMessage) bool) {
	t.Helper()
	// Messages arrive asynchronously: a round trip to the page first lets
	// those the page wrote before it reach the tab.
	mustRun(t, ctx, tab, "sync", chromedp.Evaluate[chromedp.Void](`0`))
	for _, p := range tab.Problems(allow) {
		t.Error(p)
	}
	tab.Reset()
	pwned, err := tab.Pwned(ctx)
	if err != nil {
		t.Fatalf("read the hook: %v", err)
	}
	for _, p := range pwned {
		t.Errorf("the page ran injected code: %s", p)
	}
}

// apiGet answers a JSON API request the way a registry client asks.
func apiGet(t *testing.T, ctx context.Context, path string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// latestServer is the server.json the API serves as a name's latest
// version.
func latestServer(t *testing.T, ctx context.Context, view, name string) map[string]any {
	t.Helper()
	var rec struct {
		Server map[string]any `json:"server"`
	}
	apiGet(t, ctx, viewPrefix(view)+"/v0.1/servers/"+url.PathEscape(name)+"/versions/latest", &rec)
	return rec.Server
}

// latestNames lists every server name of a view through the API.
func latestNames(t *testing.T, ctx context.Context, view string) []string {
	t.Helper()
	var names []string
	cursor := ""
	for range 100 {
		var list struct {
			Servers []struct {
				Server struct{ Name string } `json:"server"`
			} `json:"servers"`
			Metadata struct {
				NextCursor string `json:"nextCursor"`
			} `json:"metadata"`
		}
		q := url.Values{"version": {"latest"}, "limit": {"100"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		apiGet(t, ctx, viewPrefix(view)+"/v0.1/servers?"+q.Encode(), &list)
		for _, s := range list.Servers {
			names = append(names, s.Server.Name)
		}
		if cursor = list.Metadata.NextCursor; cursor == "" {
			return names
		}
	}
	t.Fatal("the API list did not end in 100 pages")
	return nil
}

func viewPrefix(view string) string {
	if view == "" {
		return ""
	}
	return "/registry/" + view
}

// serverPath is the page of a server, as the catalogue links it.
func serverPath(view, name string) string {
	return viewPrefix(view) + "/servers/" + url.PathEscape(name) // PathEscape writes / as %2F
}

// withoutDBus drops Chromium's complaints about the missing system bus,
// which a headless browser in a container always prints.
func withoutDBus(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, "dbus") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
