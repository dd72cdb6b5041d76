package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/mcpfed/mcpfed/ui/install"
)

// TestServerPage: everything the issue lists for a server's page, from the
// fixture.
func TestServerPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	doc := f.page(t, "/servers/io.github.acme%2Fweather")
	if got := text(byID(doc, "title")); got != "Acme Weather" {
		t.Errorf("title %q", got)
	}
	if got := text(byID(doc, "source")); got != "main" {
		t.Errorf("source %q", got)
	}
	var versions []string
	for _, row := range findAll(byID(doc, "versions"), byTag("tr"))[1:] {
		versions = append(versions, strings.Fields(text(findAll(row, byTag("th"))[0]))[0])
	}
	if !slices.Equal(versions, []string{"2.0.0", "1.1.0", "1.0.0"}) {
		t.Errorf("versions %v", versions)
	}
	versionsText := text(byID(doc, "versions"))
	for _, want := range []string{"deprecated", "2025-11-01 08:00 UTC", "(latest)"} {
		if !strings.Contains(versionsText, want) {
			t.Errorf("versions table lacks %q", want)
		}
	}
	install := byID(doc, "install")
	pre := byID(install, "snippet-vscode-json")
	if pre == nil {
		t.Fatal("no snippet")
	}
	var snippet map[string]any
	if err := json.Unmarshal([]byte(text(pre)), &snippet); err != nil {
		t.Errorf("the snippet's text is not the JSON given: %v", err)
	}
	buttons := findAll(install, byClass("copy"))
	if len(buttons) != 1 {
		t.Fatalf("%d copy buttons", len(buttons))
	}
	if v, _ := attr(buttons[0], "data-copy"); v != "snippet-vscode-json" {
		t.Errorf("copy button copies %q", v)
	}
	if v, _ := attr(buttons[0], "type"); v != "button" {
		t.Errorf("copy button type %q", v)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(text(byID(doc, "raw"))), &raw); err != nil || raw["version"] != "2.0.0" {
		t.Errorf("raw server.json: %v %v", err, raw["version"])
	}
	body := text(doc)
	for _, want := range []string{
		"@acme/weather-mcp", "npx", "ACME_API_KEY", "required", "secret", "eu-west-1", "us-east-1", "--units", "imperial",
		"Berlin", "positional", "--max-old-space-size=256", "https://registry.npmjs.org", "Forecasts and current conditions",
		"2026-01-05 08:00 UTC", "(folder server)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	links := map[string]bool{}
	for _, a := range findAll(doc, byTag("a")) {
		href, _ := attr(a, "href")
		links[href] = true
	}
	for _, want := range []string{"https://github.com/acme/weather-mcp", "https://weather.acme.example/mcp", "/servers/io.github.acme%2Fweather?version=1.0.0"} {
		if !links[want] {
			t.Errorf("no link to %s", want)
		}
	}
	imgs := findAll(doc, byTag("img"))
	if len(imgs) != 1 {
		t.Fatalf("%d icons", len(imgs))
	}
	if src, _ := attr(imgs[0], "src"); src != "https://weather.acme.example/icon.png" {
		t.Errorf("icon %s: the javascript: icon before it must be skipped", src)
	}
}

// TestServerPageVersionsAndNames: a version by query, the name with %2F or
// a raw slash, and the 404s.
func TestServerPageVersionsAndNames(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		path    string
		status  int
		version string
	}{
		{"/servers/io.github.acme%2Fweather", 200, "2.0.0"},
		{"/servers/io.github.acme/weather", 200, "2.0.0"},
		{"/servers/io.github.acme%2fweather", 200, "2.0.0"},
		{"/servers/io.github.acme%2Fweather?version=1.0.0", 200, "1.0.0"},
		{"/servers/io.github.acme%2Fweather?version=9.9.9", 404, ""},
		{"/registry/second/servers/io.github.acme%2Fweather", 200, "9.9.9"},
		{"/servers/com.gone%2Fremoved", 404, ""},
		{"/servers/com.none%2Fnone", 404, ""},
		{"/servers/a/b/c", 404, ""},
		{"/servers/io.github.acme%2Fweather/", 404, ""},
		{"/registry/second/servers/org.python%2Fpyserver", 404, ""},
		{"/registry/nope/servers/org.python%2Fpyserver", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			rec := f.get(t, tc.path)
			if rec.Code != tc.status {
				t.Fatalf("%d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
			}
			if tc.version == "" {
				return
			}
			doc := parse(t, rec.Body.Bytes())
			var raw struct{ Version string }
			if err := json.Unmarshal([]byte(text(byID(doc, "raw"))), &raw); err != nil || raw.Version != tc.version {
				t.Errorf("shows version %q (%v), want %s", raw.Version, err, tc.version)
			}
		})
	}
}

// TestServerPageRemotesAndToolHive: remotes with their headers' marks and
// URL variables; ToolHive's metadata; a data: icon.
func TestServerPageRemotesAndToolHive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	doc := f.page(t, "/servers/com.example%2Fremote-search")
	remotes := text(byID(doc, "remotes"))
	for _, want := range []string{"streamable-http", "https://mcp.example.com/search", "Authorization", "required", "secret", "Bearer {token}", "sse", "region", "eu"} {
		if !strings.Contains(remotes, want) {
			t.Errorf("remotes lack %q", want)
		}
	}
	if src, _ := attr(findAll(doc, byTag("img"))[0], "src"); !strings.HasPrefix(src, "data:image/svg+xml;base64,") {
		t.Errorf("icon %q", src)
	}
	for _, a := range findAll(byID(doc, "remotes"), byTag("a")) {
		t.Errorf("a remote's endpoint became a link: %v", a.Attr)
	}
	doc = f.page(t, "/servers/io.github.stacklok%2Ffetch")
	th := text(byID(doc, "toolhive"))
	for _, want := range []string{"Community", "Stars", "17", "fetch", "network.outbound.allow_host", ".example.com", "443", "sigstore_url", "tuf-repo-cdn.sigstore.dev", "2026-01-02T03:04:05Z"} {
		if !strings.Contains(th, want) {
			t.Errorf("ToolHive section lacks %q", want)
		}
	}
}

