package ui

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

// serverPage is the server template's data.
type serverPage struct {
	chrome
	Name, Label, Description, Version, Status, StatusMessage, Source string
	Latest                                                           bool
	Published, Updated                                               time.Time
	Icon                                                             template.URL
	Repository, Website                                              *link
	Subfolder                                                        string
	Versions                                                         []versionRow
	Clients                                                          []InstallClient
	InstallError                                                     string
	Packages                                                         []packageView
	MorePackages                                                     int
	Remotes                                                          []remoteView
	ToolHive                                                         []toolHiveView
	Raw                                                              string
	Partial                                                          string
}

type versionRow struct {
	Version, Status, Href string
	Published             time.Time
	Latest, Current       bool
}

func (u *UI) server(w http.ResponseWriter, r *http.Request, sv served, rest []string) {
	if len(rest) > 2 || slicesContainsEmpty(rest) {
		u.errorPage(w, r, sv, http.StatusNotFound, "No such page: a server's page is /servers/{serverName}, with the name's slash as %2F.")
		return
	}
	name, err := url.PathUnescape(strings.Join(rest, "/"))
	if err != nil {
		u.errorPage(w, r, sv, http.StatusBadRequest, "The server name in the path is malformed.")
		return
	}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		u.errorPage(w, r, sv, http.StatusBadRequest, "malformed query string: "+err.Error())
		return
	}
	versions, rep, err := u.o.Engine.Versions(r.Context(), name, false, sv.view)
	if err != nil {
		u.fail(w, r, sv, err)
		return
	}
	want := values.Get("version")
	var e *upstream.Entry
	for _, v := range versions {
		if want == "" && v.IsLatest || v.Version == want {
			e = v
			break
		}
	}
	if e == nil && want == "" {
		e = versions[0] // newest publication first; no visible version is marked latest
	}
	if e == nil {
		u.errorPage(w, r, sv, http.StatusNotFound, "Server "+name+" has no version "+want+".")
		return
	}
	p := u.serverPage(sv, e, versions)
	p.Partial = rep.FailedHeader()
	u.render(w, r, pageServer, p, http.StatusOK, answerOpts{private: sv.private(), report: rep})
}

func slicesContainsEmpty(s []string) bool {
	for _, x := range s {
		if x == "" {
			return true
		}
	}
	return false
}

func (u *UI) serverPage(sv served, e *upstream.Entry, versions []*upstream.Entry) serverPage {
	doc := parseServer(e.Server)
	label := e.Title
	if label == "" {
		label = e.Name
	}
	p := serverPage{
		chrome: u.chrome(sv, label, ""),
		Name:   e.Name, Label: label, Description: e.Description, Version: e.Version,
		Status: string(e.Status), StatusMessage: e.StatusMessage, Source: e.Source, Latest: e.IsLatest,
		Published: e.PublishedAt, Updated: e.UpdatedAt,
		Icon: doc.icon(), Repository: newLink(doc.obj("repository").str("url")), Website: newLink(doc.str("websiteUrl")),
		Subfolder: doc.obj("repository").str("subfolder"), Raw: indent(e.Server),
	}
	href := serverHref(sv.base, e.Name)
	for _, v := range versions {
		p.Versions = append(p.Versions, versionRow{
			Version: v.Version, Status: string(v.Status), Href: href + "?version=" + url.QueryEscape(v.Version),
			Published: v.PublishedAt, Latest: v.IsLatest, Current: v == e,
		})
	}
	pkgs := doc.list("packages")
	for i, raw := range pkgs {
		if i == maxRows {
			p.MorePackages = len(pkgs) - i
			break
		}
		p.Packages = append(p.Packages, newPackageView(asObj(raw)))
	}
	for i, raw := range doc.list("remotes") {
		if i == maxRows {
			break
		}
		p.Remotes = append(p.Remotes, newRemoteView(asObj(raw)))
	}
	p.ToolHive = toolHiveViews(doc)
	if u.o.Install != nil {
		clients, err := u.o.Install(e.Name, e.Server)
		if err != nil {
			p.InstallError = "No install configuration could be made: " + err.Error()
		}
		p.Clients = clients
	}
	return p
}

// indent pretty-prints the server.json for the page (it is valid JSON:
// the source's loader checked it).
func indent(raw json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}
