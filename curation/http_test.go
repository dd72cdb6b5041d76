package curation

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream"
)

const base = "/v0.1/x/io.github.mcpfed"

// tokenCheck admits the token named ok; another token is a known caller
// who may not; none is nobody.
func tokenCheck(ok, subject string) Check {
	return func(r *http.Request) (string, bool) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch tok {
		case "":
			return "", false
		case ok:
			return subject, true
		}
		return "someone-" + tok, false
	}
}

type apiFixture struct {
	st      *fakeStore
	set     *Set
	mux     *http.ServeMux
	entries []*upstream.Entry
	listErr error
	events  []Event // audited writes
}

func newAPI(t *testing.T) *apiFixture {
	t.Helper()
	f := &apiFixture{st: &fakeStore{}}
	f.set = NewSet(SetOptions{Store: f.st})
	if err := f.set.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	api := New(Options{
		Store: f.st, Set: f.set,
		Reviewer: tokenCheck("reviewer", "alice"), Admin: tokenCheck("admin", "root"),
		Entries: func(r *http.Request, view string) ([]*upstream.Entry, error) {
			if view != "approved" {
				return nil, ErrNoView
			}
			return f.entries, f.listErr
		},
		Clock: func() time.Time { return time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) },
		Audit: func(_ *http.Request, e Event) { f.events = append(f.events, e) },
	})
	f.mux = http.NewServeMux()
	api.Register(f.mux, "/v0.1")
	return f
}

func (f *apiFixture) do(t *testing.T, method, path, token, body string, header ...string) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, req)
	resp := rec.Result()
	var out map[string]any
	if data, _ := io.ReadAll(resp.Body); len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %s", method, path, data)
		}
	}
	return resp, out
}

// TestDecisionLifecycle: a reviewer approves, the rule follows at once,
// the list shows who and when, a denial wins, a delete removes it, and
// the history lists every write for admins.
func TestDecisionLifecycle(t *testing.T) {
	t.Parallel()
	f := newAPI(t)
	weather := entry("io.github.acme/weather", "1.4.0")
	resp, body := f.do(t, http.MethodPut, base+"/approvals/io.github.acme%2Fweather", "reviewer", `{"versions": ">=1.2  <2", "decision": "approved", "note": "PLAT-1"}`,
		"Content-Type", "application/json; charset=utf-8")
	if resp.StatusCode != http.StatusOK || body["versions"] != ">=1.2 <2" || body["who"] != "alice" || body["at"] != "2025-03-01T12:00:00Z" {
		t.Fatalf("PUT: %d %v", resp.StatusCode, body)
	}
	if !f.set.Admit(weather) {
		t.Fatal("the writer's approval is not in the rule at once")
	}
	// The unescaped form of the name works too; a denial wins.
	if resp, body := f.do(t, http.MethodPut, base+"/approvals/io.github.acme/weather", "admin", `{"versions":"1.4.0","decision":"denied"}`); resp.StatusCode != http.StatusOK || body["who"] != "root" {
		t.Fatalf("PUT by an admin: %d %v", resp.StatusCode, body)
	}
	if f.set.Admit(weather) || !f.set.Admit(entry("io.github.acme/weather", "1.5.0")) {
		t.Fatal("the denial does not win over the approval")
	}
	f.set.SetDocument("reviews", []store.Decision{{ServerName: "io.github.acme/other", Versions: "*", Decision: Approved}})
	resp, body = f.do(t, http.MethodGet, base+"/approvals", "reviewer", "")
	list, _ := body["decisions"].([]any)
	if resp.StatusCode != http.StatusOK || len(list) != 3 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET: %d %v", resp.StatusCode, body)
	}
	if doc := list[0].(map[string]any); doc["document"] != "reviews" || doc["serverName"] != "io.github.acme/other" {
		t.Errorf("the document's decision is not listed as such: %v", list)
	}
	if _, body := f.do(t, http.MethodGet, base+"/approvals?serverName=io.github.acme/other", "reviewer", ""); len(body["decisions"].([]any)) != 1 {
		t.Errorf("filter by serverName: %v", body)
	}
	if resp, _ := f.do(t, http.MethodDelete, base+"/approvals/io.github.acme/weather?versions=1.4.0", "reviewer", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE one: %d", resp.StatusCode)
	}
	if !f.set.Admit(weather) {
		t.Fatal("the deleted denial still applies")
	}
	if resp, _ := f.do(t, http.MethodDelete, base+"/approvals/io.github.acme/weather?versions=1.4.0", "reviewer", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("DELETE again: %d", resp.StatusCode)
	}
	if resp, _ := f.do(t, http.MethodDelete, base+"/approvals/io.github.acme/weather", "reviewer", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE all: %d", resp.StatusCode)
	}
	if f.set.Admit(weather) {
		t.Fatal("a server without decisions is admitted")
	}

	if resp, _ := f.do(t, http.MethodGet, base+"/changes", "reviewer", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a reviewer read the history: %d", resp.StatusCode)
	}
	resp, body = f.do(t, http.MethodGet, base+"/changes?limit=2", "admin", "")
	changes, _ := body["changes"].([]any)
	meta, _ := body["metadata"].(map[string]any)
	if resp.StatusCode != http.StatusOK || len(changes) != 2 || meta["nextAfter"] != float64(2) {
		t.Fatalf("changes: %d %v", resp.StatusCode, body)
	}
	first := changes[0].(map[string]any)
	if first["who"] != "alice" || first["kind"] != store.ChangeDecision || first["server"] != "io.github.acme/weather" {
		t.Errorf("first change %v", first)
	}
	_, body = f.do(t, http.MethodGet, base+"/changes?after=2", "admin", "")
	if changes := body["changes"].([]any); len(changes) != 2 || changes[1].(map[string]any)["kind"] != store.ChangeDecisionDelete {
		t.Errorf("changes after 2: %v", body)
	}
}

