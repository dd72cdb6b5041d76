// Package kube is the kubernetes source: the MCP servers running in a
// cluster (ToolHive's MCPServer, MCPRemoteProxy and VirtualMCPServer
// resources, and annotated Services) become registry entries, watched
// through client-go's dynamic informers.
package kube

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The resources the source can watch, by their plural names.
const (
	ResourceMCPServers        = "mcpservers"
	ResourceMCPRemoteProxies  = "mcpremoteproxies"
	ResourceVirtualMCPServers = "virtualmcpservers"
	ResourceServices          = "services"
)

// AllResources are the resources watched unless Spec.Resources narrows them.
var AllResources = []string{ResourceMCPServers, ResourceMCPRemoteProxies, ResourceVirtualMCPServers, ResourceServices}

// Defaults of a kubernetes source.
const (
	DefaultDebounce    = 2 * time.Second
	DefaultMaxEntries  = 10000
	DefaultMaxBytes    = 64 << 20
	DefaultLoadTimeout = 2 * time.Minute
)

// Spec is a kubernetes source as configured (sources[i] with kind:
// kubernetes): its fields and their names are what the configuration
// accepts for this kind.
type Spec struct {
	// Namespaces to watch; empty: every namespace. (The field is
	// watchNamespaces: every source's namespaces are the name globs it
	// reserves.)
	Namespaces []string `yaml:"watchNamespaces"`
	// LabelSelector narrows the watched resources (Kubernetes syntax).
	LabelSelector string `yaml:"labelSelector"`
	// Kubeconfig is a kubeconfig file; empty: the in-cluster configuration.
	Kubeconfig string `yaml:"kubeconfig"`
	// Context is the kubeconfig context to use; empty: its current one.
	Context string `yaml:"context"`
	// Resources to watch (AllResources when empty).
	Resources []string `yaml:"resources"`
	// Debounce coalesces a burst of changes into one snapshot rebuild.
	Debounce time.Duration `yaml:"debounce"`
	// MaxEntries bounds the entries (and instances) the source holds.
	MaxEntries int `yaml:"maxEntries"`
	// MaxBytes bounds the size of the entries the source holds (their
	// server.json bytes): annotations are written by every tenant of a
	// watched namespace.
	MaxBytes int64 `yaml:"maxBytes"`
	// LoadTimeout bounds the first list of every resource.
	LoadTimeout time.Duration `yaml:"loadTimeout"`
}

// ApplyDefaults sets the defaults on fields left unset.
func (s *Spec) ApplyDefaults() {
	if len(s.Resources) == 0 {
		s.Resources = slices.Clone(AllResources)
	}
	if s.Debounce == 0 {
		s.Debounce = DefaultDebounce
	}
	if s.MaxEntries == 0 {
		s.MaxEntries = DefaultMaxEntries
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = DefaultMaxBytes
	}
	if s.LoadTimeout == 0 {
		s.LoadTimeout = DefaultLoadTimeout
	}
}

// Options are the source's options for New, without what the process adds
// (state directory, admission, clock, logger, metrics).
func (s Spec) Options(name string) Options {
	return Options{Name: name, Spec: s}
}

// Validate lists every problem without contacting the cluster.
func (s Spec) Validate() error {
	var errs []error
	for _, ns := range s.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("watchNamespaces: %q is not a namespace name: %s", ns, msgs[0]))
		}
	}
	if _, err := labels.Parse(s.LabelSelector); err != nil {
		errs = append(errs, fmt.Errorf("labelSelector: %w", err))
	}
	if s.Context != "" && s.Kubeconfig == "" {
		errs = append(errs, errors.New("context: applies only with kubeconfig (the in-cluster configuration has no contexts)"))
	}
	for _, r := range s.Resources {
		if !slices.Contains(AllResources, r) {
			errs = append(errs, fmt.Errorf("resources: %q is not one of %v", r, AllResources))
		}
	}
	if s.Debounce < 0 {
		errs = append(errs, errors.New("debounce: must not be negative"))
	}
	if s.MaxBytes < 0 {
		errs = append(errs, errors.New("maxBytes: must not be negative"))
	}
	if s.MaxEntries < 0 {
		errs = append(errs, errors.New("maxEntries: must not be negative"))
	}
	if s.LoadTimeout < 0 {
		errs = append(errs, errors.New("loadTimeout: must not be negative"))
	}
	return errors.Join(errs...)
}
