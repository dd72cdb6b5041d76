package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcpfed/mcpfed/pgtest"
)

// TestPostgres runs everything PostgreSQL on one throwaway cluster (a few
// seconds to start): the behaviour table and the PostgreSQL-only tests in
// parallel, each on its own database, then the restart test alone. Without
// PostgreSQL installed it is skipped, or fails when CI=true (pgtest).
func TestPostgres(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	t.Run("shared", func(t *testing.T) {
		t.Run("behaviour", func(t *testing.T) {
			t.Parallel()
			runBehaviour(t, postgresBackend(c))
		})
		for _, tc := range []struct {
			name string
			run  func(t *testing.T, c *pgtest.Cluster)
		}{
			{"TwoStoresSeeEachOthersWrites", testTwoStores},
			{"ReplicasStartingTogetherMigrateOnce", testConcurrentOpen},
			{"KilledConnectionIsUnavailableThenRecovers", testKilledConnection},
			{"MigrationUserAndServingUser", testMigrationUser},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, c)
			})
		}
	})
	// Alone on the cluster: it stops the server.
	t.Run("DatabaseRestartIsUnavailableThenRecovers", func(t *testing.T) { testRestart(t, c) })
}

func pgConfigT(url string) Config { return Config{Driver: DriverPostgres, URL: url} }

// sessions counts the database's sessions with the given application name.
func sessions(t *testing.T, c *pgtest.Cluster, db, app string) int {
	t.Helper()
	out := c.Query(t, "postgres", fmt.Sprintf("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND application_name = '%s'", db, app))
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("count sessions: %q", out)
	}
	return n
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testTwoStores(t *testing.T, c *pgtest.Cluster) {
	db, url := newDatabase(t, c)
	a := openT(t, pgConfigT(url), Options{})
	// b hears of writes only through LISTEN/NOTIFY; p only by polling.
	b := openT(t, pgConfigT(url), Options{PollInterval: time.Hour})
	ctx := ctxT(t)
	wb := b.Watch(ctx)
	wa := a.Watch(ctx)
	waitFor(t, 5*time.Second, "both listeners connected", func() bool { return sessions(t, c, db, "mcpfed-listen") == 2 })

	start := time.Now()
	mustPublish(t, a, "com.acme/a", "1.0.0")
	waitSignal(t, wb, 2*time.Second, "b after a's publish")
	t.Logf("b heard of a's publish after %s", time.Since(start).Round(time.Millisecond))
	if all, err := b.Servers(ctx); err != nil || len(all) != 1 || all[0].Publisher != "alice" {
		t.Errorf("b reads %+v (%v)", all, err)
	}
	drain(wa)
	if err := b.PutDecision(ctx, Decision{ServerName: "com.acme/a", Versions: "*", Decision: DecisionApproved, Who: "rev"}); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, wa, 2*time.Second, "a after b's decision")
	if ds, err := a.Decisions(ctx); err != nil || len(ds) != 1 {
		t.Errorf("a reads decisions %+v (%v)", ds, err)
	}

	// A write whose notification is lost (no NOTIFY at all): the periodic
	// check finds it; the listen-only store does not.
	p := openT(t, pgConfigT(url), Options{PollInterval: 200 * time.Millisecond})
	wp := p.Watch(ctx)
	// b's own notification of its decision may still be on its way.
	time.Sleep(200 * time.Millisecond)
	drain(wb)
	c.Query(t, db, "UPDATE mcpfed_revision SET revision = revision + 1")
	waitSignal(t, wp, 2*time.Second, "polling store after a silent write")
	select {
	case <-wb:
		t.Error("the listen-only store signalled a write nobody notified")
	case <-time.After(300 * time.Millisecond):
	}

	// A lost listener reconnects and hears the next write.
	c.Query(t, "postgres", fmt.Sprintf("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' AND application_name = 'mcpfed-listen'", db))
	waitFor(t, 5*time.Second, "listeners reconnected", func() bool { return sessions(t, c, db, "mcpfed-listen") == 3 })
	drain(wb)
	mustPublish(t, a, "com.acme/a", "2.0.0")
	waitSignal(t, wb, 2*time.Second, "b after its listener reconnected")
}

