package browsertest

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPrivateViewNeedsToken: the pages of a view that needs a token are
// refused as its API is (401 without a token or with an unknown one, 403
// with a token that lacks the view's claims), with an HTML page that
// shows none of the view's servers; with the right bearer token (as an
// authenticating proxy would add it) the catalogue and server pages load.
func TestPrivateViewNeedsToken(t *testing.T) {
	t.Parallel()
	setup(t) // skips without a browser, before env is read
	cases := []struct {
		name   string
		token  string
		status int64
	}{
		{"no token", "", 401},
		{"unknown token", "not-a-configured-token", 401},
		{"token without the claims", env.tokens["outsider"], 403},
		{"token with the claims", env.tokens["reader"], 200},
	}
	paths := []string{viewPrefix(privateView) + "/", serverPath(privateView, airtable), viewPrefix(privateView) + "/sources"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := setup(t)
			opts := TabOptions{}
			if c.token != "" {
				opts.Headers = map[string]string{"Authorization": "Bearer " + c.token}
			}
			tab := newTab(t, ctx, opts)
			for _, p := range paths {
				resp := visit(t, ctx, tab, p, c.status)
				names := mustRun(t, ctx, tab, "results", chromedp.Evaluate[[]string](resultNames))
				raw := mustRun(t, ctx, tab, "raw", chromedp.Evaluate[string](`(document.getElementById('raw') || {}).textContent || ''`))
				if c.status != 200 {
					if len(names) > 0 || raw != "" {
						t.Errorf("%s refused with %d still shows servers %v / server.json %q", p, c.status, names, raw)
					}
					if c.status == 401 && !hasHeader(resp.Headers, "WWW-Authenticate", "Bearer") {
						t.Errorf("%s: 401 without WWW-Authenticate: Bearer (headers %v)", p, resp.Headers)
					}
				} else if p == paths[0] && !slices.Contains(names, airtable) {
					t.Errorf("%s with the token lists %v, not %s", p, names, airtable)
				}
				checkDOM(t, ctx, tab, p)
				checkClean(t, ctx, tab, allowErrorStatus(c.status))
			}
		})
	}
}

// hasHeader tells whether h has name with a value that starts with prefix.
func hasHeader(h map[string]any, name, prefix string) bool {
	for k, v := range h {
		if s, ok := v.(string); ok && strings.EqualFold(k, name) && strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
