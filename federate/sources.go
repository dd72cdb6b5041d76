package federate

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/metrics"
	"github.com/mcpfed/mcpfed/upstream"
)

// ExtensionPath is mcpfed's own extension namespace under an API prefix
// (the registry extensions convention: /v0.1/x/<namespace>/<extension>).
const ExtensionPath = "/x/io.github.mcpfed"

// SourceReport is one source's sync status.
type SourceReport struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Mode     string `json:"mode,omitempty"`
	Required bool   `json:"required"`
	// State is ok, stale, failed, restored or pending.
	State   string `json:"state"`
	Entries int    `json:"entries"`
	// Skipped counts, by reason, what a kubernetes source could not make
	// an entry of (a resource missing a required annotation, …);
	// Unavailable says which resources it cannot watch and why (shown to
	// admins only, like LastError); Instances counts the MCP servers it
	// sees running.
	Skipped     map[string]int    `json:"skipped,omitempty"`
	Unavailable map[string]string `json:"unavailable,omitempty"`
	Instances   int               `json:"instances,omitempty"`
	// Skills and Plugins count the ToolHive artifacts a snapshot source holds.
	Skills      int        `json:"skills,omitempty"`
	Plugins     int        `json:"plugins,omitempty"`
	Revision    string     `json:"revision,omitempty"`
	Commit      string     `json:"commit,omitempty"`
	Breaker     string     `json:"breaker,omitempty"`
	LastAttempt *time.Time `json:"lastAttempt,omitempty"`
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
	// Order is how a live source serves list queries now: "bytes"
	// (forwarded page by page) or "index" (from its local index).
	Order string `json:"order,omitempty"`
	// Dropped counts, by reason (DropOutOfOrder, DropInvalid,
	// DropOverBound), the source's entries that answers left out since
	// start: each answer counts its own (see EngineOptions.Dropped).
	Dropped map[string]int64 `json:"dropped,omitempty"`
}

// DropCounts tallies what EngineOptions.Dropped reports, for the sources
// endpoint (SourceReport.Dropped). Safe for concurrent use.
type DropCounts struct {
	mu sync.Mutex
	n  map[string]map[string]int64
}

// Add counts n entries of source left out of an answer for reason; its
// signature is EngineOptions.Dropped's.
func (d *DropCounts) Add(source, reason string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[string]map[string]int64{}
	}
	if d.n[source] == nil {
		d.n[source] = map[string]int64{}
	}
	d.n[source][reason] += int64(n)
}

// Of returns a copy of source's counts by reason, nil if none.
func (d *DropCounts) Of(source string) map[string]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.n[source]) == 0 {
		return nil
	}
	return maps.Clone(d.n[source])
}

// ErrNotResyncable is a source that has nothing to resync (a live source):
// the sources' own sentinel, so a Resync func can return it as it is.
var ErrNotResyncable = upstream.ErrNotResyncable

// DefaultResyncWait is how long the resync endpoint waits for a resync to
// finish before it answers 202 Accepted, unless AdminOptions.ResyncWait
// says otherwise: well under a second, so the endpoint answers at once
// whatever a source is doing.
const DefaultResyncWait = 500 * time.Millisecond

// AdminOptions enable mcpfed's operator endpoints. The endpoints send no
// CORS headers (see cors).
type AdminOptions struct {
	// Sources reports every source's status (GET …/x/io.github.mcpfed/sources).
	// It must not block on a running load: the endpoint calls it on the
	// request path. LastError is shown only to requests bearing the admin
	// token; others see states.
	Sources func() []SourceReport
	// Resync, when set, enables POST …/sources/{name}/resync; it runs one
	// full sync of the named source and returns its report (ErrNotFound
	// for an unknown name, ErrNotResyncable for a live source). It runs in
	// the background with a context that ends when the API is closed, and
	// must end on its own deadline.
	Resync func(ctx context.Context, name string) (SourceReport, error)
	// Token, when set, returns the admin bearer token: the resync endpoint
	// demands it, and the sources endpoint shows error texts only to a
	// request bearing it. Without it, nobody sees error texts.
	Token func() (string, error)
	// IsAdmin, when set, decides admin access instead of Token: the
	// resync endpoint demands it (401 otherwise), and the sources
	// endpoint shows error texts only to requests it admits. It may
	// accept the admin token, a token with admin claims, or both.
	IsAdmin func(r *http.Request) bool
	// ResyncWait bounds how long the resync endpoint waits for the resync
	// before answering 202 Accepted (the resync goes on; its outcome is in
	// the sources endpoint and the log). Default DefaultResyncWait.
	ResyncWait time.Duration
}

// admin is the state of the operator endpoints: resyncs that outlive the
// request that started them.
type admin struct {
	ctx    context.Context // ends when the API is closed
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	running map[string]bool // sources with a resync in progress
}

