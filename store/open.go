package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// The drivers of Config.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// DefaultFile is the SQLite file's name in the state directory.
const DefaultFile = "mcpfed.db"

// Defaults of Options and fixed bounds of the store's own waits.
const (
	DefaultPollInterval = time.Second
	DefaultOpTimeout    = 10 * time.Second
	connectTimeout      = 5 * time.Second
	sqliteBusyTimeout   = 5 * time.Second
	maxPasswordFile     = 4 << 10
	maxOpenConns        = 8
)

// Options are what Open and Migrate need beyond the configuration.
type Options struct {
	// StateDir holds the SQLite file when Config.Path is empty.
	StateDir string
	// Clock stamps writes (default time.Now); times are stored in UTC
	// with microsecond precision.
	Clock func() time.Time
	// Logger (default: discard).
	Logger *slog.Logger
	// PollInterval is the periodic revision check behind Watch (default
	// DefaultPollInterval).
	PollInterval time.Duration
	// OpTimeout bounds each operation, waits for the write lock included
	// (default DefaultOpTimeout).
	OpTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	return o
}

// target is a configuration resolved to what the drivers take.
type target struct {
	driver string
	// path is the SQLite file.
	path string
	// serving and migration are the PostgreSQL users (migration nil when
	// the serving user owns the schema); their password files, re-read for
	// every new connection so a rotated secret is picked up.
	serving, migration     *pgx.ConnConfig
	servingPW, migrationPW string
}

func resolve(cfg Config, opts Options) (*target, error) {
	switch cfg.Driver {
	case "", DriverSQLite:
		if cfg.URL != "" || cfg.MigrationURL != "" {
			return nil, fmt.Errorf("store: driver sqlite takes no url or migrationURL (set driver: postgres)")
		}
		path := cfg.Path
		if path == "" {
			if opts.StateDir == "" {
				return nil, fmt.Errorf("store: driver sqlite needs a path or a state directory")
			}
			path = filepath.Join(opts.StateDir, DefaultFile)
		}
		return &target{driver: DriverSQLite, path: path}, nil
	case DriverPostgres:
		if cfg.URL == "" {
			return nil, fmt.Errorf("store: driver postgres needs url (or MCPFED_DATABASE_URL)")
		}
		t := &target{driver: DriverPostgres, servingPW: cfg.PasswordFile, migrationPW: cfg.MigrationPasswordFile}
		var err error
		if t.serving, err = pgConfig(cfg.URL, "mcpfed"); err != nil {
			return nil, fmt.Errorf("store: url: %w", err)
		}
		if cfg.MigrationURL != "" {
			if t.migration, err = pgConfig(cfg.MigrationURL, "mcpfed-migrate"); err != nil {
				return nil, fmt.Errorf("store: migrationURL: %w", err)
			}
		} else if cfg.MigrationPasswordFile != "" {
			return nil, fmt.Errorf("store: migrationPasswordFile without migrationURL")
		}
		// Fail at start, not at the first connection, on an unreadable file.
		for _, f := range []string{t.servingPW, t.migrationPW} {
			if _, err := readPassword(f); err != nil {
				return nil, err
			}
		}
		return t, nil
	default:
		return nil, fmt.Errorf("store: unknown driver %q (want %s or %s)", cfg.Driver, DriverSQLite, DriverPostgres)
	}
}

// pgConfig parses a connection URL and sets the store's defaults: a bounded
// connection time and an application name operators (and tests) can find
// the store's sessions by.
func pgConfig(raw, app string) (*pgx.ConnConfig, error) {
	if !strings.HasPrefix(raw, "postgres://") && !strings.HasPrefix(raw, "postgresql://") {
		return nil, fmt.Errorf("want a postgres:// URL, got %q", redact(raw))
	}
	c, err := pgx.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", redact(raw), err)
	}
	if c.ConnectTimeout == 0 || c.ConnectTimeout > connectTimeout {
		c.ConnectTimeout = connectTimeout
	}
	if c.RuntimeParams == nil {
		c.RuntimeParams = map[string]string{}
	}
	if _, ok := c.RuntimeParams["application_name"]; !ok {
		c.RuntimeParams["application_name"] = app
	}
	return c, nil
}

// redact drops a password from a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// readPassword reads a password file: its first line, bounded ("" for no
// file).
func readPassword(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("store: password file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", fmt.Errorf("store: password file %s: %w", path, err)
	}
	if len(b) > maxPasswordFile {
		return "", fmt.Errorf("store: password file %s: larger than %d bytes", path, maxPasswordFile)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimRight(string(line), "\r"), nil
}

// withPassword returns a copy of c with the password from file, if any.
func withPassword(c *pgx.ConnConfig, file string) (*pgx.ConnConfig, error) {
	c = c.Copy()
	if file != "" {
		pw, err := readPassword(file)
		if err != nil {
			return nil, err
		}
		c.Password = pw
	}
	return c, nil
}

// openDB opens database/sql over the target: SQLite's file (created 0600:
// it holds who published and reviewed what), or PostgreSQL as the serving
// user or, when migrate is set and there is one, the migration user.
func (t *target) openDB(migrate bool) (*sql.DB, error) {
	if t.driver == DriverSQLite {
		if err := os.MkdirAll(filepath.Dir(t.path), 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		f, err := os.OpenFile(t.path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		_ = f.Close()
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		// Writers take the lock when they begin: no deadlock between two
		// transactions that both read before writing.
		q.Set("_txlock", "immediate")
		db, err := sql.Open("sqlite", "file:"+t.path+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("store: open %s: %w", t.path, err)
		}
		db.SetMaxOpenConns(maxOpenConns)
		return db, nil
	}
	cfg, file := t.serving, t.servingPW
	if migrate && t.migration != nil {
		cfg, file = t.migration, t.migrationPW
	}
	db := stdlib.OpenDB(*cfg, stdlib.OptionBeforeConnect(func(_ context.Context, cc *pgx.ConnConfig) error {
		if file == "" {
			return nil
		}
		pw, err := readPassword(file)
		if err != nil {
			return err
		}
		cc.Password = pw
		return nil
	}))
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns / 2)
	db.SetConnMaxIdleTime(time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	return db, nil
}

// Open opens the configured store, applies pending migrations (under a
// PostgreSQL advisory lock, so replicas starting together never race; with
// the migration user when one is configured) and starts change
// notification. A database that cannot be reached is ErrUnavailable.
func Open(ctx context.Context, cfg Config, opts Options) (Store, error) {
	opts = opts.withDefaults()
	t, err := resolve(cfg, opts)
	if err != nil {
		return nil, err
	}
	db, err := t.openDB(false)
	if err != nil {
		return nil, err
	}
	migrateDB := db
	if t.migration != nil {
		if migrateDB, err = t.openDB(true); err != nil {
			_ = db.Close()
			return nil, err
		}
		defer migrateDB.Close()
	}
	if err := migrateUp(ctx, t.driver, migrateDB, opts.Logger, io.Discard); err != nil {
		_ = db.Close()
		return nil, err
	}
	s, err := newSQLStore(ctx, db, t, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// unavailable wraps a database error as ErrUnavailable unless the caller's
// context ended (then it is the caller's) or the error is already one of
// the store's sentinels.
func unavailable(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrExists), errors.Is(err, ErrNotFound), errors.Is(err, ErrInvalid), errors.Is(err, ErrUnavailable):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("store: %w", ctx.Err())
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
