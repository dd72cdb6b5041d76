package kube

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mcpfed/mcpfed/kubetest"
)

// TestCRDsHaveTheFieldsRead checks, against ToolHive's CRDs as they ship
// (testdata/toolhive/crds), that the versions the source tries are served
// and that every field it reads exists in each of them, with its type.
func TestCRDsHaveTheFieldsRead(t *testing.T) {
	t.Parallel()
	status := map[string]string{"phase": "string", "url": "string", "conditions": "array"}
	tests := []struct {
		file, resource string
		fields         map[string]string // dotted path under the version's schema → type
	}{
		{"toolhive.stacklok.dev_mcpservers.yaml", ResourceMCPServers, map[string]string{
			"spec.image": "string", "spec.transport": "string", "spec.proxyMode": "string", "spec.proxyPort": "integer",
		}},
		{"toolhive.stacklok.dev_mcpremoteproxies.yaml", ResourceMCPRemoteProxies, map[string]string{"status.externalUrl": "string"}},
		{"toolhive.stacklok.dev_virtualmcpservers.yaml", ResourceVirtualMCPServers, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.resource, func(t *testing.T) {
			t.Parallel()
			objs := kubetest.MustReadObjects(t, filepath.Join("..", "..", "testdata", "toolhive", "crds", tc.file))
			if len(objs) != 1 {
				t.Fatalf("%d objects", len(objs))
			}
			crd := objs[0]
			rt := typeOf(tc.resource)
			group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
			plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
			kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
			if group != rt.group || plural != tc.resource || kind != rt.kind {
				t.Fatalf("CRD %s/%s kind %s", group, plural, kind)
			}
			versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
			served := map[string]map[string]any{}
			for _, v := range versions {
				m := v.(map[string]any)
				if m["served"] == true {
					served[m["name"].(string)] = m
				}
			}
			if _, ok := served[rt.versions[0]]; !ok {
				t.Fatalf("%s is not served (served: %v)", rt.versions[0], slices.Sorted(maps.Keys(served)))
			}
			for _, name := range rt.versions {
				v, ok := served[name]
				if !ok {
					continue
				}
				schema, _, _ := unstructured.NestedMap(v, "schema", "openAPIV3Schema")
				fields := maps.Clone(tc.fields)
				for k, typ := range status {
					fields["status."+k] = typ
				}
				for path, typ := range fields {
					node := schema
					for _, seg := range strings.Split(path, ".") {
						next, ok, _ := unstructured.NestedMap(node, "properties", seg)
						if !ok {
							t.Errorf("%s: no %s", name, path)
							node = nil
							break
						}
						node = next
					}
					if node != nil && node["type"] != typ {
						t.Errorf("%s: %s is a %v, want %s", name, path, node["type"], typ)
					}
				}
			}
		})
	}
}
