package publish

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpfed/mcpfed/store"
)

type statusAnswer struct {
	Server struct {
		Version string `json:"version"`
	} `json:"server"`
	Meta map[string]struct {
		Status        string  `json:"status"`
		StatusMessage *string `json:"statusMessage"`
		IsLatest      bool    `json:"isLatest"`
	} `json:"_meta"`
}

func (a statusAnswer) official() (string, string, bool) {
	o := a.Meta["io.modelcontextprotocol.registry/official"]
	msg := ""
	if o.StatusMessage != nil {
		msg = *o.StatusMessage
	}
	return o.Status, msg, o.IsLatest
}

func TestStatus(t *testing.T) {
	t.Parallel()
	perms := []Permission{{ActionEdit, "com.acme/*"}}
	type step struct {
		path  string // after the prefix
		token string // "": the edit token; "-": none
		body  string
		want  int
		// for 200: the status, message and isLatest of the answered
		// version (single) or the count of versions (all)
		status, msg string
		latest      bool
		count       int
		detail      string
	}
	one := "/servers/com.acme%2Fweather/versions/1.0.0/status"
	two := "/servers/com.acme%2Fweather/versions/2.0.0/status"
	all := "/servers/com.acme%2Fweather/status"
	tests := []struct {
		name  string
		steps []step
	}{
		{"deprecate, then again, then delete, then restore", []step{
			{path: one, body: `{"status":"deprecated","statusMessage":"use 2.0.0"}`, want: 200, status: "deprecated", msg: "use 2.0.0"},
			{path: one, body: `{"status":"deprecated","statusMessage":"use 2.0.0"}`, want: 400, detail: "No changes"},
			{path: one, body: `{"status":"deprecated","statusMessage":"really, use 2.0.0"}`, want: 200, status: "deprecated", msg: "really, use 2.0.0"},
			{path: one, body: `{"status":"deleted"}`, want: 200, status: "deleted"},
			{path: one, body: `{"status":"active"}`, want: 200, status: "active"},
		}},
		{"deleting the latest moves isLatest", []step{
			{path: two, body: `{"status":"deleted","statusMessage":"broken"}`, want: 200, status: "deleted", msg: "broken", latest: false},
			{path: one, body: `{"status":"active","statusMessage":"x"}`, want: 400, detail: "active"},
		}},
		{"every version", []step{
			{path: all, body: `{"status":"deprecated","statusMessage":"moved to com.acme/climate"}`, want: 200, count: 2},
			{path: all, body: `{"status":"deprecated","statusMessage":"moved to com.acme/climate"}`, want: 400, detail: "every version"},
			{path: "/servers/com.acme/weather/status", body: `{"status":"active"}`, want: 200, count: 2},
		}},
		{"unencoded slash", []step{
			{path: "/servers/com.acme/weather/versions/1.0.0/status", body: `{"status":"deprecated"}`, want: 200, status: "deprecated"},
		}},
		{"bad bodies", []step{
			{path: one, body: `{"status":"retired"}`, want: 422, detail: "retired"},
			{path: one, body: `{}`, want: 422, detail: "required"},
			{path: one, body: `{"status":"deprecated","reason":"x"}`, want: 422},
			{path: one, body: `{"status":"deprecated","statusMessage":"` + strings.Repeat("m", 501) + `"}`, want: 422, detail: "500"},
			{path: one, body: `{"status":"deprecated"} {}`, want: 400},
			{path: one, body: `not json`, want: 400},
		}},
		{"not found", []step{
			{path: "/servers/com.acme%2Fweather/versions/9.9.9/status", body: `{"status":"deleted"}`, want: 404},
			{path: "/servers/com.acme%2Fnothing/status", body: `{"status":"deleted"}`, want: 404},
		}},
		{"refused", []step{
			{path: one, token: "-", body: `{"status":"deleted"}`, want: 401},
			{path: one, token: "junk", body: `{"status":"deleted"}`, want: 401},
			{path: "/servers/org.other%2Fthing/versions/1.0.0/status", body: `{"status":"deleted"}`, want: 403},
			{path: "/servers/org.other%2Fthing/status", body: `{"status":"deleted"}`, want: 403},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Config{})
			pub := e.token(Permission{ActionPublish, "*"})
			for _, b := range [][]byte{serverJSON(acme, "1.0.0"), serverJSON(acme, "2.0.0"), serverJSON("org.other/thing", "1.0.0")} {
				e.clock.Add(1)
				if w := e.do("POST", "/v0.1/publish", pub, b); w.Code != 200 {
					t.Fatalf("seed: %d %s", w.Code, w.Body)
				}
			}
			edit := e.token(perms...)
			for i, s := range tt.steps {
				for _, prefix := range []string{"/v0.1", "/v0"} {
					if s.want == 200 && prefix == "/v0" {
						continue // repeating it is another step
					}
					tok := edit
					switch s.token {
					case "-":
						tok = ""
					case "":
					default:
						tok = s.token
					}
					before := e.st.writes()
					w := e.do("PATCH", prefix+s.path, tok, []byte(s.body))
					if w.Code != s.want {
						t.Fatalf("step %d %s: %d, want %d: %s", i, prefix, w.Code, s.want, w.Body)
					}
					if s.want != 200 {
						p := problem(t, w)
						if d, _ := p["detail"].(string); !strings.Contains(d, s.detail) {
							t.Errorf("step %d: detail %q does not mention %q", i, d, s.detail)
						}
						if e.st.writes() != before {
							t.Errorf("step %d: a refused change wrote", i)
						}
						continue
					}
					if s.count > 0 {
						var out struct {
							UpdatedCount int            `json:"updatedCount"`
							Servers      []statusAnswer `json:"servers"`
						}
						if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
							t.Fatal(err)
						}
						if out.UpdatedCount != s.count || len(out.Servers) != s.count {
							t.Errorf("step %d: %s", i, w.Body)
						}
						continue
					}
					var a statusAnswer
					if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
						t.Fatal(err)
					}
					st, msg, latest := a.official()
					if st != s.status || msg != s.msg || (s.status == "deleted" && latest != s.latest) {
						t.Errorf("step %d: got %s %q latest=%t, want %s %q: %s", i, st, msg, latest, s.status, s.msg, w.Body)
					}
				}
			}
		})
	}
}

func TestStatusStoreDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	tok := e.token(Permission{ActionPublish, "*"})
	if w := e.do("POST", "/v0.1/publish", tok, serverJSON(acme, "1.0.0")); w.Code != 200 {
		t.Fatal(w.Body)
	}
	e.st.setFail(fmt.Errorf("conn refused: %w", store.ErrUnavailable))
	w := e.do("PATCH", "/v0.1/servers/com.acme%2Fweather/status", tok, []byte(`{"status":"deleted"}`))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	problem(t, w)
}
