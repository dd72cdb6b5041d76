package publish

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/mcpfed/mcpfed/federate"
)

// The auth methods a registry token names (the official registry's).
const (
	methodNone       = "none"
	methodGitHubOIDC = "github-oidc"
)

// exchangeNone answers POST /v0/auth/none: when publishing.anonymous is on,
// a token that may publish and edit the anonymous namespace only. The
// operator's switch is the rule: the publishers rules do not apply.
func (h *Handler) exchangeNone(w http.ResponseWriter, r *http.Request) {
	if !h.o.Config.Anonymous {
		federate.WriteProblem(w, http.StatusNotFound, "anonymous login is off (publishing.anonymous)")
		return
	}
	perms := []Permission{{ActionPublish, AnonymousNamespace}, {ActionEdit, AnonymousNamespace}}
	h.issue(w, r, methodNone, "anonymous", perms)
}

// exchangeGitHub answers POST /v0/auth/github-oidc: a GitHub Actions OIDC
// token ({"oidc_token": "…"}) proves its repository owner's namespace,
// io.github.<owner>/*; the registry token gets the part of it the
// publishers rules grant to the OIDC token's claims.
func (h *Handler) exchangeGitHub(w http.ResponseWriter, r *http.Request) {
	if h.github == nil {
		h.audit(r, Event{Action: "token", Status: http.StatusUnauthorized, Reason: "github-oidc exchange not configured"})
		federate.WriteProblem(w, http.StatusUnauthorized, "the GitHub OIDC exchange is not configured on this registry (publishing.githubOIDC.audience)")
		return
	}
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	var in struct {
		OIDCToken string `json:"oidc_token"`
	}
	if err := json.Unmarshal(body, &in); err != nil || strings.TrimSpace(in.OIDCToken) == "" {
		federate.WriteProblem(w, http.StatusUnprocessableEntity, `want {"oidc_token": "<GitHub Actions OIDC token>"}`)
		return
	}
	gc, claims, err := h.github.verify(r.Context(), in.OIDCToken)
	switch {
	case errors.Is(err, ErrOIDCUnavailable):
		h.o.Logger.Warn("publishing: GitHub OIDC issuer unavailable", "issuer", h.github.issuer, "err", err)
		h.audit(r, Event{Action: "token", Status: http.StatusServiceUnavailable, Reason: "issuer unavailable"})
		w.Header().Set("Retry-After", "10")
		federate.WriteProblem(w, http.StatusServiceUnavailable, "the GitHub OIDC issuer cannot be reached; try again shortly")
		return
	case err != nil:
		h.audit(r, Event{Action: "token", Status: http.StatusUnauthorized, Reason: "github-oidc token does not verify"})
		federate.WriteProblem(w, http.StatusUnauthorized, "Token exchange failed: "+err.Error())
		return
	}
	ns, ok := githubNamespace(gc.RepositoryOwner)
	if !ok {
		h.audit(r, Event{Action: "token", Subject: gc.Subject, Status: http.StatusUnauthorized, Reason: "repository_owner is not a GitHub name"})
		federate.WriteProblem(w, http.StatusUnauthorized, "Token exchange failed: repository_owner is not a GitHub user or organisation name")
		return
	}
	perms := restrict([]Permission{{ActionPublish, ns}}, h.o.Config.Publishers, claims)
	if len(perms) == 0 {
		h.audit(r, Event{Action: "token", Subject: methodGitHubOIDC + ":" + gc.Subject, Status: http.StatusForbidden, Reason: "no publishers rule grants the proven namespace"})
		federate.WriteProblem(w, http.StatusForbidden, "the token proves "+ns+", but no publishing.publishers rule lets this token's claims publish there")
		return
	}
	h.issue(w, r, methodGitHubOIDC, gc.Subject, perms)
}

func (h *Handler) issue(w http.ResponseWriter, r *http.Request, method, sub string, perms []Permission) {
	resp, err := h.tokens.issue(method, sub, perms)
	if err != nil {
		h.o.Logger.Error("publishing: cannot sign a registry token", "err", err)
		federate.WriteProblem(w, http.StatusInternalServerError, "cannot sign a registry token")
		return
	}
	h.audit(r, Event{Action: "token", Subject: method + ":" + sub, Status: http.StatusOK, Reason: "publish: " + strings.Join(publishPatterns(perms), ", ")})
	writeJSON(w, http.StatusOK, resp)
}
