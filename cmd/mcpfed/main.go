// Command mcpfed serves the MCP Registry read API for many sources as one.
//
//	mcpfed [serve]     run the gateway (the default)
//	mcpfed check       load every source once and report (read-only)
//	mcpfed snapshot    write the merged catalogue as a ServerList file
//	mcpfed migrate     apply, revert or list the store's migrations
//	mcpfed version     print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/metrics"
)

// Set at build time with
// -ldflags "-X main.version=… -X main.commit=… -X main.buildTime=…".
var (
	version   = "dev"
	commit    = ""
	buildTime = ""
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2 // a bad command line or an invalid configuration
)

// defaultCheckTimeout bounds how long check and snapshot wait for the sources.
const defaultCheckTimeout = 2 * time.Minute

const usage = `usage: mcpfed [command] [flags]

commands:
  serve      run the gateway (the default)
  check      load every source once and print a table; exit 1 if one fails.
             Read-only: nothing is written to the state directory unless
             -write-state; persisted snapshots are restored first, as the
             server does. -offline validates the configuration and prints
             the resolved sources without touching any. Bounded by -timeout
             (default 2m).
  snapshot   load every source once and write the merged catalogue (-o)
  migrate    up | down N | status: the store's migrations (serve applies
             pending ones at start)
  version    print the version and commit

Run "mcpfed <command> -h" for the command's flags. Configuration: README.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, environ)
	stop()
	os.Exit(code)
}

// environ returns the process environment as a map.
func environ() map[string]string {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

// flagValues are the configuration's command-line overrides.
type flagValues = config.Flags

// loadConfig reads the configuration from the environment (lookup) and flags.
func loadConfig(lookup func() map[string]string, flags flagValues) (config.Config, error) {
	return config.Load(lookup(), flags)
}

// commandFlags are the flags of check and snapshot.
type commandFlags struct {
	out        string
	offline    bool
	writeState bool
	timeout    time.Duration
}

// run is main without the process: testable end to end.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func() map[string]string) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve", "check", "snapshot":
	case "migrate":
		return migrate(ctx, args, stdout, stderr, lookup)
	case "version":
		printVersion(stdout)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "mcpfed: unknown command %q (want serve, check, snapshot, migrate or version)\n%s", cmd, usage)
		return exitUsage
	}
	fs := flag.NewFlagSet("mcpfed "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var flags flagValues
	flags.Register(fs)
	var cf commandFlags
	switch cmd {
	case "snapshot":
		fs.StringVar(&cf.out, "o", "-", "output file (- for standard output)")
		fs.DurationVar(&cf.timeout, "timeout", defaultCheckTimeout, "bound on loading every source")
	case "check":
		fs.BoolVar(&cf.offline, "offline", false, "validate the configuration and print the resolved sources without touching any")
		fs.BoolVar(&cf.writeState, "write-state", false, "persist what is loaded to the state directory, as the server does (default: read-only)")
		fs.DurationVar(&cf.timeout, "timeout", defaultCheckTimeout, "bound on loading every source")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if cf.timeout < 0 {
		fmt.Fprintln(stderr, "mcpfed: -timeout must not be negative")
		return exitUsage
	}
	cfg, err := loadConfig(lookup, flags)
	problems := config.Errors(err)
	for _, p := range cfg.Problems(httpOptions(cfg.HTTP).validateWith(cfg.RequestTimeout)) {
		problems = append(problems, p.Error())
	}
	if len(problems) > 0 {
		printProblems(stderr, problems, buildProblems(cfg, config.InvalidSources(err)))
		return exitUsage
	}
	logger := newLogger(cfg, stderr)
	// check and snapshot write nothing to the state directory unless asked.
	g, err := wire(cfg, logger, time.Now, wireOptions{readOnly: cmd != "serve" && !cf.writeState})
	var invalid *invalidConfig
	switch {
	case errors.As(err, &invalid):
		printProblems(stderr, invalid.problems)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "mcpfed: %v\n", err)
		return exitFailure
	}
	switch cmd {
	case "check":
		defer g.close()
		if cf.offline {
			return checkOffline(g, stdout, stderr)
		}
		return check(ctx, g, cf.timeout, stdout)
	case "snapshot":
		defer g.close()
		return snapshot(ctx, g, logger, cf, stdout)
	}
	// serve closes the gateway itself, within the shutdown bound.
	if err := g.serve(ctx, nil); err != nil {
		logger.Error("mcpfed stopped", "error", err)
		return exitFailure
	}
	return exitOK
}

// printProblems lists every problem of the configuration, one per line.
func printProblems(w io.Writer, lists ...[]string) {
	fmt.Fprintln(w, "mcpfed: invalid configuration:")
	for _, list := range lists {
		for _, p := range list {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	level, _ := config.ParseLevel(cfg.LogLevel) // validated
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	// Lines logged while serving a request carry its id.
	return slog.New(metrics.RequestIDHandler(h))
}

// buildInfo reports the version, the commit (set at build time, else the
// VCS revision Go recorded) and the build time.
func buildInfo() (ver, rev, built string) {
	ver, rev, built = version, commit, buildTime
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.time":
				if built == "" {
					built = s.Value
				}
			}
		}
	}
	return ver, rev, built
}

func printVersion(w io.Writer) {
	ver, rev, built := buildInfo()
	fmt.Fprintf(w, "mcpfed %s\ncommit %s\nbuilt %s\n%s %s/%s\n", ver, orUnknown(rev), orUnknown(built), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
