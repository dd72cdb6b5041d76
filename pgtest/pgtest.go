// Package pgtest runs a throwaway PostgreSQL cluster for tests: initdb in a
// temporary directory, a server listening only on 127.0.0.1 (and a unix
// socket in that directory) on a free port, databases with a chosen
// collation, and an immediate shutdown when the test ends.
//
//	c := pgtest.Start(t, pgtest.Options{})
//	dsn := c.CreateDatabase(t, "registry", pgtest.CollationICUEnUS)
//
// The binaries (initdb, postgres, pg_ctl, psql) are looked up in PATH, then
// in /usr/lib/postgresql/*/bin (Debian's postgresql package), newest first.
// When they are missing the test is skipped, or fails when CI=true, so a CI
// machine without PostgreSQL cannot pass by skipping.
//
// PostgreSQL refuses to run as root. When the test runs as root, every
// binary runs as the unprivileged user `nobody` (or Options.User) and the
// cluster directory is handed to that user.
//
// The cluster trusts every local connection: it is for tests only and never
// listens beyond the loopback interface.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Collations CreateDatabase knows.
const (
	// CollationC orders strings by bytes.
	CollationC = "C"
	// CollationICUEnUS is ICU's language-aware American English collation,
	// close to what glibc's en_US.utf8 (the default of PostgreSQL's Docker
	// images) does: "a_b" before "a-b", case folded at the first level.
	CollationICUEnUS = "en-US"
)

// Superuser is the cluster's superuser role; it needs no password.
const Superuser = "postgres"

// Bounds of the harness's own waits.
const (
	initTimeout  = 60 * time.Second
	readyTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
	queryTimeout = 30 * time.Second
	startTries   = 3
)

// ErrNotFound is reported (as a skip, or a failure on CI) when no
// PostgreSQL installation is found.
var ErrNotFound = errors.New("PostgreSQL binaries (initdb, postgres, pg_ctl, psql) not found in PATH or /usr/lib/postgresql/*/bin")

// ErrNoICU means the server was built without ICU support.
var ErrNoICU = errors.New("PostgreSQL server has no ICU support")

// Options configures Start. The zero value is ready to use.
type Options struct {
	// Dir is where the cluster lives (data directory, socket, log); it is
	// created if missing and, under root, handed to User, whose every
	// parent directory must let User through. Default: a fresh directory
	// under os.TempDir(), removed when the test ends.
	Dir string
	// User runs the binaries when the test runs as root (default "nobody").
	User string
	// BinDir overrides the lookup of the PostgreSQL binaries.
	BinDir string
}

// Cluster is a running PostgreSQL server.
type Cluster struct {
	// Host is 127.0.0.1; Port the TCP port it listens on.
	Host string
	Port int
	// SocketDir holds the unix socket (.s.PGSQL.<Port>).
	SocketDir string
	// DataDir is the cluster's data directory.
	DataDir string
	// BinDir holds the binaries that run it.
	BinDir string
	// Version is the server's major version, e.g. 15.
	Version int

	logFile string
	cred    *syscall.Credential
	proc    *exec.Cmd
	exited  chan struct{}
}

// Start creates and starts a cluster, stopped when the test ends. It skips
// the test (fails it when CI=true) if PostgreSQL is not installed.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := opts.BinDir
	if bin == "" {
		var err error
		if bin, err = FindBinDir(); err != nil {
			Unavailable(t, err)
			return nil
		}
	}
	c, err := start(t, bin, opts)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
		return nil
	}
	return c
}

// Unavailable skips the test for a missing prerequisite, or fails it when
// the CI environment variable is "true": CI installs PostgreSQL, so there a
// skip would hide a broken setup.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: %v (CI=true: not skipping)", err)
		return
	}
	t.Skipf("pgtest: %v; skipping (install Debian's postgresql package)", err)
}

