package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mcpfed/mcpfed/credential"
	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/kube"
)

// adminOptions wires the operator endpoints: status always (error texts
// only for a request bearing the admin token), resync only when the
// configuration enables it.
func (g *gateway) adminOptions() federate.AdminOptions {
	o := federate.AdminOptions{Sources: g.reports}
	if len(g.cfg.Admin.Claims) > 0 {
		// The admin token or a verified token with admin.claims; without
		// claims the API checks the admin token itself, as before.
		o.IsAdmin = g.access.isAdmin
	}
	if f := g.cfg.Admin.TokenFile; f != "" {
		o.Token = func() (string, error) {
			tok, err := credential.ReadFile(f)
			if err != nil {
				return "", fmt.Errorf("read the admin token file: %w", err)
			}
			return tok, nil
		}
	}
	if g.cfg.Admin.Resync {
		o.Resync = g.resync
	}
	return o
}

// reports describes every source in configuration order.
func (g *gateway) reports() []federate.SourceReport {
	out := make([]federate.SourceReport, len(g.sources))
	for i, s := range g.sources {
		out[i] = g.report(i, s)
	}
	return out
}

// clusterReporter is a source that reports what it watches in a cluster.
type clusterReporter interface {
	Report() kube.Report
}

func (g *gateway) report(i int, s source) federate.SourceReport {
	sc := g.cfg.Sources[i]
	st := s.Status()
	rep := federate.SourceReport{
		Name: sc.Name, Kind: sc.Kind, Mode: g.modes[i], Required: sc.Required, State: st.State(),
		Entries: st.Entries, Skills: st.Skills, Plugins: st.Plugins, Revision: st.Revision, Commit: st.Commit, Breaker: st.Breaker, LastError: st.LastError,
		LastAttempt: timePtr(st.LastAttempt), LastSuccess: timePtr(st.LastSuccess),
		Order: st.Order, Dropped: g.drops.Of(sc.Name),
	}
	if k, ok := s.(clusterReporter); ok {
		kr := k.Report()
		rep.Skipped, rep.Unavailable, rep.Instances = kr.Skipped, kr.Unavailable, kr.Instances
	}
	return rep
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// resync runs one full sync of a source: a full crawl for a mirror, a load
// for a file or git source; a live source has none.
func (g *gateway) resync(ctx context.Context, name string) (federate.SourceReport, error) {
	for i, s := range g.sources {
		if s.Name() != name {
			continue
		}
		err := s.Resync(ctx)
		if errors.Is(err, upstream.ErrNotResyncable) {
			return federate.SourceReport{}, fmt.Errorf("%w: %w", federate.ErrNotResyncable, err)
		}
		return g.report(i, s), err
	}
	return federate.SourceReport{}, federate.ErrNotFound
}
