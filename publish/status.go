package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/registry/pkg/model"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/metrics"
	"github.com/mcpfed/mcpfed/store"
)

// maxStatusMessage bounds statusMessage (the official limit).
const maxStatusMessage = 500

// statusBody is the request of both status endpoints.
type statusBody struct {
	Status        *string `json:"status"`
	StatusMessage *string `json:"statusMessage"`
}

// status answers PATCH {p}/servers/{serverName}/versions/{version}/status
// and PATCH {p}/servers/{serverName}/status (every version), as the
// official registry: 401, then 422 for a body that is not a status
// update, 404 for nothing stored, 403 without publish or edit permission,
// 400 for a change that changes nothing (or a message with "active"), 200
// with the changed version(s).
func (h *Handler) status(w http.ResponseWriter, r *http.Request, label, rest string) {
	name, version, all, err := statusTarget(rest)
	if err != nil {
		federate.WriteProblem(w, http.StatusBadRequest, err.Error())
		return
	}
	if all {
		metrics.SetRoute(r, label+"/servers/{serverName}/status")
	} else {
		metrics.SetRoute(r, label+"/servers/{serverName}/versions/{version}/status")
	}
	p, ok := h.authenticate(w, r, "status")
	if !ok {
		return
	}
	raw, ok := h.readBody(w, r)
	if !ok {
		return
	}
	body, err := decodeStatus(raw)
	if err != nil {
		federate.WriteProblem(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	newStatus, msg := *body.Status, ""
	if body.StatusMessage != nil {
		msg = *body.StatusMessage
	}
	e := Event{Action: "status", Server: name, Version: version, Subject: p.subject}

	// Permission first: a token may not learn whether a name it cannot
	// write exists.
	if !allowed(p.perms, name, ActionPublish, ActionEdit) {
		e.Status, e.Reason = http.StatusForbidden, "name not covered by the token's permissions"
		h.audit(r, e)
		federate.WriteProblem(w, http.StatusForbidden, "You do not have publish or edit permissions for "+name)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.o.StoreTimeout)
	defer cancel()
	current, err := h.versions(ctx, name, version)
	if err != nil {
		h.storeError(w, r, e, err)
		return
	}
	if len(current) == 0 {
		what := "Server version not found"
		if all {
			what = "Server not found"
		}
		federate.WriteProblem(w, http.StatusNotFound, what)
		return
	}
	if newStatus == string(model.StatusActive) && body.StatusMessage != nil {
		federate.WriteProblem(w, http.StatusBadRequest, "statusMessage cannot be given when setting the status to active")
		return
	}
	changes := false
	for _, s := range current {
		if s.Status != newStatus || s.StatusMessage != msg {
			changes = true
			break
		}
	}
	if !changes {
		detail := fmt.Sprintf("No changes to apply: the status is already %s with this message", newStatus)
		if all {
			detail = fmt.Sprintf("No changes to apply: every version already has status %s with this message", newStatus)
		}
		federate.WriteProblem(w, http.StatusBadRequest, detail)
		return
	}
	changed, err := h.o.Store.SetStatus(ctx, store.StatusChange{Name: name, Version: version, Status: newStatus, StatusMessage: msg}, p.subject)
	switch {
	case errors.Is(err, store.ErrNotFound):
		federate.WriteProblem(w, http.StatusNotFound, "Server not found")
		return
	case errors.Is(err, store.ErrInvalid):
		federate.WriteProblem(w, http.StatusBadRequest, "Failed to update server status: "+err.Error())
		return
	case err != nil:
		h.storeError(w, r, e, err)
		return
	}
	h.afterWrite(r)
	e.Status, e.Reason = http.StatusOK, "status "+newStatus
	h.audit(r, e)
	if !all {
		for _, s := range changed {
			if s.Version == version {
				h.writeServer(w, s)
				return
			}
		}
		federate.WriteProblem(w, http.StatusInternalServerError, "the store did not return the changed version")
		return
	}
	out := struct {
		UpdatedCount int              `json:"updatedCount"`
		Servers      []serverResponse `json:"servers"`
	}{UpdatedCount: len(changed), Servers: make([]serverResponse, 0, len(changed))}
	for _, s := range changed {
		resp, err := toResponse(s)
		if err != nil {
			federate.WriteProblem(w, http.StatusInternalServerError, "cannot encode the answer")
			return
		}
		out.Servers = append(out.Servers, resp)
	}
	writeJSON(w, http.StatusOK, out)
}

// statusTarget splits what follows /servers/ and precedes /status: a name
// (URL-encoded, io.github.x%2Fy, or with its one slash as is) and, after
// /versions/, a version.
func statusTarget(rest string) (name, version string, all bool, err error) {
	segs := strings.Split(rest, "/")
	var nameSegs []string
	switch {
	case len(segs) == 3 && segs[1] == "versions":
		nameSegs, version = segs[:1], segs[2]
	case len(segs) == 4 && segs[2] == "versions":
		nameSegs, version = segs[:2], segs[3]
	case len(segs) == 1 || len(segs) == 2:
		nameSegs, all = segs, true
	default:
		return "", "", false, errors.New("want /servers/{serverName}/status or /servers/{serverName}/versions/{version}/status")
	}
	name, err = url.PathUnescape(strings.Join(nameSegs, "/"))
	if err != nil || name == "" {
		return "", "", false, errors.New("invalid server name encoding")
	}
	if !all {
		version, err = url.PathUnescape(version)
		if err != nil || version == "" {
			return "", "", false, errors.New("invalid version encoding")
		}
	}
	return name, version, all, nil
}

// decodeStatus reads a StatusUpdateRequest strictly: an unknown field, a
// missing or unknown status, or a message over 500 characters is refused.
func decodeStatus(raw []byte) (statusBody, error) {
	var b statusBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, fmt.Errorf(`want {"status": "active"|"deprecated"|"deleted", "statusMessage": "…"}: %w`, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return b, errors.New("unexpected data after the status object")
	}
	switch {
	case b.Status == nil:
		return b, errors.New("status: required (active, deprecated or deleted)")
	case *b.Status != string(model.StatusActive) && *b.Status != string(model.StatusDeprecated) && *b.Status != string(model.StatusDeleted):
		return b, fmt.Errorf("status: %q is not one of active, deprecated, deleted", *b.Status)
	case b.StatusMessage != nil && utf8.RuneCountInString(*b.StatusMessage) > maxStatusMessage:
		return b, fmt.Errorf("statusMessage: longer than %d characters", maxStatusMessage)
	}
	return b, nil
}

// versions returns the stored versions the change targets: the one
// version, or every version of the name when version is "".
func (h *Handler) versions(ctx context.Context, name, version string) ([]store.Server, error) {
	// The store lists everything: status changes are rare, and the
	// contract has no lookup by name.
	all, err := h.o.Store.Servers(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.Server
	for _, s := range all {
		if s.Name == name && (version == "" || s.Version == version) {
			out = append(out, s)
		}
	}
	return out, nil
}
