package federate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/cache"
	"github.com/mcpfed/mcpfed/metrics"
	"github.com/mcpfed/mcpfed/upstream"
)

// APIPrefixes are the API versions served; both have the same handlers.
var APIPrefixes = []string{"/v0.1", "/v0"}

// BuildInfo describes the running binary for /v0.1/version.
type BuildInfo struct {
	Version   string `json:"version"`
	GitCommit string `json:"git_commit"`
	BuildTime string `json:"build_time"`
}

// APIOptions configure the HTTP API.
type APIOptions struct {
	Engine *Engine
	// Root is the view served at /v0.1 and /v0 (nil: every member in
	// configured order, unfiltered, public).
	Root *View
	// Views are the named views served under /registry/{view}/, by name.
	Views map[string]*View
	// Authorize, when set, decides every request to a registry API route
	// (servers, versions, version, health, ping and version, under the
	// root and every view) before anything else is done for it, the
	// response cache included. view is "" for the root, else the view's
	// name (an unknown view is a 404 without asking). When it returns
	// false it has written the answer (401, 403, 429) and the API writes
	// nothing more.
	Authorize func(w http.ResponseWriter, r *http.Request, view string) bool
	// MaxAge is the Cache-Control max-age of complete answers.
	MaxAge time.Duration
	Build  BuildInfo
	// Attempted reports whether a source has made its first load attempt (readiness).
	Attempted func(source string) bool
	// Metrics, when set, serves GET /metrics and is told of partial answers.
	Metrics *metrics.Metrics
	// ResponseCache keeps encoded answers; zero MaxEntries disables it.
	ResponseCache ResponseCacheOptions
	// Deployed, when set, returns the MCP servers running in the cluster
	// (kubernetes sources) and enables …/x/io.github.mcpfed/deployed
	// under the root and every view. It must not block.
	Deployed func() []upstream.Instance
	// Admin enables the operator endpoints under ExtensionPath.
	Admin  AdminOptions
	Clock  func() time.Time
	Logger *slog.Logger
}

// ResponseCacheOptions bound the response cache. Keys include the revision
// of every snapshot source, so a reload is visible at once; TTL bounds how
// long answers that involve live sources are reused.
type ResponseCacheOptions struct {
	MaxEntries int
	MaxBytes   int64
	TTL        time.Duration
}

// API is the registry read API over an engine.
type API struct {
	o       APIOptions
	mux     *http.ServeMux
	resp    responder
	openapi *answer
	answers *cache.Loader[*answer] // nil: no response cache
	admin   *admin
}

// NewAPI builds the routes.
func NewAPI(o APIOptions) (*API, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Attempted == nil {
		o.Attempted = func(string) bool { return true }
	}
	doc, err := servedOpenAPI()
	if err != nil {
		return nil, err
	}
	if err := checkViews(o); err != nil {
		return nil, err
	}
	a := &API{o: o, mux: http.NewServeMux(), openapi: newAnswer("application/yaml", doc, Report{})}
	actx, cancel := context.WithCancel(context.Background())
	a.admin = &admin{ctx: actx, cancel: cancel, running: map[string]bool{}}
	var partial func(string)
	var observer cache.Observer
	if o.Metrics != nil {
		partial, observer = o.Metrics.Partial, o.Metrics.Cache()
		a.route("/metrics", "/metrics", o.Metrics.Handler().ServeHTTP)
	}
	a.resp = newResponder(o.MaxAge, partial)
	if rc := o.ResponseCache; rc.MaxEntries > 0 && rc.TTL > 0 {
		c := cache.New(cache.Options[*answer]{
			Name: "response", MaxEntries: rc.MaxEntries, MaxBytes: rc.MaxBytes,
			Size: (*answer).size, Fresh: rc.TTL, Clock: o.Clock, Observer: observer,
		})
		a.answers = cache.NewLoader(c, cache.LoaderOptions{Group: "response", Observer: observer})
	}
	a.route("/healthz", "/healthz", a.healthz)
	a.route("/readyz", "/readyz", a.readyz)
	a.route("/openapi.yaml", "/openapi.yaml", a.serveOpenAPI)
	for _, p := range APIPrefixes {
		a.registerAdmin(p)
		a.registerAPI(p, p, 3, a.rootView)
		a.registerAPI("/registry/{view}"+p, "/registry/{view}"+p, 5, a.lookupView)
		a.registerArtifacts(p, p, a.rootView)
		a.registerArtifacts("/registry/{view}"+p, "/registry/{view}"+p, a.lookupView)
		a.registerDeployed(p, p, a.rootView)
		a.registerDeployed("/registry/{view}"+p, "/registry/{view}"+p, a.lookupView)
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("no route for %s", r.URL.Path))
	})
	return a, nil
}

