package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// vars is an environment with the tests' state directory; plainVars has
// nothing but kv.
func vars(kv ...string) func() map[string]string {
	return plainVars(append([]string{"MCPFED_STATE_DIR", testStateDir}, kv...)...)
}

func plainVars(kv ...string) func() map[string]string {
	return func() map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
}

// TestEveryProblemExitsTwo: the configuration's own problems and those
// found while building the sources (a missing path, an unknown built-in
// catalogue, a repository that is not there) are listed together, exit 2.
func TestEveryProblemExitsTwo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	tests := []struct {
		name    string
		sources string
		extra   []string
		want    []string
	}{
		{"build problems only", `[
		  {"name":"nope","kind":"file","path":"builtin:nope"},
		  {"name":"gone","kind":"file","path":"` + missing + `"},
		  {"name":"later","kind":"file","path":"` + missing + `","optional":true},
		  {"name":"norepo","kind":"git","repository":"` + filepath.Join(dir, "no-repo") + `"}
		]`, nil, []string{"sources[0]", "nope", "sources[1]", missing, "sources[3]", "no-repo"}},
		{"with configuration problems", `[
		  {"name":"Bad","kind":"file","path":"/x.json"},
		  {"name":"gone","kind":"file","path":"` + missing + `"},
		  {"name":"b","kind":"file","path":"/x.json","branch":"main"}
		]`, []string{"MCPFED_CACHE_MAX_AGE", "30", "MCPFED_HTTP_WRITE_TIMEOUT", "5s", "MCPFED_HTTP_MAX_IN_FLIGHT", "-1"}, []string{
			"MCPFED_HTTP_WRITE_TIMEOUT: http.writeTimeout 5s must exceed requestTimeout 10s", "MCPFED_HTTP_MAX_IN_FLIGHT: must not be negative",
			`sources[0].name: "Bad" must be a slug`, "sources[1]", missing,
			"sources[2].branch does not apply to kind file", `MCPFED_CACHE_MAX_AGE: "30" is not a duration: write 30s`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, args := range [][]string{{"serve"}, {"check"}, {"check", "-offline"}} {
				code, out, errOut := runCmd(t, vars(append([]string{"MCPFED_SOURCES", tc.sources}, tc.extra...)...), args...)
				if code != exitUsage {
					t.Errorf("%v: exit %d, want %d\n%s%s", args, code, exitUsage, out, errOut)
				}
				if !strings.HasPrefix(errOut, "mcpfed: invalid configuration:\n") {
					t.Errorf("%v: stderr:\n%s", args, errOut)
				}
				for _, want := range tc.want {
					if !strings.Contains(errOut, want) {
						t.Errorf("%v: stderr lacks %q:\n%s", args, want, errOut)
					}
				}
				if tc.extra == nil && strings.Contains(errOut, "sources[2]") {
					t.Errorf("%v: an optional source's missing path is reported:\n%s", args, errOut)
				}
			}
		})
	}
}

// TestCheckOffline validates and prints the resolved sources without
// touching any: nothing is read, nothing is written.
func TestCheckOffline(t *testing.T) {
	t.Parallel()
	stateDir := filepath.Join(t.TempDir(), "state")
	later := filepath.Join(t.TempDir(), "later.json")
	env := plainVars("MCPFED_STATE_DIR", stateDir, "MCPFED_SOURCES", `[
	  {"name":"later","kind":"file","path":"`+later+`","optional":true},
	  {"name":"reg","kind":"api","url":"http://127.0.0.1:1","mode":"mirror"},
	  {"name":"cat","kind":"git","repository":"http://127.0.0.1:1/cat.git","branch":"main"}
	]`)
	code, out, errOut := runCmd(t, env, "check", "-offline")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"# configuration valid: 3 sources, none contacted", "name: later", "optional: true", "loadTimeout: 2m0s",
		"mode: mirror", "interval: 5m0s", "timeout: 30m0s", "branch: main", "kind: git"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
		t.Errorf("check -offline made the state directory: %v", err)
	}
}

func TestResyncWithoutTokenNeedsConsent(t *testing.T) {
	t.Parallel()
	code, _, errOut := runCmd(t, vars("MCPFED_ADMIN_RESYNC", "true"), "check", "-offline")
	if code != exitUsage || !strings.Contains(errOut, "allowUnauthenticated") {
		t.Errorf("resync without a token: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCmd(t, vars("MCPFED_ADMIN_RESYNC", "true", "MCPFED_ADMIN_ALLOW_UNAUTHENTICATED", "true"), "check", "-offline")
	if code != exitOK || !strings.Contains(errOut, "without a token") {
		t.Errorf("resync allowed without a token: exit %d, no warning:\n%s", code, errOut)
	}
}
