package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	v0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
	"github.com/modelcontextprotocol/registry/pkg/model"
)

// ToolHive's legacy registry.json maps a short name to either an image
// (container) server or a remote server. mcpfed converts each to a
// server.json the way ToolHive itself does: name io.github.stacklok/<key>
// (unless the entry names itself), version 1.0.0, one OCI package or one
// remote, and everything ToolHive-specific under the publisher-provided
// `_meta` key io.github.stacklok, keyed by image reference or URL.

// toolHiveEntry is the legacy record; ToolHive-specific values stay raw so
// they pass through unchanged.
type toolHiveEntry struct {
	Name          string          `json:"name"`
	Title         string          `json:"title"`
	Description   string          `json:"description"`
	Transport     string          `json:"transport"`
	RepositoryURL string          `json:"repository_url"`
	Status        string          `json:"status"`
	Image         string          `json:"image"`
	TargetPort    int             `json:"target_port"`
	URL           string          `json:"url"`
	EnvVars       []toolHiveInput `json:"env_vars"`
	Headers       []toolHiveInput `json:"headers"`
	// raw keeps every field for the publisher extension.
	raw map[string]json.RawMessage
}

type toolHiveInput struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Required    bool     `json:"required"`
	Secret      bool     `json:"secret"`
	Default     string   `json:"default"`
	Choices     []string `json:"choices"`
}

// Extension fields ToolHive keeps for each kind of server, in its order.
var (
	toolHiveCommonExt = []string{"tier", "tools", "tags", "overview", "metadata", "custom_metadata", "tool_definitions"}
	toolHiveImageExt  = []string{"permissions", "args", "provenance", "docker_tags", "proxy_port"}
	toolHiveRemoteExt = []string{"oauth_config", "env_vars"}
)

func parseToolHive(top map[string]json.RawMessage) (*Document, error) {
	doc := &Document{Format: FormatToolHive}
	if raw, ok := top["last_updated"]; ok {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("last_updated: %w", err)
		}
		t, err := parseOptionalTime(s)
		if err != nil {
			return nil, fmt.Errorf("last_updated: %w", err)
		}
		doc.LastUpdated = t
	}
	for _, group := range []struct {
		key    string
		remote bool
	}{{"servers", false}, {"remote_servers", true}} {
		raw, ok := top[group.key]
		if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		var byName map[string]json.RawMessage
		if err := json.Unmarshal(raw, &byName); err != nil {
			return nil, fmt.Errorf("%s: must be an object of name to server: %w", group.key, err)
		}
		keys := make([]string, 0, len(byName))
		for k := range byName {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, key := range keys {
			server, err := ConvertToolHive(key, byName[key], group.remote)
			if err != nil {
				return nil, fmt.Errorf("%s[%q]: %w", group.key, key, err)
			}
			e, err := NewEntry(server, nil)
			if err != nil {
				return nil, fmt.Errorf("%s[%q]: %w", group.key, key, err)
			}
			doc.Entries = append(doc.Entries, e)
		}
	}
	return doc, nil
}

