package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpfed/mcpfed/pgtest"
)

// TestReplicasOnPostgreSQL: two gateways sharing one PostgreSQL database
// serve each other's publishes and decisions within 2 s; `mcpfed migrate`
// runs the migrations up, down and up again. Without PostgreSQL installed
// it is skipped, or fails when CI=true (pgtest).
func TestReplicasOnPostgreSQL(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t, pgtest.Options{})
	dsn := c.CreateDatabase(t, "cmd_replicas", pgtest.CollationC)

	// Migrations by hand first, through the command (flags before and
	// after the operation).
	migrateEnv := plainVars("MCPFED_STATE_DIR", t.TempDir(), "MCPFED_DATABASE_URL", dsn, "MCPFED_LOG_LEVEL", "error")
	migrateCmd := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(t.Context(), append([]string{"migrate"}, args...), &out, &errOut, migrateEnv); code != want {
			t.Fatalf("migrate %v: exit %d, want %d\n%s%s", args, code, want, out.String(), errOut.String())
		}
		return out.String()
	}
	if st := migrateCmd(exitOK, "status"); !strings.Contains(st, "pending") {
		t.Fatalf("status before up:\n%s", st)
	}
	migrateCmd(exitOK, "up")
	if st := migrateCmd(exitOK, "-log-level", "error", "status"); strings.Contains(st, "pending") || !strings.Contains(st, "applied") {
		t.Fatalf("status after up:\n%s", st)
	}
	migrateCmd(exitOK, "down", "1")
	if st := migrateCmd(exitOK, "status"); !strings.Contains(st, "pending") {
		t.Fatalf("status after down:\n%s", st)
	}
	migrateCmd(exitOK, "up")
	if st := migrateCmd(exitOK, "status"); strings.Contains(st, "pending") {
		t.Fatalf("status after up again:\n%s", st)
	}

	a := startGateway(t, storeEnv(t, t.TempDir(), "MCPFED_DATABASE_URL", dsn))
	b := startGateway(t, storeEnv(t, t.TempDir(), "MCPFED_DATABASE_URL", dsn))

	tok := a.registryToken(t)
	a.must(t, http.StatusOK, http.MethodPost, "/v0.1/publish", tok, serverDoc(anonServer, "1.0.0"))
	b.eventually(t, "/v0.1/servers", anonServer, "1.0.0")
	b.eventually(t, "/registry/approved/v0.1/servers", anonServer)

	b.must(t, http.StatusOK, http.MethodPut, approvalPath(anonServer), reviewerTok, map[string]any{"versions": ">=1.0 <2", "decision": "approved"})
	a.eventually(t, "/registry/approved/v0.1/servers", anonServer, "1.0.0")

	tok = b.registryToken(t)
	b.must(t, http.StatusOK, http.MethodPost, "/v0/publish", tok, serverDoc(anonServer, "1.1.0"))
	a.eventually(t, "/registry/approved/v0.1/servers", anonServer, "1.0.0", "1.1.0")
	if got := a.changes(t); len(got) != 3 {
		t.Errorf("history on a: %v", got)
	}
}

// TestMigrateCommandLine: the operations and their arguments.
func TestMigrateCommandLine(t *testing.T) {
	t.Parallel()
	env := vars()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "missing operation"},
		{[]string{"sideways"}, exitUsage, `unknown operation "sideways"`},
		{[]string{"down"}, exitUsage, "down N"},
		{[]string{"down", "0"}, exitUsage, "1 to 1000"},
		{[]string{"up", "2"}, exitUsage, "takes no argument"},
		{[]string{"up", "-no-such-flag"}, exitUsage, "no-such-flag"},
		{[]string{"-h"}, exitOK, "usage: mcpfed migrate"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"migrate"}, tc.args...), &out, &errOut, env)
		if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("migrate %v: exit %d, stderr %q; want %d with %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
	// SQLite by default, in the state directory.
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "status"}, &out, &errOut, plainVars("MCPFED_STATE_DIR", t.TempDir())); code != exitOK || !strings.Contains(out.String(), "pending") {
		t.Errorf("status on SQLite: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}
