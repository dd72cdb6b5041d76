package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/registry/pkg/model"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream/managed"
)

// publish answers POST /v0.1/publish and /v0/publish, in the official
// registry's order: 401 without a valid token, 403 for a name the token may
// not publish, 422 for a server.json that does not validate, 400 for a
// version already published (published versions are immutable), 200 with
// the ServerResponse. Nothing is written on any error.
func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	p, ok := h.authenticate(w, r, "publish")
	if !ok {
		return
	}
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	var head map[string]json.RawMessage
	if err := json.Unmarshal(body, &head); err != nil || head == nil {
		federate.WriteProblem(w, http.StatusBadRequest, "the request body must be a server.json object")
		return
	}
	var name, version string
	if json.Unmarshal(head["name"], &name) != nil || name == "" {
		h.audit(r, Event{Action: "publish", Subject: p.subject, Status: http.StatusUnprocessableEntity, Reason: "no name"})
		federate.WriteProblem(w, http.StatusUnprocessableEntity, "Failed to publish server, invalid schema: name is required (call /validate for details)")
		return
	}
	_ = json.Unmarshal(head["version"], &version) // validated below
	e := Event{Action: "publish", Server: name, Version: version, Subject: p.subject}
	if !allowed(p.perms, name, ActionPublish) {
		e.Status, e.Reason = http.StatusForbidden, "name not covered by the token's permissions"
		h.audit(r, e)
		federate.WriteProblem(w, http.StatusForbidden, permissionMessage(name, p.perms))
		return
	}
	res := h.v.validate(body)
	if !res.Valid {
		e.Status, e.Reason = http.StatusUnprocessableEntity, "invalid server.json"
		h.audit(r, e)
		federate.WriteProblem(w, http.StatusUnprocessableEntity, "Failed to publish server, invalid schema: call /validate for details: "+summary(res.errors()))
		return
	}
	server, err := compact(body)
	if err != nil {
		federate.WriteProblem(w, http.StatusBadRequest, errBodySyntax.Error())
		return
	}
	now := h.o.Clock().UTC()
	ctx, cancel := context.WithTimeout(r.Context(), h.o.StoreTimeout)
	defer cancel()
	got, err := h.o.Store.Publish(ctx, store.Server{
		Name: name, Version: version, Server: server,
		Status:      string(model.StatusActive),
		PublishedAt: now, UpdatedAt: now, StatusChangedAt: now,
		Publisher: p.subject,
	}, p.subject)
	switch {
	case errors.Is(err, store.ErrExists):
		e.Status, e.Reason = http.StatusBadRequest, "version already published"
		h.audit(r, e)
		federate.WriteProblem(w, http.StatusBadRequest, fmt.Sprintf("Failed to publish server: cannot publish duplicate version: %s@%s already exists (a published version is immutable: publish a new version)", name, version))
		return
	case errors.Is(err, store.ErrInvalid):
		// A store bound (size, versions of one name): the official
		// registry answers its service's refusals with 400.
		e.Status, e.Reason = http.StatusBadRequest, "refused by the store"
		h.audit(r, e)
		federate.WriteProblem(w, http.StatusBadRequest, "Failed to publish server: "+err.Error())
		return
	case err != nil:
		h.storeError(w, r, e, err)
		return
	}
	h.afterWrite(r)
	e.Status, e.Reason = http.StatusOK, "published"
	h.audit(r, e)
	h.writeServer(w, got)
}

// validate answers POST /v0.1/validate and /v0/validate: always 200 with
// the result (valid or not) for a JSON object, as the official registry.
func (h *Handler) validate(w http.ResponseWriter, r *http.Request) {
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		federate.WriteProblem(w, http.StatusBadRequest, "the request body must be a server.json object")
		return
	}
	writeJSON(w, http.StatusOK, h.v.validate(body))
}

func (h *Handler) afterWrite(r *http.Request) {
	if h.o.AfterWrite != nil {
		h.o.AfterWrite(r.Context())
	}
}

// serverResponse is the official ServerResponse of a stored version.
type serverResponse struct {
	Server json.RawMessage `json:"server"`
	Meta   json.RawMessage `json:"_meta"`
}

func toResponse(s store.Server) (serverResponse, error) {
	meta, err := managed.Meta(s)
	if err != nil {
		return serverResponse{}, err
	}
	return serverResponse{Server: s.Server, Meta: meta}, nil
}

func (h *Handler) writeServer(w http.ResponseWriter, s store.Server) {
	resp, err := toResponse(s)
	if err != nil {
		federate.WriteProblem(w, http.StatusInternalServerError, "cannot encode the answer")
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// permissionMessage says what the caller tried and what it may do.
func permissionMessage(name string, perms []Permission) string {
	msg := "You do not have permission to publish " + name
	if ps := publishPatterns(perms); len(ps) > 0 {
		msg += ". You have permission to publish: " + strings.Join(ps, ", ")
	} else {
		msg += ". You do not have any publish permissions (see publishing.publishers)"
	}
	return msg
}

// summary lists the first few issues for a problem's detail.
func summary(issues []Issue) string {
	const show = 3
	var parts []string
	for i, is := range issues {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(issues)-show))
			break
		}
		if is.Path != "" {
			parts = append(parts, is.Path+": "+is.Message)
		} else {
			parts = append(parts, is.Message)
		}
	}
	return strings.Join(parts, "; ")
}
