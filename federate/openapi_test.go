package federate

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// officialSchemas are the component schemas of the official OpenAPI
// document that responses are validated against.
type officialSchemas struct {
	ServerList     *jsonschema.Schema
	ServerResponse *jsonschema.Schema
	// Source says which copy of the document was used, for failure messages.
	Source string
}

var (
	schemasOnce sync.Once
	schemas     *officialSchemas
	schemasErr  error
)

// loadSchemas compiles the official document once per test binary; every
// API test validates against it.
func loadSchemas(t testing.TB) *officialSchemas {
	t.Helper()
	schemasOnce.Do(func() { schemas, schemasErr = compileOfficialSchemas() })
	if schemasErr != nil {
		t.Fatalf("official OpenAPI schemas: %v", schemasErr)
	}
	return schemas
}

// officialOpenAPIPath finds the document in the official Go module (the
// version go.mod pins), falling back to the project's shared copy.
func officialOpenAPIPath() string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/modelcontextprotocol/registry").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "docs", "reference", "api", "openapi.yaml")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join("..", "..", "shared", "spec", "openapi.yaml")
}

func compileOfficialSchemas() (*officialSchemas, error) {
	path := officialOpenAPIPath()
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := yamlToJSONValue(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The document is OpenAPI 3.1 (JSON Schema 2020-12 dialect). Register it
	// whole so the components' internal $refs resolve, and compile only the
	// schemas under components: the rest is OpenAPI, not schema.
	const loc = "mem://official/openapi.json"
	if m, ok := doc.(map[string]any); ok {
		delete(m, "$id") // would rebase the $refs onto a URL nothing serves
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	s := &officialSchemas{Source: path}
	if s.ServerList, err = c.Compile(loc + "#/components/schemas/ServerList"); err != nil {
		return nil, err
	}
	if s.ServerResponse, err = c.Compile(loc + "#/components/schemas/ServerResponse"); err != nil {
		return nil, err
	}
	return s, nil
}

// yamlToJSONValue converts YAML to the value jsonschema validates: the
// result of decoding the equivalent JSON (numbers as json.Number).
func yamlToJSONValue(raw []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// validItems holds the SHA-256 of every server item that validated
// against ServerResponse. Walks serve the same items again and again (at
// every page size); validating each distinct item once is the same check,
// since ServerList's items are a $ref to ServerResponse with no constraint
// across items.
var validItems sync.Map

// validateJSON checks body against schema. A ServerList is checked as its
// envelope (servers emptied) plus each item against ServerResponse.
func validateJSON(t testing.TB, schema *jsonschema.Schema, body []byte) {
	t.Helper()
	if s := loadSchemas(t); schema == s.ServerList {
		body = validateListItems(t, s.ServerResponse, body)
	}
	validateValue(t, schema, body)
}

// validateListItems validates each item of a ServerList body and returns
// the body with an empty servers array, for the envelope's check. A body
// whose servers is not an array is returned as it is.
func validateListItems(t testing.TB, item *jsonschema.Schema, body []byte) []byte {
	t.Helper()
	// One decoding of the body: the envelope's other members as they are,
	// the items split. Anything unexpected goes to the schema whole.
	var envelope struct {
		Servers  []json.RawMessage `json:"servers"`
		Metadata json.RawMessage   `json:"metadata"`
	}
	if json.Unmarshal(body, &envelope) != nil || envelope.Servers == nil || !bytes.HasPrefix(body, []byte(`{"servers":[`)) {
		return body
	}
	for _, it := range envelope.Servers {
		sum := sha256.Sum256(it)
		if _, ok := validItems.Load(sum); ok {
			continue
		}
		validateValue(t, item, it)
		if !t.Failed() {
			validItems.Store(sum, true)
		}
	}
	// The list encoder writes exactly these two members; a body with any
	// other member fails the decoding above or is rebuilt without it, so
	// check the shape: the rebuilt envelope must account for every byte.
	out := []byte(`{"servers":[]`)
	if envelope.Metadata != nil {
		out = append(append(out, `,"metadata":`...), envelope.Metadata...)
	}
	out = append(out, '}')
	itemBytes := max(len(envelope.Servers)-1, 0) // commas
	for _, it := range envelope.Servers {
		itemBytes += len(it)
	}
	if len(body) != itemBytes+len(out) {
		return body // members the rebuild dropped: let the schema see them
	}
	return out
}

func validateValue(t testing.TB, schema *jsonschema.Schema, body []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, truncate(body))
		return
	}
	if err := schema.Validate(v); err != nil {
		t.Fatalf("response does not validate against the official OpenAPI document: %v\n%s", err, truncate(body))
	}
}

func truncate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// failRecorder stands in for a test whose failure is the expected outcome.
type failRecorder struct {
	testing.TB
	failed bool
}

func (f *failRecorder) Helper()                   {}
func (f *failRecorder) Failed() bool              { return f.failed }
func (f *failRecorder) Errorf(string, ...any)     { f.failed = true }
func (f *failRecorder) Fatalf(s string, a ...any) { f.failed = true; runtime.Goexit() }
func (f *failRecorder) Fatal(...any)              { f.failed = true; runtime.Goexit() }

// TestValidateJSONSplitsListsFaithfully: validating a list item by item
// (with the cache of valid items) still refuses a bad item, a bad
// envelope and a member the list encoder never writes.
func TestValidateJSONSplitsListsFaithfully(t *testing.T) {
	t.Parallel()
	s := loadSchemas(t)
	good := encodeList(newSource(t, "v", serverList(overlayItems[:2]...)).Snapshot().Entries(), "")
	for _, tt := range []struct {
		name string
		body string
		ok   bool
	}{
		{"good", string(good), true},
		{"item without server", `{"servers":[{"_meta":{}}],"metadata":{"count":1}}`, false},
		{"good item then a bad one", strings.Replace(string(good), `]`+`,"metadata"`, `,{"server":1}],"metadata"`, 1), false},
		{"metadata of the wrong type", `{"servers":[],"metadata":{"count":"one"}}`, false},
		{"servers not an array", `{"servers":{},"metadata":{"count":0}}`, false},
		{"no servers", `{"metadata":{"count":0}}`, false},
	} {
		rec := &failRecorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			validateJSON(rec, s.ServerList, []byte(tt.body))
		}()
		<-done
		if rec.failed == tt.ok {
			t.Errorf("%s: failed=%t, want %t", tt.name, rec.failed, !tt.ok)
		}
	}
}
