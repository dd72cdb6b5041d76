package ui

import (
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/mcpfed/mcpfed/cache"
	"github.com/mcpfed/mcpfed/metrics"
)

// minGzipBytes: below this, gzip costs more than it saves.
const minGzipBytes = 1024

// asset is one embedded file, ready to send: its ETag, its gzip form
// (made once at start) and the version pages link it by.
type asset struct {
	contentType string
	body, gz    []byte
	etag        string
	version     string
}

// assetURLs are the links pages use. Each carries its content's version,
// so a page always gets the assets it was rendered with and they can be
// cached for good.
type assetURLs struct {
	CSS, JS, Icon string
}

type assets struct {
	byName map[string]*asset
	urls   assetURLs
}

var assetTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

func loadAssets(fsys fs.FS) (assets, error) {
	out := assets{byName: map[string]*asset{}}
	entries, err := fs.ReadDir(fsys, "assets")
	if err != nil {
		return out, fmt.Errorf("ui: assets: %w", err)
	}
	for _, e := range entries {
		body, err := fs.ReadFile(fsys, "assets/"+e.Name())
		if err != nil {
			return out, fmt.Errorf("ui: asset %s: %w", e.Name(), err)
		}
		ct, ok := assetTypes[path.Ext(e.Name())]
		if !ok {
			return out, fmt.Errorf("ui: asset %s: no content type for its extension", e.Name())
		}
		etag := cache.ETag(body)
		out.byName[e.Name()] = &asset{contentType: ct, body: body, gz: cache.Gzip(body), etag: etag, version: strings.Trim(etag, `"`)[:12]}
	}
	for name, dst := range map[string]*string{"app.css": &out.urls.CSS, "app.js": &out.urls.JS, "favicon.svg": &out.urls.Icon} {
		a, ok := out.byName[name]
		if !ok {
			return out, fmt.Errorf("ui: asset %s is missing", name)
		}
		*dst = AssetPrefix + name + "?v=" + a.version
	}
	return out, nil
}

// serveAsset answers GET and HEAD of an embedded asset, whatever the
// request accepts (a browser asks for a stylesheet with Accept: text/css).
// A request naming the current version may keep it for a year; any other
// revalidates.
func (u *UI) serveAsset(w http.ResponseWriter, r *http.Request) {
	metrics.SetRoute(r, AssetPrefix+"{file}")
	h := w.Header()
	setSecurityHeaders(h)
	a, ok := u.assets.byName[strings.TrimPrefix(r.URL.Path, AssetPrefix)]
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		h.Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "GET or HEAD only")
		return
	case !ok:
		plain(w, http.StatusNotFound, "no such asset")
		return
	}
	h.Set("Content-Type", a.contentType)
	h.Set("Vary", "Accept-Encoding")
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	gz := cache.AcceptsGzip(r.Header.Get("Accept-Encoding")) && len(a.gz) < len(a.body)
	if gz {
		h.Set("ETag", cache.EncodedETag(a.etag, "gzip"))
	} else {
		h.Set("ETag", a.etag)
	}
	if cache.NoneMatch(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if gz {
		body = a.gz
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

func plain(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
