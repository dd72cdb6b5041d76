// Package install turns one server.json into ready-to-paste configuration
// for the MCP clients developers use: VS Code, Claude Code, Cursor / Claude
// Desktop and ToolHive.
//
// Everything in a server.json comes from a source mcpfed does not control, so
// the generator treats it as hostile: it bounds its work, never panics, never
// copies a secret value into a snippet, and emits a snippet only when it can
// build one that runs the package or reaches the remote as the publisher
// described it. Anything else (an MCP bundle, an unknown registry, a version
// range, a value with control characters or `${…}` that a client would expand
// from the user's environment) gets a Note saying why there is no snippet.
//
// Choice of what to show: every runnable package (in server.json order) and
// then every usable remote becomes one "option"; each option gets its own
// snippets. The first option keeps the plain snippet IDs ("vscode-json",
// "vscode-cli", "claude-code-cli", "cursor-json"), later ones get a "-2",
// "-3"… suffix, so a page can always find the primary snippet by a fixed ID.
package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Client is one MCP client's configurations for a server.
type Client struct {
	ID, Label string
	Snippets  []Snippet
	Notes     []string
}

// Snippet is one ready-to-paste configuration. ID is unique among all the
// snippets Generate returns for one server. Language is "json" or "sh".
type Snippet struct {
	ID, Title, Language, Text string
}

// Client IDs, fixed by the page contract.
const (
	ClientVSCode     = "vscode"
	ClientClaudeCode = "claude-code"
	ClientCursor     = "cursor"
	ClientToolHive   = "toolhive"
)

// Snippet languages.
const (
	LangJSON  = "json"
	LangShell = "sh"
)

// Bounds on the work one call does. A real server.json is a few KB (the
// largest in ToolHive's catalogue, tool definitions included, is ~150 KB).
const (
	maxServerBytes = 1 << 20
	maxPackages    = 16   // packages looked at; later ones get a note
	maxRemotes     = 16   // remotes looked at
	maxOptions     = 8    // options rendered per client
	maxArgs        = 64   // runtime or package arguments per package
	maxKeyValues   = 64   // environment variables or headers per package/remote
	maxChoices     = 32   // choices offered in a VS Code pick list
	maxText        = 2048 // bytes of any single value placed in a snippet
	maxDescription = 200  // runes of a description shown in a VS Code prompt
	maxKeyLen      = 48   // runes of a client key
)

// ErrTooLarge reports a server.json over the size Generate accepts.
var ErrTooLarge = errors.New("server.json too large")

// Generate returns the install panel for one server version: the clients
// "vscode", "claude-code", "cursor" and "toolhive", in that order, each with
// its snippets and notes. name is the registry server name (it names the
// server in `thv run` and, after its last slash, the client key); when empty,
// the server.json's own name is used. server is the server.json object.
// An error means the bytes are not a server.json object at all.
func Generate(name string, server json.RawMessage) ([]Client, error) {
	if len(server) > maxServerBytes {
		return nil, fmt.Errorf("install: %d bytes (limit %d): %w", len(server), maxServerBytes, ErrTooLarge)
	}
	doc, err := decodeServer(server)
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	if name == "" {
		name = doc.name
	}
	p := buildPlan(doc)
	key := clientKey(name)
	return []Client{
		renderVSCode(key, p),
		renderClaudeCode(key, p),
		renderCursor(key, p),
		renderToolHive(name, p),
	}, nil
}

// clientKey is the short name a server gets in a client's configuration:
// the part of the registry name after its last slash, reduced to what every
// client accepts as a server name (Claude Code allows only letters, digits,
// '-' and '_').
func clientKey(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= maxKeyLen {
			break
		}
	}
	key := strings.Trim(b.String(), "-_")
	if key == "" {
		return "mcp-server"
	}
	return key
}
