package federate

import (
	_ "embed"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// officialOpenAPI is the official registry's OpenAPI document (see
// testdata/SOURCES.md), the contract mcpfed serves.
//
//go:embed openapi.yaml
var officialOpenAPI []byte

// readOnlyMethods are the operations mcpfed serves; the official document's
// publish, edit and status operations are dropped from what it advertises.
var readOnlyMethods = map[string]bool{"get": true, "parameters": true, "summary": true, "description": true}

// servedOpenAPI rewrites the official document for this service: version
// 1.0.0, a description naming the official registry by its URL (clients,
// older ToolHive CLIs among them, probe for https://github.com/modelcontextprotocol/registry),
// and only the read operations.
func servedOpenAPI() ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(officialOpenAPI, &doc); err != nil {
		return nil, fmt.Errorf("parse embedded openapi.yaml: %w", err)
	}
	root := doc.Content[0]
	if info := mapValue(root, "info"); info != nil {
		setScalar(info, "version", "1.0.0")
		setScalar(info, "description", "The MCP Registry read API (https://github.com/modelcontextprotocol/registry), served by mcpfed: one registry URL federating the official registry, private registries, git repositories and files.")
	}
	if paths := mapValue(root, "paths"); paths != nil {
		kept := paths.Content[:0]
		for i := 0; i+1 < len(paths.Content); i += 2 {
			ops := paths.Content[i+1]
			keptOps := ops.Content[:0]
			for j := 0; j+1 < len(ops.Content); j += 2 {
				if readOnlyMethods[ops.Content[j].Value] {
					keptOps = append(keptOps, ops.Content[j], ops.Content[j+1])
				}
			}
			ops.Content = keptOps
			if mapValue(ops, "get") != nil {
				kept = append(kept, paths.Content[i], ops)
			}
		}
		paths.Content = kept
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("encode openapi.yaml: %w", err)
	}
	return out, nil
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setScalar(m *yaml.Node, key, value string) {
	if v := mapValue(m, key); v != nil {
		v.Kind, v.Tag, v.Value, v.Style = yaml.ScalarNode, "!!str", value, yaml.DoubleQuotedStyle
		return
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value, Style: yaml.DoubleQuotedStyle})
}
