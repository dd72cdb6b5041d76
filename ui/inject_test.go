package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/mcpfed/mcpfed/ui/install"
)

// TestInjectionIsInert: testdata/inject.json puts script tags, event
// handler attributes, javascript: and data:text/html URLs and
// quote-breaking strings into every field of its servers (title,
// description, version, URLs, icons, packages, arguments, variables,
// headers, remotes, ToolHive metadata and its keys, the status message);
// the sources' error texts hold markup too. No page made of them has
// markup that could run, and nothing of them becomes a link or an image
// unless it is an http(s) (image: https or data:image) URL.
func TestInjectionIsInert(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("testdata", "inject.json"))
	if err != nil {
		t.Fatal(err)
	}
	var inject struct {
		Servers []struct {
			Server struct {
				Name, Title string
			} `json:"server"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(data, &inject); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, parseSource(t, "evil", data))
	// The real install generator too: its snippets hold the same strings.
	o := f.ui.o
	o.Install = install.Generate
	real, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	withGenerate := &fixture{ui: real, h: real.Wrap(http.NotFoundHandler())}
	pages := []string{
		"/", "/?q=" + url.QueryEscape(`"><script>alert(1)</script>`), "/?q=alert", "/sources",
		"/?status=" + url.QueryEscape(`"><script>alert(1)</script>`),
		"/servers/" + url.PathEscape(`<script>alert(1)</script>`),
		"/registry/" + url.PathEscape(`"><svg onload=alert(1)>`) + "/",
	}
	for _, s := range inject.Servers {
		pages = append(pages, "/servers/"+url.PathEscape(s.Server.Name))
	}
	for _, path := range pages {
		for _, fx := range []*fixture{f, withGenerate} {
			t.Run(path, func(t *testing.T) {
				t.Parallel()
				rec := fx.get(t, path, "Authorization", "Bearer "+adminToken) // admins see error texts too
				if strings.Contains(rec.Body.String(), "<script>alert") || strings.Contains(rec.Body.String(), "<img src=x") {
					t.Error("the page holds a payload as markup")
				}
				assertInert(t, parse(t, rec.Body.Bytes()))
			})
		}
	}
	// The payloads are shown as text, not dropped.
	for _, s := range inject.Servers {
		doc := f.page(t, "/servers/"+url.PathEscape(s.Server.Name))
		if got := text(byID(doc, "title")); got != s.Server.Title {
			t.Errorf("%s: title %q, want the source's %q as text", s.Server.Name, got, s.Server.Title)
		}
	}
}

// assertInert fails for anything in a page that could run code or lead
// away: a script other than the UI's own, an element that embeds or
// styles, an event handler or style attribute, a URL that is neither the
// UI's own nor http(s), a link to another site without rel="noopener
// noreferrer nofollow".
func assertInert(t *testing.T, doc *html.Node) {
	t.Helper()
	forbidden := map[string]bool{
		"iframe": true, "frame": true, "frameset": true, "object": true, "embed": true, "applet": true, "base": true,
		"style": true, "svg": true, "math": true, "template": true, "video": true, "audio": true, "source": true,
	}
	scripts := 0
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		where := fmt.Sprintf("<%s %v>", n.Data, n.Attr)
		switch {
		case forbidden[n.Data]:
			t.Errorf("forbidden element %s", where)
		case n.Data == "script":
			scripts++
			src, _ := attr(n, "src")
			if !strings.HasPrefix(src, AssetPrefix) || n.FirstChild != nil {
				t.Errorf("a script that is not the UI's: %s", where)
			}
		case n.Data == "meta":
			if _, ok := attr(n, "http-equiv"); ok {
				t.Errorf("meta http-equiv: %s", where)
			}
		case n.Data == "form":
			if id, _ := attr(n, "id"); id != "search" {
				t.Errorf("a form that is not the search: %s", where)
			}
		}
		for _, a := range n.Attr {
			key := strings.ToLower(a.Key)
			switch {
			case strings.HasPrefix(key, "on"), key == "style", key == "srcdoc", key == "formaction", a.Namespace != "":
				t.Errorf("attribute %s in %s", a.Key, where)
			case key == "href" || key == "src" || key == "action" || key == "poster" || key == "data" || key == "srcset":
				checkURL(t, n, key, a.Val, where)
			}
		}
	}
	if scripts != 1 {
		t.Errorf("%d script elements, want the UI's one", scripts)
	}
}

func checkURL(t *testing.T, n *html.Node, key, val, where string) {
	t.Helper()
	own := strings.HasPrefix(val, "/") && !strings.HasPrefix(val, "//") || strings.HasPrefix(val, "#")
	switch {
	case own && strings.ContainsAny(val, " \"'<>"):
		t.Errorf("an own URL with markup characters: %s", where)
	case own:
	case n.Data == "img" && key == "src":
		lower := strings.ToLower(val)
		if !strings.HasPrefix(lower, "https://") && !strings.HasPrefix(lower, "data:image/") {
			t.Errorf("an icon that is neither https nor data:image: %s", where)
		}
		if strings.HasPrefix(lower, "data:image/") && strings.ContainsAny(val, " \"'<>") {
			t.Errorf("a data: icon with markup characters: %s", where)
		}
	case n.Data == "a" && key == "href":
		u, err := url.Parse(val)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Errorf("a link that is not http(s): %s", where)
		}
		if rel, _ := attr(n, "rel"); rel != "noopener noreferrer nofollow" {
			t.Errorf("a link to another site with rel %q: %s", rel, where)
		}
	default:
		t.Errorf("a URL attribute that is not the UI's own: %s", where)
	}
}
