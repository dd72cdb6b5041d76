package ui

import (
	"html/template"
	"net/url"
	"regexp"
	"strings"
)

// Bounds on what a source's URLs may put into a page.
const (
	maxLinkBytes = 2048
	// maxDataIconBytes bounds an icon inlined as a data: URL: a source
	// must not be able to make a page of megabytes.
	maxDataIconBytes = 32 << 10
)

// link is an anchor's target and text. Href is empty unless the URL is
// http(s): anything else is shown as text and never becomes a link.
type link struct {
	Href string
	Text string
}

func newLink(raw string) *link {
	if raw == "" {
		return nil
	}
	return &link{Href: safeHref(raw), Text: raw}
}

// safeHref returns raw if it is an absolute http or https URL with a host,
// else "". html/template checks the scheme again and escapes the value.
func safeHref(raw string) string {
	if len(raw) > maxLinkBytes || strings.ContainsFunc(raw, unsafeURLRune) {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return ""
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return raw
	}
	return ""
}

// unsafeURLRune: whitespace, controls and the characters no URL of a
// link or image needs raw (they could only serve to break out of markup
// that escaped them wrongly).
func unsafeURLRune(r rune) bool {
	return r <= ' ' || r == 0x7f || r == '"' || r == '\'' || r == '<' || r == '>' || r == '\\' || r == '`'
}

// dataImage is a data: URL of a raster or SVG image. SVG is safe as an
// <img> source: a browser runs no script in an image.
var dataImage = regexp.MustCompile(`^data:image/(png|jpeg|jpg|gif|webp|svg\+xml)(;[a-zA-Z0-9=._+-]+)*(;base64)?,`)

// safeIcon returns an icon URL a page may load: https (with a host) or a
// data:image URL; "" for anything else. The value is marked as a URL for
// html/template, which refuses data: URLs on its own; it still escapes it.
func safeIcon(raw string) template.URL {
	if strings.ContainsFunc(raw, unsafeURLRune) {
		return ""
	}
	if strings.HasPrefix(strings.ToLower(raw), "data:") {
		if len(raw) <= maxDataIconBytes && dataImage.MatchString(strings.ToLower(raw[:min(len(raw), 64)])) {
			return template.URL(raw) // checked above: a data:image URL
		}
		return ""
	}
	if len(raw) > maxLinkBytes {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || !strings.EqualFold(u.Scheme, "https") {
		return ""
	}
	return template.URL(raw) // checked above: an https URL
}
