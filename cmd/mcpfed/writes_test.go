package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writesAuth is the auth block of storeEnv's tokens with extra (an audit
// file, a rate limit).
func writesAuth(t *testing.T, extra string) string {
	t.Helper()
	return `{"tokens":[
	  {"name":"reviewer-bot","tokenFile":"` + writeTestFile(t, "reviewer", reviewerTok+"\n") + `","claims":{"groups":["reviewers"]}},
	  {"name":"dev-bot","tokenFile":"` + writeTestFile(t, "dev", devTok+"\n") + `","claims":{"groups":["dev"]}}],
	  ` + extra + `}`
}

// TestCurationWritesAudited: a decision write is in the audit log with
// who wrote it, "admin" for the admin token file.
func TestCurationWritesAudited(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	audit := filepath.Join(t.TempDir(), "audit.log")
	rg := startGateway(t, storeEnv(t, stateDir, "MCPFED_AUTH", writesAuth(t, `"audit":{"enabled":true,"path":"`+audit+`"}`)))
	rg.must(t, http.StatusOK, http.MethodPut, approvalPath(anonServer), curAdminTok, map[string]any{"versions": "*", "decision": "approved"})
	rg.must(t, http.StatusOK, http.MethodPut, approvalPath(anonServer), reviewerTok, map[string]any{"versions": "1.1.0", "decision": "denied"})
	rg.must(t, http.StatusNoContent, http.MethodDelete, approvalPath(anonServer)+"?versions="+url.QueryEscape("1.1.0"), curAdminTok, nil)
	rg.stop()

	data, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec struct{ View, Subject, Reason, Method string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if rec.View == "curation" {
			got = append(got, rec.Method+" "+rec.Subject+" "+rec.Reason)
		}
	}
	want := []string{
		"PUT admin approvals put " + anonServer + "@*: approved",
		"PUT reviewer-bot approvals put " + anonServer + "@1.1.0: denied",
		"DELETE admin approvals delete " + anonServer + "@1.1.0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("curation audit lines:\n%s\nwant:\n%s\n(log:\n%s)", strings.Join(got, "\n"), strings.Join(want, "\n"), data)
	}
}

// TestWriteRoutesRateLimited: the write routes (publish, validate, the
// token exchanges, status, decisions) are under the per-client rate
// limit: 429 problem+json with Retry-After; another client still passes.
func TestWriteRoutesRateLimited(t *testing.T) {
	t.Parallel()
	rg := startGateway(t, storeEnv(t, t.TempDir(), "MCPFED_AUTH", writesAuth(t, `"rateLimit":{"perMinute":1,"burst":2}`)))
	// This client's (the address's) burst: two exchanges.
	tok := rg.registryToken(t)
	rg.registryToken(t)
	status := "/v0.1/servers/" + url.PathEscape(anonServer) + "/status"
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
	}{
		{"exchange", http.MethodPost, "/v0/auth/none", "", nil},
		{"github exchange", http.MethodPost, "/v0/auth/github-oidc", "", map[string]any{"oidc_token": "x"}},
		{"validate", http.MethodPost, "/v0.1/validate", "", serverDoc(anonServer, "1.0.0")},
		{"publish", http.MethodPost, "/v0.1/publish", tok, serverDoc(anonServer, "1.0.0")},
		{"status", http.MethodPatch, status, tok, map[string]any{"status": "deprecated"}},
	} {
		code, h, body := rg.do(t, tc.method, tc.path, tc.token, tc.body)
		if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s over the limit: %d Retry-After %q %q: %s", tc.name, code, h.Get("Retry-After"), h.Get("Content-Type"), body)
		}
	}
	// The reviewer is another client, with a burst of its own.
	for range 2 {
		rg.must(t, http.StatusOK, http.MethodPut, approvalPath(anonServer), reviewerTok, map[string]any{"versions": "*", "decision": "approved"})
	}
	code, h, body := rg.do(t, http.MethodDelete, approvalPath(anonServer), reviewerTok, nil)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("decision write over the limit: %d Retry-After %q: %s", code, h.Get("Retry-After"), body)
	}
}
