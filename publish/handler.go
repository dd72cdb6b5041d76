package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcpfed/mcpfed/auth"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/metrics"
	"github.com/mcpfed/mcpfed/store"
)

// Identify reads mcpfed's own authentication of a request (auth: OIDC and
// static tokens): ok is false when the request carries no valid token of
// mcpfed's; admin is auth's admin decision.
type Identify func(r *http.Request) (subject string, claims map[string]any, admin bool, ok bool)

// Event is one audited publishing decision: a write, a refused write, or a
// token exchange. It never holds a token.
type Event struct {
	Action  string // publish, status or token
	Server  string // server name ("" for a token)
	Version string // "" for a token or a status change of every version
	Subject string // who (the token's subject), "" before authentication
	Status  int    // the HTTP status answered
	Reason  string // why, short
}

// Options build a Handler.
type Options struct {
	Config Config
	// Store keeps what is published.
	Store store.Store
	// StateDir keeps the token signing key when Config.TokenKeyFile is
	// empty; with neither, the key lives as long as the process.
	StateDir string
	// ReadOnly never creates the key file (mcpfed check).
	ReadOnly bool
	// Identify, when set, lets mcpfed's own tokens publish too (under the
	// publishers rules, or everything for an admin).
	Identify Identify
	// AfterWrite runs after a successful write, before the answer: the
	// managed source reloads, so the writer reads its write on this
	// replica at once. Bounded by the request's context.
	AfterWrite func(ctx context.Context)
	// Audit receives every decision.
	Audit func(r *http.Request, e Event)
	// HTTPClient fetches the GitHub OIDC issuer's discovery document and
	// keys (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// StoreTimeout bounds each store call (default 10 s).
	StoreTimeout time.Duration
	Clock        func() time.Time
	Logger       *slog.Logger
}

// Handler serves the publishing API.
type Handler struct {
	o      Options
	tokens *tokens
	github *githubVerifier // nil: the exchange is not configured
	v      *validator
}

// Prefixes are the API versions the handler answers under.
var Prefixes = []string{"/v0.1", "/v0"}

// New builds the handler: it loads (or creates) the token key.
func New(o Options) (*Handler, error) {
	o.Config.ApplyDefaults()
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Store == nil {
		return nil, errors.New("publish: a store is required")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = 10 * time.Second
	}
	key, err := loadKey(o.Config.TokenKeyFile, o.StateDir, o.ReadOnly)
	if err != nil {
		return nil, err
	}
	tk, err := newTokens(key, o.Clock)
	if err != nil {
		return nil, err
	}
	v, err := newValidator()
	if err != nil {
		return nil, err
	}
	h := &Handler{o: o, tokens: tk, v: v}
	if o.Config.GitHubOIDC.Audience != "" {
		h.github = newGitHubVerifier(o.Config.GitHubOIDC, o.HTTPClient, o.Clock)
	}
	return h, nil
}

// Patterns are the http.ServeMux patterns the handler serves; register the
// handler for each. PATCH …/servers/ is the status API (the read API keeps
// GET on the same paths).
func (h *Handler) Patterns() []string {
	var out []string
	for _, p := range Prefixes {
		out = append(out,
			"POST "+p+"/publish",
			"POST "+p+"/validate",
			"POST "+p+"/auth/none",
			"POST "+p+"/auth/github-oidc",
			"PATCH "+p+"/servers/{rest...}",
		)
	}
	return out
}

// ServeHTTP routes by method and path (both API versions).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	var label, rest string
	for _, p := range Prefixes {
		if after, ok := strings.CutPrefix(path, p+"/"); ok {
			label, rest = p, after
			break
		}
	}
	route, method := "", ""
	switch {
	case label == "":
	case rest == "publish":
		route, method = "/publish", http.MethodPost
	case rest == "validate":
		route, method = "/validate", http.MethodPost
	case rest == "auth/none":
		route, method = "/auth/none", http.MethodPost
	case rest == "auth/github-oidc":
		route, method = "/auth/github-oidc", http.MethodPost
	case strings.HasPrefix(rest, "servers/") && strings.HasSuffix(rest, "/status"):
		route, method = "/servers/status", http.MethodPatch
	}
	if route == "" {
		federate.WriteProblem(w, http.StatusNotFound, "no route for "+r.URL.Path)
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		federate.WriteProblem(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s is not supported: use %s", r.Method, r.URL.Path, method))
		return
	}
	switch route {
	case "/publish":
		metrics.SetRoute(r, label+"/publish")
		h.publish(w, r)
	case "/validate":
		metrics.SetRoute(r, label+"/validate")
		h.validate(w, r)
	case "/auth/none":
		metrics.SetRoute(r, label+"/auth/none")
		h.exchangeNone(w, r)
	case "/auth/github-oidc":
		metrics.SetRoute(r, label+"/auth/github-oidc")
		h.exchangeGitHub(w, r)
	default:
		h.status(w, r, label, strings.TrimSuffix(strings.TrimPrefix(rest, "servers/"), "/status"))
	}
}

