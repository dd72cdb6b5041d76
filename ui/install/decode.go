package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The decoding types mirror the parts of the official server.json schema
// (github.com/modelcontextprotocol/registry pkg/model) that install needs.
// They are local rather than model.ServerJSON so that one malformed package
// costs that package a note instead of failing the whole panel, and so that
// an explicitly present value (even "") is told apart from an absent one.

type input struct {
	Description string   `json:"description"`
	IsRequired  bool     `json:"isRequired"`
	Format      string   `json:"format"`
	Value       *string  `json:"value"`
	IsSecret    bool     `json:"isSecret"`
	Default     *string  `json:"default"`
	Choices     []string `json:"choices"`
}

type varInput struct {
	input
	Variables map[string]input `json:"variables"`
}

type argument struct {
	varInput
	Type       string `json:"type"`
	Name       string `json:"name"`
	ValueHint  string `json:"valueHint"`
	IsRepeated bool   `json:"isRepeated"`
}

type keyValue struct {
	varInput
	Name string `json:"name"`
}

type transport struct {
	Type      string           `json:"type"`
	URL       string           `json:"url"`
	Headers   []keyValue       `json:"headers"`
	Variables map[string]input `json:"variables"`
}

type pkg struct {
	RegistryType         string     `json:"registryType"`
	RegistryBaseURL      string     `json:"registryBaseUrl"`
	Identifier           string     `json:"identifier"`
	Version              string     `json:"version"`
	RuntimeHint          string     `json:"runtimeHint"`
	Transport            transport  `json:"transport"`
	RuntimeArguments     []argument `json:"runtimeArguments"`
	PackageArguments     []argument `json:"packageArguments"`
	EnvironmentVariables []keyValue `json:"environmentVariables"`
}

// serverDoc is the decoded top level: packages and remotes stay raw so each
// is decoded (and can fail) on its own.
type serverDoc struct {
	name     string
	packages []json.RawMessage
	remotes  []json.RawMessage
	notes    []string
}

func decodeServer(b []byte) (serverDoc, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return serverDoc{}, fmt.Errorf("server.json is not a JSON object: %w", err)
	}
	if top == nil {
		return serverDoc{}, errors.New("server.json is null, not an object")
	}
	var doc serverDoc
	if raw, ok := top["name"]; ok {
		// A non-string name is ignored; the caller's name wins anyway.
		_ = json.Unmarshal(raw, &doc.name)
	}
	for _, f := range []struct {
		field string
		into  *[]json.RawMessage
	}{{"packages", &doc.packages}, {"remotes", &doc.remotes}} {
		raw, ok := top[f.field]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, f.into); err != nil {
			doc.notes = append(doc.notes, fmt.Sprintf("The server's %q field is not a list; it was ignored.", f.field))
		}
	}
	return doc, nil
}

// decodeErr shortens a JSON decoding error for a note.
func decodeErr(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return "it is not a valid JSON object"
}

// checkText rejects a value that cannot go into a snippet as it stands:
// too long, not UTF-8, with control or invisible formatting characters
// (which could hide what a pasted command does), or containing "${", which
// VS Code, Cursor and Claude Code all expand from the user's environment or
// configuration — a registry entry must never be able to pull the user's
// own secrets into a header or an argument.
func checkText(what, s string) error {
	if len(s) > maxText {
		return fmt.Errorf("%s is longer than %d bytes", what, maxText)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return fmt.Errorf("%s contains control or invisible characters", what)
		}
	}
	if strings.Contains(s, "${") {
		return fmt.Errorf("%s contains \"${\", which clients would expand from your environment", what)
	}
	return nil
}

var (
	// Package identifiers: names only, never something a runner could read
	// as an option (a leading '-') or as a path or URL.
	npmIdent   = regexp.MustCompile(`^(@[A-Za-z0-9_~][A-Za-z0-9._~-]*/)?[A-Za-z0-9_~][A-Za-z0-9._~-]*$`)
	pypiIdent  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)
	nugetIdent = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
	// An image reference: [host[:port]/]path[:tag][@digest].
	ociIdent = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(:[0-9]+)?(/[A-Za-z0-9][A-Za-z0-9._-]*)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@[A-Za-z0-9]+:[A-Fa-f0-9]{32,})?$`)
	// An exact version: no ranges, wildcards, spaces or tags like "latest".
	exactVersion = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]*$`)
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// An HTTP header field name (RFC 9110 token).
	headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// exactVersionOK reports whether v pins one version.
func exactVersionOK(v string) bool {
	if !exactVersion.MatchString(v) || len(v) > 255 {
		return false
	}
	low := strings.ToLower(v)
	return low != "latest" && !strings.ContainsAny(low, "*^~<>=|, ") && !strings.HasSuffix(low, ".x") && low != "x"
}

// ociHasTagOrDigest reports whether an image reference names a tag or a
// digest (a colon after the last slash, or an @).
func ociHasTagOrDigest(ref string) bool {
	if strings.Contains(ref, "@") {
		return true
	}
	last := ref[strings.LastIndexByte(ref, '/')+1:]
	return strings.Contains(last, ":")
}

// officialIndex is each registry's default index: a package hosted
// elsewhere would be fetched from the wrong place by the plain runner
// command, so it gets a note instead of a snippet.
var officialIndex = map[string][]string{
	"npm":   {"https://registry.npmjs.org", "https://registry.npmjs.org/"},
	"pypi":  {"https://pypi.org", "https://pypi.org/", "https://pypi.org/simple", "https://pypi.org/simple/"},
	"nuget": {"https://api.nuget.org/v3/index.json"},
}

func defaultIndex(registryType, base string) bool {
	if base == "" {
		return true
	}
	for _, u := range officialIndex[registryType] {
		if base == u {
			return true
		}
	}
	return false
}

// checkURL validates a URL that will be written into a snippet; rendered is
// the URL with every variable replaced by a sample value.
func checkURL(rendered string) error {
	if strings.ContainsAny(rendered, "{}") {
		return errors.New("its URL has a variable nothing defines")
	}
	u, err := url.Parse(rendered)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return errors.New("its URL is not an http(s) URL")
	}
	if u.User != nil {
		return errors.New("its URL carries credentials")
	}
	return nil
}

// loopback reports whether a URL's host is this machine.
func loopback(u *url.URL) bool {
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// clip shortens s to n runes for a title or a description.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