// FindBinDir returns the directory holding initdb, postgres, pg_ctl and
// psql: the one of initdb found in PATH (symbolic links resolved), else the
// newest /usr/lib/postgresql/<major>/bin.
func FindBinDir() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	candidates = append(candidates, dirs...)
	for _, d := range candidates {
		if hasBinaries(d) {
			return d, nil
		}
	}
	return "", ErrNotFound
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func hasBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres", "pg_ctl", "psql"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

func start(t testing.TB, bin string, opts Options) (*Cluster, error) {
	cred, err := credential(opts.User)
	if err != nil {
		return nil, err
	}
	dir := opts.Dir
	if dir == "" {
		// Not t.TempDir: its parent is private to root, and the server may
		// run as another user that must reach the directory.
		dir, err = os.MkdirTemp("", "pgtest-")
		if err != nil {
			return nil, fmt.Errorf("create cluster directory: %w", err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create cluster directory: %w", err)
	}
	c := &Cluster{
		Host:      "127.0.0.1",
		SocketDir: filepath.Join(dir, "socket"),
		DataDir:   filepath.Join(dir, "data"),
		BinDir:    bin,
		logFile:   filepath.Join(dir, "postgres.log"),
		cred:      cred,
	}
	if err := os.MkdirAll(c.SocketDir, 0o700); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if cred != nil {
		for _, p := range []string{dir, c.SocketDir} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("hand %s to uid %d: %w", p, cred.Uid, err)
			}
		}
	}
	if err := c.initdb(); err != nil {
		return nil, err
	}
	// A free port can be taken between probing and binding: retry a few.
	var lastErr error
	for range startTries {
		if lastErr = c.run(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return nil, lastErr
	}
	t.Cleanup(c.stop)
	if c.Version, err = c.serverVersion(); err != nil {
		return nil, err
	}
	return c, nil
}

// credential returns who runs the binaries: nil (the current user) unless
// the process is root, which PostgreSQL refuses.
func credential(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if name == "" {
		name = "nobody"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("look up user %q to run PostgreSQL as (it refuses root): %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil || uid == 0 {
		return nil, fmt.Errorf("user %q (uid %s) cannot run PostgreSQL", name, u.Uid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// command prepares one of the cluster's binaries, run as the cluster's user
// with a minimal environment (no PG* variables leak in from the caller).
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C", "LC_ALL=C", "HOME=" + filepath.Dir(c.DataDir), "TZ=UTC"}
	cmd.Dir = filepath.Dir(c.DataDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (c *Cluster) initdb() error {
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	defer cancel()
	cmd := c.command(ctx, "initdb",
		"--pgdata", c.DataDir,
		"--username", Superuser,
		"--auth", "trust",
		"--encoding", "UTF8",
		"--locale", "C",
		"--no-sync",
		"--no-instructions",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", c.DataDir, err, out)
	}
	return nil
}

// run starts postgres on a free port as a child process and waits until it
// accepts connections.
func (c *Cluster) run() error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	return c.runOn(port)
}

// runOn starts postgres on the given port (run's free one, or the port a
// stopped cluster listened on before) and waits until it accepts
// connections.
func (c *Cluster) runOn(port int) error {
	log, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	defer log.Close()
	// Not CommandContext: the server outlives this call; stop ends it.
	cmd := c.command(context.Background(), "postgres",
		"-D", c.DataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+c.SocketDir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=100",
		"-c", "shared_buffers=32MB",
	)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	// The goroutine closes its own channel: a later runOn replaces c.exited.
	exited := make(chan struct{})
	c.Port, c.proc, c.exited = port, cmd, exited
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := c.waitReady(); err != nil {
		c.kill()
		return fmt.Errorf("%w; server log:\n%s", err, c.Log())
	}
	return nil
}

// FreePort returns a TCP port free on 127.0.0.1 right now, for a server
// that must be told its port before it listens.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls until a query succeeds, the server exits, or the bound
// passes.
func (c *Cluster) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited during start")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, lastErr = c.psql(ctx, "postgres", "SELECT 1")
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited during start")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("postgres not ready after %s: %w", readyTimeout, lastErr)
}

// stop shuts the server down immediately (pg_ctl stop -m immediate), then
// kills it if it is still there after the bound.
func (c *Cluster) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	_ = c.command(ctx, "pg_ctl", "stop", "-D", c.DataDir, "-m", "immediate", "-w", "-t", "10").Run()
	select {
	case <-c.exited:
	case <-ctx.Done():
		c.kill()
	}
}

func (c *Cluster) kill() {
	if c.proc == nil || c.proc.Process == nil {
		return
	}
	// The whole process group: the postmaster and any backend it forked.
	_ = syscall.Kill(-c.proc.Process.Pid, syscall.SIGKILL)
	select {
	case <-c.exited:
	case <-time.After(stopTimeout):
	}
}

// Log returns the server's log so far (for failure messages).
func (c *Cluster) Log() string {
	b, err := os.ReadFile(c.logFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return string(b)
}

// DSN returns a URL for database db (libpq and pgx understand it).
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", Superuser, net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), db)
}

// psql runs one SQL script in database db over TCP and returns its
// unaligned, tuples-only output.
func (c *Cluster) psql(ctx context.Context, db, sql string) (string, error) {
	cmd := c.command(ctx, "psql",
		"--no-psqlrc", "--quiet", "--tuples-only", "--no-align",
		"--set", "ON_ERROR_STOP=1",
		"--host", c.Host, "--port", strconv.Itoa(c.Port),
		"--username", Superuser, "--dbname", db,
		"--command", sql,
	)
	cmd.Env = append(cmd.Env, "PGCONNECT_TIMEOUT=2")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql %q: %w: %s", sql, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimRight(stdout.String(), "\n"), nil
}

// Query runs SQL in database db and returns psql's unaligned output: one
// row a line, columns separated by "|". It fails the test on error.
func (c *Cluster) Query(t testing.TB, db, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	out, err := c.psql(ctx, db, sql)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return out
}

func (c *Cluster) serverVersion() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	out, err := c.psql(ctx, "postgres", "SHOW server_version_num")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return 0, fmt.Errorf("parse server_version_num %q: %w", out, err)
	}
	return n / 10000, nil
}

// SupportsICU reports whether the server can create ICU databases
// (PostgreSQL 15 or later, built with ICU).
func (c *Cluster) SupportsICU() (bool, error) {
	if c.Version < 15 {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	out, err := c.psql(ctx, "postgres", "SELECT count(*) FROM pg_collation WHERE collprovider = 'i'")
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) != "0", nil
}

// CreateDatabase creates database name (a plain identifier: letters,
// digits, _) with the given collation, CollationC or CollationICUEnUS, and
// returns its DSN. An ICU collation on a server without ICU skips the test
// (fails it when CI=true).
func (c *Cluster) CreateDatabase(t testing.TB, name, collation string) string {
	t.Helper()
	if !validIdent(name) {
		t.Fatalf("pgtest: database name %q: want [a-z_][a-z0-9_]*", name)
	}
	var sql string
	switch collation {
	case CollationC:
		sql = fmt.Sprintf("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'", name)
	case CollationICUEnUS:
		ok, err := c.SupportsICU()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		if !ok {
			Unavailable(t, fmt.Errorf("%w (PostgreSQL %d): cannot create an %s database", ErrNoICU, c.Version, collation))
			return ""
		}
		// LOCALE 'C' covers the libc categories PostgreSQL still wants;
		// ordering comes from ICU.
		sql = fmt.Sprintf("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE '%s'", name, collation)
	default:
		t.Fatalf("pgtest: unknown collation %q (want %q or %q)", collation, CollationC, CollationICUEnUS)
	}
	c.Query(t, "postgres", sql)
	return c.DSN(name)
}

func validIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
