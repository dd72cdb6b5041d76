package main

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/auth"
	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/curation"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/gitsource"
)

// Bounds of the review queue's walk through a view (curation's Entries):
// every version the view's sources serve, a page of federate.MaxLimit at
// a time.
const (
	maxQueueEntries = 50000
	maxQueuePages   = maxQueueEntries / federate.MaxLimit
)

// newCurationSet builds the decisions of approved-only views when
// something decides (the store, decisions sources): nil otherwise.
func (g *gateway) newCurationSet() {
	idx := g.cfg.DecisionSources()
	if g.store == nil && len(idx) == 0 {
		return
	}
	names := make([]string, len(idx))
	for i, j := range idx {
		names[i] = g.cfg.Sources[j].Name
	}
	var st curation.DecisionStore
	if g.store != nil {
		st = g.store
	}
	g.set = curation.NewSet(curation.SetOptions{
		Store:     st,
		Documents: names,
		// Cached answers of approved-only views are keyed by the rule's
		// generation (federate.View.CurationGeneration): nothing to drop.
		OnChange: func() {
			r := g.set.Rules()
			g.logger.Debug("curation decisions changed", "generation", r.Generation(), "decisions", r.Len(), "ready", r.Ready())
		},
		Logger: g.logger,
	})
}

// curate sets the rule of an approved-only view.
func (g *gateway) curate(v *federate.View, vc config.ViewConfig) {
	if vc.Curation != curation.ApprovedOnly {
		return
	}
	if g.set == nil {
		// Unreachable while config demands a decider for every curated
		// view; should it ever happen, the view shows nothing rather
		// than everything.
		v.Curated = func(*upstream.Entry) bool { return false }
		v.CurationGeneration = func() uint64 { return 0 }
		return
	}
	v.Curated = g.set.Admit
	v.CurationGeneration = func() uint64 { return g.set.Rules().Generation() }
}

// newDecisions builds a source of curation decisions (decisions: true):
// a file or URL read by curation, or a git repository whose commits'
// trees curation reads. Neither serves servers.
func (g *gateway) newDecisions(sc config.SourceConfig) (built, error) {
	if g.set == nil {
		// buildProblems: only the source's own problems matter.
		g.set = curation.NewSet(curation.SetOptions{Logger: g.logger})
	}
	switch spec := sc.Spec.(type) {
	case *upstream.FileSpec:
		o := curation.FileDocumentOptions(sc.Name, *spec)
		o.Set, o.StateDir, o.ReadOnly = g.set, g.cfg.StateDir, g.opts.readOnly
		o.Clock, o.Logger, o.OnLoad = g.clock, g.logger, g.metrics.SourceLoaded
		src, err := curation.NewDocumentSource(o)
		if err != nil {
			return built{}, err
		}
		return built{src: src, decisions: true}, nil
	case *gitsource.Spec:
		o := spec.Options(sc.Name)
		o.CloneDir = filepath.Join(g.cfg.StateDir, "git", sc.Name)
		o.StateDir, o.ReadOnly = g.cfg.StateDir, g.opts.readOnly
		o.Clock, o.Logger, o.OnLoad = g.clock, g.logger, g.metrics.SourceLoaded
		keep := g.cfg.StateDir
		if g.opts.readOnly {
			keep = ""
		}
		o.Read = curation.TreeReader(g.set, sc.Name, keep, g.logger)
		// The last good document first: a restart while the repository
		// cannot be reached keeps the decisions.
		curation.RestoreKept(g.set, sc.Name, g.cfg.StateDir, g.logger)
		gs, err := gitsource.New(o)
		if err != nil {
			return built{}, err
		}
		g.closers = append(g.closers, func() { _ = gs.Close() })
		return built{src: gs, decisions: true}, nil
	}
	return built{}, fmt.Errorf("kind %s cannot hold decisions (file or git)", sc.Kind)
}

// curationRoutes adds the decisions, review queue and history endpoints
// under /v0.1 and /v0 when the store is open.
func (g *gateway) curationRoutes(mux *http.ServeMux, root *federate.View, views map[string]*federate.View) {
	if g.store == nil {
		return
	}
	var reviewer curation.Check
	if claims := g.cfg.Curation.ReviewerClaims; len(claims) > 0 {
		reviewer = g.access.reviewer(claims)
	}
	api := curation.New(curation.Options{
		Store:    g.store,
		Set:      g.set,
		Reviewer: reviewer,
		Admin:    g.access.adminSubject,
		Entries:  g.queueEntries(root, views),
		Audit:    g.access.auditCuration,
		Clock:    g.clock,
		Logger:   g.logger,
	})
	for _, p := range []string{"/v0.1", "/v0"} {
		api.Register(mux, p)
	}
}

