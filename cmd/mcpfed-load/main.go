// Command mcpfed-load measures mcpfed under load on loopback.
//
// It builds the mcpfed binary once (go build ./cmd/mcpfed, from the module
// root found with `go env GOMOD`), then for each scenario starts fake
// upstream registries in this process (upstream/upstreamtest), runs mcpfed
// as a child process pointed at them (MCPFED_SOURCES, a free 127.0.0.1
// port, warn-level logs, no access log, a fresh state directory), waits
// for /readyz, drives N concurrent keep-alive clients for T, and prints
// throughput, p50/p90/p99/max latency (log-linear histogram, 1.6%
// precision), status and transport-error counts, what the answers reported
// (complete, partial, stale), the requests each fake upstream received,
// mcpfed's peak RSS (VmHWM) and CPU, and how busy the machine was with
// other programs meanwhile. The hot-cache scenario also serves the exact
// bytes mcpfed answered from a bare net/http handler (this program started
// again as a child) and prints the mcpfed/bare ratios. A summary lists every
// target with PASS or MISS as measured (INFO rows are numbers without a
// target).
//
// Usage (from the module root):
//
//	go run ./cmd/mcpfed-load                          # every scenario but the soak, 64 clients, 10s per phase
//	go run ./cmd/mcpfed-load -scenario hot -c 32 -d 5s
//	go run ./cmd/mcpfed-load -scenario soak           # 5 minutes (or -d, when given)
//	go run ./cmd/mcpfed-load -scenario all+soak -json results.json -quiet-wait 2m
//	go run ./cmd/mcpfed-load -scenario search-100k -mcpfed-env GOMEMLIMIT=300MiB
//
// Scenarios: hot, cold-fanout, thundering-herd, search-100k, dead-upstream,
// rate-limited, soak; "all" is every one but soak, "all+soak" every one; a
// comma-separated list picks several. Latency scenarios run a second phase
// with one client (service time without queueing) after the -c phase.
// Setups compared with each other (mcpfed vs bare; with vs without a dead
// upstream) run side by side and are measured in interleaved chunks, so
// background noise falls on both alike.
//
// Everything stays on 127.0.0.1; every phase ends by itself and every
// request has a timeout; child processes are stopped with SIGTERM at the end
// of their scenario and killed on any early exit (error, panic, SIGINT),
// with the parent-death signal as a last resort.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if isBareChild() {
		os.Exit(runBare())
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// env is what every scenario gets.
type env struct {
	bin     string // the mcpfed binary
	self    string // this program, started again as the bare server
	tmp     string // logs, state directories
	clients int
	dur     time.Duration
	soakDur time.Duration
	warmup  time.Duration
	timeout time.Duration
	// pageSize, if > 0, is the pageSize of the live sources of the fan-out,
	// herd and dead-upstream scenarios (0: mcpfed's default, 100).
	pageSize int
	// chunk is the turn length when targets are measured interleaved.
	chunk time.Duration
	// mcpfedEnv are extra variables for every mcpfed process (-mcpfed-env),
	// applied last.
	mcpfedEnv map[string]string
	out       io.Writer
}

// scenario is one named measurement.
type scenario struct {
	name  string
	title string
	run   func(ctx context.Context, e *env, sr *ScenarioResult) error
}

var scenarios = []scenario{
	{"hot", "hot cached list page vs a bare net/http handler", scenarioHot},
	{"cold-fanout", "cold fan-out over 3 live upstreams with 20 ms latency each", scenarioColdFanout},
	{"thundering-herd", "1000 identical cold requests at once", scenarioHerd},
	{"search-100k", "search over a 100,000-entry mirror", scenarioSearch},
	{"dead-upstream", "one dead live upstream (breaker open) vs none", scenarioDead},
	{"rate-limited", "a live upstream limited to 60 requests a minute", scenarioRateLimited},
	{"soak", "soak with a flapping live upstream", scenarioSoak},
}