// TestRefusals: every bad request is a problem document with its status,
// and nothing is written.
func TestRefusals(t *testing.T) {
	t.Parallel()
	path := base + "/approvals/io.github.acme/weather"
	good := `{"versions":"*","decision":"approved"}`
	tests := []struct {
		name, method, path, token, body string
		header                          []string
		status                          int
		detail                          string
	}{
		{"no token", http.MethodPut, path, "", good, nil, 401, "a valid bearer token is required"},
		{"not a reviewer", http.MethodPut, path, "dev", good, nil, 403, "may not manage curation decisions"},
		{"list without token", http.MethodGet, base + "/approvals", "", "", nil, 401, ""},
		{"delete as a developer", http.MethodDelete, path, "dev", "", nil, 403, ""},
		{"pending without token", http.MethodGet, base + "/approvals/pending?view=approved", "", "", nil, 401, ""},
		{"changes without token", http.MethodGet, base + "/changes", "", "", nil, 401, ""},
		{"bad name", http.MethodPut, base + "/approvals/noslash", "reviewer", good, nil, 400, `serverName: "noslash" must be namespace/name`},
		{"empty name", http.MethodPut, base + "/approvals/", "reviewer", good, nil, 400, "serverName: required"},
		{"bad range", http.MethodPut, path, "reviewer", `{"versions":">=1.2 <","decision":"approved"}`, nil, 400, `"<" needs a version after it`},
		{"bad decision", http.MethodPut, path, "reviewer", `{"versions":"*","decision":"yes"}`, nil, 400, `decision: "yes" is not approved or denied`},
		{"missing fields", http.MethodPut, path, "reviewer", `{"note":"x"}`, nil, 400, "versions: required"},
		{"unknown field", http.MethodPut, path, "reviewer", `{"versions":"*","decision":"approved","who":"mallory"}`, nil, 400, `unknown field "who"`},
		{"not JSON", http.MethodPut, path, "reviewer", `versions=*`, nil, 400, "the body is not a decision"},
		{"trailing data", http.MethodPut, path, "reviewer", good + `{}`, nil, 400, "data after the JSON object"},
		{"no body", http.MethodPut, path, "reviewer", "", nil, 400, "a JSON body is required"},
		{"wrong type", http.MethodPut, path, "reviewer", `{"versions":1,"decision":"approved"}`, nil, 400, "the body is not a decision"},
		{"form body", http.MethodPut, path, "reviewer", good, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "application/json"},
		{"oversize", http.MethodPut, path, "reviewer", `{"versions":"*","decision":"approved","note":"` + strings.Repeat("n", DefaultMaxBodyBytes) + `"}`, nil, 413, "exceeds"},
		{"long note", http.MethodPut, path, "reviewer", `{"versions":"*","decision":"approved","note":"` + strings.Repeat("n", MaxNoteLength+1) + `"}`, nil, 400, "note: longer than"},
		{"unknown query", http.MethodPut, path + "?force=1", "reviewer", good, nil, 400, `unknown query parameter "force"`},
		{"bad delete range", http.MethodDelete, path + "?versions=%3E%3D", "reviewer", "", nil, 400, "versions: "},
		{"repeated query", http.MethodDelete, path + "?versions=*&versions=1", "reviewer", "", nil, 400, "more than once"},
		{"method", http.MethodPost, path, "reviewer", good, nil, 405, "POST is not supported"},
		{"method on list", http.MethodPut, base + "/approvals", "reviewer", good, nil, 405, ""},
		{"pending without view", http.MethodGet, base + "/approvals/pending", "reviewer", "", nil, 400, "view is required"},
		{"pending of no view", http.MethodGet, base + "/approvals/pending?view=nope", "reviewer", "", nil, 404, `no view named "nope"`},
		{"pending bad limit", http.MethodGet, base + "/approvals/pending?view=approved&limit=0", "reviewer", "", nil, 400, "limit must be"},
		{"pending bad cursor", http.MethodGet, base + "/approvals/pending?view=approved&cursor=zz!", "reviewer", "", nil, 400, "cursor"},
		{"changes bad after", http.MethodGet, base + "/changes?after=-1", "admin", "", nil, 400, "after must be"},
		{"changes big limit", http.MethodGet, base + "/changes?limit=5000", "admin", "", nil, 400, "limit must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newAPI(t)
			resp, body := f.do(t, tc.method, tc.path, tc.token, tc.body, tc.header...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			if d, _ := body["detail"].(string); !strings.Contains(d, tc.detail) {
				t.Errorf("detail %q does not say %q", d, tc.detail)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if len(f.st.changes) != 0 || len(f.st.decisions) != 0 {
				t.Errorf("written: %+v", f.st.decisions)
			}
		})
	}
}

// TestStoreFailures: a store that cannot be reached answers 503 with
// Retry-After; another error 500 without its text.
func TestStoreFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err    error
		status int
	}{
		{store.ErrUnavailable, http.StatusServiceUnavailable},
		{errors.New("pq: secret detail"), http.StatusInternalServerError},
	} {
		f := newAPI(t)
		f.st.setFail(tc.err)
		for _, req := range [][3]string{
			{http.MethodPut, base + "/approvals/io.github.acme/a", `{"versions":"*","decision":"approved"}`},
			{http.MethodGet, base + "/approvals", ""},
			{http.MethodDelete, base + "/approvals/io.github.acme/a", ""},
		} {
			resp, body := f.do(t, req[0], req[1], "reviewer", req[2])
			if resp.StatusCode != tc.status || strings.Contains(body["detail"].(string), "secret") {
				t.Errorf("%s %s: %d %v", req[0], req[1], resp.StatusCode, body)
			}
			if tc.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: 503 without Retry-After", req[0])
			}
		}
		if resp, _ := f.do(t, http.MethodGet, base+"/changes", "admin", ""); resp.StatusCode != tc.status {
			t.Errorf("changes: %d", resp.StatusCode)
		}
	}
}