// Handler returns the API with path checks and CORS handling in front.
func (a *API) Handler() http.Handler { return cors(checkPath(a.mux)) }

// checkViews refuses views the engine cannot serve (a source that is not
// a member), naming every such view and source.
func checkViews(o APIOptions) error {
	if o.Engine == nil {
		return nil
	}
	errs := []error{o.Engine.CheckView(o.Root)}
	for _, name := range slices.Sorted(maps.Keys(o.Views)) {
		v := o.Views[name]
		if v == nil {
			errs = append(errs, fmt.Errorf("view %q: no definition", name))
			continue
		}
		errs = append(errs, o.Engine.CheckView(v))
	}
	return errors.Join(errs...)
}

// served is the view of one request: the view (nil: every member,
// public), the name the Authorize hook and the response cache know it by
// ("" for the root), and whether it is private.
type served struct {
	view *View
	name string
}

func (s served) private() bool { return s.view != nil && s.view.Private }

// cacheScope is the view's part of a response cache key: the root and a
// named view never share answers, nor do two definitions of one view.
func (s served) cacheScope() string {
	scope := s.name + "|" + s.view.identity()
	if s.view != nil && s.view.CurationGeneration != nil {
		// A decision changes what a curated view serves, whatever the
		// sources' revisions say.
		scope += "|c" + strconv.FormatUint(s.view.CurationGeneration(), 10)
	}
	return scope
}

// viewLookup resolves the view of a request.
type viewLookup func(r *http.Request) (served, error)

// viewHandler serves a request for a resolved, authorized view.
type viewHandler func(w http.ResponseWriter, r *http.Request, v served)

// registerAPI mounts the registry endpoints under pattern. restAt is the
// index of the first path segment after ".../servers/".
func (a *API) registerAPI(pattern, label string, restAt int, views viewLookup) {
	a.route(pattern+"/servers", label+"/servers", a.viewed(views, func(w http.ResponseWriter, r *http.Request, v served) {
		a.list(w, r, label+"/servers", v)
	}))
	a.route(pattern+"/servers/{rest...}", label+"/servers/{serverName}", a.viewed(views, func(w http.ResponseWriter, r *http.Request, v served) {
		a.server(w, r, label, restAt, v)
	}))
	a.route(pattern+"/health", label+"/health", a.viewed(views, a.health))
	a.route(pattern+"/ping", label+"/ping", a.viewed(views, a.ping))
	a.route(pattern+"/version", label+"/version", a.viewed(views, a.version))
}

// viewed resolves the request's view and asks Authorize before h does
// anything: no answer, cached or not, reaches a request it refuses.
func (a *API) viewed(views viewLookup, h viewHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := views(r)
		if err != nil {
			writeError(w, err)
			return
		}
		if a.o.Authorize != nil && !a.o.Authorize(w, r, v.name) {
			return
		}
		h(w, r, v)
	}
}

// route registers a GET (and HEAD) handler; other methods get a 405 problem.
func (a *API) route(pattern, label string, h http.HandlerFunc) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		metrics.SetRoute(r, label)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD, OPTIONS")
			writeProblem(w, http.StatusMethodNotAllowed, "this registry is read-only: "+r.Method+" is not supported")
			return
		}
		h(w, r)
	})
}

func (a *API) rootView(*http.Request) (served, error) { return served{view: a.o.Root}, nil }

func (a *API) lookupView(r *http.Request) (served, error) {
	name := r.PathValue("view")
	if v, ok := a.o.Views[name]; ok && v != nil {
		return served{view: v, name: name}, nil
	}
	return served{}, notFound("no view named %q", name)
}

func (a *API) list(w http.ResponseWriter, r *http.Request, route string, v served) {
	view := v.view
	values, err := strictQuery(r)
	if err != nil {
		writeError(w, err)
		return
	}
	q, err := ParseListQuery(values)
	if err != nil {
		writeError(w, err)
		return
	}
	key := "list|" + v.cacheScope() + "|" + q.key() + "|" + a.o.Engine.Revision()
	a.serve(w, r, route, key, v, func(ctx context.Context) (*answer, error) {
		page, err := a.o.Engine.List(ctx, q, view)
		if err != nil {
			return nil, err
		}
		return newAnswer("application/json", encodeList(page.Entries, page.NextCursor), page.Report), nil
	})
}