// withWrites sends the requests a pattern of writes matches to writes and
// every other to api. Only a path in canonical form is looked up: a
// ServeMux would redirect the others, where the read API answers them
// itself (a 400 for an empty segment). The write routes are under the
// per-client rate limit as the read API is (api applies it itself).
func (gk *gatekeeper) withWrites(writes *http.ServeMux, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == canonicalPath(p) {
			if _, pattern := writes.Handler(r); pattern != "" {
				if gk.limitWrite(w, r) {
					writes.ServeHTTP(w, r)
				}
				return
			}
		}
		api.ServeHTTP(w, r)
	})
}

// limitWrite applies the per-client rate limit to a write route, keyed
// as the read API keys it: by a verified token of mcpfed's own, else (no
// token, a registry token, an invalid one) by the client's address. Over
// the limit it answers 429 with Retry-After and returns false.
func (gk *gatekeeper) limitWrite(w http.ResponseWriter, r *http.Request) bool {
	if gk.limiter == nil {
		return true
	}
	client := gk.proxies.ClientAddress(r)
	id, err := gk.authn.Authenticate(r.Context(), r)
	if err != nil {
		id = auth.Identity{}
	}
	ok, wait := gk.limiter.Allow(auth.ClientKey(id, client))
	if ok {
		return true
	}
	rec := auth.Record{View: "writes", Client: client, Subject: id.Subject, Issuer: id.Issuer,
		Decision: auth.ResultRateLimited, Reason: "over the per-client rate limit"}
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
	gk.refuse(w, r, rec, http.StatusTooManyRequests, "too many requests from this client; retry later")
	return false
}

// canonicalPath is p as ServeMux would redirect it: cleaned, its trailing
// slash kept.
func canonicalPath(p string) string {
	if p == "" || p[0] != '/' {
		return "/" + p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// auditCuration writes a decision write to the audit stream with who
// wrote it ("admin" for the admin token file).
func (gk *gatekeeper) auditCuration(r *http.Request, e curation.Event) {
	rec := auth.Record{View: "curation", Client: gk.proxies.ClientAddress(r), Subject: e.Subject, Status: e.Status, Decision: auth.ResultAllow}
	rec.Reason = "approvals " + e.Action + " " + e.Server
	if e.Versions != "" {
		rec.Reason += "@" + e.Versions
	}
	if e.Decision != "" {
		rec.Reason += ": " + e.Decision
	}
	// Bounded like the publishing records' reasons.
	if max := 64 + store.MaxNameBytes + store.MaxVersionBytes + 256; len(rec.Reason) > max {
		rec.Reason = strings.ToValidUTF8(rec.Reason[:max], "")
	}
	gk.audit(r, rec)
}

// reviewer admits verified tokens carrying claims; another verified token
// is known but refused (403), no token or an invalid one is not (401).
func (gk *gatekeeper) reviewer(claims map[string]any) curation.Check {
	return func(r *http.Request) (string, bool) {
		id, err := gk.authn.Authenticate(r.Context(), r)
		if err != nil || id.Anonymous() {
			return "", false
		}
		return id.Subject, auth.MatchClaims(id.Claims, claims)
	}
}

// mayRead is the access decision of authorize without an answer: whether
// the request may read the view ("" the root). Without auth: every view is
// public, as the read API treats them.
func (gk *gatekeeper) mayRead(r *http.Request, view string) bool {
	if !gk.enforce {
		return true
	}
	access, known := gk.views[view]
	if !known {
		return false
	}
	id, err := gk.authn.Authenticate(r.Context(), r)
	if err != nil {
		return false
	}
	return auth.Decide(access, id).Result == auth.ResultAllow
}

// queueEntries lists a view's entries before curation, as the caller may
// read the view: the engine's answer for a copy of the view without its
// rule, every version, paged through within maxQueueEntries. A view the
// caller may not read is not found, as an unknown one.
func (g *gateway) queueEntries(root *federate.View, views map[string]*federate.View) func(*http.Request, string) ([]*upstream.Entry, error) {
	return func(r *http.Request, name string) ([]*upstream.Entry, error) {
		v, known := views[name]
		access := name
		if !known && name == config.DefaultView && root == nil {
			known, access = true, "" // the root: every source
		}
		if !known || !g.access.mayRead(r, access) {
			return nil, curation.ErrNoView
		}
		var uncurated *federate.View
		if v != nil {
			c := *v
			c.Curated, c.CurationGeneration = nil, nil
			uncurated = &c
		}
		return g.listAll(r.Context(), uncurated, name)
	}
}

// listAll pages through a view's list, bounded.
func (g *gateway) listAll(ctx context.Context, v *federate.View, name string) ([]*upstream.Entry, error) {
	var out []*upstream.Entry
	q := federate.Query{Limit: federate.MaxLimit}
	for range maxQueuePages {
		page, err := g.engine.List(ctx, q, v)
		if err != nil {
			return nil, fmt.Errorf("list view %q: %w", name, err)
		}
		out = append(out, page.Entries...)
		if page.NextCursor == "" {
			return out, nil
		}
		q.Cursor = page.NextCursor
	}
	g.logger.Warn("review queue: the view has more entries than are listed", "view", name, "listed", len(out))
	return out, nil
}
