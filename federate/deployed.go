package federate

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/mcpfed/mcpfed/metrics"
	"github.com/mcpfed/mcpfed/upstream"
)

// DeployedInstance is a running MCP server with the catalogue server it
// runs, as the deployed endpoint lists it.
type DeployedInstance struct {
	Server string `json:"server"`
	upstream.Instance
}

// imageIndex maps the OCI repositories of one snapshot's servers to their
// names, built once per snapshot (see Engine.imagesOf).
type imageIndex struct {
	snap    *upstream.Snapshot
	byImage map[string][]string
}

// imagesOf returns the image index of member mi's current snapshot.
func (e *Engine) imagesOf(mi int, snap *upstream.Snapshot) map[string][]string {
	slot := &e.images[mi]
	if idx := slot.Load(); idx != nil && idx.snap == snap {
		return idx.byImage
	}
	idx := &imageIndex{snap: snap, byImage: map[string][]string{}}
	for _, en := range snap.Entries() {
		for _, img := range en.OCIImages {
			names := idx.byImage[img]
			if len(names) == 0 || names[len(names)-1] != en.Name {
				idx.byImage[img] = append(names, en.Name)
			}
		}
	}
	slot.Store(idx)
	return idx.byImage
}

// Deployed returns the instances the view may show — those of the
// view's sources whose claims the view guarantees — each with the
// catalogue server it runs: the one its resource names, else a server of
// the view's snapshot sources whose OCI package is the instance's image
// (tag ignored; sources in the view's priority order), else the registry
// entry the resource is exported as. The server must be one the view
// serves (shadowing, reservations and filters as for any lookup); an
// instance of a server the view does not show is left out. With server
// set, only that server's instances are returned, and a server the view
// does not show is ErrNotFound.
func (e *Engine) Deployed(ctx context.Context, instances []upstream.Instance, server string, view *View) ([]DeployedInstance, Report, error) {
	sc, err := e.scopeOf(view)
	if err != nil {
		return nil, Report{}, err
	}
	// One deadline for the whole answer, however many servers it asks about.
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	inScope := map[string]bool{}
	for _, mi := range sc.members {
		inScope[e.members[mi].Name()] = true
	}
	var viewClaims map[string]any
	if view != nil {
		viewClaims = view.Claims
	}
	var rep Report
	shown := map[string]bool{} // server name → served by the view (asked once)
	serves := func(name string) (bool, error) {
		if ok, asked := shown[name]; asked {
			return ok, nil
		}
		_, r, err := e.Version(ctx, name, LatestVersion, false, view)
		rep.merge(r)
		switch {
		case errors.Is(err, ErrNotFound):
			shown[name] = false
		case err != nil:
			return false, err
		default:
			shown[name] = true
		}
		return shown[name], nil
	}
	if server != "" {
		ok, err := serves(server)
		if err != nil {
			return nil, rep, err
		}
		if !ok {
			return nil, rep, notFound("server %q", server)
		}
	}
	out := []DeployedInstance{}
	for _, in := range instances {
		// The instance itself is the view's to show: its source is one of
		// the view's, and its claims (as its entry's) are guaranteed.
		if !inScope[in.Source] || !in.Claims.GuaranteedBy(viewClaims) {
			continue
		}
		for _, cand := range e.candidates(sc, in) {
			if server != "" && cand != server {
				continue
			}
			ok, err := serves(cand)
			if err != nil {
				return nil, rep, err
			}
			if ok {
				out = append(out, DeployedInstance{Server: cand, Instance: in})
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b DeployedInstance) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name),
			strings.Compare(a.Kind, b.Kind), strings.Compare(a.Source, b.Source))
	})
	return out, rep, nil
}

// candidates are the catalogue servers an instance may run, best first.
func (e *Engine) candidates(sc *scope, in upstream.Instance) []string {
	if in.ServerName != "" {
		return []string{in.ServerName} // named by the operator: nothing else is guessed
	}
	var out []string
	if img := upstream.OCIRepository(in.Image); img != "" {
		for _, mi := range sc.members {
			m := e.members[mi]
			if m.Live != nil {
				continue // a live registry cannot be searched by image
			}
			if snap := m.Source.Snapshot(); snap != nil {
				out = append(out, e.imagesOf(mi, snap)[img]...)
			}
		}
	}
	if in.Entry != "" {
		out = append(out, in.Entry)
	}
	return out
}

// merge adds another lookup's report to r, each source once.
func (r *Report) merge(o Report) {
	for _, n := range o.Failed {
		if !slices.Contains(r.Failed, n) {
			r.fail(n)
		}
	}
	for _, n := range o.Stale {
		if !slices.Contains(r.Stale, n) {
			r.stale(n)
		}
	}
	for _, n := range o.Dropped {
		if !slices.Contains(r.Dropped, n) {
			r.drop(n)
		}
	}
}

// registerDeployed mounts …/x/io.github.mcpfed/deployed[/{serverName}]
// under pattern, when instances are known.
func (a *API) registerDeployed(pattern, label string, views viewLookup) {
	if a.o.Deployed == nil {
		return
	}
	base := pattern + ExtensionPath + "/deployed"
	lbase := label + ExtensionPath + "/deployed"
	a.route(base, lbase, a.viewed(views, func(w http.ResponseWriter, r *http.Request, v served) {
		a.deployed(w, r, "", v)
	}))
	a.route(base+"/{rest...}", lbase+"/{serverName}", a.viewed(views, func(w http.ResponseWriter, r *http.Request, v served) {
		name, err := unescape(escapedRest(r))
		if err != nil || name == "" {
			writeProblem(w, http.StatusNotFound, "no route for "+r.URL.Path+": want …/deployed/{serverName}")
			return
		}
		a.deployed(w, r, name, v)
	}))
}

// escapedRest is the escaped path after ".../deployed/".
func escapedRest(r *http.Request) string {
	p := r.URL.EscapedPath()
	const marker = ExtensionPath + "/deployed/"
	i := strings.Index(p, marker)
	if i < 0 {
		return ""
	}
	return p[i+len(marker):]
}

// deployed answers from the instances as they are now: they change with
// readiness, which no revision tracks, so answers are not kept in the
// response cache (clients may still revalidate by ETag).
func (a *API) deployed(w http.ResponseWriter, r *http.Request, server string, v served) {
	if _, err := strictQuery(r); err != nil {
		writeError(w, err)
		return
	}
	list, rep, err := a.o.Engine.Deployed(r.Context(), a.o.Deployed(), server, v.view)
	if err != nil {
		a.fail(w, r, withReport(err, rep), v)
		return
	}
	body, _ := json.Marshal(struct {
		Deployed []DeployedInstance `json:"deployed"`
		Metadata struct {
			Count int `json:"count"`
		} `json:"metadata"`
	}{Deployed: list, Metadata: struct {
		Count int `json:"count"`
	}{len(list)}}) // plain structs: cannot fail
	a.resp.writeFor(w, r, metrics.Route(r), newAnswer("application/json", body, rep), v.private())
}
