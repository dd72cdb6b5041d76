package upstream

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestEntryOCIImages: the repositories of a server's oci packages, without
// tag or digest, each once; other package types are not images.
func TestEntryOCIImages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		packages string
		want     []string
	}{
		{"tag", `[{"registryType":"oci","identifier":"ghcr.io/github/github-mcp-server:1.2"}]`, []string{"ghcr.io/github/github-mcp-server"}},
		{"digest", `[{"registryType":"oci","identifier":"docker.io/library/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]`, []string{"docker.io/library/x"}},
		{"tag and digest", `[{"registryType":"oci","identifier":"quay.io/acme/srv:2.0@sha256:abc"}]`, []string{"quay.io/acme/srv"}},
		{"registry port kept", `[{"registryType":"oci","identifier":"localhost:5000/x:tag"}]`, []string{"localhost:5000/x"}},
		{"port without tag", `[{"registryType":"oci","identifier":"localhost:5000/team/x"}]`, []string{"localhost:5000/team/x"}},
		{"no tag", `[{"registryType":"oci","identifier":"mcr.microsoft.com/playwright/mcp"}]`, []string{"mcr.microsoft.com/playwright/mcp"}},
		{"short name", `[{"registryType":"oci","identifier":"crystaldba/postgres-mcp:0.3.0"}]`, []string{"docker.io/crystaldba/postgres-mcp"}},
		{"blank around", `[{"registryType":"oci","identifier":"  ghcr.io/a/b:1 "}]`, []string{"ghcr.io/a/b"}},
		{"two tags of one image", `[{"registryType":"oci","identifier":"ghcr.io/a/b:1"},{"registryType":"oci","identifier":"ghcr.io/a/b:2"}]`, []string{"ghcr.io/a/b"}},
		{"two images", `[{"registryType":"oci","identifier":"ghcr.io/a/b:1"},{"registryType":"oci","identifier":"docker.io/a/c"}]`, []string{"ghcr.io/a/b", "docker.io/a/c"}},
		{"npm is no image", `[{"registryType":"npm","identifier":"@acme/server"},{"registryType":"pypi","identifier":"acme:1"}]`, nil},
		{"oci without identifier", `[{"registryType":"oci"}]`, nil},
		{"no packages", `[]`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := NewEntry(json.RawMessage(serverJSON("io.github.acme/s", "1.0.0", `"packages":`+tc.packages)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(e.OCIImages, tc.want) {
				t.Errorf("OCIImages = %q, want %q", e.OCIImages, tc.want)
			}
		})
	}
}
