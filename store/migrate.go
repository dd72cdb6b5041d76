package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

// The operations of Migrate (`mcpfed migrate up|down N|status`).
const (
	MigrateUp     = "up"
	MigrateDown   = "down"
	MigrateStatus = "status"
)

const (
	// versionTable records the applied migrations (goose's table, named
	// for mcpfed so a shared database stays readable).
	versionTable = "mcpfed_schema_version"
	// migrationLockID is the PostgreSQL advisory lock migrations hold:
	// "mcpfed" in ASCII, distinct from goose's default so another goose
	// user of the same database does not wait on mcpfed.
	migrationLockID = 0x6d6370666564
	// migrateTimeout bounds a migration run, waiting for another replica's
	// lock (lockWaitSeconds) included.
	migrateTimeout  = 5 * time.Minute
	lockWaitSeconds = 120
	// maxDown bounds `migrate down N`.
	maxDown = 1000
)

// provider builds goose's migration runner for the driver's migrations.
// On PostgreSQL it holds a session advisory lock while it runs, so
// replicas starting together apply each migration once; SQLite has a
// single writer (the file's lock).
func provider(driver string, db *sql.DB, log *slog.Logger) (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+driver)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	dialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{
		goose.WithTableName(versionTable),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(log),
	}
	if driver == DriverPostgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(migrationLockID),
			lock.WithLockTimeout(1, lockWaitSeconds),
			lock.WithUnlockTimeout(1, 10),
		)
		if err != nil {
			return nil, fmt.Errorf("store: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return p, nil
}

// migrateUp applies every pending migration and reports them to w.
func migrateUp(ctx context.Context, driver string, db *sql.DB, log *slog.Logger, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	p, err := provider(driver, db, log)
	if err != nil {
		return err
	}
	res, err := p.Up(ctx)
	for _, r := range res {
		report(w, r)
	}
	if err != nil {
		return unavailable(ctx, fmt.Errorf("store: migrate up: %w", err))
	}
	return nil
}

// Migrate runs one migration operation for `mcpfed migrate`: up (every
// pending migration), down (the last n applied, n >= 1) or status, with the
// migration user when one is configured, reporting to w. Open applies
// pending migrations by itself; down is for rolling back before
// downgrading mcpfed.
func Migrate(ctx context.Context, cfg Config, opts Options, op string, n int, w io.Writer) error {
	opts = opts.withDefaults()
	if w == nil {
		w = io.Discard
	}
	switch op {
	case MigrateUp, MigrateStatus:
	case MigrateDown:
		if n < 1 || n > maxDown {
			return fmt.Errorf("store: migrate down needs a count from 1 to %d, got %d", maxDown, n)
		}
	default:
		return fmt.Errorf("store: unknown migrate operation %q (want up, down N or status)", op)
	}
	t, err := resolve(cfg, opts)
	if err != nil {
		return err
	}
	db, err := t.openDB(true)
	if err != nil {
		return err
	}
	defer db.Close()
	if op == MigrateUp {
		return migrateUp(ctx, t.driver, db, opts.Logger, w)
	}
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	p, err := provider(t.driver, db, opts.Logger)
	if err != nil {
		return err
	}
	if op == MigrateStatus {
		st, err := p.Status(ctx)
		if err != nil {
			return unavailable(ctx, fmt.Errorf("store: migrate status: %w", err))
		}
		for _, s := range st {
			applied := "-"
			if !s.AppliedAt.IsZero() {
				applied = s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%-8s %5d  %-20s  %s\n", s.State, s.Source.Version, applied, s.Source.Path)
		}
		return nil
	}
	for range n {
		r, err := p.Down(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			fmt.Fprintln(w, "no migration left to roll back")
			return nil
		}
		if err != nil {
			return unavailable(ctx, fmt.Errorf("store: migrate down: %w", err))
		}
		report(w, r)
	}
	return nil
}

func report(w io.Writer, r *goose.MigrationResult) {
	if r != nil && r.Source != nil {
		fmt.Fprintln(w, r.String())
	}
}
