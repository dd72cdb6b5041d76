package kube

import (
	"maps"
	"testing"
	"time"

	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// TestMain fails the run if a test leaves a goroutine behind (informers,
// watches, Run).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// created is the creation time of the test resources.
var created = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// exported are the annotations that make a resource an entry.
func exported(url, desc string, more ...string) map[string]string {
	a := map[string]string{AnnotationExport: "true", AnnotationURL: url, AnnotationDescription: desc}
	for i := 0; i+1 < len(more); i += 2 {
		a[more[i]] = more[i+1]
	}
	return a
}

// resource builds a watched object of kind; spec and status may be nil.
func resource(kind, ns, name string, ann map[string]string, spec, status map[string]any) *unstructured.Unstructured {
	apiVersion := ToolHiveGroup + "/v1beta1"
	if kind == KindService {
		apiVersion = "v1"
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind}}
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetUID(types.UID("uid-" + ns + "-" + name))
	u.SetCreationTimestamp(metav1.NewTime(created))
	if ann != nil {
		u.SetAnnotations(maps.Clone(ann))
	}
	if spec != nil {
		u.Object["spec"] = spec
	}
	if status != nil {
		u.Object["status"] = status
	}
	return u
}

func mcpServer(ns, name, image string, ann map[string]string) *unstructured.Unstructured {
	return resource(KindMCPServer, ns, name, ann, map[string]any{"image": image, "transport": "stdio"}, nil)
}
