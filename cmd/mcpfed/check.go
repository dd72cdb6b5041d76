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

	"github.com/mcpfed/mcpfed/federate"
)

// checkTimeout bounds how long check and snapshot wait for the sources.
const checkTimeout = 2 * time.Minute

// check loads every source once and prints a table; the exit code says
// whether all of them loaded.
func check(ctx context.Context, cfg Config, logger *slog.Logger, stdout io.Writer) int {
	g, err := wire(cfg, logger, time.Now)
	if err != nil {
		fmt.Fprintf(stdout, "mcpfed: %v\n", err)
		return exitFailure
	}
	defer g.close()
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	g.loadAll(ctx)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKIND\tENTRIES\tSTATE\tREVISION\tLAST-SUCCESS\tERROR")
	code := exitOK
	for _, r := range g.reports() {
		if r.LastError != "" {
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
	return code
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
func snapshot(ctx context.Context, cfg Config, logger *slog.Logger, out string, stdout io.Writer) int {
	g, err := wire(cfg, logger, time.Now)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mcpfed: %v\n", err)
		return exitFailure
	}
	defer g.close()
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	for _, st := range g.loadAll(ctx) {
		if st.LastError != "" {
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
	if out == "-" {
		_, err = stdout.Write(body)
	} else {
		err = os.WriteFile(out, body, 0o644)
	}
	if err != nil {
		logger.Error("write snapshot", "error", err)
		return exitFailure
	}
	return exitOK
}
