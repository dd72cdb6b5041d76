package federate

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/metrics"
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
	State       string     `json:"state"`
	Entries     int        `json:"entries"`
	Revision    string     `json:"revision,omitempty"`
	Commit      string     `json:"commit,omitempty"`
	Breaker     string     `json:"breaker,omitempty"`
	LastAttempt *time.Time `json:"lastAttempt,omitempty"`
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
}

// ErrNotResyncable is a source that has nothing to resync (a live source).
var ErrNotResyncable = errors.New("source cannot be resynced")

// AdminOptions enable mcpfed's operator endpoints.
type AdminOptions struct {
	// Sources reports every source's status (GET …/x/io.github.mcpfed/sources).
	Sources func() []SourceReport
	// Resync, when set, enables POST …/sources/{name}/resync; it runs one
	// full sync of the named source and returns its report.
	Resync func(ctx context.Context, name string) (SourceReport, error)
	// Token, when set, returns the bearer token the resync endpoint demands.
	Token func() (string, error)
}

func (a *API) registerAdmin(prefix string) {
	if a.o.Admin.Sources == nil {
		return
	}
	base := prefix + ExtensionPath + "/sources"
	a.route(base, base, func(w http.ResponseWriter, r *http.Request) {
		body, _ := json.Marshal(map[string][]SourceReport{"sources": a.o.Admin.Sources()}) // plain structs: cannot fail
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
	label := base + "/{source}/resync"
	a.mux.HandleFunc(base+"/{source}/resync", func(w http.ResponseWriter, r *http.Request) {
		metrics.SetRoute(r, label)
		a.resync(w, r)
	})
}

// resync serves POST …/sources/{source}/resync.
func (a *API) resync(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		writeProblem(w, http.StatusMethodNotAllowed, "use POST to trigger a resync")
		return
	}
	if a.o.Admin.Resync == nil {
		writeProblem(w, http.StatusForbidden, "manual resync is disabled (admin.resync in the configuration)")
		return
	}
	if a.o.Admin.Token != nil {
		want, err := a.o.Admin.Token()
		if err != nil {
			a.o.Logger.Error("admin token unavailable", "error", err)
			writeProblem(w, http.StatusServiceUnavailable, "the admin token cannot be read")
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcpfed"`)
			writeProblem(w, http.StatusUnauthorized, "a valid bearer token is required")
			return
		}
	}
	name := r.PathValue("source")
	rep, err := a.o.Admin.Resync(r.Context(), name)
	switch {
	case errors.Is(err, ErrNotFound):
		writeProblem(w, http.StatusNotFound, "no source named "+name)
		return
	case errors.Is(err, ErrNotResyncable):
		writeProblem(w, http.StatusConflict, err.Error())
		return
	case err != nil:
		a.o.Logger.Warn("manual resync failed", "source", name, "error", err)
		writeProblem(w, http.StatusBadGateway, err.Error())
		return
	}
	a.o.Logger.Info("manual resync", "source", name, "entries", rep.Entries)
	body, _ := json.Marshal(rep) // plain struct: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}
