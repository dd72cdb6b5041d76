package publish

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/registry/pkg/model"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/mcpfed/mcpfed/upstream"
)

// serverSchema is the official server.json schema of the current version
// (model.CurrentSchemaURL), as published at its $id: every server.json
// published to mcpfed is validated against it.
//
//go:embed server.schema.json
var serverSchema []byte

// ValidationResult is the answer of /validate, in the official registry's
// shape (mcp-publisher prints it).
type ValidationResult struct {
	Valid  bool    `json:"valid"`
	Issues []Issue `json:"issues"`
}

// Issue is one problem found in a server.json.
type Issue struct {
	Type      string `json:"type"`     // json, schema or semantic
	Path      string `json:"path"`     // packages[0].transport.url
	Message   string `json:"message"`  // what is wrong
	Severity  string `json:"severity"` // error or warning
	Reference string `json:"reference"`
}

// Issue severities and types.
const (
	severityError   = "error"
	severityWarning = "warning"
	typeSchema      = "schema"
	typeSemantic    = "semantic"
)

// References mcp-publisher recognises and explains (schema problems).
const (
	refSchemaRequired   = "schema-field-required"
	refSchemaDeprecated = "schema-version-deprecated"
	refSchemaURL        = "schema-version-extraction-error"
)

// maxPublisherMeta bounds the publisher-provided _meta block, as the
// official registry does.
const maxPublisherMeta = 4 << 10

func (r *ValidationResult) add(i Issue) {
	r.Issues = append(r.Issues, i)
	if i.Severity == severityError {
		r.Valid = false
	}
}

// errorCount is the number of error issues.
func (r *ValidationResult) errors() []Issue {
	var out []Issue
	for _, i := range r.Issues {
		if i.Severity == severityError {
			out = append(out, i)
		}
	}
	return out
}

// validator checks server.json documents: the official schema, then the
// rules the schema cannot say, then whether mcpfed can index the entry.
type validator struct {
	schema  *jsonschema.Schema
	printer *message.Printer
}

func newValidator() (*validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(serverSchema))
	if err != nil {
		return nil, fmt.Errorf("embedded server.schema.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(model.CurrentSchemaURL, doc); err != nil {
		return nil, fmt.Errorf("embedded server.schema.json: %w", err)
	}
	s, err := c.Compile(model.CurrentSchemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile server.schema.json: %w", err)
	}
	return &validator{schema: s, printer: message.NewPrinter(language.English)}, nil
}

// schemaVersion takes the version out of a schema URL
// (https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json).
var schemaVersion = regexp.MustCompile(`^https://static\.modelcontextprotocol\.io/schemas/([A-Za-z0-9_~.-]+)/server\.schema\.json$`)