// TestBuiltinCatalogueServerPages: every server of the built-in ToolHive
// catalogue renders, with its ToolHive metadata (tier and tools).
func TestBuiltinCatalogueServerPages(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "catalog", "toolhive.json"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, parseSource(t, "toolhive", data))
	var doc struct {
		Data struct {
			Servers []struct {
				Name string `json:"name"`
			} `json:"servers"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	withTier := 0
	for _, s := range doc.Data.Servers {
		page := f.page(t, "/servers/"+url.PathEscape(s.Name))
		th := byID(page, "toolhive")
		if th == nil {
			t.Errorf("%s: no ToolHive section", s.Name)
			continue
		}
		if strings.Contains(text(th), "Tier") {
			withTier++
		}
		if byID(page, "install") == nil || byID(page, "raw") == nil || byID(page, "versions") == nil {
			t.Errorf("%s: a section is missing", s.Name)
		}
	}
	if withTier < len(doc.Data.Servers)/2 {
		t.Errorf("only %d of %d servers show a tier", withTier, len(doc.Data.Servers))
	}
}

// TestSourcesPage: each source's kind, state, entries, last success and
// breaker; error texts only for admins; a view's sources only.
func TestSourcesPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rows := func(doc *html.Node) []string {
		var out []string
		for _, tr := range findAll(byID(doc, "sources"), byTag("tr")) {
			if v, ok := attr(tr, "data-source"); ok {
				out = append(out, v)
			}
		}
		return out
	}
	doc := f.page(t, "/sources")
	if got := rows(doc); !slices.Equal(got, []string{"main", "second"}) {
		t.Errorf("rows %v", got)
	}
	table := text(byID(doc, "sources"))
	for _, want := range []string{"file", "ok", "9", "2026-02-01 11:59 UTC"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q", want)
		}
	}
	if strings.Contains(text(doc), "/secret/path") || strings.Contains(text(doc), "forbidden") {
		t.Error("error texts shown to a request without the admin token")
	}
	rec := f.get(t, "/sources", "Authorization", "Bearer "+adminToken)
	if !strings.Contains(rec.Body.String(), "/secret/path") || !strings.Contains(rec.Body.String(), "mcpservers: forbidden") {
		t.Error("error texts not shown to an admin")
	}
	if cc, v := rec.Header().Get("Cache-Control"), rec.Header().Get("Vary"); cc != "no-store" || !strings.Contains(v, "Authorization") {
		t.Errorf("admin page: Cache-Control %q, Vary %q", cc, v)
	}
	if got := rows(f.page(t, "/registry/second/sources")); !slices.Equal(got, []string{"second"}) {
		t.Errorf("view rows %v", got)
	}
	if rec := f.get(t, "/registry/private/sources", "Authorization", "Bearer "+adminToken); rec.Code != http.StatusOK {
		t.Errorf("an admin reads every view's sources, as the operator endpoints: %d", rec.Code)
	}
	if rec := f.get(t, "/registry/private/", "Authorization", "Bearer "+adminToken); rec.Code != http.StatusForbidden {
		t.Errorf("an admin token is not the view's token for its catalogue: %d", rec.Code)
	}
}

// TestInstallPanelWithGenerate: with the real generator every snippet has
// its element and its copy button, IDs are unique, and the primary VS
// Code snippet is the JSON of the server's npm package.
func TestInstallPanelWithGenerate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	o := f.ui.o
	o.Install = install.Generate
	u, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.h = u.Wrap(http.NotFoundHandler())
	for _, path := range []string{
		"/servers/io.github.acme%2Fweather", "/servers/com.example%2Fremote-search", "/servers/io.github.stacklok%2Ffetch",
		"/servers/org.python%2Fpyserver", "/servers/dev.nuget%2Fthing",
	} {
		doc := f.page(t, path)
		panel := byID(doc, "install")
		ids := map[string]bool{}
		for _, pre := range findAll(panel, byTag("pre")) {
			id, _ := attr(pre, "id")
			if !strings.HasPrefix(id, "snippet-") || ids[id] {
				t.Errorf("%s: snippet element %q", path, id)
			}
			ids[id] = true
		}
		if len(ids) == 0 {
			t.Errorf("%s: no snippets", path)
		}
		for _, b := range findAll(panel, byClass("copy")) {
			if target, _ := attr(b, "data-copy"); !ids[target] {
				t.Errorf("%s: a copy button for %q, which is not on the page", path, target)
			}
		}
	}
	pre := byID(f.page(t, "/servers/io.github.acme%2Fweather"), "snippet-vscode-json")
	if pre == nil {
		t.Fatal("no snippet-vscode-json")
	}
	if !strings.Contains(text(pre), "@acme/weather-mcp@2.0.0") {
		t.Errorf("the VS Code snippet does not run the npm package:\n%s", text(pre))
	}
}
