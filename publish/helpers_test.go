package publish

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/registry/pkg/model"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a handler over a fake store.
type env struct {
	t      *testing.T
	st     *fakeStore
	h      *Handler
	clock  *clock
	events []Event
	mu     sync.Mutex
}

func newEnv(t *testing.T, cfg Config, mods ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, st: newFakeStore(), clock: newClock()}
	o := Options{Config: cfg, Store: e.st, Clock: e.clock.Now, Audit: func(_ *http.Request, ev Event) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.events = append(e.events, ev)
	}}
	for _, m := range mods {
		m(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

// token issues a registry token with perms.
func (e *env) token(perms ...Permission) string {
	e.t.Helper()
	resp, err := e.h.tokens.issue("test", "tester", perms)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.RegistryToken
}

func (e *env) do(method, path, token string, body []byte) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// serverJSON is a minimal valid server.json.
func serverJSON(name, version string) []byte {
	return mustJSON(map[string]any{
		"$schema":     model.CurrentSchemaURL,
		"name":        name,
		"description": "A test server",
		"version":     version,
		"packages": []any{map[string]any{
			"registryType": "npm", "identifier": "@acme/test", "version": version,
			"transport": map[string]any{"type": "stdio"},
		}},
	})
}

// with returns server.json b with key set (nil: removed).
func with(b []byte, key string, v any) []byte {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	if v == nil {
		delete(m, key)
	} else {
		m[key] = v
	}
	return mustJSON(m)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// problem decodes a problem+json answer.
func problem(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json (body %s)", ct, w.Body)
	}
	var p map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", w.Body, err)
	}
	return p
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
