package deploy

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/gitsource"
	"github.com/mcpfed/mcpfed/upstream/remote"
)

const mib = 1 << 20

// Memory that does not grow with a source's data.
const (
	// baselineBytes is the process without any buffer below: runtime,
	// binary, goroutines, metrics and the built-in catalogue (whose bytes
	// are in the binary). Measured: 32 MiB RSS serving the built-in
	// catalogue after 40 list requests of 100 entries; rounded up.
	baselineBytes = 48 * mib
	// snapshotPeak is how many times its byte bound a file or git source may
	// hold at the peak of a load: what it read, the entries made of it, and
	// the snapshot they replace.
	snapshotPeak = 3
	// mirrorPeak is the same for a mirror at the peak of a full resync,
	// pages being read included: remote measures about five times the bytes
	// read (its note; TestMirrorEndlessUpstreamStopsAtByteBound bounds it).
	mirrorPeak = 5
)

// budgetLine is one buffer that grows with upstream data, at its bound.
type budgetLine struct {
	what  string
	bytes int64
}

func or(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

// memoryBudget adds up, for cfg, every bound on memory that grows with
// upstream data: the response cache, the answer being written, each
// source's load or page cache. Unset fields take the owning package's
// default; responseCache is the response cache bound in force.
func memoryBudget(cfg shippedConfig, responseCache int64) []budgetLine {
	lines := []budgetLine{
		{"process baseline (runtime, binary, built-in catalogue)", baselineBytes},
		{"response cache (responseCache.maxBytes)", responseCache},
		// A live page can be as large as an upstream answer; its body and its
		// gzip form are both held while it is written.
		{"largest answer being written, and its gzip form", 2 * remote.DefaultMaxBytes},
	}
	for _, s := range cfg.Sources {
		add := func(what string, n int64) {
			lines = append(lines, budgetLine{fmt.Sprintf("source %s: %s", s.Name, what), n})
		}
		switch {
		case s.Kind == "file" && strings.HasPrefix(s.Path, "builtin:"):
			// In the baseline.
		case s.Kind == "file":
			add("load peak (3 × maxBytes)", snapshotPeak*or(s.MaxBytes, upstream.DefaultMaxBytes))
		case s.Kind == "git":
			add("load peak (3 × maxBytes)", snapshotPeak*or(s.MaxBytes, gitsource.DefaultMaxBytes))
		case s.Kind == "api" && s.Mode == "mirror":
			add("resync peak (5 × crawl.maxBytes)", mirrorPeak*or(s.Crawl.MaxBytes, remote.DefaultCrawlMaxBytes))
		case s.Kind == "api":
			add("page cache (cache.maxBytes)", or(s.Cache.MaxBytes, remote.DefaultPageCacheMaxBytes))
			add("upstream answers being read and decoded (2 × maxBytes)", 2*or(s.MaxBytes, remote.DefaultMaxBytes))
			if s.Order != remote.OrderBytes {
				// order auto (the default) or upstream: the list index of an
				// upstream that sorts differently holds what a mirror holds.
				add("list index at a refresh (5 × crawl.maxBytes)", mirrorPeak*or(s.Crawl.MaxBytes, remote.DefaultCrawlMaxBytes))
			}
		}
	}
	return lines
}

func total(lines []budgetLine) int64 {
	var n int64
	for _, l := range lines {
		n += l.bytes
	}
	return n
}

// parseQuantity reads a Kubernetes memory quantity or a GOMEMLIMIT value
// (binary suffixes only: Ki, Mi, Gi, optionally followed by B).
func parseQuantity(s string) (int64, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "B")
	mult := int64(1)
	for suffix, m := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = v, m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memory quantity %q: want an integer with Ki, Mi or Gi", s)
	}
	return n * mult, nil
}

