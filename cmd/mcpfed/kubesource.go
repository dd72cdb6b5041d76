package main

import (
	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream/kube"
)

// newKube builds a kubernetes source: the MCP servers running in a cluster
// as a snapshot source, persisted like the others. Its instances reach the
// deployed endpoint through gateway.deployed (it implements Instances).
// The client configuration (kubeconfig, or the in-cluster service account)
// is read here, so a missing one is a configuration problem at start.
func (g *gateway) newKube(sc config.SourceConfig, spec *kube.Spec, f *filter.Filter) (built, error) {
	o := spec.Options(sc.Name)
	o.StateDir, o.ReadOnly = g.cfg.StateDir, g.opts.readOnly
	o.Admit, o.Clock, o.Logger, o.OnLoad = f.Match, g.clock, g.logger, g.metrics.SourceLoaded
	ks, err := kube.New(o)
	if err != nil {
		return built{}, err
	}
	return built{member: federate.Member{Source: ks, Required: sc.Required}, src: ks}, nil
}