// ConvertToolHive converts one legacy ToolHive entry (an image server, or a
// remote server when remote is set) to server.json bytes.
func ConvertToolHive(key string, raw json.RawMessage, remote bool) (json.RawMessage, error) {
	var th toolHiveEntry
	if err := json.Unmarshal(raw, &th); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &th.raw); err != nil {
		return nil, err
	}
	name := th.Name
	if name == "" {
		name = key
	}
	if !strings.Contains(name, "/") {
		name = ToolHiveNamespace + "/" + name
	}
	server := v0.ServerJSON{
		Schema:      model.CurrentSchemaURL,
		Name:        name,
		Title:       th.Title,
		Description: th.Description,
		Version:     "1.0.0", // legacy entries carry no version; ToolHive uses 1.0.0
	}
	if th.RepositoryURL != "" {
		server.Repository = &model.Repository{URL: th.RepositoryURL, Source: "github"}
	}
	extKey, fields := th.Image, toolHiveImageExt
	if remote {
		if th.URL == "" {
			return nil, fmt.Errorf("%w: remote server has no \"url\"", ErrInvalidEntry)
		}
		extKey, fields = th.URL, toolHiveRemoteExt
		server.Remotes = []model.Transport{{Type: th.Transport, URL: th.URL, Headers: toolHiveInputs(th.Headers)}}
	} else {
		if th.Image == "" {
			return nil, fmt.Errorf("%w: container server has no \"image\"", ErrInvalidEntry)
		}
		server.Packages = []model.Package{toolHivePackage(th)}
	}
	ext, err := th.extension(append(slices.Clone(toolHiveCommonExt), fields...))
	if err != nil {
		return nil, err
	}
	server.Meta = &v0.ServerMeta{PublisherProvided: map[string]any{
		ToolHiveNamespace: map[string]any{extKey: ext},
	}}
	return json.Marshal(server)
}

func toolHivePackage(th toolHiveEntry) model.Package {
	transport := model.Transport{Type: th.Transport}
	if transport.Type == "" {
		transport.Type = model.TransportTypeStdio
	}
	if transport.Type == model.TransportTypeStreamableHTTP || transport.Type == model.TransportTypeSSE {
		// A container server is reached through a port forwarded to localhost.
		transport.URL = "http://localhost"
		if th.TargetPort > 0 {
			transport.URL = fmt.Sprintf("http://localhost:%d", th.TargetPort)
		}
	}
	return model.Package{
		RegistryType:         model.RegistryTypeOCI,
		Identifier:           th.Image,
		Transport:            transport,
		EnvironmentVariables: toolHiveInputs(th.EnvVars),
	}
}

func toolHiveInputs(in []toolHiveInput) []model.KeyValueInput {
	var out []model.KeyValueInput
	for _, v := range in {
		out = append(out, model.KeyValueInput{
			Name: v.Name,
			InputWithVariables: model.InputWithVariables{Input: model.Input{
				Description: v.Description,
				IsRequired:  v.Required,
				IsSecret:    v.Secret,
				Default:     v.Default,
				Choices:     v.Choices,
			}},
		})
	}
	return out
}

// extension builds ToolHive's publisher extension: the status (active when
// missing, otherwise as written) and the named fields that are not empty,
// values unchanged except that each tool definition gets the (empty)
// annotations object ToolHive always writes.
func (th toolHiveEntry) extension(fields []string) (map[string]json.RawMessage, error) {
	status := th.Status
	if status == "" {
		status = "active"
	}
	statusJSON, err := json.Marshal(status)
	if err != nil {
		return nil, err
	}
	ext := map[string]json.RawMessage{"status": statusJSON}
	for _, f := range fields {
		v, ok := th.raw[f]
		if !ok || isEmptyJSON(v) {
			continue
		}
		if f == "tool_definitions" {
			if v, err = withAnnotations(v); err != nil {
				return nil, fmt.Errorf("tool_definitions: %w", err)
			}
		}
		ext[f] = v
	}
	return ext, nil
}

func withAnnotations(raw json.RawMessage) (json.RawMessage, error) {
	var tools []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &tools); err != nil {
		return nil, err
	}
	for _, t := range tools {
		if _, ok := t["annotations"]; !ok {
			t["annotations"] = json.RawMessage("{}")
		}
	}
	return json.Marshal(tools)
}

// isEmptyJSON mirrors omitempty: null, "", 0, false, [] and {} are empty.
func isEmptyJSON(v json.RawMessage) bool {
	switch string(bytes.TrimSpace(v)) {
	case "null", `""`, "0", "false", "[]", "{}":
		return true
	}
	t := bytes.TrimSpace(v)
	if len(t) >= 2 && (t[0] == '[' || t[0] == '{') {
		inner := bytes.TrimSpace(t[1 : len(t)-1])
		return len(inner) == 0
	}
	return false
}
