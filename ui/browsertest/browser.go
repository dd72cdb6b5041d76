// Package browsertest drives mcpfed's web catalogue in a real headless
// Chromium (Debian's chromium package) through the DevTools protocol: the
// tests build the mcpfed binary, serve a fixture catalogue on 127.0.0.1 and
// check the pages as a person would use them (search, paging, a server's
// install snippets, the keyboard), that nothing a source wrote runs in the
// page, and that private views are refused without a token.
//
// The browser is sandboxed from the network: it may reach only the mcpfed
// under test. Every request for another origin is answered inside the
// browser (images with a placeholder, anything else refused) and recorded,
// and a proxy that answers nothing plus host-resolver rules that resolve no
// name catch whatever the interception would miss.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mcpfed/mcpfed/mcpfedtest"
)

// EnvBrowser names the variable that points the tests at a browser binary
// other than the chromium on PATH.
const EnvBrowser = "MCPFED_CHROMIUM"

// ErrNoBrowser is returned by Find when no Chromium is installed.
var ErrNoBrowser = errors.New("no Chromium found: install Debian's chromium package (apt-get install chromium) or set " + EnvBrowser)

// browserNames are the names Chromium has on PATH: Debian's package
// installs chromium, other distributions chromium-browser.
var browserNames = []string{"chromium", "chromium-browser"}

// Find returns the browser to drive: getenv(EnvBrowser) when set (it must
// be an executable), else the first of browserNames on PATH.
func Find(getenv func(string) string) (string, error) {
	if p := getenv(EnvBrowser); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%q: %w", EnvBrowser, p, err)
		}
		return path, nil
	}
	for _, name := range browserNames {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", ErrNoBrowser
}

// startTimeout bounds the browser's start (the first page target).
const startTimeout = 30 * time.Second

// Browser is one running headless Chromium with a throwaway profile. Tabs
// opened with NewTab share it and may be used in parallel.
type Browser struct {
	ctx         context.Context // the first tab's; new tabs are its children
	cancel      context.CancelFunc
	allocCancel context.CancelFunc
	proxy       net.Listener
	proxyDone   sync.WaitGroup
	refused     atomic.Int64 // connections the dead-end proxy closed
	output      *mcpfedtest.TailBuffer
}

// Start runs the browser at path headless, with its profile in
// profileDir (which the caller removes), and with no network but
// 127.0.0.1. The browser lives until Close, whatever ctx does after Start.
func Start(ctx context.Context, path, profileDir string) (*Browser, error) {
	// A proxy that accepts and at once closes every connection: a request
	// that neither the interception nor the resolver rules stop fails here
	// instead of leaving the machine. Loopback bypasses proxies, so mcpfed
	// on 127.0.0.1 is reached directly.
	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("browser: dead-end proxy: %w", err)
	}
	b := &Browser{proxy: proxy, output: &mcpfedtest.TailBuffer{Max: 64 << 10}}
	b.proxyDone.Go(func() {
		for {
			c, err := proxy.Accept()
			if err != nil {
				return
			}
			b.refused.Add(1)
			c.Close()
		}
	})

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profileDir),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.ProxyServer("http://" + proxy.Addr().String()),
		// No name resolves (localhost and 127.0.0.1 excepted): nothing can be looked up
		// even when a request slips past the proxy, e.g. a DNS prefetch.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions"),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		// Stable pixels for the screenshots.
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(b.output),
		// Only what the browser needs of the environment: no proxy
		// variables, no credentials.
		chromedp.NoInheritEnv,
		chromedp.Env("HOME="+profileDir, "PATH="+os.Getenv("PATH"), "TMPDIR="+os.TempDir(), "LANG=C.UTF-8", "TZ=UTC"),
	}
	// Chromium's sandbox needs user namespaces that root in a container
	// does not get; as root the tests load only mcpfed's own pages.
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	bctx, cancel := chromedp.NewContext(allocCtx)
	b.ctx, b.cancel, b.allocCancel = bctx, cancel, allocCancel

	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err = <-started:
	case <-time.After(startTimeout):
		err = fmt.Errorf("no page target in %s", startTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("browser %s: %w; output: %s", path, err, b.output.String())
	}
	return b, nil
}

// Refused counts the connections the browser made to its dead-end proxy:
// requests for other hosts that the tabs' interception did not answer
// (the browser's own background requests).
func (b *Browser) Refused() int64 { return b.refused.Load() }

// Output is what the browser process wrote (its last 64 KiB).
func (b *Browser) Output() string { return b.output.String() }

// Close ends the browser and its tabs and waits for the process to exit.
func (b *Browser) Close() {
	b.cancel()
	b.allocCancel()
	b.proxy.Close()
	b.proxyDone.Wait()
}
