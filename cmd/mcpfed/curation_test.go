package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/registry/pkg/model"
)

// Tokens of the curation tests.
const (
	reviewerTok = "reviewer-token-0123456789abcdef"
	devTok      = "dev-token-0123456789abcdef"
	curAdminTok = "curation-admin-token-0123456789abcdef"
)

const anonServer = "io.modelcontextprotocol.anonymous/weather"

// storeEnv is the configuration of a gateway with a managed source, an
// approved-only view over it, anonymous publishing and a reviewer: the
// store is SQLite in stateDir unless kv say otherwise.
func storeEnv(t *testing.T, stateDir string, kv ...string) func() map[string]string {
	t.Helper()
	return plainVars(append([]string{
		"MCPFED_STATE_DIR", stateDir,
		"MCPFED_LISTEN_ADDR", "127.0.0.1:0",
		"MCPFED_SOURCES", `[{"name":"internal","kind":"managed"}]`,
		"MCPFED_VIEWS", `[{"name":"approved","sources":["internal"],"curation":"approved-only"}]`,
		"MCPFED_AUTH", `{"tokens":[
		  {"name":"reviewer-bot","tokenFile":"` + writeTestFile(t, "reviewer", reviewerTok+"\n") + `","claims":{"groups":["reviewers"]}},
		  {"name":"dev-bot","tokenFile":"` + writeTestFile(t, "dev", devTok+"\n") + `","claims":{"groups":["dev"]}}]}`,
		"MCPFED_CURATION", `{"reviewerClaims":{"groups":["reviewers"]}}`,
		"MCPFED_PUBLISHING", `{"anonymous":true}`,
		"MCPFED_ADMIN_TOKEN_FILE", writeTestFile(t, "admin", curAdminTok+"\n"),
	}, kv...)...)
}

// runningGateway serves the configuration lookup gives until stop.
type runningGateway struct {
	base string
	stop func()
}

func startGateway(t *testing.T, lookup func() map[string]string) *runningGateway {
	t.Helper()
	cfg, err := loadConfig(lookup, flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := wire(cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- g.serve(ctx, listening) }()
	var addr string
	select {
	case addr = <-listening:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	waitReady(t, addr)
	stopped := false
	rg := &runningGateway{base: "http://" + addr}
	rg.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	}
	t.Cleanup(rg.stop)
	return rg
}

// do sends a request; body is JSON-encoded unless it is []byte or an
// io.Reader (sent as is: a reader without a length goes chunked).
func (rg *runningGateway) do(t *testing.T, method, path, token string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, rg.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, data
}

// must is do expecting status.
func (rg *runningGateway) must(t *testing.T, status int, method, path, token string, body any) []byte {
	t.Helper()
	code, _, data := rg.do(t, method, path, token, body)
	if code != status {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, code, status, data)
	}
	return data
}

// registryToken exchanges nothing for an anonymous-namespace token.
func (rg *runningGateway) registryToken(t *testing.T) string {
	t.Helper()
	var out struct {
		Token string `json:"registry_token"`
	}
	if err := json.Unmarshal(rg.must(t, http.StatusOK, http.MethodPost, "/v0/auth/none", "", nil), &out); err != nil || out.Token == "" {
		t.Fatalf("auth/none: %v %+v", err, out)
	}
	return out.Token
}