func (a *API) registerAdmin(prefix string) {
	if a.o.Admin.Sources == nil {
		return
	}
	base := prefix + ExtensionPath + "/sources"
	a.route(base, base, func(w http.ResponseWriter, r *http.Request) {
		reports := a.o.Admin.Sources()
		if !a.isAdmin(r) {
			reports = withoutErrors(reports)
		}
		body, _ := json.Marshal(map[string][]SourceReport{"sources": reports}) // plain structs: cannot fail
		writeJSON(w, http.StatusOK, body)
	})
	label := base + "/{source}/resync"
	a.mux.HandleFunc(base+"/{source}/resync", func(w http.ResponseWriter, r *http.Request) {
		metrics.SetRoute(r, label)
		a.resync(w, r, base)
	})
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// withoutErrors copies reports without their error texts, which may name
// internal hosts and paths.
func withoutErrors(reports []SourceReport) []SourceReport {
	out := slices.Clone(reports)
	for i := range out {
		out[i].LastError, out[i].Unavailable = "", nil
	}
	return out
}

// isAdmin reports whether the request is an admin's: as IsAdmin says when
// set, else whether it bears the admin token.
func (a *API) isAdmin(r *http.Request) bool {
	if a.o.Admin.IsAdmin != nil {
		return a.o.Admin.IsAdmin(r)
	}
	if a.o.Admin.Token == nil {
		return false
	}
	want, err := a.o.Admin.Token()
	if err != nil || want == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// resyncResult is the outcome of one resync.
type resyncResult struct {
	rep SourceReport
	err error
}

// resync serves POST …/sources/{source}/resync. The resync runs in the
// background; the endpoint waits for it at most ResyncWait (and no longer
// than the client does), then answers 202 Accepted. A second resync of a
// source whose resync is still running is a 409.
func (a *API) resync(w http.ResponseWriter, r *http.Request, sourcesPath string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeProblem(w, http.StatusMethodNotAllowed, "use POST to trigger a resync")
		return
	}
	if a.o.Admin.Resync == nil {
		writeProblem(w, http.StatusForbidden, "manual resync is disabled (admin.resync in the configuration)")
		return
	}
	switch {
	case a.o.Admin.IsAdmin != nil:
		if !a.o.Admin.IsAdmin(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcpfed"`)
			writeProblem(w, http.StatusUnauthorized, "an admin's bearer token is required")
			return
		}
	case a.o.Admin.Token != nil:
		if _, err := a.o.Admin.Token(); err != nil {
			a.o.Logger.ErrorContext(r.Context(), "admin token unavailable", "error", err)
			writeProblem(w, http.StatusServiceUnavailable, "the admin token cannot be read")
			return
		}
		if !a.isAdmin(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcpfed"`)
			writeProblem(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
	}
	name := r.PathValue("source")
	done, ok := a.startResync(r.Context(), name)
	if !ok {
		writeProblem(w, http.StatusConflict, fmt.Sprintf("a resync of source %q is already running: see %s", name, sourcesPath))
		return
	}
	wait := a.o.Admin.ResyncWait
	if wait <= 0 {
		wait = DefaultResyncWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case res := <-done:
		a.resyncAnswer(w, r, name, res)
	case <-t.C:
		body, _ := json.Marshal(map[string]string{"source": name, "resync": "running", "status": sourcesPath}) // strings: cannot fail
		w.Header().Set("Location", sourcesPath)
		writeJSON(w, http.StatusAccepted, body)
	case <-r.Context().Done():
		// The client is gone; the resync goes on and logs its outcome.
	}
}

// startResync runs a resync of name in the background, unless one is
// running. The result is sent on the returned channel (buffered: nobody
// need read it) and logged with the request's context values.
func (a *API) startResync(ctx context.Context, name string) (<-chan resyncResult, bool) {
	ad := a.admin
	ad.mu.Lock()
	defer ad.mu.Unlock()
	if ad.running[name] || ad.ctx.Err() != nil {
		return nil, false
	}
	ad.running[name] = true
	done := make(chan resyncResult, 1)
	// The request's values (its id, for the log) without its deadline:
	// the resync outlives a 202; the API's context ends it on Close.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ad.ctx, cancel)
	ad.wg.Add(1)
	go func() {
		defer ad.wg.Done()
		defer cancel()
		defer stop()
		rep, err := a.o.Admin.Resync(rctx, name)
		ad.mu.Lock()
		delete(ad.running, name)
		ad.mu.Unlock()
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrNotResyncable):
		case err != nil:
			a.o.Logger.WarnContext(rctx, "manual resync failed", "source", name, "error", err)
		default:
			a.o.Logger.InfoContext(rctx, "manual resync", "source", name, "entries", rep.Entries)
		}
		done <- resyncResult{rep, err}
	}()
	return done, true
}

func (a *API) resyncAnswer(w http.ResponseWriter, r *http.Request, name string, res resyncResult) {
	switch {
	case errors.Is(res.err, ErrNotFound):
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("no source named %q", name))
		return
	case errors.Is(res.err, ErrNotResyncable):
		writeProblem(w, http.StatusConflict, fmt.Sprintf("source %q cannot be resynced: a live source is queried on demand", name))
		return
	case res.err != nil:
		// The cause (URLs, paths) is in the log and, for an admin, in the
		// source's lastError.
		writeProblem(w, http.StatusBadGateway, fmt.Sprintf("resync of source %q failed: see its lastError in the sources endpoint", name))
		return
	}
	rep := res.rep
	if !a.isAdmin(r) {
		rep.LastError = ""
	}
	body, _ := json.Marshal(rep) // plain struct: cannot fail
	writeJSON(w, http.StatusOK, body)
}