func testConcurrentOpen(t *testing.T, c *pgtest.Cluster) {
	db, url := newDatabase(t, c)
	const n = 5
	var wg sync.WaitGroup
	stores := make([]Store, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(ctxT(t), pgConfigT(url), Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
			continue
		}
		if err := stores[i].Close(); err != nil {
			t.Error(err)
		}
	}
	if got := c.Query(t, db, "SELECT count(*) FROM "+versionTable+" WHERE version_id = 1"); got != "1" {
		t.Errorf("migration 1 recorded %s times, want once", got)
	}
}

// holdWriteLock holds the revision row's lock from another session until
// the returned function is called, so the store's next write waits on it.
func holdWriteLock(t *testing.T, url string) (release func()) {
	t.Helper()
	ctx := ctxT(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT revision FROM mcpfed_revision FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = tx.Rollback(ctx)
			_ = conn.Close(ctx)
		})
	}
	t.Cleanup(release)
	return release
}

func testKilledConnection(t *testing.T, c *pgtest.Cluster) {
	db, url := newDatabase(t, c)
	s := openT(t, pgConfigT(url), Options{})
	other := openT(t, pgConfigT(url), Options{})
	ctx := ctxT(t)
	mustPublish(t, s, "com.acme/a", "1.0.0")

	// A write in flight when its backend is killed: ErrUnavailable.
	release := holdWriteLock(t, url)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Publish(ctx, Server{Name: "com.acme/a", Version: "2.0.0", Server: serverJSON("com.acme/a", "2.0.0")}, "alice")
		errc <- err
	}()
	waitFor(t, 5*time.Second, "the write waits on the lock", func() bool {
		out := c.Query(t, "postgres", fmt.Sprintf("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND application_name = 'mcpfed' AND wait_event_type = 'Lock'", db))
		return out != "0"
	})
	c.Query(t, "postgres", fmt.Sprintf("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s' AND application_name LIKE 'mcpfed%%'", db))
	if err := <-errc; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("write on a killed connection: %v, want ErrUnavailable", err)
	}
	release()

	// Every session was killed (idle pool connections and listeners too):
	// the store recovers by itself, nothing is lost.
	wo := other.Watch(ctx)
	eventually(t, 10*time.Second, "publish after the kill", func() error {
		_, err := s.Publish(ctx, Server{Name: "com.acme/a", Version: "2.0.0", Server: serverJSON("com.acme/a", "2.0.0")}, "alice")
		if errors.Is(err, ErrExists) {
			return nil
		}
		return err
	})
	waitSignal(t, wo, 2*time.Second, "other store after the kill")
	all, err := other.Servers(ctx)
	if err != nil || len(all) != 2 || !all[1].IsLatest {
		t.Errorf("after the kill: %+v (%v), want 1.0.0 and latest 2.0.0", all, err)
	}
	if ch, _ := other.Changes(ctx, 0, 0); len(ch) != 2 || ch[1].Seq != 2 {
		t.Errorf("history after the kill: %+v", ch)
	}
}

