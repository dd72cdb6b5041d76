package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// sqlStore is the Store on database/sql, for SQLite (modernc.org/sqlite)
// and PostgreSQL (pgx's database/sql driver): the same statements, written
// with ? placeholders and rebound for PostgreSQL, with times as
// microseconds on SQLite.
type sqlStore struct {
	db       *sql.DB
	postgres bool
	clock    func() time.Time
	log      *slog.Logger
	timeout  time.Duration
	poll     time.Duration
	// writeSem serializes this process's SQLite writers, waiting with the
	// caller's context instead of SQLite's busy loop (nil on PostgreSQL,
	// where the revision row's lock serializes every replica).
	writeSem chan struct{}
	notify   *notifier

	// listen is the PostgreSQL listener's connection configuration (nil on
	// SQLite) and its password file.
	listen   *pgx.ConnConfig
	listenPW string

	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

func newSQLStore(ctx context.Context, db *sql.DB, t *target, opts Options) (*sqlStore, error) {
	s := &sqlStore{
		db:       db,
		postgres: t.driver == DriverPostgres,
		clock:    opts.Clock,
		log:      opts.Logger.With("component", "store", "driver", t.driver),
		timeout:  opts.OpTimeout,
		poll:     opts.PollInterval,
		notify:   newNotifier(),
	}
	if s.postgres {
		s.listen, s.listenPW = t.serving.Copy(), t.servingPW
		s.listen.RuntimeParams["application_name"] = "mcpfed-listen"
	} else {
		s.writeSem = make(chan struct{}, 1)
	}
	// The revision at start: Watch reports changes after it.
	rev, err := s.Revision(ctx)
	if err != nil {
		return nil, err
	}
	s.notify.observe(rev)
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Go(func() { s.pollLoop(bg) })
	if s.postgres {
		s.wg.Go(func() { s.listenLoop(bg) })
	}
	return s, nil
}

// q rebinds a statement's ? placeholders to PostgreSQL's $n. The
// statements are the store's own and hold no ? in literals.
func (s *sqlStore) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ts is a time as the database takes it.
func (s *sqlStore) ts(t time.Time) any {
	if s.postgres {
		return t
	}
	return t.UnixMicro()
}

// now is the clock in UTC at the precision both databases keep.
func (s *sqlStore) now() time.Time {
	return s.clock().UTC().Truncate(time.Microsecond)
}

// dbTime scans a stored time: a timestamptz, or SQLite's microseconds.
type dbTime struct{ t *time.Time }

func (d dbTime) Scan(v any) error {
	switch x := v.(type) {
	case time.Time:
		*d.t = x.UTC()
	case int64:
		*d.t = time.UnixMicro(x).UTC()
	case nil:
		*d.t = time.Time{}
	default:
		return fmt.Errorf("store: unexpected time value %T", v)
	}
	return nil
}

// op bounds one operation.
func (s *sqlStore) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// errNoChange ends a write transaction without committing: nothing
// differed, so nothing is recorded.
var errNoChange = errors.New("no change")

// write runs fn in a transaction that first takes the write lock and
// bumps the revision, then appends fn's Change to the history with the
// revision as its seq (and, on PostgreSQL, notifies the other replicas at
// commit). Watchers in this process hear of it once it is committed.
func (s *sqlStore) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx, now time.Time) (Change, error)) error {
	opCtx, cancel := s.op(ctx)
	defer cancel()
	if s.writeSem != nil {
		select {
		case s.writeSem <- struct{}{}:
			defer func() { <-s.writeSem }()
		case <-opCtx.Done():
			return unavailable(ctx, fmt.Errorf("wait for the write lock: %w", opCtx.Err()))
		}
	}
	rev, err := s.writeTx(opCtx, fn)
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err != nil {
		return unavailable(ctx, err)
	}
	s.notify.committed(rev)
	return nil
}

func (s *sqlStore) writeTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx, now time.Time) (Change, error)) (rev int64, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := tx.QueryRowContext(ctx, `UPDATE mcpfed_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision`).Scan(&rev); err != nil {
		return 0, fmt.Errorf("bump revision: %w", err)
	}
	now := s.now()
	c, err := fn(ctx, tx, now)
	if err != nil {
		return 0, err
	}
	if len(c.Detail) == 0 {
		c.Detail = []byte("{}")
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO mcpfed_changes (seq, at, who, kind, server, version, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		rev, s.ts(now), c.Who, c.Kind, c.Server, c.Version, string(c.Detail)); err != nil {
		return 0, fmt.Errorf("append history: %w", err)
	}
	if s.postgres {
		// Delivered at commit, to every listening replica.
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, strconv.FormatInt(rev, 10)); err != nil {
			return 0, fmt.Errorf("notify: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return rev, nil
}

// Revision implements Store.
func (s *sqlStore) Revision(ctx context.Context) (int64, error) {
	opCtx, cancel := s.op(ctx)
	defer cancel()
	var rev int64
	if err := s.db.QueryRowContext(opCtx, `SELECT revision FROM mcpfed_revision WHERE id = 1`).Scan(&rev); err != nil {
		return 0, unavailable(ctx, fmt.Errorf("read revision: %w", err))
	}
	return rev, nil
}

// Watch implements Store.
func (s *sqlStore) Watch(ctx context.Context) <-chan struct{} {
	return s.notify.watch(ctx)
}

// Close stops change notification, closes every Watch channel and the
// database.
func (s *sqlStore) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.wg.Wait()
		s.notify.close()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// checkLen reports a field longer than max (or empty, when required) as
// ErrInvalid.
func checkLen(field, v string, max int, required bool) error {
	switch {
	case required && v == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
	case len(v) > max:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalid, field, max)
	}
	return nil
}
