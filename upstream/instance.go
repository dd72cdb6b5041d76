package upstream

import "strings"

// Instance is one MCP server running in a cluster (a ToolHive MCPServer,
// MCPRemoteProxy or VirtualMCPServer, or an annotated Service), as the
// deployed-instances endpoint lists it.
type Instance struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Kind is the resource kind: MCPServer, MCPRemoteProxy,
	// VirtualMCPServer or Service.
	Kind  string `json:"kind"`
	URL   string `json:"url,omitempty"`
	Image string `json:"image,omitempty"`
	Ready bool   `json:"ready"`
	// ServerName is the catalogue server the instance runs when the
	// resource names it (annotation mcpfed.io/server-name); empty
	// otherwise, and the engine matches Image against the catalogue's OCI
	// packages.
	ServerName string `json:"-"`
	// Entry is the name of the registry entry the resource is exported as
	// (com.toolhive.k8s.<namespace>/<name>), empty when it is not exported.
	Entry string `json:"-"`
	// Source is the name of the source that watches it.
	Source string `json:"source"`
	// Claims are the claims a caller needs to see the instance (its
	// resource's authz-claims), nil for none: the same rule as for the
	// resource's registry entry.
	Claims *EntryClaims `json:"-"`
}

// OCIRepository is an OCI image reference without its tag or digest, in
// its full form ("ghcr.io/org/server:1.2" → "ghcr.io/org/server"); a
// registry's port stays ("localhost:5000/x:1" → "localhost:5000/x"), and
// Docker Hub's short names are expanded as a container runtime expands
// them ("org/x" → "docker.io/org/x", "x" → "docker.io/library/x"), so a
// catalogue's short name and a cluster's full one match. Deployed
// instances are matched to catalogue servers by it.
func OCIRepository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndexByte(ref, '/')
	if i := strings.LastIndexByte(ref, ':'); i > slash {
		ref = ref[:i]
	}
	if ref == "" {
		return ""
	}
	first, rest, hasSlash := strings.Cut(ref, "/")
	switch {
	case !hasSlash:
		return "docker.io/library/" + ref
	case first == "index.docker.io":
		ref = "docker.io/" + rest
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		ref = "docker.io/" + ref
	}
	if r, ok := strings.CutPrefix(ref, "docker.io/"); ok && !strings.Contains(r, "/") {
		ref = "docker.io/library/" + r
	}
	return ref
}
