package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/mcpfed/mcpfed/auth"
	"github.com/mcpfed/mcpfed/credential"
	"github.com/mcpfed/mcpfed/publish"
	"github.com/mcpfed/mcpfed/store"
)

// errNoStore is a source or endpoint that needs the store wired without
// one (a validated configuration always opens it: config.NeedsStore).
var errNoStore = errors.New("needs the store, which is not open")

// publishRoutes adds the publishing API (the official registry's write
// endpoints and the token exchanges mcp-publisher uses) to mux when a
// managed source serves what is published. Its patterns are method
// specific, so they sit beside the read API's GET routes on the same paths.
func (g *gateway) publishRoutes(mux *http.ServeMux) error {
	if g.managed == nil {
		return nil
	}
	pc := g.cfg.Publishing
	if pc.TokenKeyFile == "" && (pc.Anonymous || pc.GitHubOIDC.Audience != "") {
		g.warnings = append(g.warnings, "registry tokens (mcp-publisher login) are signed with a key kept in the state directory ("+publish.KeyFileName+"): replicas refuse each other's tokens until they share publishing.tokenKeyFile")
	}
	if pc.Anonymous {
		g.warnings = append(g.warnings, "publishing.anonymous is on: anyone who reaches the port can publish in "+publish.AnonymousNamespace+" (for local testing only)")
	}
	src := g.managed
	keyDir := g.cfg.StateDir
	if g.opts.readOnly {
		// check and snapshot issue no token: a key of their own, the
		// state directory's left alone (it may not exist yet).
		keyDir = ""
	}
	h, err := publish.New(publish.Options{
		Config:   pc,
		Store:    g.store,
		StateDir: keyDir,
		ReadOnly: g.opts.readOnly,
		Identify: g.access.identify,
		// Read-your-write on this replica; the others reload on the
		// store's change signal.
		AfterWrite: func(ctx context.Context) {
			if err := src.Load(ctx); err != nil {
				g.logger.Warn("managed source did not reload after a write; it retries", "source", src.Name(), "error", err)
			}
		},
		Audit:  g.access.auditPublish,
		Clock:  g.clock,
		Logger: g.logger,
	})
	if err != nil {
		return &invalidConfig{[]string{"publishing: " + err.Error()}}
	}
	for _, p := range h.Patterns() {
		mux.Handle(p, h)
	}
	return nil
}

// identify is the publishing API's view of mcpfed's own tokens: the
// admin token file or a verified token (OIDC, static). Anonymous and
// invalid requests are not identified.
func (gk *gatekeeper) identify(r *http.Request) (subject string, claims map[string]any, admin, ok bool) {
	if sub, ok := gk.adminSubject(r); ok {
		id, _ := gk.authn.Authenticate(r.Context(), r)
		return sub, id.Claims, true, true
	}
	id, err := gk.authn.Authenticate(r.Context(), r)
	if err != nil || id.Anonymous() {
		return "", nil, false, false
	}
	return id.Subject, id.Claims, false, true
}

// adminSubject is isAdmin with who it is: "admin" for the admin token
// file, the token's subject for a token carrying admin.claims. A verified
// token that is not an admin's is known (its subject, false): curation
// answers it 403 rather than 401.
func (gk *gatekeeper) adminSubject(r *http.Request) (string, bool) {
	return gk.admin(r, true)
}

// admin decides whether the request bears the admin token or a token with
// admin.claims; withSubject authenticates a token that is neither too,
// for its subject.
func (gk *gatekeeper) admin(r *http.Request, withSubject bool) (string, bool) {
	tok, err := auth.BearerToken(r)
	if err != nil || tok == "" {
		return "", false
	}
	if gk.adminToken != "" {
		want, err := credential.ReadFile(gk.adminToken)
		if err != nil {
			gk.logger.Error("cannot read the admin token file", "error", err)
		} else if subtle.ConstantTimeCompare([]byte(tok), []byte(want)) == 1 {
			return "admin", true
		}
	}
	if len(gk.adminClaims) == 0 && !withSubject {
		return "", false
	}
	id, err := gk.authn.Authenticate(r.Context(), r)
	if err != nil || id.Anonymous() {
		return "", false
	}
	return id.Subject, len(gk.adminClaims) > 0 && auth.MatchClaims(id.Claims, gk.adminClaims)
}

// auditPublish writes a publishing decision to the audit stream.
func (gk *gatekeeper) auditPublish(r *http.Request, e publish.Event) {
	rec := auth.Record{View: "publish", Client: gk.proxies.ClientAddress(r), Subject: e.Subject, Status: e.Status, Decision: auth.ResultAllow}
	switch e.Status {
	case http.StatusUnauthorized:
		rec.Decision = auth.ResultUnauthenticated
	case http.StatusForbidden:
		rec.Decision = auth.ResultForbidden
	case http.StatusTooManyRequests:
		rec.Decision = auth.ResultRateLimited
	}
	rec.Reason = e.Action
	if e.Server != "" {
		rec.Reason += " " + e.Server
		if e.Version != "" {
			rec.Reason += "@" + e.Version
		}
	}
	if e.Reason != "" {
		rec.Reason += ": " + e.Reason
	}
	// Bounded like the other records' reasons: a name is at most
	// store.MaxNameBytes, a version store.MaxVersionBytes.
	if max := 64 + store.MaxNameBytes + store.MaxVersionBytes + 256; len(rec.Reason) > max {
		rec.Reason = strings.ToValidUTF8(rec.Reason[:max], "")
	}
	gk.audit(r, rec)
}
