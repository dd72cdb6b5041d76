package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

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

func TestConfigDefaultsToBuiltinCatalogue(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(vars(), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":8080" || cfg.LogFormat != "json" || cfg.CacheMaxAge != 30*time.Second || cfg.ShutdownTimeout != 15*time.Second {
		t.Errorf("defaults = %+v", cfg)
	}
	var names []string
	for _, s := range cfg.Sources {
		names = append(names, s.Name+"="+s.Path)
	}
	if got := strings.Join(names, ","); got != "toolhive=builtin:toolhive,official-seed=builtin:official-seed" {
		t.Errorf("built-in sources = %s", got)
	}
	if defaultStateDir() == "" {
		t.Error("state dir has no default")
	}
}

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "mcpfed.yaml", `
listen: ":7000"
stateDir: /from/file
logLevel: debug
cacheMaxAge: 10s
sources:
  - name: acme
    kind: file
    path: /data/acme.json
    namespaces: ["com.acme/*"]
    required: true
    interval: 1m
    filter:
      names: {include: ["com.acme/*"], exclude: ["*/deprecated-*"]}
      tags: {exclude: [beta]}
      status: [active, deprecated]
views:
  - name: stable
    filter: {status: [active]}
`)
	tests := []struct {
		name       string
		env        func() map[string]string
		flags      flagValues
		wantListen string
		wantState  string
		wantLevel  string
		wantSource string
	}{
		{"file only", plainVars("MCPFED_CONFIG", file), flagValues{}, ":7000", "/from/file", "debug", "acme"},
		{"env over file", plainVars("MCPFED_CONFIG", file, "MCPFED_LISTEN_ADDR", ":7001", "MCPFED_STATE_DIR", "/from/env"), flagValues{}, ":7001", "/from/env", "debug", "acme"},
		{"flags over env", plainVars("MCPFED_CONFIG", file, "MCPFED_LISTEN_ADDR", ":7001"), flagValues{listen: ":7002", logLevel: "warn"}, ":7002", "/from/file", "warn", "acme"},
		{"flag names the file", plainVars(), flagValues{config: file}, ":7000", "/from/file", "debug", "acme"},
		{"inline sources replace the file's", plainVars("MCPFED_CONFIG", file, "MCPFED_SOURCES", `[{"name":"inline","kind":"file","path":"/x.json"}]`), flagValues{}, ":7000", "/from/file", "debug", "inline"},
		{"inline sources as YAML", plainVars("MCPFED_SOURCES", "- name: inline\n  kind: file\n  url: https://example.invalid/r.json\n"), flagValues{}, ":8080", defaultStateDir(), "info", "inline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfig(tc.env, tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tc.wantListen || cfg.StateDir != tc.wantState || cfg.LogLevel != tc.wantLevel {
				t.Errorf("listen=%q state=%q level=%q", cfg.Listen, cfg.StateDir, cfg.LogLevel)
			}
			if len(cfg.Sources) != 1 || cfg.Sources[0].Name != tc.wantSource {
				t.Fatalf("sources = %+v", cfg.Sources)
			}
		})
	}
	cfg, err := loadConfig(plainVars("MCPFED_CONFIG", file), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sources[0]
	if !s.Required || s.Interval != time.Minute || s.Namespaces[0] != "com.acme/*" || s.Filter.Names.Exclude[0] != "*/deprecated-*" || s.Filter.Tags.Exclude[0] != "beta" || len(s.Filter.Status) != 2 {
		t.Errorf("source fields not read: %+v", s)
	}
	if len(cfg.Views) != 1 || cfg.Views[0].Filter.Status[0] != "active" || cfg.CacheMaxAge != 10*time.Second {
		t.Errorf("views/cacheMaxAge not read: %+v %v", cfg.Views, cfg.CacheMaxAge)
	}
}

func TestConfigSourceDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(vars("MCPFED_SOURCES", `[{"name":"a","kind":"file","path":"/a.json"},{"name":"b","kind":"file","url":"https://example.invalid/b.json"}]`), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sources[0].Interval != defaultFileInterval || cfg.Sources[1].Interval != defaultURLInterval || cfg.Sources[0].MaxBytes != defaultMaxBytes {
		t.Errorf("defaults not applied: %+v", cfg.Sources)
	}
}

