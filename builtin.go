// Package mcpfed holds the built-in catalogue that a fresh clone serves
// with no configuration: the ToolHive catalogue and the official registry's
// seed, embedded from testdata/catalog.
package mcpfed

import (
	"embed"
	"io/fs"
)

//go:embed testdata/catalog/*.json
var catalogue embed.FS

// Builtin returns the built-in catalogue: one registry file per name
// (toolhive.json, official-seed.json), read by file sources whose path is
// "builtin:<name>".
func Builtin() fs.FS {
	sub, err := fs.Sub(catalogue, "testdata/catalog")
	if err != nil {
		panic(err) // the embedded layout is fixed at build time
	}
	return sub
}

// BuiltinSources names the built-in catalogue files in priority order.
var BuiltinSources = []string{"toolhive", "official-seed"}
