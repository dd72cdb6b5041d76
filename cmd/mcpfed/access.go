package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcpfed/mcpfed/auth"
	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/metrics"
)

// discoverTimeout bounds the eager OIDC discovery at start: an issuer that
// does not answer is logged, and discovery is retried on first use.
const discoverTimeout = 5 * time.Second

// rootLabel is the root view's name in metrics and audit lines.
const rootLabel = config.DefaultView

// errNoAccess is the configuration error of a view that is not known to
// the access rules (it cannot happen with a validated configuration).
var errNoAccess = errors.New("no access rule for the view")

// gatekeeper decides who may read which view, and who is an admin: the
// Authorize and IsAdmin hooks of the API, the RFC 9728 documents, audit
// lines and decision metrics. It never keeps a token.
type gatekeeper struct {
	authn       *auth.Authenticator
	limiter     *auth.Limiter
	auditor     *auth.Auditor
	metrics     *auth.Metrics
	proxies     auth.Proxies
	resourceURL string
	// views are the access rules by view name; "" is the root.
	views       map[string]auth.Access
	adminClaims map[string]any
	adminToken  string // the admin token file, "" for none
	logger      *slog.Logger
	// enforce is false when no auth: is configured: Authorization headers
	// are then ignored on the registry API, as before access control.
	enforce bool
}

// newGatekeeper builds the access layer from a valid configuration,
// registering its metrics on reg.
func newGatekeeper(cfg config.Config, reg prometheus.Registerer, stderr io.Writer, logger *slog.Logger, clock func() time.Time) (*gatekeeper, error) {
	a := cfg.Auth
	gk := &gatekeeper{
		resourceURL: strings.TrimRight(a.ResourceURL, "/"),
		views:       map[string]auth.Access{"": cfg.RootView().Access},
		adminClaims: cfg.Admin.Claims,
		adminToken:  cfg.Admin.TokenFile,
		logger:      logger,
		enforce:     len(a.OIDC) > 0 || len(a.Tokens) > 0 || a.RateLimit.PerMinute > 0 || a.Audit.Enabled,
	}
	for _, v := range cfg.Views {
		gk.views[v.Name] = v.Access // default: the root's rule at /registry/default too
	}
	var err error
	if gk.proxies, err = auth.ParseProxies(a.TrustedProxies); err != nil {
		return nil, &invalidConfig{[]string{"auth.trustedProxies: " + err.Error()}}
	}
	if gk.authn, err = auth.New(a, auth.Options{Logger: logger, Now: clock}); err != nil {
		return nil, &invalidConfig{[]string{err.Error()}}
	}
	if gk.limiter, err = auth.NewLimiter(a.RateLimit, auth.DefaultMaxClients, clock); err != nil {
		gk.close()
		return nil, &invalidConfig{[]string{"auth.rateLimit: " + err.Error()}}
	}
	if gk.metrics, err = auth.NewMetrics(reg); err != nil {
		gk.close()
		return nil, fmt.Errorf("auth metrics: %w", err)
	}
	if gk.auditor, err = auth.OpenAuditor(a.Audit, stderr, clock, logger); err != nil {
		gk.close()
		return nil, &invalidConfig{[]string{"auth.audit.path: " + err.Error()}}
	}
	gk.metrics.AttachAuditor(gk.auditor)
	return gk, nil
}

// discover fetches every issuer's discovery document once, logging (not
// failing on) an issuer that does not answer.
func (gk *gatekeeper) discover(ctx context.Context) {
	if len(gk.authn.Issuers()) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, discoverTimeout)
	defer cancel()
	if err := gk.authn.Discover(ctx); err != nil {
		gk.logger.Warn("OIDC discovery failed at start; it is retried when a token arrives", "error", err)
	}
}

func (gk *gatekeeper) close() {
	if gk.authn != nil {
		gk.authn.Close()
	}
	if gk.auditor != nil {
		if err := gk.auditor.Close(); err != nil {
			gk.logger.Error("closing the audit log", "error", err)
		}
	}
}

// root is the resource identifier of the gateway's root.
func (gk *gatekeeper) root(r *http.Request) string {
	if gk.resourceURL != "" {
		return gk.resourceURL
	}
	return gk.proxies.RequestResource(r)
}

