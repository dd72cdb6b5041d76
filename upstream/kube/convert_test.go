package kube

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mcpfed/mcpfed/upstream"
)

// serverDoc is the part of a converted server.json the tests check.
type serverDoc struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Icons       []struct {
		Src string `json:"src"`
	} `json:"icons"`
	Remotes []struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"remotes"`
	Packages []struct {
		RegistryType string `json:"registryType"`
		Identifier   string `json:"identifier"`
		Transport    struct {
			Type string `json:"type"`
			URL  string `json:"url"`
		} `json:"transport"`
	} `json:"packages"`
	Meta map[string]map[string]json.RawMessage `json:"_meta"`
}

// extension is ToolHive's publisher extension of the entry, keyed by URL.
func (d serverDoc) extension(t *testing.T, url string) toolHiveExtension {
	t.Helper()
	var byURL map[string]toolHiveExtension
	if err := json.Unmarshal(d.Meta[upstream.PublisherMetaKey][upstream.ToolHiveNamespace], &byURL); err != nil {
		t.Fatalf("publisher extension: %v", err)
	}
	ext, ok := byURL[url]
	if !ok {
		t.Fatalf("no extension under %q: %v", url, byURL)
	}
	return ext
}

func TestConvertKinds(t *testing.T) {
	t.Parallel()
	ann := exported("https://mcp.example.com/github", "GitHub tools")
	tests := []struct {
		name      string
		obj       *unstructured.Unstructured
		kind      string
		version   string
		image     string
		packages  int
		transport string // of the package
		ready     bool
		url       string // of the instance
	}{
		{
			name: "MCPServer with a semver tag", kind: KindMCPServer,
			obj: resource(KindMCPServer, "tools", "github", ann,
				map[string]any{"image": "ghcr.io/github/github-mcp-server:v1.2.3", "transport": "stdio", "proxyPort": int64(8080)},
				map[string]any{"phase": "Ready", "url": "http://internal:8080"}),
			version: "v1.2.3", image: "ghcr.io/github/github-mcp-server:v1.2.3", packages: 1, transport: "streamable-http",
			ready: true, url: "https://mcp.example.com/github",
		},
		{
			name: "MCPServer sse with a Ready condition False", kind: KindMCPServer,
			obj: resource(KindMCPServer, "tools", "github", ann,
				map[string]any{"image": "ghcr.io/github/github-mcp-server:latest", "transport": "sse"},
				map[string]any{"phase": "Ready", "conditions": []any{map[string]any{"type": "Ready", "status": "False"}}}),
			version: DefaultVersion, image: "ghcr.io/github/github-mcp-server:latest", packages: 1, transport: "sse",
			ready: false, url: "https://mcp.example.com/github",
		},
		{
			name: "MCPRemoteProxy", kind: KindMCPRemoteProxy,
			obj: resource(KindMCPRemoteProxy, "tools", "github", ann, map[string]any{"remoteUrl": "https://api.example.com"},
				map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}}),
			version: DefaultVersion, ready: true, url: "https://mcp.example.com/github",
		},
		{
			name: "VirtualMCPServer degraded", kind: KindVirtualMCPServer,
			obj:     resource(KindVirtualMCPServer, "tools", "github", ann, nil, map[string]any{"phase": "Degraded"}),
			version: DefaultVersion, ready: false, url: "https://mcp.example.com/github",
		},
		{
			name: "Service", kind: KindService,
			obj:     resource(KindService, "tools", "github", ann, map[string]any{"type": "ClusterIP"}, nil),
			version: DefaultVersion, ready: true, url: "https://mcp.example.com/github",
		},
		{
			name: "Service load balancer without address", kind: KindService,
			obj:     resource(KindService, "tools", "github", ann, map[string]any{"type": "LoadBalancer"}, nil),
			version: DefaultVersion, ready: false, url: "https://mcp.example.com/github",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := convert(tc.obj, tc.kind)
			if c.Skip != "" {
				t.Fatalf("skipped: %s: %v", c.Skip, c.Detail)
			}
			var doc serverDoc
			if err := json.Unmarshal(c.Server, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Name != "com.toolhive.k8s.tools/github" || doc.Version != tc.version || doc.Description != "GitHub tools" {
				t.Errorf("name %q version %q description %q", doc.Name, doc.Version, doc.Description)
			}
			if len(doc.Remotes) != 1 || doc.Remotes[0].Type != "streamable-http" || doc.Remotes[0].URL != "https://mcp.example.com/github" {
				t.Errorf("remotes %+v", doc.Remotes)
			}
			if len(doc.Packages) != tc.packages {
				t.Fatalf("packages %+v", doc.Packages)
			}
			if tc.packages > 0 {
				p := doc.Packages[0]
				if p.RegistryType != "oci" || p.Identifier != tc.image || p.Transport.Type != tc.transport || !strings.HasPrefix(p.Transport.URL, "http://localhost") {
					t.Errorf("package %+v", p)
				}
			}
			k := doc.extension(t, "https://mcp.example.com/github").Metadata.Kubernetes
			want := kubernetesMetadata{Kind: tc.kind, Namespace: "tools", Name: "github", UID: "uid-tools-github", Image: tc.image}
			if tc.kind == KindMCPServer {
				want.Transport, _, _ = unstructured.NestedString(tc.obj.Object, "spec", "transport")
			}
			if k != want {
				t.Errorf("kubernetes metadata %+v, want %+v", k, want)
			}
			in := c.Instance
			if in.Kind != tc.kind || in.Image != tc.image || in.Ready != tc.ready || in.URL != tc.url || in.Entry != "com.toolhive.k8s.tools/github" {
				t.Errorf("instance %+v", in)
			}
			e, err := upstream.NewEntry(c.Server, c.Meta)
			if err != nil {
				t.Fatal(err)
			}
			if !e.PublishedAt.Equal(created) || !e.IsLatest || e.Status != "active" {
				t.Errorf("entry published %v latest %v status %v", e.PublishedAt, e.IsLatest, e.Status)
			}
		})
	}
}

func TestConvertAnnotations(t *testing.T) {
	t.Parallel()
	const u = "https://mcp.example.com/x"
	tests := []struct {
		name     string
		ann      map[string]string
		image    string
		skip     string
		warnings []string
		check    func(t *testing.T, doc serverDoc, c converted)
	}{
		{name: "not exported", ann: map[string]string{AnnotationURL: u, AnnotationDescription: "d"}},
		{name: "export false", ann: map[string]string{AnnotationExport: "false", AnnotationURL: u, AnnotationDescription: "d"}},
		{name: "export True is not true", ann: map[string]string{AnnotationExport: "True", AnnotationURL: u, AnnotationDescription: "d"}},
		{name: "missing url", ann: map[string]string{AnnotationExport: "true", AnnotationDescription: "d"}, skip: SkipMissingURL},
		{name: "empty url", ann: exported(" ", "d"), skip: SkipMissingURL},
		{name: "url not http", ann: exported("ftp://x/y", "d"), skip: SkipInvalidURL},
		{name: "url without host", ann: exported("https:///mcp", "d"), skip: SkipInvalidURL},
		{name: "missing description", ann: map[string]string{AnnotationExport: "true", AnnotationURL: u}, skip: SkipMissingDescription},
		{name: "description too long", ann: exported(u, strings.Repeat("d", 101)), skip: SkipInvalidEntry},
		{name: "title too long", ann: exported(u, "d", AnnotationTitle, strings.Repeat("t", 101)), skip: SkipInvalidEntry},
		{name: "claims not JSON", ann: exported(u, "d", AnnotationAuthzClaims, "{bad"), skip: SkipInvalidClaims},
		{name: "claims number", ann: exported(u, "d", AnnotationAuthzClaims, `{"level":3}`), skip: SkipInvalidClaims},
		{name: "claims nested", ann: exported(u, "d", AnnotationAuthzClaims, `{"a":{"b":"c"}}`), skip: SkipInvalidClaims},
		{name: "claims list of numbers", ann: exported(u, "d", AnnotationAuthzClaims, `{"a":["x",1]}`), skip: SkipInvalidClaims},
		{name: "claims array", ann: exported(u, "d", AnnotationAuthzClaims, `["x"]`), skip: SkipInvalidClaims},
		{name: "claims null", ann: exported(u, "d", AnnotationAuthzClaims, `null`), skip: SkipInvalidClaims},
		{
			name: "claims kept", ann: exported(u, "d", AnnotationAuthzClaims, `{"groups":["eng","data"],"org":"acme"}`),
			check: func(t *testing.T, doc serverDoc, c converted) {
				if got := c.Claims["org"]; got != "acme" {
					t.Errorf("claims %v", c.Claims)
				}
				if !strings.Contains(string(doc.Meta[upstream.PublisherMetaKey][MetaKey]), `"authzClaims":{"groups":["data","eng"],"org":"acme"}`) {
					t.Errorf("mcpfed meta %s", doc.Meta[upstream.PublisherMetaKey][MetaKey])
				}
			},
		},
		{
			name: "empty claims annotation is none", ann: exported(u, "d", AnnotationAuthzClaims, " "),
			check: func(t *testing.T, doc serverDoc, c converted) {
				if c.Claims != nil || doc.Meta[upstream.PublisherMetaKey][MetaKey] != nil {
					t.Errorf("claims %v, meta %s", c.Claims, doc.Meta[upstream.PublisherMetaKey][MetaKey])
				}
			},
		},
		{name: "version annotated", ann: exported(u, "d", AnnotationVersion, "2.0.0-rc.1"), image: "img:1.0.0", check: version("2.0.0-rc.1")},
		{name: "version with v", ann: exported(u, "d", AnnotationVersion, "v3.1.4"), check: version("v3.1.4")},
		{name: "version from tag", ann: exported(u, "d"), image: "ghcr.io/a/b:1.4.2", check: version("1.4.2")},
		{name: "version from tag with digest", ann: exported(u, "d"), image: "ghcr.io/a/b:1.4.2@sha256:abc", check: version("1.4.2")},
		{name: "tag latest", ann: exported(u, "d"), image: "ghcr.io/a/b:latest", check: version(DefaultVersion)},
		{name: "registry port is no tag", ann: exported(u, "d"), image: "registry:5000/a/b", check: version(DefaultVersion)},
		{name: "digest only", ann: exported(u, "d"), image: "ghcr.io/a/b@sha256:abc", check: version(DefaultVersion)},
		{name: "two-part tag", ann: exported(u, "d"), image: "ghcr.io/a/b:1.4", check: version(DefaultVersion)},
		{
			name: "version annotation unusable falls back to the tag", ann: exported(u, "d", AnnotationVersion, "latest"),
			image: "ghcr.io/a/b:0.9.0", warnings: []string{WarnInvalidVersion}, check: version("0.9.0"),
		},
		{
			name: "version with build metadata refused", ann: exported(u, "d", AnnotationVersion, "1.0.0+build"),
			warnings: []string{WarnInvalidVersion}, check: version(DefaultVersion),
		},
		{
			name: "title icon category tools", image: "img:1.0.0",
			ann: exported(u, "GitHub", AnnotationTitle, "GitHub MCP", AnnotationIcon, "https://example.com/i.png",
				AnnotationCategory, "devtools", AnnotationTools, `["create_issue","search"]`,
				AnnotationToolDefinitions, `[ {"name":"create_issue","inputSchema":{"type":"object"}} ]`),
			check: func(t *testing.T, doc serverDoc, c converted) {
				if doc.Title != "GitHub MCP" || len(doc.Icons) != 1 || doc.Icons[0].Src != "https://example.com/i.png" {
					t.Errorf("title %q icons %+v", doc.Title, doc.Icons)
				}
				ext := doc.extension(t, u)
				if ext.Status != "active" || !slices.Equal(ext.Tags, []string{"devtools"}) || !slices.Equal(ext.Tools, []string{"create_issue", "search"}) {
					t.Errorf("extension %+v", ext)
				}
				if string(ext.ToolDefinitions) != `[{"name":"create_issue","inputSchema":{"type":"object"}}]` {
					t.Errorf("tool definitions %s", ext.ToolDefinitions)
				}
			},
		},
		{
			name: "malformed tools ignored", ann: exported(u, "d", AnnotationTools, `"create_issue"`, AnnotationToolDefinitions, `{"name":"x"}`),
			warnings: []string{WarnInvalidTools, WarnInvalidToolDefinitions},
			check: func(t *testing.T, doc serverDoc, c converted) {
				if ext := doc.extension(t, u); ext.Tools != nil || ext.ToolDefinitions != nil {
					t.Errorf("extension %+v", ext)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			image := tc.image
			if image == "" {
				image = "ghcr.io/a/b"
			}
			obj := mcpServer("ns", "x", image, tc.ann)
			c := convert(obj, KindMCPServer)
			if c.Skip != tc.skip {
				t.Fatalf("skip %q (%v), want %q", c.Skip, c.Detail, tc.skip)
			}
			if !slices.Equal(c.Warnings, tc.warnings) {
				t.Errorf("warnings %v, want %v", c.Warnings, tc.warnings)
			}
			exportedOK := tc.ann[AnnotationExport] == "true" && tc.skip == ""
			if (c.Server != nil) != exportedOK || (c.Instance.Entry != "") != exportedOK {
				t.Fatalf("server %s entry %q, want exported=%v", c.Server, c.Instance.Entry, exportedOK)
			}
			if c.Instance.Name != "x" || c.Instance.Image != image {
				t.Errorf("instance %+v", c.Instance)
			}
			if tc.check != nil {
				var doc serverDoc
				if err := json.Unmarshal(c.Server, &doc); err != nil {
					t.Fatal(err)
				}
				tc.check(t, doc, c)
			}
		})
	}
}

func version(want string) func(*testing.T, serverDoc, converted) {
	return func(t *testing.T, doc serverDoc, _ converted) {
		t.Helper()
		if doc.Version != want {
			t.Errorf("version %q, want %q", doc.Version, want)
		}
	}
}

func TestInstanceFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		obj      *unstructured.Unstructured
		kind     string
		want     string // URL
		ready    bool
		server   string
		instance bool
	}{
		{
			name: "status url", kind: KindMCPServer, ready: true, instance: true, want: "http://mcp-x.ns.svc:8080/mcp",
			obj: resource(KindMCPServer, "ns", "x", nil, map[string]any{"image": "img"}, map[string]any{"url": "http://mcp-x.ns.svc:8080/mcp", "phase": "Running"}),
		},
		{
			name: "external url first", kind: KindMCPRemoteProxy, instance: true, want: "https://proxy.example.com",
			obj: resource(KindMCPRemoteProxy, "ns", "x", nil, nil, map[string]any{"url": "http://in", "externalUrl": "https://proxy.example.com", "phase": "Pending"}),
		},
		{
			name: "annotation wins and names the server", kind: KindVirtualMCPServer, ready: true, instance: true, want: "https://a", server: "io.github.acme/tools",
			obj: resource(KindVirtualMCPServer, "ns", "x", map[string]string{AnnotationURL: "https://a", AnnotationServerName: "io.github.acme/tools"}, nil,
				map[string]any{"url": "http://in", "phase": "Ready"}),
		},
		{
			name: "plain service is no instance", kind: KindService, ready: true,
			obj: resource(KindService, "ns", "x", map[string]string{"other": "1"}, map[string]any{"type": "ClusterIP"}, nil),
		},
		{
			name: "service named by annotation", kind: KindService, ready: true, instance: true, server: "io.github.acme/tools",
			obj: resource(KindService, "ns", "x", map[string]string{AnnotationServerName: "io.github.acme/tools"}, nil, nil),
		},
		{
			name: "service with export false", kind: KindService, ready: true, instance: true,
			obj: resource(KindService, "ns", "x", map[string]string{AnnotationExport: "false"}, nil, nil),
		},
		{
			name: "being deleted", kind: KindMCPServer, instance: true,
			obj: func() *unstructured.Unstructured {
				u := resource(KindMCPServer, "ns", "x", nil, nil, map[string]any{"phase": "Ready"})
				now := metav1.NewTime(created.Add(time.Hour))
				u.SetDeletionTimestamp(&now)
				return u
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := convert(tc.obj, tc.kind)
			in := c.Instance
			if in.URL != tc.want || in.Ready != tc.ready || in.ServerName != tc.server || in.Entry != "" {
				t.Errorf("instance %+v", in)
			}
			if got := isInstance(tc.kind, tc.obj.GetAnnotations()); got != tc.instance {
				t.Errorf("isInstance %v", got)
			}
		})
	}
}

func TestTimes(t *testing.T) {
	t.Parallel()
	u := mcpServer("ns", "x", "img", nil)
	later, status := metav1.NewTime(created.Add(time.Hour)), metav1.NewTime(created.Add(2*time.Hour))
	u.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply, Time: &later},
		{Manager: "operator", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: &status},
	})
	published, updated := times(u)
	if !published.Equal(created) || !updated.Equal(later.Time) {
		t.Errorf("published %v updated %v", published, updated)
	}
	bare := &unstructured.Unstructured{Object: map[string]any{}}
	if p, up := times(bare); !p.Equal(upstream.UndatedTime) || !up.Equal(p) {
		t.Errorf("undated: %v %v", p, up)
	}
}

func TestEntryName(t *testing.T) {
	t.Parallel()
	if got := EntryName("Prod", "My.Server"); got != "com.toolhive.k8s.prod/my.server" {
		t.Errorf("EntryName: %q", got)
	}
	long := mcpServer("ns", strings.Repeat("n", 190), "img", exported("https://x", "d"))
	if c := convert(long, KindMCPServer); c.Skip != SkipInvalidEntry {
		t.Errorf("a name over 200 characters: skip %q", c.Skip)
	}
}