// serve is the one path of every registry answer (list, versions,
// version): the cached answer for key, or one computation shared by every
// concurrent identical request (complete, current answers are kept), then
// the response or the problem.
func (a *API) serve(w http.ResponseWriter, r *http.Request, route, key string, v served, compute func(context.Context) (*answer, error)) {
	var ans *answer
	var err error
	if a.answers == nil {
		ans, err = compute(r.Context())
	} else {
		ans, _, err = a.answers.Load(r.Context(), key, func(ctx context.Context) (*answer, bool, error) {
			ans, err := compute(ctx)
			if err != nil {
				return nil, false, err
			}
			return ans, ans.cacheable(), nil
		})
	}
	if err != nil {
		a.fail(w, r, err, v)
		return
	}
	a.resp.writeFor(w, r, route, ans, v.private())
}

// Close stops the background work: the response cache's, and resyncs
// still running (their context ends; Close waits for them to return).
func (a *API) Close() {
	a.admin.mu.Lock()
	a.admin.cancel()
	a.admin.mu.Unlock()
	a.admin.wg.Wait()
	if a.answers != nil {
		a.answers.Close()
	}
}

// server serves /servers/{serverName}/versions[/{version}]. The name arrives
// URL-encoded (io.github.x%2Fy) and is decoded exactly once; an unencoded
// slash is accepted too, since a name has exactly one.
func (a *API) server(w http.ResponseWriter, r *http.Request, label string, restAt int, v served) {
	view := v.view
	segs := strings.Split(r.URL.EscapedPath(), "/")
	if len(segs) <= restAt {
		writeProblem(w, http.StatusNotFound, "no route for "+r.URL.Path)
		return
	}
	rest := segs[restAt:]
	var nameSegs, tail []string
	switch {
	case len(rest) >= 2 && rest[1] == "versions":
		nameSegs, tail = rest[:1], rest[2:]
	case len(rest) >= 3 && rest[2] == "versions":
		nameSegs, tail = rest[:2], rest[3:]
	default:
		writeProblem(w, http.StatusNotFound, "no route for "+r.URL.Path+": want /servers/{serverName}/versions[/{version}]")
		return
	}
	name, err := unescape(strings.Join(nameSegs, "/"))
	if err != nil {
		writeError(w, err)
		return
	}
	values, err := strictQuery(r)
	if err != nil {
		writeError(w, err)
		return
	}
	includeDeleted, err := ParseBool(values, "include_deleted")
	if err != nil {
		writeError(w, err)
		return
	}
	switch {
	case len(tail) == 0:
		route := label + "/servers/{serverName}/versions"
		metrics.SetRoute(r, route)
		key := fmt.Sprintf("versions|%s|%q|%t|%s", v.cacheScope(), name, includeDeleted, a.o.Engine.Revision())
		a.serve(w, r, route, key, v, func(ctx context.Context) (*answer, error) {
			entries, rep, err := a.o.Engine.Versions(ctx, name, includeDeleted, view)
			if err != nil {
				return nil, withReport(err, rep)
			}
			return newAnswer("application/json", encodeList(entries, ""), rep), nil
		})
	case len(tail) == 1 && tail[0] != "":
		// ".../versions/" (empty version) is no route, as in the official
		// registry; neither is a version with a slash.
		route := label + "/servers/{serverName}/versions/{version}"
		metrics.SetRoute(r, route)
		version, err := unescape(tail[0])
		if err != nil {
			writeError(w, err)
			return
		}
		key := fmt.Sprintf("version|%s|%q|%q|%t|%s", v.cacheScope(), name, version, includeDeleted, a.o.Engine.Revision())
		a.serve(w, r, route, key, v, func(ctx context.Context) (*answer, error) {
			e, rep, err := a.o.Engine.Version(ctx, name, version, includeDeleted, view)
			if err != nil {
				return nil, withReport(err, rep)
			}
			return newAnswer("application/json", e.Encoded, rep), nil
		})
	default:
		writeProblem(w, http.StatusNotFound, "no route for "+r.URL.Path)
	}
}

// strictQuery parses the query string, failing on malformed pairs that
// r.URL.Query() would silently drop (and with them a parameter the client
// did send).
func strictQuery(r *http.Request) (url.Values, error) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("malformed query string: %v", err)
	}
	return values, nil
}

func unescape(s string) (string, error) {
	out, err := url.PathUnescape(s)
	if err != nil {
		return "", badRequest("malformed path segment %q", s)
	}
	return out, nil
}

// reportedError carries the completeness report of a failed answer.
type reportedError struct {
	error
	rep Report
}

func (e reportedError) Unwrap() error { return e.error }