// TestPending: the review queue is the view's versions no decision
// covers, newest first, with their source, a page at a time.
func TestPending(t *testing.T) {
	t.Parallel()
	f := newAPI(t)
	day := func(d int) time.Time { return time.Date(2025, 1, d, 0, 0, 0, 0, time.UTC) }
	mk := func(name, version, source string, d int) *upstream.Entry {
		return &upstream.Entry{Name: name, Version: version, Source: source, PublishedAt: day(d), Server: json.RawMessage(`{"name":"` + name + `"}`), Status: "active"}
	}
	f.entries = []*upstream.Entry{
		mk("io.github.acme/a", "1.0.0", "official", 1),
		mk("io.github.acme/a", "1.1.0", "official", 5),
		mk("io.github.acme/b", "2.0.0", "internal", 3),
		mk("io.github.acme/c", "0.1.0", "official", 5),
		mk("io.github.acme/d", "1.0.0", "internal", 2),
		mk("io.github.acme/e", "3.0.0", "official", 4),
	}
	for _, d := range []string{
		`{"versions":"1.0.0","decision":"approved"}`, // a 1.0.0 decided, a 1.1.0 pending
	} {
		if resp, _ := f.do(t, http.MethodPut, base+"/approvals/io.github.acme/a", "reviewer", d); resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
	}
	if resp, _ := f.do(t, http.MethodPut, base+"/approvals/io.github.acme/d", "reviewer", `{"versions":"*","decision":"denied"}`); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	var got []string
	cursor := ""
	for page := 0; page < 5; page++ {
		path := base + "/approvals/pending?view=approved&limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		resp, body := f.do(t, http.MethodGet, path, "reviewer", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %v", resp.StatusCode, body)
		}
		for _, p := range body["pending"].([]any) {
			m := p.(map[string]any)
			got = append(got, m["name"].(string)+"@"+m["version"].(string)+"/"+m["source"].(string))
			if m["server"].(map[string]any)["name"] != m["name"] || m["publishedAt"] == nil {
				t.Errorf("item %v", m)
			}
		}
		meta := body["metadata"].(map[string]any)
		if meta["total"] != float64(4) {
			t.Errorf("total %v", meta["total"])
		}
		next, _ := meta["nextCursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	want := "io.github.acme/a@1.1.0/official io.github.acme/c@0.1.0/official io.github.acme/e@3.0.0/official io.github.acme/b@2.0.0/internal"
	if strings.Join(got, " ") != want {
		t.Errorf("queue\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
	f.listErr = errors.New("source down")
	if resp, _ := f.do(t, http.MethodGet, base+"/approvals/pending?view=approved", "reviewer", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a failing list: %d", resp.StatusCode)
	}
}

// TestWritesAudited: every decision write an admitted caller attempts is
// audited with the caller's subject and the status; refusals before
// admission and reads are not (the gateway's access layer audits those).
func TestWritesAudited(t *testing.T) {
	t.Parallel()
	f := newAPI(t)
	f.do(t, http.MethodPut, base+"/approvals/io.github.acme/weather", "reviewer", `{"versions":"*","decision":"approved"}`)
	f.do(t, http.MethodPut, base+"/approvals/io.github.acme/weather", "nobody", `{"versions":"*","decision":"denied"}`)
	f.do(t, http.MethodGet, base+"/approvals", "reviewer", "")
	f.do(t, http.MethodDelete, base+"/approvals/io.github.acme/weather?versions=*", "admin", "")
	f.st.setFail(store.ErrUnavailable)
	f.do(t, http.MethodDelete, base+"/approvals/io.github.acme/weather", "admin", "")
	want := []Event{
		{Action: "put", Server: "io.github.acme/weather", Versions: "*", Decision: Approved, Subject: "alice", Status: http.StatusOK},
		{Action: "delete", Server: "io.github.acme/weather", Versions: "*", Subject: "root", Status: http.StatusNoContent},
		{Action: "delete", Server: "io.github.acme/weather", Subject: "root", Status: http.StatusServiceUnavailable},
	}
	if len(f.events) != len(want) {
		t.Fatalf("audited %+v, want %+v", f.events, want)
	}
	for i := range want {
		if f.events[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, f.events[i], want[i])
		}
	}
}