func testMigrationUser(t *testing.T, c *pgtest.Cluster) {
	db := fmt.Sprintf("store_%d", dbSeq.Add(1))
	owner, app := db+"_owner", db+"_app"
	// The README's setup, as a superuser.
	c.Query(t, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'owner-secret'", owner))
	c.Query(t, "postgres", fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'app-secret'", app))
	c.Query(t, "postgres", fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, owner))
	c.Query(t, db, fmt.Sprintf(`ALTER SCHEMA public OWNER TO %[1]s;
		REVOKE ALL ON SCHEMA public FROM PUBLIC;
		GRANT USAGE ON SCHEMA public TO %[2]s;
		ALTER DEFAULT PRIVILEGES FOR ROLE %[1]s IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %[2]s;`, owner, app))

	dir := t.TempDir()
	opw, apw := filepath.Join(dir, "owner"), filepath.Join(dir, "app")
	for f, pw := range map[string]string{opw: "owner-secret\n", apw: "app-secret\n"} {
		if err := os.WriteFile(f, []byte(pw), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	url := func(user string) string {
		return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", user, net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), db)
	}
	cfg := Config{Driver: DriverPostgres, URL: url(app), PasswordFile: apw, MigrationURL: url(owner), MigrationPasswordFile: opw}
	s := openT(t, cfg, Options{})
	mustPublish(t, s, "com.acme/a", "1.0.0")
	setStatus(t, s, "com.acme/a", "1.0.0", StatusDeprecated)
	if err := s.PutDecision(ctxT(t), Decision{ServerName: "com.acme/a", Versions: "*", Decision: DecisionApproved}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDecision(ctxT(t), "com.acme/a", "", "rev"); err != nil {
		t.Fatal(err)
	}
	if got := c.Query(t, db, "SELECT DISTINCT tableowner FROM pg_tables WHERE tablename LIKE 'mcpfed_%'"); got != owner {
		t.Errorf("tables owned by %q, want the migration user %s", got, owner)
	}
	if st := migrate(t, cfg, Options{}, MigrateStatus, 0); !strings.Contains(st, "applied") {
		t.Errorf("status as the migration user:\n%s", st)
	}

	// The serving user alone opens the migrated store (nothing pending),
	// but cannot change the schema or the history.
	serving := Config{Driver: DriverPostgres, URL: url(app), PasswordFile: apw}
	s2 := openT(t, serving, Options{})
	if all, err := s2.Servers(ctxT(t)); err != nil || len(all) != 1 {
		t.Errorf("serving user reads %+v (%v)", all, err)
	}
	var out bytes.Buffer
	if err := Migrate(ctxT(t), serving, Options{}, MigrateDown, 1, &out); err == nil || !strings.Contains(err.Error(), "must be owner") {
		t.Errorf("migrate down as the serving user: %v, want a refusal (must be owner)", err)
	}
	conn, err := pgx.Connect(ctxT(t), url(app))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{"CREATE TABLE mcpfed_x (a int)", "DELETE FROM mcpfed_changes", "UPDATE mcpfed_changes SET who = 'x'"} {
		if _, err := conn.Exec(ctxT(t), q); err == nil {
			t.Errorf("serving user may %s", q)
		}
	}
}

func testRestart(t *testing.T, c *pgtest.Cluster) {
	_, url := newDatabase(t, c)
	a := openT(t, pgConfigT(url), Options{OpTimeout: 3 * time.Second})
	b := openT(t, pgConfigT(url), Options{})
	ctx := ctxT(t)
	mustPublish(t, a, "com.acme/a", "1.0.0")
	if err := a.PutDecision(ctx, Decision{ServerName: "com.acme/a", Versions: "*", Decision: DecisionApproved}); err != nil {
		t.Fatal(err)
	}
	wb := b.Watch(ctx)
	time.Sleep(100 * time.Millisecond)
	drain(wb)

	c.Stop(t)
	start := time.Now()
	if _, err := a.Publish(ctx, Server{Name: "com.acme/a", Version: "2.0.0", Server: []byte(`{}`)}, "alice"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("publish while the database is down: %v, want ErrUnavailable", err)
	}
	if _, err := a.Servers(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("read while the database is down: %v, want ErrUnavailable", err)
	}
	if _, err := b.Revision(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("revision while the database is down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("failing took %s while the database was down", d)
	}
	select {
	case _, ok := <-wb:
		if !ok {
			t.Error("watch channel closed while the database was down")
		}
	default:
	}

	c.Resume(t)
	eventually(t, 15*time.Second, "publish after the restart", func() error {
		_, err := a.Publish(ctx, Server{Name: "com.acme/a", Version: "2.0.0", Server: serverJSON("com.acme/a", "2.0.0")}, "alice")
		if errors.Is(err, ErrExists) {
			return nil
		}
		return err
	})
	waitSignal(t, wb, 2*time.Second, "b after the restart")
	all, err := b.Servers(ctx)
	ds, _ := b.Decisions(ctx)
	ch, _ := b.Changes(ctx, 0, 0)
	if err != nil || len(all) != 2 || len(ds) != 1 || len(ch) != 3 {
		t.Errorf("after the restart: %d versions (%v), %d decisions, %d changes; want 2, 1, 3", len(all), err, len(ds), len(ch))
	}
}
