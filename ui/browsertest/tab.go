package browsertest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TabOptions configure a new tab.
type TabOptions struct {
	// Origin is the only origin the tab may load from (e.g.
	// "http://127.0.0.1:8080"). Images of other origins (server icons)
	// get a placeholder; other requests to them are refused. Both are
	// recorded (Tab.Offsite).
	Origin string
	// Width and Height of the viewport in CSS pixels (0: 1280×900).
	Width, Height int64
	// Mobile emulates a phone (touch, mobile viewport rules).
	Mobile bool
	// Headers are sent with every request (e.g. Authorization).
	Headers map[string]string
	// BypassCSP turns the page's Content-Security-Policy off, so that a
	// script that escaped the page's escaping would run and be caught by
	// the hook rather than only be blocked by the policy.
	BypassCSP bool
	// DarkMode emulates prefers-color-scheme: dark.
	DarkMode bool
}

// Tab is one browser tab in a browser context of its own (no cookies,
// cache or permissions shared with other tabs), with everything the page
// wrote to the console, every dialog it opened, and every request it made
// for another origin.
type Tab struct {
	Ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
	dialogs []string
	offsite []Request
	wg      sync.WaitGroup
}

// Request is a request the page made for an origin other than mcpfed's.
type Request struct {
	URL  string
	Type network.ResourceType
}

// HookScript runs in every document before the page's own scripts. The
// dialogs a payload would open (alert, confirm, prompt, print) and
// window.open only record their call in window.__pwned, which the
// tests read; a payload that gets past the override is still seen as a
// JavaScript dialog (Tab.Dialogs).
const HookScript = `(() => {
  const fired = [];
  Object.defineProperty(window, '__pwned', {value: fired, writable: false, configurable: false});
  const record = (what) => function (...args) { fired.push(what + '(' + args.map(String).join(', ') + ')'); };
  for (const f of ['alert', 'confirm', 'prompt', 'print', 'open']) {
    Object.defineProperty(window, f, {value: record(f), writable: false, configurable: false});
  }
})();`

// placeholderIcon answers every image request for another origin: a
// neutral square, so icons neither leave the machine nor show as broken.
var placeholderIcon = []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#8a94a6"/></svg>`)

// NewTab opens a tab. ctx bounds the setup; the tab lives until Close.
func (b *Browser) NewTab(ctx context.Context, opts TabOptions) (*Tab, error) {
	if opts.Origin == "" {
		return nil, errors.New("tab: no origin")
	}
	if opts.Width == 0 {
		opts.Width, opts.Height = 1280, 900
	}
	tctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t := &Tab{Ctx: tctx, cancel: cancel}
	if err := t.setup(ctx, opts); err != nil {
		t.Close()
		return nil, fmt.Errorf("tab: %w", err)
	}
	return t, nil
}

func (t *Tab) setup(ctx context.Context, opts TabOptions) error {
	// The first run on a tab's context opens the tab and binds it to that
	// context, so it runs on t.Ctx itself, bounded here by ctx.
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Do(t.Ctx) }()
	select {
	case err := <-opened:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	console := chromedp.Console(t.Ctx)
	dialogs := chromedp.Events(t.Ctx, page.JavascriptDialogOpening)
	paused := chromedp.Events(t.Ctx, fetch.RequestPaused)
	t.wg.Go(func() {
		for m, err := range console {
			if err != nil {
				return
			}
			t.mu.Lock()
			t.console = append(t.console, m)
			t.mu.Unlock()
		}
	})
	t.wg.Go(func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			t.mu.Lock()
			t.dialogs = append(t.dialogs, string(ev.Type)+": "+ev.Message)
			t.mu.Unlock()
			// A dialog blocks the page until answered.
			_, _ = chromedp.Call(t.Ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	})
	t.wg.Go(func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			t.route(ev, opts.Origin)
		}
	})

	steps := []chromedp.Action[chromedp.Void]{
		call(page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: HookScript}),
		call(fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}}),
	}
	if opts.Mobile {
		steps = append(steps, chromedp.EmulateViewport(opts.Width, opts.Height, chromedp.EmulateMobile, chromedp.EmulateTouch))
	} else {
		steps = append(steps, chromedp.EmulateViewport(opts.Width, opts.Height))
	}
	if len(opts.Headers) > 0 {
		h := network.Headers{}
		for k, v := range opts.Headers {
			h[k] = v
		}
		steps = append(steps, call(network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h}))
	}
	if opts.BypassCSP {
		steps = append(steps, call(page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}))
	}
	if opts.DarkMode {
		steps = append(steps, call(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		}))
	}
	return t.do(ctx, steps...)
}

