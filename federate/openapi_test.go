package federate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// validateJSON checks body against schema.
func validateJSON(t testing.TB, schema *jsonschema.Schema, body []byte) {
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
