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
	statuses := g.loadAll(ctx)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKIND\tENTRIES\tSTATE\tREVISION\tERROR")
	code := exitOK
	for i, st := range statuses {
		if st.LastError != "" {
			code = exitFailure
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", st.Name, cfg.Sources[i].Kind, st.Entries, st.State(), orDash(st.Revision), orDash(st.LastError))
	}
	_ = tw.Flush()
	return code
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
