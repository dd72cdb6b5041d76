package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/upstream"
)

// The catalogue's query parameters. The search box is q (the API's
// search); the filters are the engine's catalogue filters (federate.Query).
const (
	paramSearch    = "q"
	paramStatus    = "status"
	paramTransport = "transport"
	paramType      = "type"
	paramSource    = "source"
	paramCursor    = "cursor"
	// paramFrom is the position of the page's first server, carried from
	// page to page only to show "servers 31–60": a cursor has no position.
	paramFrom = "from"
)

// The values the status, transport and package type filters offer. A
// value not offered is a 400, like a malformed API parameter.
var (
	statusValues    = []string{"active", "deprecated"}
	transportValues = []string{"stdio", "streamable-http", "sse"}
	typeValues      = []string{"npm", "pypi", "oci", "nuget", "mcpb", "cargo"}
)

// listQuery is a catalogue request, validated.
type listQuery struct {
	search, status, transport, pkgType, source, cursor string
	from                                               int
}

// values is the query string of the same list without cursor and from.
func (q listQuery) values() url.Values {
	v := url.Values{}
	for _, p := range []struct{ k, v string }{
		{paramSearch, q.search}, {paramStatus, q.status}, {paramTransport, q.transport},
		{paramType, q.pkgType}, {paramSource, q.source},
	} {
		if p.v != "" {
			v.Set(p.k, p.v)
		}
	}
	return v
}

func (u *UI) parseList(r *http.Request, sources []string) (listQuery, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return listQuery{}, fmt.Errorf("malformed query string: %w", err)
	}
	q := listQuery{
		search: strings.TrimSpace(v.Get(paramSearch)), status: v.Get(paramStatus), transport: v.Get(paramTransport),
		pkgType: v.Get(paramType), source: v.Get(paramSource), cursor: v.Get(paramCursor), from: 1,
	}
	for _, c := range []struct {
		name, value string
		allowed     []string
	}{
		{paramStatus, q.status, statusValues}, {paramTransport, q.transport, transportValues},
		{paramType, q.pkgType, typeValues}, {paramSource, q.source, sources},
	} {
		if c.value != "" && !slices.Contains(c.allowed, c.value) {
			return q, fmt.Errorf("%s must be one of %s, got %q", c.name, strings.Join(c.allowed, ", "), c.value)
		}
	}
	if n, err := strconv.Atoi(v.Get(paramFrom)); err == nil && n >= 1 && n <= 1<<30 && q.cursor != "" {
		q.from = n
	}
	return q, nil
}

// engineQuery is the engine's query for a catalogue request: one record
// per server (its latest version), through the API's own validation of
// search and cursor.
func (q listQuery) engineQuery() (federate.Query, error) {
	eq, err := federate.ParseListQuery(url.Values{"search": {q.search}, "cursor": {q.cursor}, "version": {federate.LatestVersion}})
	if err != nil {
		return eq, err
	}
	eq.Status, eq.Transport, eq.PackageType, eq.Source = q.status, q.transport, q.pkgType, q.source
	return eq, nil
}

// cataloguePage is the catalogue template's data.
type cataloguePage struct {
	chrome
	Heading   string
	Q         string
	Filters   []filterSelect
	Count     string
	Servers   []serverItem
	NextHref  string
	FirstHref string
	Partial   string
}

type filterSelect struct {
	Param, Label string
	Options      []option
}

type option struct {
	Value, Label string
	Selected     bool
}

func newSelect(param, label, current string, values []string) filterSelect {
	s := filterSelect{Param: param, Label: label, Options: []option{{Value: "", Label: "Any", Selected: current == ""}}}
	for _, v := range values {
		s.Options = append(s.Options, option{Value: v, Label: v, Selected: v == current})
	}
	return s
}

// serverItem is one server of the list.
type serverItem struct {
	Name, Label, Description, Version, Status, Source string
	Href                                              string
	Icon                                              template.URL
	Transports, PackageTypes                          []string
}

