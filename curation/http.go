package curation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/metrics"
	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream"
)

// Check decides whether a request may use an endpoint. subject is the
// caller's identity when the request carries a valid token ("" without
// one); ok says whether that caller may. A request without a valid token
// gets 401, a caller who may not 403.
type Check func(r *http.Request) (subject string, ok bool)

// Store is what the endpoints write and read (store.Store has it all).
type Store interface {
	PutDecision(ctx context.Context, d store.Decision) error
	DeleteDecision(ctx context.Context, serverName, versions, who string) error
	Decisions(ctx context.Context) ([]store.Decision, error)
	Changes(ctx context.Context, after int64, limit int) ([]store.Change, error)
}

// ErrNoView is what Options.Entries returns for a view that does not
// exist (the review queue answers 404).
var ErrNoView = errors.New("no such view")

// Bounds of the endpoints.
const (
	DefaultMaxBodyBytes = 16 << 10
	DefaultPendingLimit = 50
	MaxPendingLimit     = 500
	DefaultChangesLimit = 100
	MaxChangesLimit     = 1000
)

// Event is a decision write for the audit log: who wrote what, and the
// status it was answered.
type Event struct {
	Action   string // put or delete
	Server   string
	Versions string // "" for a delete of every decision of the server
	Decision string // approved or denied (put)
	Subject  string // who: the caller's subject, "admin" for the admin token file
	Status   int    // the HTTP status answered
}

// Options wire the curation endpoints.
type Options struct {
	Store Store
	// Set, when given, is re-read after every write, so the writer's next
	// request to an approved-only view sees the decision (other replicas
	// see it through the store's change signal). Its documents' decisions
	// are listed with the store's.
	Set *Set
	// Reviewer admits reviewers (tokens with curation.reviewerClaims);
	// Admin admits administrators. Either may list and write decisions
	// and read the review queue; only Admin reads the history. A nil
	// Check admits nobody.
	Reviewer, Admin Check
	// Entries lists the entries of the named view's sources, before
	// curation, as the caller may see them (ErrNoView for an unknown view):
	// the review queue is the ones no decision covers.
	Entries func(r *http.Request, view string) ([]*upstream.Entry, error)
	// MaxBodyBytes bounds a request body (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Audit, when set, receives every decision write a caller was
	// admitted to attempt (written or not, the status says).
	Audit  func(r *http.Request, e Event)
	Clock  func() time.Time
	Logger *slog.Logger
}

// API serves the curation endpoints under an API prefix (/v0.1, /v0):
//
//	GET    {prefix}/x/io.github.mcpfed/approvals                 decisions
//	PUT    {prefix}/x/io.github.mcpfed/approvals/{serverName}    write one
//	DELETE {prefix}/x/io.github.mcpfed/approvals/{serverName}    ?versions=: one, else all of the server
//	GET    {prefix}/x/io.github.mcpfed/approvals/pending?view=   the review queue
//	GET    {prefix}/x/io.github.mcpfed/changes?after=&limit=     history (admins)
type API struct {
	o Options
}

// New returns the endpoints.
func New(o Options) *API {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{o: o}
}

// Register adds the endpoints to mux under prefix ("/v0.1").
func (a *API) Register(mux *http.ServeMux, prefix string) {
	base := prefix + federate.ExtensionPath
	for _, rt := range []struct {
		path    string
		methods map[string]http.HandlerFunc
	}{
		{"/approvals", map[string]http.HandlerFunc{http.MethodGet: a.list}},
		{"/approvals/pending", map[string]http.HandlerFunc{http.MethodGet: a.pending}},
		{"/approvals/{serverName...}", map[string]http.HandlerFunc{http.MethodPut: a.put, http.MethodDelete: a.delete}},
		{"/changes", map[string]http.HandlerFunc{http.MethodGet: a.changes}},
	} {
		label := base + strings.ReplaceAll(rt.path, "...", "")
		methods := rt.methods
		allow := allowHeader(methods)
		mux.HandleFunc(base+rt.path, func(w http.ResponseWriter, r *http.Request) {
			metrics.SetRoute(r, label)
			h, ok := methods[r.Method]
			if !ok && r.Method == http.MethodHead {
				h, ok = methods[http.MethodGet]
			}
			if !ok {
				w.Header().Set("Allow", allow)
				federate.WriteProblem(w, http.StatusMethodNotAllowed, r.Method+" is not supported here (allowed: "+allow+")")
				return
			}
			h(w, r)
		})
	}
}

