package ui

import (
	"encoding/json"

	"github.com/mcpfed/mcpfed/ui/install"
)

// Installer makes the install panel of one server version: one client per
// MCP client, each with ready-to-paste snippets. server is the
// server.json object as served. install.Generate is one.
type Installer func(name string, server json.RawMessage) ([]install.Client, error)

// InstallClient and InstallSnippet are what the install panel renders: a
// snippet's element is "snippet-{ID}", so IDs are unique on a page.
type (
	InstallClient  = install.Client
	InstallSnippet = install.Snippet
)
