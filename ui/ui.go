// Package ui is the web catalogue: HTML pages of the same engine answers
// the registry API gives (the catalogue of a view with search, filters and
// cursor paging; a server's page with its install configurations; the
// sources), and the embedded assets they use. It is a renderer, not a
// second query path: pages are built from federate.Engine's List and
// Versions for the view the API would answer from, after the same
// Authorize hook.
//
// Everything a page shows comes from a source and is untrusted: pages are
// rendered with html/template, only http(s) URLs become links, icons only
// from https or data:image URLs, and every answer carries a strict
// Content-Security-Policy (no inline script or style).
package ui

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/cache"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/metrics"
	"github.com/mcpfed/mcpfed/upstream"
)

// Security headers of every answer of the UI.
const (
	// CSP allows nothing but mcpfed itself, and images from https and
	// data: URLs (server icons). No inline script or style anywhere.
	CSP = "default-src 'self'; img-src 'self' https: data:; script-src 'self'; style-src 'self'; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	referrerPolicy = "no-referrer"
)

// AssetPrefix is where the embedded assets are served.
const AssetPrefix = "/ui/assets/"

//go:embed templates/*.html assets/*
var files embed.FS

// Engine is what the UI needs of federate.Engine: the list and versions
// answers of a view, and the sources' names (the source filter).
type Engine interface {
	List(ctx context.Context, q federate.Query, view *federate.View) (*federate.Page, error)
	Versions(ctx context.Context, name string, includeDeleted bool, view *federate.View) ([]*upstream.Entry, federate.Report, error)
	SourceNames() []string
}

// Options configure the UI. Root, Views and Authorize are the API's own
// (federate.APIOptions), so pages are served for the same views, to the
// same callers.
type Options struct {
	Engine Engine
	// Root is the view of /, /servers/… and /sources (nil: every source).
	Root *federate.View
	// Views are the named views, served under /registry/{view}/.
	Views map[string]*federate.View
	// Authorize decides every page request before anything is done for
	// it, as for the API (view "" is the root). When it refuses, the UI
	// answers with an HTML page of the status it chose (401, 403, 429)
	// and the headers it set (WWW-Authenticate, Retry-After).
	Authorize func(w http.ResponseWriter, r *http.Request, view string) bool
	// Sources reports the sources (federate.AdminOptions.Sources); nil
	// shows none. It must not block.
	Sources func() []federate.SourceReport
	// IsAdmin tells a request that may read the sources' error texts.
	IsAdmin func(r *http.Request) bool
	// Install makes the install panel of a server version; nil shows none.
	Install Installer
	// MaxAge is the Cache-Control max-age of complete pages.
	MaxAge time.Duration
	// Site is the name in the title and header (default "mcpfed").
	Site   string
	Logger *slog.Logger
}

// UI serves the web catalogue.
type UI struct {
	o      Options
	pages  map[string]*template.Template
	assets assets
	maxAge string
	bufs   sync.Pool
}

// New parses the embedded templates and assets.
func New(o Options) (*UI, error) {
	if o.Engine == nil {
		return nil, errors.New("ui: no engine")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Site == "" {
		o.Site = "mcpfed"
	}
	u := &UI{o: o, pages: map[string]*template.Template{}, maxAge: strconv.Itoa(int(o.MaxAge.Seconds()))}
	u.bufs.New = func() any { return new(bytes.Buffer) }
	var err error
	if u.assets, err = loadAssets(files); err != nil {
		return nil, err
	}
	layout, err := template.ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("ui: layout: %w", err)
	}
	for _, name := range []string{"catalogue", "server", "sources", "error"} {
		t, err := layout.Clone()
		if err == nil {
			_, err = t.ParseFS(files, "templates/"+name+".html")
		}
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", name, err)
		}
		u.pages[name] = t
	}
	return u, nil
}

