package deploy

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mcpfed/mcpfed/upstream/kube"
)

// rbacObject is the part of a ServiceAccount, ClusterRole or
// ClusterRoleBinding the test reads.
type rbacObject struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Rules      []struct {
		APIGroups       []string `yaml:"apiGroups"`
		Resources       []string `yaml:"resources"`
		Verbs           []string `yaml:"verbs"`
		ResourceNames   []string `yaml:"resourceNames"`
		NonResourceURLs []string `yaml:"nonResourceURLs"`
	} `yaml:"rules"`
	RoleRef struct {
		APIGroup string `yaml:"apiGroup"`
		Kind     string `yaml:"kind"`
		Name     string `yaml:"name"`
	} `yaml:"roleRef"`
	Subjects []struct {
		Kind      string `yaml:"kind"`
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"subjects"`
}

func readObjects(t *testing.T, file string) map[string]rbacObject {
	t.Helper()
	docs, err := DecodeYAML(filepath.Join("kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]rbacObject{}
	for _, d := range docs {
		b, err := yaml.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var o rbacObject
		if err := yaml.Unmarshal(b, &o); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if _, dup := out[o.Kind]; dup {
			t.Fatalf("%s: two %s objects", file, o.Kind)
		}
		out[o.Kind] = o
	}
	return out
}

// TestRBACGrantsOnlyWhatTheKubeSourceReads: the ClusterRole grants get,
// list and watch, and nothing else, on exactly the resources the
// kubernetes source watches; it is bound to the ServiceAccount the
// Deployment runs as.
func TestRBACGrantsOnlyWhatTheKubeSourceReads(t *testing.T) {
	t.Parallel()
	objs := readObjects(t, "rbac.yaml")
	role, ok := objs["ClusterRole"]
	if !ok || role.APIVersion != "rbac.authorization.k8s.io/v1" {
		t.Fatalf("rbac.yaml has no rbac.authorization.k8s.io/v1 ClusterRole: %+v", objs)
	}
	granted := map[string]bool{}
	for i, r := range role.Rules {
		if v := slices.Sorted(slices.Values(r.Verbs)); !slices.Equal(v, []string{"get", "list", "watch"}) {
			t.Errorf("rule %d: verbs %v, want exactly get, list, watch", i, r.Verbs)
		}
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %d: resourceNames %v nonResourceURLs %v", i, r.ResourceNames, r.NonResourceURLs)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if g == "*" || res == "*" {
					t.Errorf("rule %d: wildcard group or resource", i)
				}
				granted[g+"/"+res] = true
			}
		}
	}
	var want []string
	for _, r := range kube.AllResources {
		if r == kube.ResourceServices {
			want = append(want, "/"+r)
		} else {
			want = append(want, kube.ToolHiveGroup+"/"+r)
		}
	}
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(granted)); !slices.Equal(got, want) {
		t.Errorf("granted %v, want exactly %v", got, want)
	}

	binding, ok := objs["ClusterRoleBinding"]
	if !ok {
		t.Fatal("rbac.yaml has no ClusterRoleBinding")
	}
	if binding.RoleRef.Kind != "ClusterRole" || binding.RoleRef.Name != role.Metadata.Name || binding.RoleRef.APIGroup != "rbac.authorization.k8s.io" {
		t.Errorf("binding refers to %+v, not ClusterRole %s", binding.RoleRef, role.Metadata.Name)
	}
	sa := readManifest(t, "serviceaccount.yaml")
	ns := readManifest(t, "namespace.yaml")
	if sa.Kind != "ServiceAccount" {
		t.Fatalf("serviceaccount.yaml holds a %s", sa.Kind)
	}
	if len(binding.Subjects) != 1 || binding.Subjects[0].Kind != "ServiceAccount" ||
		binding.Subjects[0].Name != sa.Metadata.Name || binding.Subjects[0].Namespace != ns.Metadata.Name {
		t.Errorf("binding subjects %+v, want only ServiceAccount %s/%s", binding.Subjects, ns.Metadata.Name, sa.Metadata.Name)
	}
	dep, _, _ := readDeployment(t)
	podSpec := decodeSpec[struct {
		Template struct {
			Spec struct {
				ServiceAccountName string `yaml:"serviceAccountName"`
			} `yaml:"spec"`
		} `yaml:"template"`
	}](t, dep)
	if podSpec.Template.Spec.ServiceAccountName != sa.Metadata.Name {
		t.Errorf("the Deployment runs as %q, not the bound ServiceAccount %s", podSpec.Template.Spec.ServiceAccountName, sa.Metadata.Name)
	}
}