func allowHeader(methods map[string]http.HandlerFunc) string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		if _, ok := methods[m]; ok {
			out = append(out, m)
			if m == http.MethodGet {
				out = append(out, http.MethodHead)
			}
		}
	}
	return strings.Join(out, ", ")
}

// authorize answers 401 or 403 unless one of the checks admits the
// caller, whose subject it returns.
func (a *API) authorize(w http.ResponseWriter, r *http.Request, checks ...Check) (string, bool) {
	known := ""
	for _, c := range checks {
		if c == nil {
			continue
		}
		subject, ok := c(r)
		if ok {
			if subject == "" {
				subject = "unknown"
			}
			return subject, true
		}
		if subject != "" {
			known = subject
		}
	}
	if known == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
		federate.WriteProblem(w, http.StatusUnauthorized, "a valid bearer token is required")
		return "", false
	}
	federate.WriteProblem(w, http.StatusForbidden, "this token may not manage curation decisions")
	return "", false
}

// decisionJSON is a decision as the API shows it.
type decisionJSON struct {
	ServerName string     `json:"serverName"`
	Versions   string     `json:"versions"`
	Decision   string     `json:"decision"`
	Note       string     `json:"note,omitempty"`
	Who        string     `json:"who,omitempty"`
	At         *time.Time `json:"at,omitempty"`
	// Document names the decisions source the decision was read from:
	// change it there, not through the API.
	Document string `json:"document,omitempty"`
}

func toJSON(rec Record) decisionJSON {
	d := decisionJSON{ServerName: rec.ServerName, Versions: rec.Versions, Decision: rec.Decision.Decision, Note: rec.Note, Who: rec.Who, Document: rec.Document}
	if !rec.At.IsZero() {
		at := rec.At.UTC()
		d.At = &at
	}
	return d
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.authorize(w, r, a.o.Reviewer, a.o.Admin); !ok {
		return
	}
	q, ok := query(w, r, "serverName")
	if !ok {
		return
	}
	decs, err := a.o.Store.Decisions(r.Context())
	if err != nil {
		a.storeError(w, "list the decisions", err)
		return
	}
	recs := make([]Record, 0, len(decs))
	for _, d := range decs {
		recs = append(recs, Record{Decision: d})
	}
	if a.o.Set != nil {
		recs = append(recs, a.o.Set.Documents()...)
	}
	sortRecords(recs)
	name := q.Get("serverName")
	out := make([]decisionJSON, 0, len(recs))
	for _, rec := range recs {
		if name == "" || rec.ServerName == name {
			out = append(out, toJSON(rec))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"decisions": out, "metadata": map[string]any{"count": len(out)}})
}

// putBody is PUT's body; pointers tell a missing field from an empty one.
type putBody struct {
	Versions *string `json:"versions"`
	Decision *string `json:"decision"`
	Note     string  `json:"note"`
}

