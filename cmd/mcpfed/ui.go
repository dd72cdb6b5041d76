package main

import (
	"fmt"
	"net/http"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/ui"
	"github.com/mcpfed/mcpfed/ui/install"
)

// withUI puts the web catalogue in front of the API: browsers (Accept:
// text/html) get pages at /, /servers/…, /sources and the same under
// /registry/{view}/, and the assets under /ui/assets/; every other request
// goes to api unchanged. The UI serves the API's views through the API's
// Authorize hook, and shows the sources' error texts to whoever the
// operator endpoints take for an admin.
func (g *gateway) withUI(api http.Handler, root *federate.View, views map[string]*federate.View, authorize func(http.ResponseWriter, *http.Request, string) bool) (http.Handler, error) {
	u, err := ui.New(ui.Options{
		Engine:    g.engine,
		Root:      root,
		Views:     views,
		Authorize: authorize,
		Sources:   g.reports,
		IsAdmin:   g.access.isAdmin,
		Install:   install.Generate,
		MaxAge:    g.cfg.CacheMaxAge,
		Logger:    g.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("web catalogue: %w", err)
	}
	return u.Wrap(api), nil
}
