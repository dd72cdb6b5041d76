package auth

import (
	"crypto/tls"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestProtectedResourceMetadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		resource string
		issuers  []string
		want     map[string]any
	}{
		{"issuers", "https://r.example.com", []string{"https://idp.example.com", "https://k8s"},
			map[string]any{"resource": "https://r.example.com", "authorization_servers": []any{"https://idp.example.com", "https://k8s"}, "bearer_methods_supported": []any{"header"}}},
		{"static tokens only", "https://r.example.com/registry/internal", nil,
			map[string]any{"resource": "https://r.example.com/registry/internal", "bearer_methods_supported": []any{"header"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got map[string]any
			if err := json.Unmarshal(ProtectedResourceMetadata(tc.resource, tc.issuers), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWWWAuthenticate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		root    string
		view    string
		invalid bool
		want    string
	}{
		{"root", "https://r.example.com", "", false, `Bearer realm="mcpfed", resource_metadata="https://r.example.com/.well-known/oauth-protected-resource"`},
		{"view", "https://r.example.com/", "internal", false, `Bearer realm="mcpfed", resource_metadata="https://r.example.com/.well-known/oauth-protected-resource/registry/internal"`},
		{"invalid token", "https://r.example.com", "internal", true, `Bearer realm="mcpfed", resource_metadata="https://r.example.com/.well-known/oauth-protected-resource/registry/internal", error="invalid_token"`},
		{"quotes escaped, controls dropped", "https://r\"\r\n", "", false, `Bearer realm="mcpfed", resource_metadata="https://r\"/.well-known/oauth-protected-resource"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := WWWAuthenticate(tc.root, tc.view, tc.invalid); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if got := ViewResource("https://r/", "v"); got != "https://r/registry/v" {
		t.Errorf("ViewResource = %q", got)
	}
}

func TestRequestResource(t *testing.T) {
	t.Parallel()
	proxies, err := ParseProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		host   string
		tls    bool
		proto  string
		want   string
	}{
		{"plain", "1.2.3.4:1", "r.example.com", false, "", "http://r.example.com"},
		{"tls", "1.2.3.4:1", "r.example.com:8443", true, "", "https://r.example.com:8443"},
		{"proto from a trusted proxy", "10.0.0.1:1", "r.example.com", false, "https", "https://r.example.com"},
		{"proto from an untrusted peer ignored", "1.2.3.4:1", "r.example.com", false, "https", "http://r.example.com"},
		{"odd proto ignored", "10.0.0.1:1", "r.example.com", false, "gopher", "http://r.example.com"},
		{"hostile host", "1.2.3.4:1", `evil"com`, false, "", "http://localhost"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr, r.Host = tc.remote, tc.host
			r.TLS = nil
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			if got := proxies.RequestResource(r); got != tc.want {
				t.Fatalf("RequestResource = %q, want %q", got, tc.want)
			}
		})
	}
}
