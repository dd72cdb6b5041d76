package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"text/tabwriter"
	"time"

	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/federate"
)

// check restores what the state directory holds (as the server does at
// start), loads every source once within timeout and prints a table; the
// exit code says whether all of them loaded. Unless built with -write-state
// it writes nothing.
func check(ctx context.Context, g *gateway, timeout time.Duration, stdout io.Writer) int {
	for _, w := range g.warnings {
		g.logger.Warn(w)
	}
	for _, s := range g.sources {
		s.Restore()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	g.loadAll(ctx)
	timedOut := ctx.Err() != nil
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKIND\tENTRIES\tSTATE\tREVISION\tLAST-SUCCESS\tERROR")
	code := exitOK
	for _, r := range g.reports() {
		if r.LastError != "" || r.State == "pending" || r.State == "restored" {
			code = exitFailure
		}
		rev := r.Revision
		if r.Commit != "" {
			rev = "commit " + r.Commit[:min(12, len(r.Commit))]
		}
		last := "-"
		if r.LastSuccess != nil {
			last = r.LastSuccess.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, kindLabel(r), r.Entries, r.State, orDash(rev), last, orDash(r.LastError))
	}
	_ = tw.Flush()
	if timedOut {
		fmt.Fprintf(stdout, "check stopped after %s (-timeout): a source still pending did not finish loading\n", timeout)
		code = exitFailure
	}
	return code
}

// checkOffline prints the resolved sources (defaults applied) without
// loading any: the configuration is valid and every source could be built.
// A toolhive-registry-server file is preceded by its mapping (which
// ToolHive field became which mcpfed field, and what is not used) and
// followed by the views and auth it gave.
func checkOffline(g *gateway, stdout, stderr io.Writer) int {
	for _, w := range g.warnings {
		fmt.Fprintf(stderr, "mcpfed: warning: %s\n", w)
	}
	out, err := config.MarshalSourcesRedacted(g.cfg.Sources)
	if err != nil {
		fmt.Fprintf(stderr, "mcpfed: %v\n", err)
		return exitFailure
	}
	thv := g.cfg.ToolHive()
	var rest []byte
	if thv != nil {
		if rest, err = config.MarshalViewsAndAuth(g.cfg); err != nil {
			fmt.Fprintf(stderr, "mcpfed: %v\n", err)
			return exitFailure
		}
		fmt.Fprint(stdout, thv.Describe())
	}
	fmt.Fprintf(stdout, "# configuration valid: %d sources, none contacted (credentials, queries and header values not shown)\nsources:\n%s%s", len(g.sources), out, rest)
	return exitOK
}

// kindLabel names the kind, with the mode of an api source.
func kindLabel(r federate.SourceReport) string {
	if r.Mode != "" {
		return r.Kind + "/" + r.Mode
	}
	return r.Kind
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// snapshot loads every source once and writes the merged catalogue, every
// version including deleted ones, as one ServerList document: a file that
// mcpfed (or any client of the format) can read back as a file source.
func snapshot(ctx context.Context, g *gateway, logger *slog.Logger, cf commandFlags, stdout io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	for _, st := range g.loadAll(ctx) {
		if st.LastError != "" || !st.Loaded {
			logger.Error("source failed; snapshot not written", "source", st.Name, "error", st.LastError)
			return exitFailure
		}
	}
	var items []json.RawMessage
	params := url.Values{"limit": {fmt.Sprint(federate.MaxLimit)}, "include_deleted": {"true"}}
	for {
		q, err := federate.ParseListQuery(params)
		if err != nil {
			logger.Error("snapshot query", "error", err)
			return exitFailure
		}
		page, err := g.engine.List(ctx, q, nil)
		if err != nil {
			logger.Error("snapshot merge", "error", err)
			return exitFailure
		}
		for _, e := range page.Entries {
			items = append(items, e.Encoded)
		}
		if page.NextCursor == "" {
			break
		}
		params.Set("cursor", page.NextCursor)
	}
	body, err := json.MarshalIndent(map[string]any{"servers": items, "metadata": map[string]int{"count": len(items)}}, "", "  ")
	if err != nil {
		logger.Error("encode snapshot", "error", err)
		return exitFailure
	}
	body = append(body, '\n')
	if cf.out == "-" {
		_, err = stdout.Write(body)
	} else {
		err = os.WriteFile(cf.out, body, 0o644)
	}
	if err != nil {
		logger.Error("write snapshot", "error", err)
		return exitFailure
	}
	return exitOK
}