// principal is an authenticated writer.
type principal struct {
	subject string
	perms   []Permission
}

// authenticate answers 401 unless the request carries a registry token or
// (with Identify) one of mcpfed's own tokens.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, action string) (principal, bool) {
	tok, err := auth.BearerToken(r)
	if err == nil && tok == "" {
		err = errors.New("missing Authorization header: log in first (mcp-publisher login …) and send Authorization: Bearer <registry token>")
	}
	if err != nil {
		h.unauthorized(w, r, action, err.Error())
		return principal{}, false
	}
	if v, err := h.tokens.verify(tok); err == nil {
		return principal{subject: boundedSubject(v.subject), perms: v.perms}, true
	}
	if h.o.Identify != nil {
		if sub, claims, admin, ok := h.o.Identify(r); ok {
			if admin {
				return principal{subject: boundedSubject(sub), perms: everything}, true
			}
			return principal{subject: boundedSubject(sub), perms: granted(h.o.Config.Publishers, claims)}, true
		}
	}
	h.unauthorized(w, r, action, "Invalid or expired Registry JWT token: log in again (mcp-publisher login …)")
	return principal{}, false
}

// boundedSubject cuts a subject to what the store records (whole runes).
func boundedSubject(s string) string {
	if len(s) <= store.MaxWhoBytes {
		return s
	}
	i := store.MaxWhoBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request, action, detail string) {
	h.audit(r, Event{Action: action, Status: http.StatusUnauthorized, Reason: "no valid token"})
	w.Header().Set("WWW-Authenticate", `Bearer realm="mcpfed-publish"`)
	federate.WriteProblem(w, http.StatusUnauthorized, detail)
}

func (h *Handler) audit(r *http.Request, e Event) {
	if h.o.Audit != nil {
		h.o.Audit(r, e)
	}
}

// errBodyTooLarge and errBodySyntax are the body problems readBody answers.
var (
	errBodyTooLarge = errors.New("request body too large")
	errBodySyntax   = errors.New("request body is not valid JSON")
)

// readBody reads the bounded body and checks its JSON syntax; on failure it
// has answered (413, 400).
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	limit := h.o.Config.MaxBodyBytes
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		federate.WriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%v: at most %d bytes (publishing.maxBodyBytes)", errBodyTooLarge, limit))
		return nil, false
	case err != nil:
		federate.WriteProblem(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
		return nil, false
	case !json.Valid(body):
		federate.WriteProblem(w, http.StatusBadRequest, errBodySyntax.Error())
		return nil, false
	}
	return body, true
}

// storeError answers a failed store call: 503 when the store is down (the
// client may retry), else 500. Nothing was written either way.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, e Event, err error) {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		e.Status, e.Reason = http.StatusServiceUnavailable, "store unavailable"
		h.audit(r, e)
		w.Header().Set("Retry-After", "5")
		federate.WriteProblem(w, http.StatusServiceUnavailable, "the store is unavailable: nothing was written; try again shortly")
		return
	}
	h.o.Logger.Error("publishing: store call failed", "action", e.Action, "server", e.Server, "version", e.Version, "err", err)
	e.Status, e.Reason = http.StatusInternalServerError, "store error"
	h.audit(r, e)
	federate.WriteProblem(w, http.StatusInternalServerError, "the store failed: nothing was written")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		federate.WriteProblem(w, http.StatusInternalServerError, "cannot encode the answer")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// compact returns body without insignificant white space.
func compact(body []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, body); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