func (u *UI) catalogue(w http.ResponseWriter, r *http.Request, sv served) {
	sources := sv.scope(u.o.Engine.SourceNames())
	q, err := u.parseList(r, sources)
	if err != nil {
		u.errorPage(w, r, sv, http.StatusBadRequest, err.Error())
		return
	}
	eq, err := q.engineQuery()
	if err != nil {
		u.fail(w, r, sv, err)
		return
	}
	page, err := u.o.Engine.List(r.Context(), eq, sv.view)
	if err != nil {
		u.fail(w, r, sv, err)
		return
	}
	title := "Catalogue"
	if sv.name != "" {
		title = "Catalogue of view " + sv.name
	}
	p := cataloguePage{
		chrome: u.chrome(sv, title, "catalogue"), Heading: title, Q: q.search,
		Filters: []filterSelect{
			newSelect(paramStatus, "Status", q.status, statusValues),
			newSelect(paramTransport, "Transport", q.transport, transportValues),
			newSelect(paramType, "Package type", q.pkgType, typeValues),
			newSelect(paramSource, "Source", q.source, sources),
		},
		Count:   countText(q, len(page.Entries), page.NextCursor != ""),
		Servers: make([]serverItem, len(page.Entries)),
		Partial: page.Report.FailedHeader(),
	}
	for i, e := range page.Entries {
		p.Servers[i] = u.item(sv, e)
	}
	base := sv.base + "/"
	if page.NextCursor != "" {
		next := q.values()
		next.Set(paramCursor, page.NextCursor)
		next.Set(paramFrom, strconv.Itoa(q.from+len(page.Entries)))
		p.NextHref = base + "?" + next.Encode()
	}
	if q.cursor != "" {
		p.FirstHref = base
		if first := q.values().Encode(); first != "" {
			p.FirstHref += "?" + first
		}
	}
	u.render(w, r, pageCatalogue, p, http.StatusOK, answerOpts{private: sv.private(), report: page.Report})
}

// countText says how many servers the page shows. The engine answers
// pages, not totals (a total would cost a scan of the whole catalogue
// per page), so the count is exact only when everything fits one page.
func countText(q listQuery, n int, more bool) string {
	switch {
	case n == 0 && q.cursor == "":
		return "No servers found."
	case n == 0:
		return "No more servers."
	case q.cursor == "" && !more:
		if n == 1 {
			return "1 server."
		}
		return strconv.Itoa(n) + " servers."
	case more:
		return fmt.Sprintf("Servers %d–%d; more on the next page.", q.from, q.from+n-1)
	}
	return fmt.Sprintf("Servers %d–%d, the end of the list.", q.from, q.from+n-1)
}

// serverHref is the page of a server: its name with the slash as %2F.
func serverHref(base, name string) string {
	return base + "/servers/" + url.PathEscape(name)
}

func (u *UI) item(sv served, e *upstream.Entry) serverItem {
	it := serverItem{
		Name: e.Name, Label: e.Title, Description: e.Description, Version: e.Version,
		Status: string(e.Status), Source: e.Source, Href: serverHref(sv.base, e.Name),
		Transports: e.Transports, PackageTypes: e.PackageTypes, Icon: listIcon(e.Server),
	}
	if it.Label == "" {
		it.Label = e.Name
	}
	return it
}

// listIcon is the first usable icon of a server.json. Only the icons are
// decoded: a list page must not decode thirty whole bodies. Malformed
// icons are no icon.
func listIcon(server json.RawMessage) template.URL {
	raw := topLevelValue(server, "icons")
	if raw == nil {
		return ""
	}
	var icons []struct {
		Src string `json:"src"`
	}
	if err := json.Unmarshal(raw, &icons); err != nil {
		return ""
	}
	for _, ic := range icons {
		if src := safeIcon(ic.Src); src != "" {
			return src
		}
	}
	return ""
}

// topLevelValue returns the raw value of key in a JSON object (valid
// JSON, as every served server.json is), nil when absent or when the
// object is not valid: one pass over the bytes, no decoding. A key
// written with escapes is not recognised.
func topLevelValue(obj []byte, key string) []byte {
	depth := 0
	inString, escaped, expectKey := false, false, false
	start := 0
	for i := 0; i < len(obj); i++ {
		c := obj[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if depth == 1 && expectKey && string(obj[start:i]) == key {
					return valueAfterColon(obj[i+1:])
				}
			}
			continue
		}
		switch c {
		case '"':
			inString, start = true, i+1
		case '{', '[':
			depth++
			expectKey = depth == 1 && c == '{'
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		case ':':
			if depth == 1 {
				expectKey = false
			}
		}
	}
	return nil
}

// valueAfterColon is the JSON value that follows ": " at the start of b
// (b is the rest of a valid object), nil if there is none.
func valueAfterColon(b []byte) []byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != ':' {
		return nil
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	depth := 0
	inString, escaped := false, false
	for i, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if depth == 0 {
					return b[:i+1]
				}
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return bytes.TrimRight(b[:i], " \t\r\n") // a scalar ending the object
			}
			if depth--; depth == 0 {
				return b[:i+1]
			}
		case ',':
			if depth == 0 {
				return bytes.TrimRight(b[:i], " \t\r\n")
			}
		}
	}
	return nil
}
