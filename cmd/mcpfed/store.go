package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/store"
)

// storeOpenTimeout bounds opening the store at start, migrations included:
// a replica may wait up to two minutes for another's migration lock.
const storeOpenTimeout = 3 * time.Minute

const migrateUsage = `usage: mcpfed migrate up|down N|status [flags]

  up       apply every pending migration of the store (as serving does at start)
  down N   revert the last N applied migrations (1 to 1000)
  status   list the migrations and whether each is applied

The store is the configuration's (store:, MCPFED_DATABASE_URL,
MCPFED_DATABASE_PASSWORD_FILE; SQLite in stateDir by default); with
store.migrationURL the migration user runs them.
`

// openStore opens the configured store when something needs one (a
// managed source, curation or publishing): otherwise nothing is created
// and nil is returned. Pending migrations are applied under the store's
// lock, so replicas starting together never race.
func (g *gateway) openStore() error {
	if !g.cfg.NeedsStore() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeOpenTimeout)
	defer cancel()
	st, err := store.Open(ctx, g.cfg.Store, store.Options{StateDir: g.cfg.StateDir, Clock: g.clock, Logger: g.logger})
	if err != nil {
		return fmt.Errorf("open the store (%s): %w", g.cfg.Store.Driver, err)
	}
	g.store = st
	return nil
}

// closeStore closes the store once the sources that read it have stopped.
func (g *gateway) closeStore() {
	if g.store == nil {
		return
	}
	if err := g.store.Close(); err != nil {
		g.logger.Error("closing the store", "error", err)
	}
	g.store = nil
}

// parseMigrateOp reads `up`, `down N` or `status`.
func parseMigrateOp(pos []string) (string, int, error) {
	if len(pos) == 0 {
		return "", 0, errors.New("missing operation (up, down N or status)")
	}
	op, n := pos[0], 0
	switch op {
	case store.MigrateUp, store.MigrateStatus:
		if len(pos) > 1 {
			return "", 0, fmt.Errorf("%s takes no argument, got %q", op, pos[1])
		}
	case store.MigrateDown:
		if len(pos) != 2 {
			return "", 0, errors.New("down needs the number of migrations to revert: down N")
		}
		v, err := strconv.Atoi(pos[1])
		if err != nil || v < 1 || v > 1000 {
			return "", 0, fmt.Errorf("down N: N must be an integer from 1 to 1000, got %q", pos[1])
		}
		n = v
	default:
		return "", 0, fmt.Errorf("unknown operation %q (want up, down N or status)", op)
	}
	return op, n, nil
}

// migrate is `mcpfed migrate up|down N|status`: the store's migrations,
// run by hand (serving applies pending ones at start). Flags go before or
// after the operation.
func migrate(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func() map[string]string) int {
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	fs := flag.NewFlagSet("mcpfed migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, migrateUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	var flags flagValues
	flags.Register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	op, n, err := parseMigrateOp(append(pos, fs.Args()...))
	if err != nil {
		fmt.Fprintf(stderr, "mcpfed migrate: %v\n%s", err, migrateUsage)
		return exitUsage
	}
	cfg, err := loadConfig(lookup, flags)
	if problems := config.Errors(err); len(problems) > 0 {
		printProblems(stderr, problems)
		return exitUsage
	}
	logger := newLogger(cfg, stderr)
	if err := store.Migrate(ctx, cfg.Store, store.Options{StateDir: cfg.StateDir, Logger: logger}, op, n, stdout); err != nil {
		fmt.Fprintf(stderr, "mcpfed migrate %s: %v\n", op, err)
		return exitFailure
	}
	return exitOK
}