func TestParseQuantity(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"512Mi": 512 * mib, "460MiB": 460 * mib, "1Gi": 1 << 30, "2048": 2048, "64Ki": 64 << 10} {
		if got, err := parseQuantity(in); err != nil || got != want {
			t.Errorf("%s: %d, %v", in, got, err)
		}
	}
	if _, err := parseQuantity("1.5G"); err == nil {
		t.Error("1.5G accepted")
	}
}

// TestMemoryBudgetFitsTheDeployment: every buffer that grows with upstream
// data, at its bound, added up for the shipped configuration (as is, with
// its examples enabled, and with nothing but package defaults) fits under
// GOMEMLIMIT, which leaves headroom below the container's memory limit. A
// default raised past what the shipped deployment can hold fails here.
func TestMemoryBudgetFitsTheDeployment(t *testing.T) {
	t.Parallel()
	_, _, c := readDeployment(t)
	limit, err := parseQuantity(c.Resources.Limits["memory"])
	if err != nil {
		t.Fatal(err)
	}
	goLimitText, ok := c.env("GOMEMLIMIT")
	if !ok {
		t.Fatal("the Deployment sets no GOMEMLIMIT: the runtime would not collect harder near the limit")
	}
	goLimit, err := parseQuantity(goLimitText)
	if err != nil {
		t.Fatal(err)
	}
	if goLimit > limit*92/100 || goLimit < limit*80/100 {
		t.Errorf("GOMEMLIMIT %s is not 80-92%% of the memory limit %s", goLimitText, c.Resources.Limits["memory"])
	}

	responseCache := int64(config.DefaultResponseBytes)
	if v, ok := c.env("MCPFED_RESPONSE_CACHE_MAX_BYTES"); ok {
		if responseCache, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	vs := shippedVariants(t)
	type scenario struct {
		name  string
		lines []budgetLine
	}
	scenarios := []scenario{
		{"as shipped", memoryBudget(vs[0].cfg, or(vs[0].cfg.ResponseCache.MaxBytes, responseCache))},
		{"examples enabled", memoryBudget(vs[1].cfg, or(vs[1].cfg.ResponseCache.MaxBytes, responseCache))},
		// The defaults alone fit: nothing in the Deployment compensates.
		{"examples enabled, defaults only", memoryBudget(vs[1].cfg, config.DefaultResponseBytes)},
		// The common configuration: the official registry mirrored, the
		// organisation's registry live, the built-in catalogue.
		{"official mirror + private live registry, defaults only", memoryBudget(shippedConfig{Sources: []shippedSource{
			{Name: "official", Kind: "api", Mode: "mirror"}, {Name: "acme", Kind: "api", Mode: "live"},
			{Name: "toolhive", Kind: "file", Path: "builtin:toolhive"},
		}}, config.DefaultResponseBytes)},
	}
	// One source of each kind with every default.
	for _, s := range []shippedSource{
		{Name: "file", Kind: "file", Path: "/data/catalogue.json"}, {Name: "git", Kind: "git"},
		{Name: "live", Kind: "api", Mode: "live"}, {Name: "mirror", Kind: "api", Mode: "mirror"},
	} {
		scenarios = append(scenarios, scenario{"one " + s.Name + " source, defaults only",
			memoryBudget(shippedConfig{Sources: []shippedSource{s}}, config.DefaultResponseBytes)})
	}
	for _, sc := range scenarios {
		sum := total(sc.lines)
		if sum <= goLimit {
			t.Logf("%s: %d MiB of %d MiB (GOMEMLIMIT)", sc.name, sum/mib, goLimit/mib)
			continue
		}
		var b strings.Builder
		for _, l := range sc.lines {
			fmt.Fprintf(&b, "\n  %6d MiB  %s", l.bytes/mib, l.what)
		}
		t.Errorf("%s: the bounds add up to %d MiB, over GOMEMLIMIT %s (limit %s): lower a default%s",
			sc.name, sum/mib, goLimitText, c.Resources.Limits["memory"], b.String())
	}
}