// pick resolves -scenario.
func pick(spec string) ([]scenario, error) {
	var out []scenario
	seen := map[string]bool{}
	add := func(s scenario) {
		if !seen[s.name] {
			seen[s.name] = true
			out = append(out, s)
		}
	}
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "all", "all+soak":
			for _, s := range scenarios {
				if s.name != "soak" || name == "all+soak" {
					add(s)
				}
			}
			continue
		}
		found := false
		for _, s := range scenarios {
			if s.name == name {
				add(s)
				found = true
			}
		}
		if !found {
			names := make([]string, 0, len(scenarios))
			for _, s := range scenarios {
				names = append(names, s.name)
			}
			return nil, fmt.Errorf("unknown scenario %q (want all, all+soak or %s)", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// Report is the -json output.
type Report struct {
	Started   time.Time         `json:"started"`
	GoVersion string            `json:"goVersion"`
	CPUs      int               `json:"cpus"`
	Clients   int               `json:"clients"`
	Duration  string            `json:"duration"`
	Scenarios []*ScenarioResult `json:"scenarios"`
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcpfed-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clients := fs.Int("c", 64, "concurrent clients")
	dur := fs.Duration("d", 10*time.Second, "measured duration of each load phase (the soak runs 5m unless -d is given)")
	spec := fs.String("scenario", "all", "scenarios: all (every one but soak), all+soak, or a comma-separated list of "+scenarioNames())
	jsonPath := fs.String("json", "", "also write the results as JSON to this file")
	timeout := fs.Duration("timeout", 15*time.Second, "timeout of one request")
	warmup := fs.Duration("warmup", time.Second, "unmeasured warm-up before each load phase")
	bin := fs.String("mcpfed", "", "a prebuilt mcpfed binary (default: go build ./cmd/mcpfed into a temporary directory)")
	pageSize := fs.Int("page-size", 0, "pageSize of the live sources in cold-fanout, thundering-herd and dead-upstream (0: mcpfed's default)")
	chunk := fs.Duration("chunk", time.Second, "turn length when two setups are measured against each other in interleaved chunks (hot: mcpfed vs bare; dead-upstream)")
	mcpfedEnv := map[string]string{}
	fs.Func("mcpfed-env", "`KEY=VALUE` set in every mcpfed process's environment, after the scenario's own (repeatable; e.g. GOMEMLIMIT=300MiB, GOGC=50, MCPFED_LOG_LEVEL=error)", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		mcpfedEnv[k] = val
		return nil
	})
	quietWait := fs.Duration("quiet-wait", 0, "before each scenario, wait up to this long for other programs to leave the CPUs idle (< 0.25 cores busy)")
	keep := fs.Bool("keep", false, "keep the temporary directory (mcpfed logs, state) and print its path")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dSet := false
	fs.Visit(func(f *flag.Flag) { dSet = dSet || f.Name == "d" })
	if *clients < 1 || *dur <= 0 || *timeout <= 0 || *warmup < 0 || *chunk <= 0 {
		fmt.Fprintln(stderr, "mcpfed-load: -c, -d, -timeout and -chunk must be positive")
		return 2
	}
	picked, err := pick(*spec)
	if err != nil {
		fmt.Fprintln(stderr, "mcpfed-load:", err)
		return 2
	}

	// Children die with us on every path: normal return, error, panic
	// (deferred calls run while the main goroutine panics), and signals
	// (they cancel ctx, so scenarios return).
	defer killChildren()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tmp, err := os.MkdirTemp("", "mcpfed-load-")
	if err != nil {
		fmt.Fprintln(stderr, "mcpfed-load:", err)
		return 1
	}
	if *keep {
		fmt.Fprintln(stdout, "temporary directory (kept):", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	e := &env{clients: *clients, dur: *dur, soakDur: 5 * time.Minute, warmup: *warmup, timeout: *timeout, tmp: tmp, out: stdout, bin: *bin, pageSize: *pageSize, chunk: *chunk, mcpfedEnv: mcpfedEnv}
	if dSet {
		e.soakDur = *dur
	}
	if e.self, err = os.Executable(); err != nil {
		fmt.Fprintln(stderr, "mcpfed-load:", err)
		return 1
	}
	if e.bin == "" {
		t0 := time.Now()
		if e.bin, err = buildMcpfed(ctx, tmp); err != nil {
			fmt.Fprintln(stderr, "mcpfed-load:", err)
			return 1
		}
		fmt.Fprintf(stdout, "built mcpfed in %s\n", time.Since(t0).Round(time.Millisecond))
	}
	rep := &Report{Started: time.Now().UTC(), GoVersion: goVersion(), CPUs: numCPU(), Clients: *clients, Duration: dur.String()}
	fmt.Fprintf(stdout, "mcpfed-load: %d clients, %s per phase (soak %s), request timeout %s, %d CPUs, %s\n",
		*clients, *dur, e.soakDur, *timeout, rep.CPUs, rep.GoVersion)
	failed := false
	for _, s := range picked {
		sr := &ScenarioResult{Name: s.name, Title: s.title}
		rep.Scenarios = append(rep.Scenarios, sr)
		fmt.Fprintf(stdout, "\n=== %s: %s ===\n", s.name, s.title)
		if *quietWait > 0 {
			waited, busy := waitQuiet(ctx, *quietWait)
			msg := fmt.Sprintf("waited %s for a quiet machine: other programs used %.2f cores over the last second", waited.Round(time.Second), busy)
			fmt.Fprintln(stdout, msg)
			sr.Notes = append(sr.Notes, msg)
		}
		t0 := time.Now()
		err := s.run(ctx, e, sr)
		killChildren() // whatever the scenario left running
		sr.Seconds = time.Since(t0).Seconds()
		if err != nil {
			sr.Error = err.Error()
			failed = true
		}
		printScenario(stdout, sr)
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "mcpfed-load: interrupted")
			break
		}
	}
	printSummary(stdout, rep)
	if *jsonPath != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonPath, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "mcpfed-load: write json:", err)
			return 1
		}
		fmt.Fprintln(stdout, "results written to", *jsonPath)
	}
	if failed || ctx.Err() != nil {
		return 1
	}
	return 0
}

func scenarioNames() string {
	names := make([]string, 0, len(scenarios))
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

// buildMcpfed builds ./cmd/mcpfed of the module this program belongs to
// (found with `go env GOMOD`) into dir.
func buildMcpfed(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module: run mcpfed-load from the mcpfed module (or give -mcpfed)")
	}
	bin := filepath.Join(dir, "mcpfed")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/mcpfed")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/mcpfed in %s: %w\n%s", cmd.Dir, err, out)
	}
	return bin, nil
}

// waitQuiet waits until the machine's CPUs, apart from this process, were
// less than a quarter of a core busy for a second, or until limit passes.
func waitQuiet(ctx context.Context, limit time.Duration) (time.Duration, float64) {
	start := time.Now()
	for {
		a := sampleCPU(0)
		select {
		case <-ctx.Done():
			return time.Since(start), 0
		case <-time.After(time.Second):
		}
		_, _, other := sampleCPU(0).coresSince(a)
		if other < 0.25 || time.Since(start) >= limit {
			return time.Since(start), other
		}
	}
}
