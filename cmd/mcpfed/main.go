// Command mcpfed serves the MCP Registry read API for many sources as one.
//
//	mcpfed [serve]     run the gateway (the default)
//	mcpfed check       load every source once and report
//	mcpfed snapshot    write the merged catalogue as a ServerList file
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
)

// Set at build time with -ldflags "-X main.version=… -X main.buildTime=…".
var (
	version   = "dev"
	buildTime = ""
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

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

// run is main without the process: testable end to end.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func() map[string]string) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("mcpfed "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var flags flagValues
	flags.register(fs)
	var out string
	if cmd == "snapshot" {
		fs.StringVar(&out, "o", "-", "output file (- for standard output)")
	}
	switch cmd {
	case "serve", "check", "snapshot":
	case "version":
		printVersion(stdout)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: mcpfed [serve|check|snapshot|version] [flags]; see README.md")
		return exitOK
	default:
		fmt.Fprintf(stderr, "mcpfed: unknown command %q (want serve, check, snapshot or version)\n", cmd)
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := loadConfig(lookup, flags)
	if err != nil {
		fmt.Fprintf(stderr, "mcpfed: invalid configuration:\n%s\n", indent(err))
		return exitUsage
	}
	logger := newLogger(cfg, stderr)
	switch cmd {
	case "check":
		return check(ctx, cfg, logger, stdout)
	case "snapshot":
		return snapshot(ctx, cfg, logger, out, stdout)
	}
	if err := serve(ctx, cfg, logger, nil); err != nil {
		logger.Error("mcpfed stopped", "error", err)
		return exitFailure
	}
	return exitOK
}

// indent lists joined errors one per line.
func indent(err error) string {
	var b strings.Builder
	for _, line := range strings.Split(err.Error(), "\n") {
		b.WriteString("  - " + line + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(cfg.LogLevel) // validated
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, errors.New("want debug, info, warn or error")
	}
	return l, nil
}

// buildInfo reports the version, the VCS revision and the build time.
func buildInfo() (ver, commit, built string) {
	ver, built = version, buildTime
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				if built == "" {
					built = s.Value
				}
			}
		}
	}
	return ver, commit, built
}

func printVersion(w io.Writer) {
	ver, commit, built := buildInfo()
	fmt.Fprintf(w, "mcpfed %s\ncommit %s\nbuilt %s\n%s %s/%s\n", ver, orUnknown(commit), orUnknown(built), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