// versions lists name's versions served at path (a list endpoint).
func (rg *runningGateway) versions(t *testing.T, path, name string) []string {
	t.Helper()
	var list struct {
		Servers []struct {
			Server struct{ Name, Version string } `json:"server"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(rg.must(t, http.StatusOK, http.MethodGet, path, "", nil), &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list.Servers {
		if s.Server.Name == name {
			out = append(out, s.Server.Version)
		}
	}
	slices.Sort(out)
	return out
}

// eventually waits up to 2 s for path to serve exactly want of name.
func (rg *runningGateway) eventually(t *testing.T, path, name string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := rg.versions(t, path, name)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s serves %s %v, want %v within 2s", path, name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// changes lists the history as the admin reads it: "kind who server@version".
func (rg *runningGateway) changes(t *testing.T) []string {
	t.Helper()
	var out struct {
		Changes []struct {
			Kind, Who, Server, Version string
		} `json:"changes"`
	}
	if err := json.Unmarshal(rg.must(t, http.StatusOK, http.MethodGet, "/v0.1/x/io.github.mcpfed/changes", curAdminTok, nil), &out); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range out.Changes {
		lines = append(lines, c.Kind+" "+c.Who+" "+c.Server+"@"+c.Version)
	}
	return lines
}

func serverDoc(name, version string) map[string]any {
	return map[string]any{
		"$schema": model.CurrentSchemaURL, "name": name, "version": version,
		"description": "Published to mcpfed",
		"packages": []any{map[string]any{
			"registryType": "npm", "identifier": "@acme/weather", "version": version,
			"transport": map[string]any{"type": "stdio"},
		}},
	}
}

func approvalPath(name string) string {
	return "/v0.1/x/io.github.mcpfed/approvals/" + url.PathEscape(name)
}

// TestPublishAndCurateOnSQLite: the wired gateway on SQLite publishes
// through the official API, serves what it published, shows an
// approved-only view only what a reviewer approved (a denial winning),
// keeps the history, refuses bad input with nothing written, and keeps
// everything across a restart on the same state directory.
func TestPublishAndCurateOnSQLite(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	lookup := storeEnv(t, stateDir)
	rg := startGateway(t, lookup)

	tok := rg.registryToken(t)
	rg.must(t, http.StatusOK, http.MethodPost, "/v0.1/publish", tok, serverDoc(anonServer, "1.0.0"))
	rg.eventually(t, "/v0.1/servers", anonServer, "1.0.0")
	rg.eventually(t, "/registry/approved/v0.1/servers", anonServer)

	// The review queue lists it for a reviewer.
	var queue struct {
		Pending []struct{ Name, Version, Source string } `json:"pending"`
	}
	if err := json.Unmarshal(rg.must(t, http.StatusOK, http.MethodGet, "/v0.1/x/io.github.mcpfed/approvals/pending?view=approved", reviewerTok, nil), &queue); err != nil ||
		len(queue.Pending) != 1 || queue.Pending[0].Name != anonServer || queue.Pending[0].Source != "internal" {
		t.Fatalf("pending: %v %+v", err, queue)
	}
	rg.must(t, http.StatusNotFound, http.MethodGet, "/v0.1/x/io.github.mcpfed/approvals/pending?view=nope", reviewerTok, nil)

	rg.must(t, http.StatusOK, http.MethodPut, approvalPath(anonServer), reviewerTok, map[string]any{"versions": "*", "decision": "approved", "note": "reviewed"})
	rg.eventually(t, "/registry/approved/v0.1/servers", anonServer, "1.0.0")

	// A second version, sent chunked: the write routes take a body
	// without a length. Approved by "*" until a denial of it wins.
	rg.must(t, http.StatusOK, http.MethodPost, "/v0.1/publish", tok, io.MultiReader(bytes.NewReader(mustMarshal(t, serverDoc(anonServer, "1.1.0")))))
	rg.eventually(t, "/registry/approved/v0.1/servers", anonServer, "1.0.0", "1.1.0")
	rg.must(t, http.StatusOK, http.MethodPut, approvalPath(anonServer), reviewerTok, map[string]any{"versions": "1.1.0", "decision": "denied", "note": "breaks clients"})
	rg.eventually(t, "/registry/approved/v0.1/servers", anonServer, "1.0.0")
	rg.eventually(t, "/v0.1/servers", anonServer, "1.0.0", "1.1.0")

	wantHistory := []string{
		"publish none:anonymous " + anonServer + "@1.0.0",
		"decision reviewer-bot " + anonServer + "@",
		"publish none:anonymous " + anonServer + "@1.1.0",
		"decision reviewer-bot " + anonServer + "@",
	}
	if got := rg.changes(t); !slices.Equal(got, wantHistory) {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantHistory, "\n"))
	}

	// Bad input: a 4xx problem, nothing written.
	invalid := serverDoc(anonServer, "2.0.0")
	delete(invalid, "description")
	invalid["version"] = "latest"
	for _, tc := range []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
	}{
		{"schema-invalid", http.MethodPost, "/v0.1/publish", tok, invalid, http.StatusUnprocessableEntity},
		{"not JSON", http.MethodPost, "/v0.1/publish", tok, []byte("{"), http.StatusBadRequest},
		{"wrong namespace", http.MethodPost, "/v0.1/publish", tok, serverDoc("com.acme/weather", "1.0.0"), http.StatusForbidden},
		{"no token", http.MethodPost, "/v0.1/publish", "", serverDoc(anonServer, "2.0.0"), http.StatusUnauthorized},
		{"bad token", http.MethodPost, "/v0/publish", "not-a-token", serverDoc(anonServer, "2.0.0"), http.StatusUnauthorized},
		{"re-publish", http.MethodPost, "/v0.1/publish", tok, serverDoc(anonServer, "1.0.0"), http.StatusBadRequest},
		{"decision without token", http.MethodPut, approvalPath(anonServer), "", map[string]any{"versions": "*", "decision": "approved"}, http.StatusUnauthorized},
		{"decision with a bad token", http.MethodPut, approvalPath(anonServer), "not-a-token", map[string]any{"versions": "*", "decision": "approved"}, http.StatusUnauthorized},
		{"decision by a non-reviewer", http.MethodPut, approvalPath(anonServer), devTok, map[string]any{"versions": "*", "decision": "approved"}, http.StatusForbidden},
		{"decision by a registry token", http.MethodPut, approvalPath(anonServer), tok, map[string]any{"versions": "*", "decision": "approved"}, http.StatusUnauthorized},
		{"bad decision", http.MethodPut, approvalPath(anonServer), reviewerTok, map[string]any{"versions": "*", "decision": "maybe"}, http.StatusBadRequest},
		{"bad range", http.MethodPut, approvalPath(anonServer), reviewerTok, map[string]any{"versions": "^1.0", "decision": "approved"}, http.StatusBadRequest},
		{"delete by a non-reviewer", http.MethodDelete, approvalPath(anonServer), devTok, nil, http.StatusForbidden},
		{"history for a reviewer", http.MethodGet, "/v0.1/x/io.github.mcpfed/changes", reviewerTok, nil, http.StatusForbidden},
		{"status without token", http.MethodPatch, "/v0.1/servers/" + url.PathEscape(anonServer) + "/versions/1.0.0/status", "", map[string]any{"status": "deprecated"}, http.StatusUnauthorized},
	} {
		code, h, body := rg.do(t, tc.method, tc.path, tc.token, tc.body)
		if code != tc.status || !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: %d %q, want %d problem+json: %s", tc.name, code, h.Get("Content-Type"), tc.status, body)
		}
	}
	if got := rg.changes(t); !slices.Equal(got, wantHistory) {
		t.Fatalf("bad input wrote:\n%s", strings.Join(got, "\n"))
	}

	// Restart on the same state directory: everything is kept.
	rg.stop()
	rg = startGateway(t, lookup)
	rg.eventually(t, "/v0.1/servers", anonServer, "1.0.0", "1.1.0")
	rg.eventually(t, "/registry/approved/v0.1/servers", anonServer, "1.0.0")
	if got := rg.changes(t); !slices.Equal(got, wantHistory) {
		t.Fatalf("changes after restart:\n%s", strings.Join(got, "\n"))
	}
	var decisions struct {
		Decisions []struct{ ServerName, Versions, Decision, Who string } `json:"decisions"`
	}
	if err := json.Unmarshal(rg.must(t, http.StatusOK, http.MethodGet, "/v0/x/io.github.mcpfed/approvals", curAdminTok, nil), &decisions); err != nil || len(decisions.Decisions) != 2 {
		t.Fatalf("decisions after restart: %v %+v", err, decisions)
	}
}

// TestNoStoreWithoutCuration: with no managed source, curation or
// publishing nothing is created and the write routes do not exist.
func TestNoStoreWithoutCuration(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	rg := startGateway(t, plainVars("MCPFED_STATE_DIR", stateDir, "MCPFED_LISTEN_ADDR", "127.0.0.1:0",
		"MCPFED_SOURCES", `[{"name":"seed","kind":"file","path":"../../testdata/catalog/official-seed.json"}]`))
	for _, p := range []string{"/v0.1/publish", "/v0/auth/none"} {
		if code, _, _ := rg.do(t, http.MethodPost, p, "", []byte("{}")); code < 400 || code == http.StatusUnprocessableEntity {
			t.Errorf("POST %s: %d", p, code)
		}
	}
	rg.must(t, http.StatusNotFound, http.MethodGet, "/v0.1/x/io.github.mcpfed/approvals", curAdminTok, nil)
	rg.stop()
	if m, _ := filepath.Glob(filepath.Join(stateDir, "mcpfed.db*")); len(m) > 0 {
		t.Errorf("a store was created: %v", m)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecisionsFromAFile: a file of decisions feeds the approved-only
// view's rule with the API's, is listed and resynced like a source, and
// is no member of the views (a view without sources: every server source).
func TestDecisionsFromAFile(t *testing.T) {
	t.Parallel()
	doc := writeTestFile(t, "decisions.yaml", "decisions:\n  - {serverName: "+anonServer+", versions: \"1.0.0\", decision: approved, note: from a pull request}\n")
	rg := startGateway(t, storeEnv(t, t.TempDir(),
		"MCPFED_SOURCES", `[{"name":"internal","kind":"managed"},{"name":"reviews","kind":"file","path":"`+doc+`","decisions":true}]`,
		"MCPFED_VIEWS", `[{"name":"approved","curation":"approved-only"}]`,
		"MCPFED_ADMIN_RESYNC", "true",
	))
	tok := rg.registryToken(t)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		rg.must(t, http.StatusOK, http.MethodPost, "/v0.1/publish", tok, serverDoc(anonServer, v))
	}
	rg.eventually(t, "/registry/approved/v0.1/servers", anonServer, "1.0.0")
	rg.eventually(t, "/v0.1/servers", anonServer, "1.0.0", "1.1.0")

	// A denial through the API wins over the document's approval.
	rg.must(t, http.StatusOK, http.MethodPut, approvalPath(anonServer), reviewerTok, map[string]any{"versions": "*", "decision": "denied"})
	rg.eventually(t, "/registry/approved/v0.1/servers", anonServer)

	var sources struct {
		Sources []struct{ Name, Kind, State string } `json:"sources"`
	}
	if err := json.Unmarshal(rg.must(t, http.StatusOK, http.MethodGet, "/v0.1/x/io.github.mcpfed/sources", curAdminTok, nil), &sources); err != nil ||
		len(sources.Sources) != 2 || sources.Sources[1].Name != "reviews" || sources.Sources[1].Kind != "file" {
		t.Fatalf("sources: %v %+v", err, sources)
	}
	rg.must(t, http.StatusOK, http.MethodPost, "/v0.1/x/io.github.mcpfed/sources/reviews/resync", curAdminTok, nil)
	var decisions struct {
		Decisions []struct{ ServerName, Decision, Document string } `json:"decisions"`
	}
	if err := json.Unmarshal(rg.must(t, http.StatusOK, http.MethodGet, "/v0.1/x/io.github.mcpfed/approvals", reviewerTok, nil), &decisions); err != nil || len(decisions.Decisions) != 2 {
		t.Fatalf("decisions: %v %+v", err, decisions)
	}
}