// Wrap serves the UI's requests and hands every other one to next: the
// assets, and GET or HEAD requests that ask for HTML (WantsHTML) on the
// UI's paths. A JSON client, or any path the UI does not own, gets next's
// answer as if the UI were not there.
func (u *UI) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, AssetPrefix) {
			u.serveAsset(w, r)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			if rt, ok := matchRoute(r); ok && WantsHTML(r) {
				u.servePage(w, r, rt)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// WantsHTML reports whether a request asks for a web page: its Accept
// header names text/html (or application/xhtml+xml) with a weight above
// zero and at least that of application/json. A wildcard alone (curl, HTTP
// libraries, registry clients) is not a browser.
func WantsHTML(r *http.Request) bool {
	html, json := 0.0, 0.0
	for _, header := range r.Header.Values("Accept") {
		for _, part := range strings.Split(header, ",") {
			mt, params, _ := strings.Cut(part, ";")
			q := weight(params)
			switch strings.ToLower(strings.TrimSpace(mt)) {
			case "text/html", "application/xhtml+xml":
				html = max(html, q)
			case "application/json", "application/problem+json":
				json = max(json, q)
			}
		}
	}
	return html > 0 && html >= json
}

// weight is the q parameter of an Accept element (1 when absent or malformed).
func weight(params string) float64 {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || q < 0 || q > 1 {
			return 1
		}
		return q
	}
	return 1
}

// Kinds of page.
const (
	pageCatalogue = "catalogue"
	pageServer    = "server"
	pageSources   = "sources"
)

// route is a request for a page: which, for which view, and the metrics
// label (a route template, never a name).
type route struct {
	page  string
	view  string // "" for the root
	named bool   // under /registry/{view}/
	// rest are the escaped path segments after /servers/.
	rest  []string
	label string
}

// matchRoute recognises the UI's paths on the escaped path: "/",
// "/registry/{view}[/]", "[/registry/{view}]/servers/{serverName}" (the
// name's slash raw or %2F) and "[/registry/{view}]/sources". A path with
// empty or dot segments is not the UI's: the API answers it as today.
func matchRoute(r *http.Request) (route, bool) {
	raw := r.URL.EscapedPath()
	if raw == "/" {
		return route{page: pageCatalogue, label: "/"}, true
	}
	if !strings.HasPrefix(raw, "/") {
		return route{}, false
	}
	segs := strings.Split(raw[1:], "/")
	for i, s := range segs {
		if s == "." || s == ".." || s == "" && i < len(segs)-1 {
			return route{}, false
		}
	}
	var rt route
	prefix := ""
	if segs[0] == "registry" {
		if len(segs) < 2 || segs[1] == "" {
			return route{}, false
		}
		name, err := url.PathUnescape(segs[1])
		if err != nil {
			return route{}, false
		}
		rt.view, rt.named, prefix = name, true, "/registry/{view}"
		segs = segs[2:]
		if len(segs) == 0 || len(segs) == 1 && segs[0] == "" {
			rt.page, rt.label = pageCatalogue, prefix+"/"
			return rt, true
		}
	}
	switch {
	case len(segs) == 1 && segs[0] == "sources":
		rt.page, rt.label = pageSources, prefix+"/sources"
	case len(segs) >= 2 && segs[0] == "servers":
		rt.page, rt.label, rt.rest = pageServer, prefix+"/servers/{serverName}", segs[1:]
	default:
		return route{}, false
	}
	return rt, true
}

// served is the view of a page request: the view (nil: every source,
// public) and the path prefix of its pages ("" for the root).
type served struct {
	view *federate.View
	name string
	base string
}

func (s served) private() bool { return s.view != nil && s.view.Private }

// scope is the view's sources in priority order.
func (s served) scope(all []string) []string {
	if s.view == nil || len(s.view.Sources) == 0 {
		return all
	}
	return s.view.Sources
}

func (u *UI) servePage(w http.ResponseWriter, r *http.Request, rt route) {
	metrics.SetRoute(r, rt.label)
	sv := served{view: u.o.Root}
	if rt.named {
		v, ok := u.o.Views[rt.view]
		if !ok || v == nil {
			u.errorPage(w, r, served{}, http.StatusNotFound, fmt.Sprintf("There is no view named %q.", rt.view))
			return
		}
		sv = served{view: v, name: rt.view, base: "/registry/" + url.PathEscape(rt.view)}
	}
	// An admin reads the sources page of any view, as the operator
	// endpoints (whose token need not be one the views accept); every
	// other page and caller goes through the view's access rule.
	admin := rt.page == pageSources && u.o.IsAdmin != nil && u.o.IsAdmin(r)
	if u.o.Authorize != nil && !admin && !u.authorize(w, r, sv) {
		return
	}
	switch rt.page {
	case pageCatalogue:
		u.catalogue(w, r, sv)
	case pageServer:
		u.server(w, r, sv, rt.rest)
	case pageSources:
		u.sources(w, r, sv)
	}
}

// authorize asks the Authorize hook with a writer of its own: a refusal
// is answered as an HTML page with the hook's status and headers, not its
// problem document.
func (u *UI) authorize(w http.ResponseWriter, r *http.Request, sv served) bool {
	rec := &refusal{h: http.Header{}}
	if u.o.Authorize(rec, r, sv.name) {
		return true
	}
	for k, v := range rec.h {
		switch k {
		case "Content-Type", "Content-Length", "Cache-Control":
		default:
			w.Header()[k] = v
		}
	}
	status := rec.status
	if status < 400 {
		status = http.StatusForbidden // a refusal that said nothing: fail closed
	}
	u.errorPage(w, r, sv, status, rec.detail(status))
	return false
}

// detail is the refusal's own explanation (its problem document's
// detail), or a generic one for its status.
func (r *refusal) detail(status int) string {
	var p struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(r.body.Bytes(), &p) == nil && p.Detail != "" {
		return p.Detail
	}
	switch status {
	case http.StatusUnauthorized:
		return "This view needs a valid bearer token."
	case http.StatusForbidden:
		return "Your token does not carry the claims this view needs."
	case http.StatusTooManyRequests:
		return "Too many requests from this client; retry later."
	}
	return http.StatusText(status)
}

// refusal records what the Authorize hook writes (of its body, only as
// much as a problem document needs).
type refusal struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

// maxRefusalBody bounds the body kept of a refusal.
const maxRefusalBody = 4 << 10

func (r *refusal) Header() http.Header { return r.h }
func (r *refusal) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if room := maxRefusalBody - r.body.Len(); room > 0 {
		r.body.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
func (r *refusal) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// chrome is what every page's layout shows.
type chrome struct {
	Site   string
	Title  string
	Base   string
	View   string
	Nav    string
	Assets assetURLs
}

func (u *UI) chrome(sv served, title, nav string) chrome {
	return chrome{Site: u.o.Site, Title: title, Base: sv.base, View: sv.name, Nav: nav, Assets: u.assets.urls}
}

// errorPage is the HTML form of a problem: never cached.
type errorPage struct {
	chrome
	Heading    string
	Detail     string
	NeedsToken bool
}

func (u *UI) errorPage(w http.ResponseWriter, r *http.Request, sv served, status int, detail string) {
	p := errorPage{
		chrome:  u.chrome(sv, http.StatusText(status), ""),
		Heading: strconv.Itoa(status) + " " + http.StatusText(status), Detail: detail,
		NeedsToken: status == http.StatusUnauthorized,
	}
	u.render(w, r, "error", p, status, answerOpts{private: sv.private(), noStore: true})
}

// fail answers an engine error as the API would: request errors are told
// as they are, a server-side failure says little (its cause is logged).
func (u *UI) fail(w http.ResponseWriter, r *http.Request, sv served, err error) {
	status := statusOf(err)
	detail := err.Error()
	if status >= 500 {
		u.o.Logger.ErrorContext(r.Context(), "page failed", "route", metrics.Route(r), "status", status, "error", err)
		detail = "The registry could not answer this page; try again later."
		if status == http.StatusBadGateway {
			detail = "A source this page needs could not answer; try again later."
		}
	}
	u.errorPage(w, r, sv, status, detail)
}

// statusOf maps an engine error to the status the API gives it.
func statusOf(err error) int {
	switch {
	case errors.Is(err, federate.ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, federate.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, federate.ErrRequiredSourceFailed):
		return http.StatusBadGateway
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// answerOpts say how a page may be cached.
type answerOpts struct {
	private bool
	// noStore: a partial answer, an error, or the sources' live state.
	noStore bool
	report  federate.Report
}

// render executes a page and writes it.
func (u *UI) render(w http.ResponseWriter, r *http.Request, name string, data any, status int, o answerOpts) {
	buf := u.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer u.bufs.Put(buf)
	if err := u.pages[name].ExecuteTemplate(buf, "layout", data); err != nil {
		// A template that fails on its data is a bug: say so plainly.
		u.o.Logger.ErrorContext(r.Context(), "page rendering failed", "page", name, "error", err)
		setSecurityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error\n"))
		return
	}
	u.write(w, r, status, buf.Bytes(), o)
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", referrerPolicy)
	h.Set("X-Frame-Options", "DENY")
}

// write sends a page with its validators: an ETag on every 200 (If-None-Match
// gives 304), Cache-Control as for the API's answers (public or, for a
// private view, private with max-age; no-store when partial), gzip when
// asked. Pages vary on Accept (the same URL is JSON for an API client).
func (u *UI) write(w http.ResponseWriter, r *http.Request, status int, body []byte, o answerOpts) {
	h := w.Header()
	setSecurityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	if o.private {
		h.Set("Vary", "Accept, Accept-Encoding, Authorization")
	} else {
		h.Set("Vary", "Accept, Accept-Encoding")
	}
	complete := o.report.Complete()
	switch {
	case o.noStore || !complete || len(o.report.Stale) > 0:
		h.Set("Cache-Control", "no-store")
	case o.private:
		h.Set("Cache-Control", "private, max-age="+u.maxAge)
	default:
		h.Set("Cache-Control", "public, max-age="+u.maxAge)
	}
	if !complete {
		h.Set(federate.HeaderComplete, "false")
		if len(o.report.Failed) > 0 {
			h.Set(federate.HeaderFailedSources, o.report.FailedHeader())
		}
		if len(o.report.Dropped) > 0 {
			h.Set(federate.HeaderDroppedSources, o.report.DroppedHeader())
		}
	}
	gz := len(body) >= minGzipBytes && cache.AcceptsGzip(r.Header.Get("Accept-Encoding"))
	if status == http.StatusOK {
		etag := cache.ETag(body)
		if gz {
			h.Set("ETag", cache.EncodedETag(etag, "gzip"))
		} else {
			h.Set("ETag", etag)
		}
		if cache.NoneMatch(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if gz {
		body = cache.Gzip(body)
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