// route answers one intercepted request: mcpfed's own go on, images of
// other origins get the placeholder, anything else is refused.
func (t *Tab) route(ev fetch.EventRequestPaused, origin string) {
	if sameOrigin(ev.Request.URL, origin) {
		_, _ = chromedp.Call(t.Ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		return
	}
	t.mu.Lock()
	t.offsite = append(t.offsite, Request{URL: ev.Request.URL, Type: ev.ResourceType})
	t.mu.Unlock()
	if ev.ResourceType == network.ResourceTypeImage {
		_, _ = chromedp.Call(t.Ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
			RequestID:    ev.RequestID,
			ResponseCode: 200,
			ResponseHeaders: []*fetch.HeaderEntry{
				{Name: "Content-Type", Value: "image/svg+xml"},
				{Name: "Cache-Control", Value: "no-store"},
			},
			Body: placeholderIcon,
		})
		return
	}
	_, _ = chromedp.Call(t.Ctx, fetch.FailRequest, fetch.FailRequestParams{
		RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient,
	})
}

func sameOrigin(raw, origin string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	return u.Scheme+"://"+u.Host == origin
}

// call makes a protocol command a step.
func call[P, R any](cmd cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cmd, params)
		return err
	})
}

// do runs steps in the tab, bounded by ctx as well as by the tab's life.
func (t *Tab) do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) error {
	return Do(ctx, t, steps...)
}

// Do runs steps in t until ctx or the tab ends.
func Do(ctx context.Context, t *Tab, steps ...chromedp.Action[chromedp.Void]) error {
	_, err := Run(ctx, t, chromedp.Steps(steps...))
	return err
}

// Run runs one action in t and returns its value, bounded by ctx as well
// as by the tab's life.
func Run[T any](ctx context.Context, t *Tab, a chromedp.Action[T]) (T, error) {
	rctx, cancel := context.WithCancel(t.Ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	v, err := chromedp.Run(rctx, a)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	}
	return v, err
}

// Response runs steps that navigate (a click on a link, a submit) and
// returns the new page's answer once it has loaded.
func Response(ctx context.Context, t *Tab, steps ...chromedp.Action[chromedp.Void]) (*network.Response, error) {
	rctx, cancel := context.WithCancel(t.Ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	resp, err := chromedp.RunResponse(rctx, steps...)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	}
	return resp, err
}

// Console returns what the page wrote to the console so far.
func (t *Tab) Console() []chromedp.ConsoleMessage {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), t.console...)
}

// Dialogs returns the JavaScript dialogs the page opened.
func (t *Tab) Dialogs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.dialogs...)
}

// Offsite returns the requests the page made for other origins.
func (t *Tab) Offsite() []Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Request(nil), t.offsite...)
}

// Problems lists what went wrong in the page so far: console errors and
// warnings of the page (browser log entries included: CSP violations,
// failed loads), uncaught exceptions, dialogs, and requests for other
// origins that were not images. allow drops known messages (e.g. the
// failed load of a page that is meant to be a 401).
func (t *Tab) Problems(allow func(chromedp.ConsoleMessage) bool) []string {
	var out []string
	for _, m := range t.Console() {
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleException, chromedp.ConsoleWarning:
		default:
			continue
		}
		if allow != nil && allow(m) {
			continue
		}
		s := m.String()
		if m.URL != "" {
			s += " (" + m.URL + ")"
		}
		out = append(out, "console "+s)
	}
	for _, d := range t.Dialogs() {
		out = append(out, "dialog "+d)
	}
	for _, r := range t.Offsite() {
		if r.Type != network.ResourceTypeImage {
			out = append(out, fmt.Sprintf("request for another origin: %s %s", r.Type, r.URL))
		}
	}
	return out
}

// GrantClipboard lets the page read and write the clipboard without
// asking, as a person who allowed it would.
func (t *Tab) GrantClipboard(ctx context.Context, origin string) error {
	c := chromedp.FromContext(t.Ctx)
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := Run(ctx, t, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := cdp.Call(ctx, c.Browser, browser.SetPermission, browser.SetPermissionParams{
				Permission:       &browser.PermissionDescriptor{Name: name},
				Setting:          browser.PermissionSettingGranted,
				Origin:           origin,
				BrowserContextID: c.BrowserContextID,
			})
			return err
		}))
		if err != nil {
			return fmt.Errorf("grant %s: %w", name, err)
		}
	}
	return nil
}

// Reset forgets the console messages, dialogs and requests seen so far,
// so that Problems reports only what comes after.
func (t *Tab) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.console, t.dialogs, t.offsite = nil, nil, nil
}

// Pwned returns the calls the hook recorded in the current document.
func (t *Tab) Pwned(ctx context.Context) ([]string, error) {
	return Run(ctx, t, chromedp.Evaluate[[]string](`Array.from(window.__pwned || ['hook missing'])`))
}

// Close closes the tab and its browser context.
func (t *Tab) Close() {
	t.cancel()
	t.wg.Wait()
}

// Origin returns scheme://host of a URL.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}