// TestConfigValidationListsEveryProblem: one run reports all mistakes, so an
// operator fixes the file once.
func TestConfigValidationListsEveryProblem(t *testing.T) {
	t.Parallel()
	sources := `[
	  {"name":"Bad Name","kind":"file","path":"/a.json"},
	  {"name":"dup","kind":"file"},
	  {"name":"dup","kind":"file","path":"/b.json","url":"https://x.invalid/"},
	  {"name":"nokind","path":"/c.json"},
	  {"name":"weird","kind":"ftp","path":"/d.json"},
	  {"name":"git1","kind":"git","branch":"main","tag":"v1"},
	  {"name":"badfilter","kind":"file","path":"/e.json","filter":{"names":{"include":["[unclosed"]},"status":["retired"]}},
	  {"name":"res1","kind":"file","path":"/f.json","namespaces":["com.acme/*"]},
	  {"name":"res2","kind":"file","path":"/g.json","namespaces":["com.acme/*"],"interval":"-1s"},
	  {"name":"scheme","kind":"file","url":"ftp://x.invalid/r.json"},
	  {"name":"branchy","kind":"file","path":"/h.json","branch":"main"}
	]`
	_, err := loadConfig(vars("MCPFED_SOURCES", sources, "MCPFED_LOG_FORMAT", "xml", "MCPFED_LOG_LEVEL", "loud"), flagValues{})
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{
		`name "Bad Name" must be a slug`,
		"needs path (a file or directory) or url",
		`name "dup" is used by another source`,
		"give path or url, not both",
		"kind is missing",
		`kind "ftp" is not file, git or api`,
		`bad pattern "[unclosed"`,
		`"retired" is not active, deprecated or deleted`,
		`namespace "com.acme/*" is already reserved by source "res1"`,
		"interval must not be negative",
		`url "ftp://x.invalid/r.json" must be http:// or https://`,
		"branch does not apply to a file source",
		"a git source needs repository",
		"at most one of branch, tag and commit",
		`logFormat: "xml"`,
		"logLevel:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestConfigRejectsUnknownFieldsAndBadValues(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  func() map[string]string
		want string
	}{
		"typo in file":     {vars("MCPFED_CONFIG", writeFile(t, "c.yaml", "listne: ':1'\n")), "field listne not found"},
		"typo in sources":  {vars("MCPFED_SOURCES", `[{"name":"a","kind":"file","pth":"/x"}]`), "field pth not found"},
		"missing file":     {vars("MCPFED_CONFIG", "/nonexistent/mcpfed.yaml"), "read configuration"},
		"bad env duration": {vars("MCPFED_CACHE_MAX_AGE", "soon"), `invalid duration "soon"`},
		"bad yaml":         {vars("MCPFED_SOURCES", "[{"), "MCPFED_SOURCES"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := loadConfig(tc.env, flagValues{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func TestConfigAPISource(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(vars("MCPFED_SOURCES", `
- name: official
  kind: api
  url: https://registry.example.invalid
  rateLimit: {perMinute: 60}
- name: acme
  kind: api
  url: https://mcp.acme.invalid/registry
  apiVersion: v0
  tokenFile: /run/secrets/acme
  headers: {X-Team: platform}
  breaker: {failures: 3, openFor: 10s}
  cache: {fresh: 30s, stale: 10m, maxEntries: 50}
  rateLimit: {perMinute: 600, burst: 5, retries: 0}
`), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	off, acme := cfg.Sources[0], cfg.Sources[1]
	if off.Mode != "live" || off.APIVersion != "v0.1" || off.PageSize != 100 || off.Timeout != defaultAPITimeout ||
		off.Cache.Fresh != defaultPageFresh || off.Cache.Stale != defaultPageStale || *off.RateLimit.Retries != 1 || off.RateLimit.PerMinute != 60 {
		t.Errorf("api defaults: %+v", off)
	}
	if acme.APIVersion != "v0" || acme.Breaker.Failures != 3 || acme.Breaker.OpenFor != 10*time.Second || acme.Cache.MaxEntries != 50 ||
		*acme.RateLimit.Retries != 0 || acme.RateLimit.Burst != 5 || acme.Headers["X-Team"] != "platform" {
		t.Errorf("api fields: %+v", acme)
	}
	if cfg.RequestTimeout != defaultRequestTimeout || cfg.ResponseCache.TTL != defaultResponseTTL {
		t.Errorf("global defaults: %v %+v", cfg.RequestTimeout, cfg.ResponseCache)
	}

	_, err = loadConfig(vars("MCPFED_SOURCES", `[
	  {"name":"nourl","kind":"api"},
	  {"name":"mirror","kind":"api","url":"https://x.invalid","mode":"copy"},
	  {"name":"liveresync","kind":"api","url":"https://x.invalid","resyncEvery":"1h"},
	  {"name":"creds","kind":"api","url":"https://x.invalid","usernameFile":"/u","tokenFile":"/t"},
	  {"name":"page","kind":"api","url":"https://x.invalid","pageSize":500,"apiVersion":"v9"},
	  {"name":"pathy","kind":"api","url":"https://x.invalid","path":"/x.json"}
	]`, "MCPFED_REQUEST_TIMEOUT", "-1s"), flagValues{})
	for _, want := range []string{"needs url", `mode "copy" is not live or mirror`, "apply to mode mirror only", "usernameFile and passwordFile go together",
		"tokenFile or usernameFile", "pageSize must be from 1 to 100", `apiVersion "v9"`, "path does not apply to an api source", "requestTimeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestConfigResponseCacheFromEnv(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(vars("MCPFED_RESPONSE_CACHE_TTL", "1s", "MCPFED_RESPONSE_CACHE_MAX_ENTRIES", "7", "MCPFED_RESPONSE_CACHE_MAX_BYTES", "1024"), flagValues{})
	if err != nil {
		t.Fatal(err)
	}
	if rc := cfg.ResponseCache; rc.TTL != time.Second || rc.MaxEntries != 7 || rc.MaxBytes != 1024 {
		t.Errorf("response cache = %+v", rc)
	}
}