// validate checks body, a JSON object (the caller checked the syntax).
func (v *validator) validate(body []byte) ValidationResult {
	res := ValidationResult{Valid: true, Issues: []Issue{}}
	var top struct {
		Schema  *string         `json:"$schema"`
		Name    *string         `json:"name"`
		Version *string         `json:"version"`
		Title   *string         `json:"title"`
		Meta    json.RawMessage `json:"_meta"`
	}
	_ = json.Unmarshal(body, &top) // wrong types are the schema's to report

	switch {
	case top.Schema == nil || *top.Schema == "":
		res.add(Issue{typeSemantic, "schema", "$schema field is required", severityError, refSchemaRequired})
	case *top.Schema != model.CurrentSchemaURL:
		m := schemaVersion.FindStringSubmatch(*top.Schema)
		if m == nil {
			res.add(Issue{typeSchema, "schema", fmt.Sprintf("$schema %q is not an official server.json schema URL (want %s)", *top.Schema, model.CurrentSchemaURL), severityError, refSchemaURL})
			break
		}
		res.add(Issue{typeSemantic, "schema", fmt.Sprintf("schema version %s is not the current version (%s): validated against %s", m[1], model.CurrentSchemaVersion, model.CurrentSchemaVersion), severityWarning, refSchemaDeprecated})
	}

	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		res.add(Issue{"json", "", "not valid JSON: " + err.Error(), severityError, "json"})
		return res
	}
	if err := v.schema.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			res.add(Issue{typeSchema, "", err.Error(), severityError, "schema"})
		} else {
			v.schemaIssues(&res, ve)
		}
	}

	if top.Name != nil {
		if msg := nameProblem(*top.Name); msg != "" {
			res.add(Issue{typeSemantic, "name", msg, severityError, "invalid-server-name"})
		}
	}
	if top.Version != nil {
		if msg := versionProblem(*top.Version); msg != "" {
			res.add(Issue{typeSemantic, "version", msg, severityError, "invalid-version"})
		}
	}
	if top.Title != nil && *top.Title != "" && strings.TrimSpace(*top.Title) == "" {
		res.add(Issue{typeSemantic, "title", "title cannot be only white space", severityError, "invalid-title"})
	}
	if len(top.Meta) > 0 {
		var meta map[string]json.RawMessage
		if json.Unmarshal(top.Meta, &meta) == nil {
			if pp := meta[upstream.PublisherMetaKey]; len(pp) > maxPublisherMeta {
				res.add(Issue{typeSemantic, "_meta." + upstream.PublisherMetaKey,
					fmt.Sprintf("publisher-provided metadata is %d bytes; at most %d", len(pp), maxPublisherMeta), severityError, "publisher-meta-too-large"})
			}
		}
	}
	if res.Valid {
		// What the schema allows but mcpfed cannot serve (its own index
		// rules): refused here rather than dropped when the source loads.
		if _, err := upstream.NewEntry(body, nil); err != nil {
			res.add(Issue{typeSemantic, "", err.Error(), severityError, "mcpfed-entry"})
		}
	}
	return res
}

// schemaIssues adds one issue per leaf of the validation error tree.
func (v *validator) schemaIssues(res *ValidationResult, ve *jsonschema.ValidationError) {
	const maxIssues = 100
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(res.Issues) >= maxIssues {
			return
		}
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		ref := e.SchemaURL
		if _, frag, ok := strings.Cut(ref, "#"); ok {
			ref = "#" + frag
		}
		for _, k := range e.ErrorKind.KeywordPath() {
			ref += "/" + k
		}
		res.add(Issue{typeSchema, instancePath(e.InstanceLocation), e.ErrorKind.LocalizedString(v.printer), severityError, ref})
	}
	walk(ve)
}

// instancePath writes a JSON pointer's tokens as the official registry
// writes paths: packages[0].transport.url.
func instancePath(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		if _, err := strconv.Atoi(t); err == nil {
			b.WriteString("[" + t + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(t)
	}
	return b.String()
}

// nameProblem checks what the schema's name pattern does not: each side of
// the slash starts and ends with a letter or digit.
func nameProblem(name string) string {
	ns, n, ok := strings.Cut(name, "/")
	if !ok || strings.Contains(n, "/") {
		return "" // the schema's pattern reports it
	}
	alnum := func(s string) bool {
		if s == "" {
			return false
		}
		isAlnum := func(c byte) bool {
			return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
		}
		return isAlnum(s[0]) && isAlnum(s[len(s)-1])
	}
	if !alnum(ns) {
		return fmt.Sprintf("namespace %q must start and end with a letter or digit", ns)
	}
	if !alnum(n) {
		return fmt.Sprintf("name %q must start and end with a letter or digit", n)
	}
	return ""
}

// versionRange recognises the forms of a version range: comparators,
// hyphen ranges, alternatives and wildcards.
var versionRange = regexp.MustCompile(`^\s*(?:[\^~<>=]|.*\|\||\S+\s+-\s+\S+|(?:v?\d+\.)+[xX*]|[xX*]$)`)

// versionProblem refuses "latest" (it names the newest version in the API)
// and version ranges (a published version is one version).
func versionProblem(v string) string {
	switch {
	case v == "latest":
		return "version \"latest\" is reserved: publish a specific version"
	case versionRange.MatchString(v):
		return fmt.Sprintf("version %q looks like a range: publish a specific version", v)
	}
	return ""
}
