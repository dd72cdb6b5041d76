package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func migrate(t *testing.T, cfg Config, opts Options, op string, n int) string {
	t.Helper()
	var out bytes.Buffer
	if err := Migrate(ctxT(t), cfg, opts, op, n, &out); err != nil {
		t.Fatalf("migrate %s %d: %v\n%s", op, n, err, out.String())
	}
	return out.String()
}

func testMigrateUpDownUp(t *testing.T, b backend) {
	cfg, opts := b.fresh(t)
	if st := migrate(t, cfg, opts, MigrateStatus, 0); !strings.Contains(st, "pending") || strings.Contains(st, "applied") {
		t.Errorf("status of an empty database:\n%s", st)
	}
	if up := migrate(t, cfg, opts, MigrateUp, 0); !strings.Contains(up, "00001_init.sql") {
		t.Errorf("up reported:\n%s", up)
	}
	if up := migrate(t, cfg, opts, MigrateUp, 0); up != "" {
		t.Errorf("up with nothing pending reported:\n%s", up)
	}
	if st := migrate(t, cfg, opts, MigrateStatus, 0); !strings.Contains(st, "applied") || strings.Contains(st, "pending") {
		t.Errorf("status after up:\n%s", st)
	}
	s := openT(t, cfg, opts)
	mustPublish(t, s, "com.acme/a", "1.0.0")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if down := migrate(t, cfg, opts, MigrateDown, 1); !strings.Contains(down, "down") {
		t.Errorf("down reported:\n%s", down)
	}
	if st := migrate(t, cfg, opts, MigrateStatus, 0); !strings.Contains(st, "pending") {
		t.Errorf("status after down:\n%s", st)
	}
	if down := migrate(t, cfg, opts, MigrateDown, 5); !strings.Contains(down, "no migration left") {
		t.Errorf("down past the start reported:\n%s", down)
	}
	migrate(t, cfg, opts, MigrateUp, 0)
	s = openT(t, cfg, opts)
	if all, err := s.Servers(ctxT(t)); err != nil || len(all) != 0 {
		t.Errorf("after down and up: %d versions (%v), want an empty store", len(all), err)
	}
	mustPublish(t, s, "com.acme/a", "1.0.0")
}

func TestMigrateRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, opts := Config{Driver: DriverSQLite}, Options{StateDir: dir}
	for _, c := range []struct {
		op string
		n  int
	}{{"sideways", 0}, {MigrateDown, 0}, {MigrateDown, -1}, {MigrateDown, maxDown + 1}} {
		if err := Migrate(ctxT(t), cfg, opts, c.op, c.n, nil); err == nil {
			t.Errorf("Migrate(%s, %d) succeeded", c.op, c.n)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, DefaultFile)); !os.IsNotExist(err) {
		t.Errorf("a refused migrate created the database (%v)", err)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), maxPasswordFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		opts    Options
		wantErr string
		check   func(t *testing.T, tg *target)
	}{
		{"sqlite default file", Config{}, Options{StateDir: dir}, "", func(t *testing.T, tg *target) {
			if tg.driver != DriverSQLite || tg.path != filepath.Join(dir, DefaultFile) {
				t.Errorf("%+v", tg)
			}
		}},
		{"sqlite path", Config{Driver: "sqlite", Path: "/x/y.db"}, Options{}, "", func(t *testing.T, tg *target) {
			if tg.path != "/x/y.db" {
				t.Errorf("path %s", tg.path)
			}
		}},
		{"sqlite nowhere", Config{}, Options{}, "state directory", nil},
		{"sqlite with url", Config{URL: "postgres://h/db"}, Options{StateDir: dir}, "set driver: postgres", nil},
		{"unknown driver", Config{Driver: "mysql"}, Options{}, "unknown driver", nil},
		{"postgres without url", Config{Driver: "postgres"}, Options{}, "needs url", nil},
		{"postgres not a url", Config{Driver: "postgres", URL: "host=db user=x"}, Options{}, "postgres:// URL", nil},
		{"postgres", Config{Driver: "postgres", URL: "postgres://app@db:5432/mcpfed", PasswordFile: pw,
			MigrationURL: "postgres://owner@db/mcpfed", MigrationPasswordFile: pw}, Options{}, "", func(t *testing.T, tg *target) {
			if tg.serving.User != "app" || tg.migration.User != "owner" || tg.serving.RuntimeParams["application_name"] != "mcpfed" ||
				tg.serving.ConnectTimeout != connectTimeout {
				t.Errorf("serving %+v migration %+v", tg.serving, tg.migration)
			}
			c, err := withPassword(tg.serving, tg.servingPW)
			if err != nil || c.Password != "s3cret" || tg.serving.Password != "" {
				t.Errorf("password %q (%v); the parsed configuration keeps %q", c.Password, err, tg.serving.Password)
			}
		}},
		{"postgres missing password file", Config{Driver: "postgres", URL: "postgres://app@db/x", PasswordFile: filepath.Join(dir, "none")}, Options{}, "password file", nil},
		{"postgres oversized password file", Config{Driver: "postgres", URL: "postgres://app@db/x", PasswordFile: big}, Options{}, "larger than", nil},
		{"migration password without url", Config{Driver: "postgres", URL: "postgres://app@db/x", MigrationPasswordFile: pw}, Options{}, "without migrationURL", nil},
		{"password kept out of messages", Config{Driver: "postgres", URL: "postgres://app:hunter2@db:notaport/x"}, Options{}, "store: url", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg, err := resolve(tt.cfg, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("err %v, want one saying %q (and no password)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, tg)
		})
	}
}

// SQLite: the file is private to mcpfed's user.
func TestSQLiteFileMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	openT(t, Config{}, Options{StateDir: filepath.Join(dir, "state")})
	fi, err := os.Stat(filepath.Join(dir, "state", DefaultFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// A writer that cannot get SQLite's lock (another process holds it) gives
// up within OpTimeout with ErrUnavailable, and the store works once the
// lock is released.
func TestSQLiteLockedIsUnavailable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openT(t, Config{}, Options{StateDir: dir, OpTimeout: 300 * time.Millisecond})
	other, err := sql.Open("sqlite", "file:"+filepath.Join(dir, DefaultFile)+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Publish(ctxT(t), Server{Name: "com.acme/a", Version: "1", Server: []byte(`{}`)}, "")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("publish while locked: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("publish while locked took %s, want about the 300ms bound", d)
	}
	// The reader is not blocked by a writer (WAL).
	if _, err := s.Servers(ctxT(t)); err != nil {
		t.Errorf("read while locked: %v", err)
	}
	_ = tx.Rollback()
	mustPublish(t, s, "com.acme/a", "1")

	// A caller's own cancellation is the caller's, not ErrUnavailable.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Servers(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Errorf("cancelled read: %v, want context.Canceled", err)
	}
}
