package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// toolHiveFile writes a toolhive-registry-server configuration whose file
// source is a catalogue of the repository, so that it loads offline.
func toolHiveFile(t *testing.T, extra string) string {
	t.Helper()
	data, err := filepath.Abs(filepath.Join("..", "..", "testdata", "toolhive", "upstream-registry.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "thv.yaml")
	body := `sources:
  - name: config-managed
    managed: {}
  - name: local
    file:
      path: ` + data + `
    syncPolicy:
      interval: "5m"
registries:
  - name: default
    sources: ["config-managed", "local"]
database:
  host: postgres
  maxOpenConns: 10
` + extra
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckOfflineToolHive: check -offline on a toolhive-registry-server
// file prints the mapping, the warnings (on stderr too), the sources and
// the views and auth it gives; -config and MCPFED_CONFIG both take it.
func TestCheckOfflineToolHive(t *testing.T) {
	t.Parallel()
	path := toolHiveFile(t, "auth: {mode: anonymous}\n")
	for name, run := range map[string]func() (int, string, string){
		"flag": func() (int, string, string) { return runCmd(t, vars(), "check", "-offline", "-config", path) },
		"env":  func() (int, string, string) { return runCmd(t, vars("MCPFED_CONFIG", path), "check", "-offline") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := run()
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			for _, want := range []string{
				"# " + path + ": a toolhive-registry-server configuration (multi-source form)",
				"#   5: sources[1].file -> sources[0].kind: file",
				"#   8: sources[1].syncPolicy.interval -> sources[0].interval",
				`#   11: registries[0].sources[0] -> (left out with source "config-managed")`,
				"#   11: registries[0].sources[1] -> views[0].sources[0]",
				"#   13: database.host: no mcpfed equivalent",
				"# configuration valid: 1 sources, none contacted",
				"sources:\n- name: local\n  kind: file\n",
				"views:\n  - name: default\n    sources:\n      - local\n    access:\n      anonymous: true\n",
				"auth: {}\n",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			for _, want := range []string{
				"mcpfed: warning: " + path + ":3: sources[0].managed: no mcpfed equivalent yet",
				"mcpfed: warning: " + path + ":13: database.host: no mcpfed equivalent",
				"mcpfed: warning: " + path + ":14: database.maxOpenConns: no mcpfed equivalent",
			} {
				if strings.Count(errOut, want) != 1 {
					t.Errorf("stderr does not say once %q:\n%s", want, errOut)
				}
			}
		})
	}
}

// TestCheckToolHive: check loads the mapped sources and logs the
// warnings, once each.
func TestCheckToolHive(t *testing.T) {
	t.Parallel()
	path := toolHiveFile(t, "auth: {mode: anonymous}\n")
	code, out, errOut := runCmd(t, vars(), "check", "-config", path)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "local") || !strings.Contains(out, "file") {
		t.Errorf("table lacks the source:\n%s", out)
	}
	if n := strings.Count(errOut, "database.maxOpenConns: no mcpfed equivalent"); n != 1 {
		t.Errorf("warning logged %d times:\n%s", n, errOut)
	}
}

// TestCheckToolHiveProblems: a ToolHive file mcpfed cannot read as it is
// exits 2 naming the ToolHive fields and lines.
func TestCheckToolHiveProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, extra string
		want        []string
	}{
		{"no auth", "", []string{":1: auth: missing: toolhive-registry-server then requires OAuth"}},
		{"claims mcpfed cannot say", `auth:
  oauth:
    providers: [{name: idp, issuerUrl: https://idp.example, audience: api://registry}]
registries:
  - name: default
    sources: [local]
    claims: {groups: [a, b]}
`, []string{`:18: registries[0].claims.groups: requires "groups" to carry every one of [a, b]`}},
		{"provider", "auth:\n  oauth:\n    providers: [{name: Bad Name, issuerUrl: http://idp.example, audience: x}]\n",
			[]string{`:17: auth.oauth.providers[0].name: "Bad Name" must be a slug`, `:17: auth.oauth.providers[0].issuerUrl: "http://idp.example" must be an https URL`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := toolHiveFile(t, tc.extra)
			if tc.name == "claims mcpfed cannot say" {
				// The second registries: block replaces the first.
				b, _ := os.ReadFile(path)
				s := strings.Replace(string(b), "registries:\n  - name: default\n    sources: [\"config-managed\", \"local\"]\n", "", 1)
				if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			for _, args := range [][]string{{"check", "-offline"}, {"serve"}} {
				code, out, errOut := runCmd(t, vars(), append(args, "-config", path)...)
				if code != exitUsage {
					t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
				}
				for _, want := range tc.want {
					if !strings.Contains(errOut, path+want) {
						t.Errorf("%v: stderr lacks %q:\n%s", args, path+want, errOut)
					}
				}
			}
		})
	}
}