func (a *API) put(w http.ResponseWriter, r *http.Request) {
	subject, ok := a.authorize(w, r, a.o.Reviewer, a.o.Admin)
	if !ok {
		return
	}
	if _, ok := query(w, r); !ok {
		return
	}
	name := r.PathValue("serverName")
	var body putBody
	if !a.readBody(w, r, &body) {
		return
	}
	var missing []string
	if body.Versions == nil {
		missing = append(missing, `versions: required ("*", an exact version or a range such as ">=1.2 <2")`)
	}
	if body.Decision == nil {
		missing = append(missing, "decision: required (approved or denied)")
	}
	if len(missing) > 0 {
		federate.WriteProblem(w, http.StatusBadRequest, strings.Join(missing, "; "))
		return
	}
	d := store.Decision{ServerName: name, Versions: *body.Versions, Decision: *body.Decision, Note: body.Note,
		Who: subject, At: a.o.Clock().UTC().Truncate(time.Millisecond)}
	if err := ValidateDecision(&d); err != nil {
		federate.WriteProblem(w, http.StatusBadRequest, joinMessages(err))
		return
	}
	ev := Event{Action: "put", Server: d.ServerName, Versions: d.Versions, Decision: d.Decision, Subject: subject}
	if err := a.o.Store.PutDecision(r.Context(), d); err != nil {
		ev.Status = a.storeError(w, "write the decision", err)
		a.audit(r, ev)
		return
	}
	ev.Status = http.StatusOK
	a.audit(r, ev)
	a.o.Logger.Info("curation decision written", "subject", subject, "server", d.ServerName, "versions", d.Versions, "decision", d.Decision)
	a.reload(r.Context())
	writeJSON(w, http.StatusOK, toJSON(Record{Decision: d}))
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	subject, ok := a.authorize(w, r, a.o.Reviewer, a.o.Admin)
	if !ok {
		return
	}
	q, ok := query(w, r, "versions")
	if !ok {
		return
	}
	name := r.PathValue("serverName")
	if err := checkServerName(name); err != nil {
		federate.WriteProblem(w, http.StatusBadRequest, "serverName: "+err.Error())
		return
	}
	versions := ""
	if q.Has("versions") {
		rng, err := ParseVersions(q.Get("versions"))
		if err != nil {
			federate.WriteProblem(w, http.StatusBadRequest, "versions: "+err.Error())
			return
		}
		versions = rng.String()
	}
	ev := Event{Action: "delete", Server: name, Versions: versions, Subject: subject}
	if err := a.o.Store.DeleteDecision(r.Context(), name, versions, subject); err != nil {
		ev.Status = a.storeError(w, "delete the decision", err)
		a.audit(r, ev)
		return
	}
	ev.Status = http.StatusNoContent
	a.audit(r, ev)
	a.o.Logger.Info("curation decision deleted", "subject", subject, "server", name, "versions", versions)
	a.reload(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) audit(r *http.Request, e Event) {
	if a.o.Audit != nil {
		a.o.Audit(r, e)
	}
}

// reload makes the writer's next read see its write; a failure leaves it
// to the store's change signal.
func (a *API) reload(ctx context.Context) {
	if a.o.Set == nil {
		return
	}
	if err := a.o.Set.Reload(ctx); err != nil {
		a.o.Logger.Warn("decision written; the rule will follow at the store's next change signal", "error", err)
	}
}

func (a *API) changes(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.authorize(w, r, a.o.Admin); !ok {
		return
	}
	q, ok := query(w, r, "after", "limit")
	if !ok {
		return
	}
	after, ok := intParam(w, q, "after", 0, 0, 1<<62)
	if !ok {
		return
	}
	limit, ok := intParam(w, q, "limit", DefaultChangesLimit, 1, MaxChangesLimit)
	if !ok {
		return
	}
	chs, err := a.o.Store.Changes(r.Context(), after, int(limit))
	if err != nil {
		a.storeError(w, "read the history", err)
		return
	}
	type changeJSON struct {
		Seq     int64           `json:"seq"`
		At      time.Time       `json:"at"`
		Who     string          `json:"who"`
		Kind    string          `json:"kind"`
		Server  string          `json:"server,omitempty"`
		Version string          `json:"version,omitempty"`
		Detail  json.RawMessage `json:"detail,omitempty"`
	}
	out := make([]changeJSON, 0, len(chs))
	next := after
	for _, c := range chs {
		detail := c.Detail
		if len(detail) > 0 && !json.Valid(detail) {
			detail = nil // never break the answer for one bad row
		}
		out = append(out, changeJSON{Seq: c.Seq, At: c.At.UTC(), Who: c.Who, Kind: c.Kind, Server: c.Server, Version: c.Version, Detail: detail})
		next = max(next, c.Seq)
	}
	meta := map[string]any{"count": len(out)}
	if len(out) == int(limit) {
		meta["nextAfter"] = next
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": out, "metadata": meta})
}

// readBody decodes a bounded JSON body strictly (unknown fields and
// trailing data refused), answering the problem itself when it cannot.
func (a *API) readBody(w http.ResponseWriter, r *http.Request, out any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			federate.WriteProblem(w, http.StatusUnsupportedMediaType, "the body must be application/json")
			return false
		}
	}
	if r.ContentLength > a.o.MaxBodyBytes {
		federate.WriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body exceeds %d bytes", a.o.MaxBodyBytes))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, a.o.MaxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(out)
	if err == nil {
		if _, extra := dec.Token(); !errors.Is(extra, io.EOF) {
			err = errors.New("data after the JSON object")
			var tooLarge *http.MaxBytesError
			if errors.As(extra, &tooLarge) {
				err = extra
			}
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		federate.WriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body exceeds %d bytes", a.o.MaxBodyBytes))
		return false
	case errors.Is(err, io.EOF):
		federate.WriteProblem(w, http.StatusBadRequest, `a JSON body is required: {"versions": …, "decision": …, "note": …}`)
		return false
	case err != nil:
		federate.WriteProblem(w, http.StatusBadRequest, "the body is not a decision: "+strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	return true
}

// storeError maps a store error to its answer, whose status it returns.
func (a *API) storeError(w http.ResponseWriter, what string, err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound):
		federate.WriteProblem(w, http.StatusNotFound, "no such decision")
		return http.StatusNotFound
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		a.o.Logger.Warn("curation: store unavailable", "op", what, "error", err)
		w.Header().Set("Retry-After", "5")
		federate.WriteProblem(w, http.StatusServiceUnavailable, "the store is unavailable; retry later")
		return http.StatusServiceUnavailable
	default:
		a.o.Logger.Error("curation: store error", "op", what, "error", err)
		federate.WriteProblem(w, http.StatusInternalServerError, "internal error")
		return http.StatusInternalServerError
	}
}

// query returns the request's parameters, answering 400 for one not in
// allowed or given twice.
func query(w http.ResponseWriter, r *http.Request, allowed ...string) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		federate.WriteProblem(w, http.StatusBadRequest, "the query is not valid")
		return nil, false
	}
	for k, v := range q {
		known := false
		for _, a := range allowed {
			known = known || a == k
		}
		switch {
		case !known:
			federate.WriteProblem(w, http.StatusBadRequest, fmt.Sprintf("unknown query parameter %q", clip(k)))
			return nil, false
		case len(v) > 1:
			federate.WriteProblem(w, http.StatusBadRequest, fmt.Sprintf("query parameter %q is given more than once", k))
			return nil, false
		}
	}
	return q, true
}

func intParam(w http.ResponseWriter, q url.Values, name string, def, lo, hi int64) (int64, bool) {
	if !q.Has(name) {
		return def, true
	}
	n, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil || n < lo || n > hi {
		federate.WriteProblem(w, http.StatusBadRequest, fmt.Sprintf("%s must be a whole number from %d to %d", name, lo, hi))
		return 0, false
	}
	return n, true
}

func joinMessages(err error) string {
	var parts []string
	for _, e := range flatten(err) {
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

// writeJSON answers v as JSON, never cached (decisions change and are
// for reviewers only).
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		federate.WriteProblem(w, http.StatusInternalServerError, "internal error")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