// authorize is the API's Authorize hook: identity, the view's access rule,
// the client's rate limit; it writes the answer when it refuses.
func (gk *gatekeeper) authorize(w http.ResponseWriter, r *http.Request, view string) bool {
	access, known := gk.views[view]
	if !known {
		// Fail closed: a view without a rule needs a token.
		gk.logger.Error("view has no access rule", "view", view, "error", errNoAccess)
	}
	protected := !access.Anonymous
	client := gk.proxies.ClientAddress(r)
	id, err := gk.authn.Authenticate(r.Context(), r)
	rec := auth.Record{View: label(view), Client: client}
	if err != nil {
		rec.Decision, rec.Reason = auth.ResultInvalidToken, auth.Reason(err)
		w.Header().Set("WWW-Authenticate", auth.WWWAuthenticate(gk.root(r), view, true))
		gk.refuse(w, r, rec, http.StatusUnauthorized, "the bearer token is not valid: "+rec.Reason)
		return false
	}
	rec.Subject, rec.Issuer = id.Subject, id.Issuer
	d := auth.Decide(access, id)
	rec.Decision, rec.Reason = d.Result, d.Reason
	switch d.Result {
	case auth.ResultUnauthenticated:
		w.Header().Set("WWW-Authenticate", auth.WWWAuthenticate(gk.root(r), view, false))
		gk.refuse(w, r, rec, http.StatusUnauthorized, "this view needs a bearer token (Authorization: Bearer)")
		return false
	case auth.ResultForbidden:
		gk.refuse(w, r, rec, http.StatusForbidden, "the token does not carry the claims this view needs")
		return false
	}
	if ok, wait := gk.limiter.Allow(auth.ClientKey(id, client)); !ok {
		rec.Decision, rec.Reason = auth.ResultRateLimited, "over the per-client rate limit"
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
		gk.refuse(w, r, rec, http.StatusTooManyRequests, "too many requests from this client; retry later")
		return false
	}
	gk.metrics.Observe(rec.View, auth.ResultAllow)
	if protected {
		// The status is the handler's; an allowed request is audited with 200.
		rec.Status = http.StatusOK
		gk.audit(r, rec)
	}
	return true
}

// refuse answers a denial as problem+json, audits it and counts it.
func (gk *gatekeeper) refuse(w http.ResponseWriter, r *http.Request, rec auth.Record, status int, detail string) {
	rec.Status = status
	gk.metrics.Observe(rec.View, rec.Decision)
	gk.audit(r, rec)
	federate.WriteProblem(w, status, detail)
}

func (gk *gatekeeper) audit(r *http.Request, rec auth.Record) {
	rec.RequestID = metrics.RequestID(r.Context())
	rec.Method = r.Method
	rec.Route = metrics.Route(r)
	if rec.Route == "" {
		rec.Route = r.Pattern
	}
	gk.auditor.Write(rec)
}

// isAdmin is the API's IsAdmin hook: the admin token (admin.tokenFile,
// compared in constant time) or a verified token carrying admin.claims.
func (gk *gatekeeper) isAdmin(r *http.Request) bool {
	_, ok := gk.admin(r, false)
	return ok
}

// adminAudit writes one audit line per request to an operator endpoint
// (the extension namespace), with the status it got.
func (gk *gatekeeper) adminAudit(next http.Handler) http.Handler {
	if gk.auditor == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The deployed list is a view's read, decided and audited as one;
		// approval writes are audited by the curation API, with their subject.
		approvalWrite := strings.Contains(r.URL.Path, federate.ExtensionPath+"/approvals") && (r.Method == http.MethodPut || r.Method == http.MethodDelete)
		if !strings.Contains(r.URL.Path, federate.ExtensionPath+"/") || strings.Contains(r.URL.Path, federate.ExtensionPath+"/deployed") || approvalWrite {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		entry := auth.Record{View: "admin", Client: gk.proxies.ClientAddress(r), Status: rec.status, Decision: auth.ResultAllow}
		if id, err := gk.authn.Authenticate(r.Context(), r); err == nil {
			entry.Subject, entry.Issuer = id.Subject, id.Issuer
		}
		switch {
		case rec.status == http.StatusUnauthorized:
			entry.Decision, entry.Reason = auth.ResultUnauthenticated, "not an admin"
		case rec.status == http.StatusForbidden:
			entry.Decision, entry.Reason = auth.ResultForbidden, "not an admin"
		case gk.isAdmin(r):
			entry.Reason = "admin"
		}
		gk.audit(r, entry)
	})
}

// wellKnown serves the RFC 9728 documents of the root and of each view in
// front of next, readable from any origin like the registry API.
func (gk *gatekeeper) wellKnown(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, auth.WellKnownPath)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		view, known := "", rest == ""
		if name, ok := strings.CutPrefix(rest, "/registry/"); ok {
			_, known = gk.views[name]
			view = name
			known = known && name != ""
		}
		metrics.SetRoute(r, auth.WellKnownPath+"[/registry/{view}]")
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		switch {
		case !known:
			federate.WriteProblem(w, http.StatusNotFound, "no such view")
		case r.Method == http.MethodOptions:
			h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
			h.Set("Access-Control-Max-Age", "86400")
			h.Set("Allow", "GET, HEAD, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			h.Set("Allow", "GET, HEAD, OPTIONS")
			federate.WriteProblem(w, http.StatusMethodNotAllowed, "GET only")
		default:
			body := auth.ProtectedResourceMetadata(auth.ViewResource(gk.root(r), view), gk.authn.Issuers())
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "public, max-age=300")
			if gk.resourceURL == "" {
				h.Set("Vary", "Host, X-Forwarded-Proto")
			}
			h.Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodGet {
				_, _ = w.Write(body)
			}
		}
	})
}

// label is a view's name in metrics and audit lines.
func label(view string) string {
	if view == "" {
		return rootLabel
	}
	return view
}

// statusWriter records the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