func withReport(err error, rep Report) error { return reportedError{err, rep} }

// fail logs server-side failures and answers with the mapped problem. A
// 404 reached while some source was down says so: the name may be there.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error, v served) {
	if code := statusOf(err); code >= 500 {
		// Once per route and interval: a client must not be able to drive
		// an ERROR line per request while, say, a required source loads.
		route := metrics.Route(r)
		if route == "" {
			route = r.Pattern // served without the metrics middleware
		}
		a.o.Engine.warnings.at(r.Context(), slog.LevelError, route, "request failed", 1,
			"route", route, "status", code, "error", err)
	}
	if v.private() {
		w.Header()["Vary"] = hVaryPrivate
	}
	var re reportedError
	if errors.As(err, &re) && !re.rep.Complete() {
		w.Header().Set(HeaderComplete, "false")
		setReport(w.Header(), re.rep)
		if a.resp.partial != nil {
			a.resp.partial(metrics.Route(r))
		}
	}
	writeError(w, err)
}

func (a *API) writeStatic(w http.ResponseWriter, r *http.Request, v any, private bool) {
	body, _ := json.Marshal(v) // maps of strings and bools: cannot fail
	a.resp.writeFor(w, r, metrics.Route(r), newAnswer("application/json", body, Report{}), private)
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	a.writeStatic(w, r, map[string]string{"status": "ok"}, false)
}

func (a *API) health(w http.ResponseWriter, r *http.Request, v served) {
	a.writeStatic(w, r, map[string]string{"status": "ok"}, v.private())
}

func (a *API) ping(w http.ResponseWriter, r *http.Request, v served) {
	a.writeStatic(w, r, map[string]bool{"pong": true}, v.private())
}

func (a *API) version(w http.ResponseWriter, r *http.Request, v served) {
	a.writeStatic(w, r, a.o.Build, v.private())
}

// readyz is ready once every required source has data and every other
// source has made its first attempt.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ok, waiting := a.o.Engine.Ready(a.o.Attempted)
	if !ok {
		writeProblem(w, http.StatusServiceUnavailable, "waiting for sources: "+strings.Join(waiting, ", "))
		return
	}
	a.writeStatic(w, r, map[string]string{"status": "ready"}, false)
}

func (a *API) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	a.resp.write(w, r, "/openapi.yaml", a.openapi)
}

// cors allows any origin to read the registry API and answers preflight
// requests. Operator and status endpoints get no CORS headers: a page in a
// browser has no business reading source errors or triggering a resync.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if operatorPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "ETag, "+HeaderComplete+", "+HeaderFailedSources+", "+HeaderDroppedSources+", "+HeaderStaleSources+", X-Request-Id, WWW-Authenticate, Retry-After")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "86400")
			h.Set("Allow", "GET, HEAD, OPTIONS")
			metrics.SetRoute(r, "preflight")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// operatorPath reports the endpoints for operators and orchestrators, not
// registry clients: the extension namespace (sources, resync), health,
// readiness and metrics.
func operatorPath(p string) bool {
	switch p {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	if strings.Contains(p, ExtensionPath+"/deployed") {
		return false // a registry read, governed by its view like the servers
	}
	return strings.Contains(p, ExtensionPath+"/") || strings.HasSuffix(p, ExtensionPath)
}

// checkPath answers a malformed path with a problem document before the
// mux sees it: the mux would redirect a path with empty or dot segments
// (307 with an HTML body) to a cleaned path the client did not ask for.
// (A malformed escape in the path never gets here: net/http refuses the
// request line with its own 400.)
func checkPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := malformedPath(r); msg != "" {
			writeProblem(w, http.StatusBadRequest, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// malformedPath describes what is wrong with the request's path, "" if
// nothing. A trailing slash is allowed (an empty last segment).
func malformedPath(r *http.Request) string {
	raw := r.URL.EscapedPath()
	if r.RequestURI != "" && strings.HasPrefix(r.RequestURI, "/") {
		raw, _, _ = strings.Cut(r.RequestURI, "?")
	}
	if !strings.HasPrefix(raw, "/") {
		return ""
	}
	if _, err := url.PathUnescape(raw); err != nil {
		return "malformed escape in the path: encode a literal % as %25"
	}
	segs := strings.Split(raw[1:], "/")
	for i, seg := range segs {
		switch {
		case seg == "" && i < len(segs)-1:
			return "empty segment in the path (//): remove it, or encode a slash inside a server name as %2F"
		case seg == "." || seg == "..":
			return "dot segment in the path (" + seg + "): write the path without it"
		}
	}
	return ""
}
