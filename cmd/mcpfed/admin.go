package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/upstream/remote"
)

// adminOptions wires the operator endpoints: status always, resync only
// when the configuration enables it.
func (g *gateway) adminOptions() federate.AdminOptions {
	o := federate.AdminOptions{Sources: g.reports}
	if g.cfg.Admin.Resync {
		o.Resync = g.resync
		if f := g.cfg.Admin.TokenFile; f != "" {
			o.Token = func() (string, error) {
				b, err := os.ReadFile(f)
				if err != nil {
					return "", fmt.Errorf("read admin token file: %w", err)
				}
				return strings.TrimSpace(string(b)), nil
			}
		}
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

func (g *gateway) report(i int, s source) federate.SourceReport {
	sc := g.cfg.Sources[i]
	st := s.Status()
	r := federate.SourceReport{
		Name: sc.Name, Kind: sc.Kind, Mode: sc.Mode, Required: sc.Required, State: st.State(),
		Entries: st.Entries, Revision: st.Revision, LastError: st.LastError,
		LastAttempt: timePtr(st.LastAttempt), LastSuccess: timePtr(st.LastSuccess),
	}
	if c, ok := s.(interface{ Commit() string }); ok {
		r.Commit = c.Commit()
	}
	if lr, ok := s.(*liveRunner); ok {
		r.Breaker = lr.live.Breaker().State().String()
	}
	return r
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// resync runs one full sync of a snapshot source: a full crawl for a
// mirror, a load for a file or git source.
func (g *gateway) resync(ctx context.Context, name string) (federate.SourceReport, error) {
	for i, s := range g.sources {
		if s.Name() != name {
			continue
		}
		var err error
		switch src := s.(type) {
		case *remote.Mirror:
			err = src.Resync(ctx)
		case *liveRunner:
			return federate.SourceReport{}, fmt.Errorf("%w: %q is a live source, queried on demand", federate.ErrNotResyncable, name)
		default:
			err = s.Load(ctx)
		}
		return g.report(i, s), err
	}
	return federate.SourceReport{}, federate.ErrNotFound
}
