package pgtest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The two collations must order the same names differently, or the
// integration tests built on them would test nothing.
func TestCollationsOrderDifferently(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{})
	if c.Version < 15 {
		t.Skipf("PostgreSQL %d: ICU databases need 15 or later", c.Version)
	}
	values := "('io.github.acme/a-b'),('io.github.acme/a_b'),('io.github.acme/Zeta'),('io.github.acme/alpha'),('io.github.acme/a.b'),('io.github.acme/a10'),('io.github.acme/a9')"
	query := "SELECT x FROM (VALUES " + values + ") v(x) ORDER BY x"

	tests := []struct {
		collation string
		want      []string
	}{
		{CollationC, []string{
			"io.github.acme/Zeta", "io.github.acme/a-b", "io.github.acme/a.b", "io.github.acme/a10",
			"io.github.acme/a9", "io.github.acme/a_b", "io.github.acme/alpha",
		}},
		// ICU root rules: punctuation before digits before letters, case
		// only breaks ties.
		{CollationICUEnUS, []string{
			"io.github.acme/a_b", "io.github.acme/a-b", "io.github.acme/a.b", "io.github.acme/a10",
			"io.github.acme/a9", "io.github.acme/alpha", "io.github.acme/Zeta",
		}},
	}
	for i, tt := range tests {
		db := "order" + strconv.Itoa(i)
		dsn := c.CreateDatabase(t, db, tt.collation)
		if !strings.HasSuffix(dsn, "/"+db+"?sslmode=disable") || !strings.Contains(dsn, "@127.0.0.1:") {
			t.Errorf("DSN %q: want a 127.0.0.1 URL for database %s", dsn, db)
		}
		got := strings.Split(c.Query(t, db, query), "\n")
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("collation %s orders\n  %q\nwant\n  %q", tt.collation, got, tt.want)
		}
	}
}

func TestListensOnLoopbackAndSocketAndStops(t *testing.T) {
	t.Parallel()
	var c *Cluster
	t.Run("cluster", func(t *testing.T) {
		c = Start(t, Options{})
		if c.Host != "127.0.0.1" || c.Port == 0 {
			t.Fatalf("listens on %s:%d, want 127.0.0.1 and a port", c.Host, c.Port)
		}
		if got := c.Query(t, "postgres", "SHOW listen_addresses"); got != "127.0.0.1" {
			t.Errorf("listen_addresses = %q, want 127.0.0.1", got)
		}
		if got := c.Query(t, "postgres", "SHOW fsync"); got != "off" {
			t.Errorf("fsync = %q, want off (fast throwaway cluster)", got)
		}
		sock := filepath.Join(c.SocketDir, ".s.PGSQL."+strconv.Itoa(c.Port))
		if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
			t.Errorf("unix socket %s: %v", sock, err)
		}
		if os.Geteuid() == 0 {
			if got := c.Query(t, "postgres", "SELECT current_setting('data_directory') IS NOT NULL"); got != "t" {
				t.Errorf("query as superuser: %q", got)
			}
		}
	})
	if c == nil {
		return
	}
	// The subtest's cleanup stopped the server: the port no longer answers
	// and the process is gone.
	select {
	case <-c.exited:
	default:
		t.Fatal("postgres still running after the test's cleanup")
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), time.Second)
	if err == nil {
		conn.Close()
		t.Errorf("port %d still accepts connections after stop", c.Port)
	}
}

func TestOptionsDir(t *testing.T) {
	t.Parallel()
	if _, err := FindBinDir(); err != nil {
		Unavailable(t, err)
	}
	base, err := os.MkdirTemp("", "pgtest-dir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "cluster")
	c := Start(t, Options{Dir: dir})
	if c.DataDir != filepath.Join(dir, "data") {
		t.Errorf("DataDir = %s, want under %s", c.DataDir, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Errorf("no cluster in the given directory: %v", err)
	}
}

func TestCreateDatabaseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct{ name string }{
		{""}, {"Upper"}, {"1db"}, {"a-b"}, {"x; DROP DATABASE postgres"}, {strings.Repeat("a", 64)},
	}
	for _, tt := range tests {
		if validIdent(tt.name) {
			t.Errorf("validIdent(%q) = true, want false", tt.name)
		}
	}
	for _, ok := range []string{"a", "registry_c", "db2"} {
		if !validIdent(ok) {
			t.Errorf("validIdent(%q) = false, want true", ok)
		}
	}
}

func TestFindBinDirPrefersPathAndChecksBinaries(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	if hasBinaries(empty) {
		t.Errorf("hasBinaries(%s) = true for an empty directory", empty)
	}
	if got := majorOf("/usr/lib/postgresql/15/bin"); got != 15 {
		t.Errorf("majorOf = %d, want 15", got)
	}
}

// A stopped cluster refuses connections; resumed, it answers on the same
// port with its data intact.
func TestStopResume(t *testing.T) {
	t.Parallel()
	c := Start(t, Options{})
	c.Query(t, "postgres", "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
	port := c.Port
	c.Stop(t)
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(c.Host, strconv.Itoa(port)), time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("port %d accepts connections while stopped", port)
	}
	c.Resume(t)
	if c.Port != port {
		t.Errorf("resumed on port %d, want %d", c.Port, port)
	}
	if got := c.Query(t, "postgres", "SELECT x FROM kept"); got != "42" {
		t.Errorf("after resume: %q, want 42", got)
	}
}
