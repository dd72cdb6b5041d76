package upstream

import "testing"

func TestOCIRepository(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"ghcr.io/github/github-mcp-server:1.2", "ghcr.io/github/github-mcp-server"},
		{"ghcr.io/github/github-mcp-server", "ghcr.io/github/github-mcp-server"},
		{"docker.io/library/x@sha256:0123", "docker.io/library/x"},
		{"ghcr.io/a/b:1@sha256:0123", "ghcr.io/a/b"},
		{"localhost:5000/x:tag", "localhost:5000/x"},
		{"localhost:5000/x", "localhost:5000/x"},
		{"localhost/x:1", "localhost/x"},
		{"crystaldba/postgres-mcp:0.3", "docker.io/crystaldba/postgres-mcp"},
		{"docker.io/crystaldba/postgres-mcp", "docker.io/crystaldba/postgres-mcp"},
		{"index.docker.io/crystaldba/postgres-mcp:1", "docker.io/crystaldba/postgres-mcp"},
		{"busybox:1.36", "docker.io/library/busybox"},
		{"docker.io/busybox", "docker.io/library/busybox"},
		{"registry.example.com:443/team/app:v1", "registry.example.com:443/team/app"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := OCIRepository(tt.in); got != tt.want {
			t.Errorf("OCIRepository(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
