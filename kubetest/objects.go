package kubetest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ReadObjects reads every object of a YAML (or JSON) manifest file, as
// kubectl apply -f does: CRDs, RBAC, resources.
func ReadObjects(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 64<<10)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(obj) > 0 {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

// DynamicClient is a dynamic client for kubeconfig; its connections are
// closed when the test ends.
func DynamicClient(t testing.TB, kubeconfig string) dynamic.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	h, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.CloseIdleConnections)
	c, err := dynamic.NewForConfigAndClient(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// MustReadObjects is ReadObjects failing the test on error.
func MustReadObjects(t testing.TB, path string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := ReadObjects(path)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}
