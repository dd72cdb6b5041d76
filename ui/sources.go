package ui

import (
	"net/http"
	"slices"
	"time"

	"github.com/mcpfed/mcpfed/federate"
)

// sourcesPage is the sources template's data.
type sourcesPage struct {
	chrome
	Admin   bool
	Sources []sourceRow
}

type sourceRow struct {
	Name, Kind, Mode, State, StateClass, Breaker, LastError string
	Required                                                bool
	Entries                                                 int
	LastSuccess                                             time.Time
	Unavailable                                             []string
}

// sources shows the view's sources in its priority order: their kind,
// state, entries, last success and breaker, and, to admins only, their
// error texts (as the API's sources endpoint). The state changes by the
// second: the page is never cached.
func (u *UI) sources(w http.ResponseWriter, r *http.Request, sv served) {
	var reports []federate.SourceReport
	if u.o.Sources != nil {
		reports = u.o.Sources()
	}
	admin := u.o.IsAdmin != nil && u.o.IsAdmin(r)
	byName := map[string]federate.SourceReport{}
	var all []string
	for _, rep := range reports {
		byName[rep.Name] = rep
		all = append(all, rep.Name)
	}
	p := sourcesPage{chrome: u.chrome(sv, "Sources", "sources"), Admin: admin}
	for _, name := range sv.scope(all) {
		rep, ok := byName[name]
		if !ok {
			continue
		}
		row := sourceRow{
			Name: rep.Name, Kind: rep.Kind, Mode: rep.Mode, State: rep.State, StateClass: stateClass(rep.State),
			Breaker: rep.Breaker, Required: rep.Required, Entries: rep.Entries,
		}
		if rep.LastSuccess != nil {
			row.LastSuccess = *rep.LastSuccess
		}
		if admin {
			row.LastError = rep.LastError
			for _, k := range sortedKeys(rep.Unavailable) {
				row.Unavailable = append(row.Unavailable, k+": "+rep.Unavailable[k])
			}
		}
		p.Sources = append(p.Sources, row)
	}
	// Admin pages hold error texts: they are the admin's alone.
	u.render(w, r, pageSources, p, http.StatusOK, answerOpts{private: sv.private() || admin, noStore: true})
}

// stateClass maps a source state to the badge colour of a status.
func stateClass(state string) string {
	switch {
	case state == "ok":
		return "active"
	case slices.Contains([]string{"stale", "restored", "pending"}, state):
		return "deprecated"
	}
	return "deleted"
}
