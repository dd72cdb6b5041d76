package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/federate"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/gitsource"
	"github.com/mcpfed/mcpfed/upstream/kube"
	"github.com/mcpfed/mcpfed/upstream/remote"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// env is an environment with a state directory, plus kv.
func env(kv ...string) map[string]string {
	m := map[string]string{"MCPFED_STATE_DIR": "/tmp/mcpfed-config-test"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestDefaultsAreTheBuiltinCatalogue(t *testing.T) {
	t.Parallel()
	cfg, err := Load(env(), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != DefaultListen || cfg.LogFormat != "json" || cfg.CacheMaxAge != DefaultCacheMaxAge || cfg.ShutdownTimeout != DefaultShutdownTimeout {
		t.Errorf("defaults = %+v", cfg)
	}
	var names []string
	for _, s := range cfg.Sources {
		spec := s.Spec.(*upstream.FileSpec)
		names = append(names, s.Name+"="+spec.Path)
		if spec.MaxBytes != upstream.DefaultMaxBytes || spec.Interval != 0 {
			t.Errorf("%s: the file source's defaults are not applied: %+v", s.Name, spec)
		}
	}
	if got := strings.Join(names, ","); got != "toolhive=builtin:toolhive,official-seed=builtin:official-seed" {
		t.Errorf("built-in sources = %s", got)
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "mcpfed.yaml", `
listen: ":7000"
stateDir: /from/file
logLevel: debug
cacheMaxAge: 10s
http: {maxInFlight: 50}
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
		name                                  string
		env                                   map[string]string
		flags                                 Flags
		wantListen, wantState, wantLevel, src string
	}{
		{"file only", map[string]string{EnvConfig: file}, Flags{}, ":7000", "/from/file", "debug", "acme"},
		{"env over file", map[string]string{EnvConfig: file, "MCPFED_LISTEN_ADDR": ":7001", "MCPFED_STATE_DIR": "/from/env"}, Flags{}, ":7001", "/from/env", "debug", "acme"},
		{"flags over env", map[string]string{EnvConfig: file, "MCPFED_LISTEN_ADDR": ":7001"}, Flags{Listen: ":7002", LogLevel: "warn"}, ":7002", "/from/file", "warn", "acme"},
		{"flag names the file", map[string]string{}, Flags{Config: file}, ":7000", "/from/file", "debug", "acme"},
		{"inline sources replace the file's", map[string]string{EnvConfig: file, EnvSources: `[{"name":"inline","kind":"file","path":"/x.json"}]`}, Flags{}, ":7000", "/from/file", "debug", "inline"},
		{"inline sources as YAML", map[string]string{"MCPFED_STATE_DIR": "/s", EnvSources: "- name: inline\n  kind: file\n  url: https://example.invalid/r.json\n"}, Flags{}, ":8080", "/s", "info", "inline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(tc.env, tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen != tc.wantListen || cfg.StateDir != tc.wantState || cfg.LogLevel != tc.wantLevel {
				t.Errorf("listen=%q state=%q level=%q", cfg.Listen, cfg.StateDir, cfg.LogLevel)
			}
			if len(cfg.Sources) != 1 || cfg.Sources[0].Name != tc.src {
				t.Fatalf("sources = %+v", cfg.Sources)
			}
		})
	}
	cfg, err := Load(map[string]string{EnvConfig: file}, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Sources[0]
	spec := s.Spec.(*upstream.FileSpec)
	if !s.Required || spec.Interval != time.Minute || s.Namespaces[0] != "com.acme/*" || s.Filter.Names.Exclude[0] != "*/deprecated-*" || s.Filter.Tags.Exclude[0] != "beta" || len(s.Filter.Status) != 2 {
		t.Errorf("source fields not read: %+v %+v", s, spec)
	}
	if len(cfg.Views) != 1 || cfg.Views[0].Filter.Status[0] != "active" || cfg.CacheMaxAge != 10*time.Second || cfg.HTTP.MaxInFlight != 50 {
		t.Errorf("views, cacheMaxAge or http not read: %+v %v %+v", cfg.Views, cfg.CacheMaxAge, cfg.HTTP)
	}
}

// TestSourceDefaultsAreTheComponents: each kind's defaults come from its
// package, not from a copy here.
func TestSourceDefaultsAreTheComponents(t *testing.T) {
	t.Parallel()
	cfg, err := Load(env(EnvSources, `[
	  {"name":"a","kind":"file","path":"/a.json"},
	  {"name":"b","kind":"file","url":"https://example.invalid/b.json"},
	  {"name":"c","kind":"api","url":"https://example.invalid"},
	  {"name":"d","kind":"api","url":"https://example.invalid","mode":"mirror"},
	  {"name":"e","kind":"git","repository":"https://example.invalid/r.git"}
	]`), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Sources[0].Spec.(*upstream.FileSpec), cfg.Sources[1].Spec.(*upstream.FileSpec)
	if a.Interval != upstream.DefaultFileInterval || b.Interval != upstream.DefaultURLInterval || a.MaxBytes != upstream.DefaultMaxBytes || a.LoadTimeout != upstream.DefaultLoadTimeout {
		t.Errorf("file defaults: %+v %+v", a, b)
	}
	c, d := cfg.Sources[2].Spec.(*remote.Spec), cfg.Sources[3].Spec.(*remote.Spec)
	if c.Mode != "live" || c.PageSize != remote.DefaultPageSize || c.MaxPagesPerRequest != remote.DefaultMaxPagesPerRequest ||
		c.Cache.MaxEntries != remote.DefaultPageCacheMaxEntries || *c.RateLimit.Retries != remote.DefaultRetries || c.RateLimit.MaxWait != remote.DefaultMaxWait ||
		c.Timeout != remote.DefaultTimeout || c.APIVersion != "v0.1" || c.Interval != 0 {
		t.Errorf("live defaults: %+v", c)
	}
	if d.Interval != remote.DefaultMirrorInterval || d.Crawl.Timeout != remote.DefaultCrawlTimeout || d.Crawl.MaxBytes != remote.DefaultCrawlMaxBytes || d.Cache != (remote.PageCacheSpec{}) {
		t.Errorf("mirror defaults: %+v", d)
	}
	if e := cfg.Sources[4].Spec.(*gitsource.Spec); e.Interval != gitsource.DefaultInterval || e.MaxFiles != gitsource.DefaultMaxFiles || e.LoadTimeout != gitsource.DefaultLoadTimeout {
		t.Errorf("git defaults: %+v", e)
	}
}

// TestMessages: every problem is listed, under the names the operator
// wrote, where it was written, saying how to fix it.
func TestMessages(t *testing.T) {
	t.Parallel()
	multiLine := writeFile(t, "mcpfed.yaml", `# line 1
listen: ":8080"
sources:
  - name: a
    kind: file
    path: /a.json
  - name: b
    kind: api
    url: https://registry.example.invalid
    interval: 30
    pageSize: lots
`)
	syntax := writeFile(t, "syntax.yaml", "listen: \":8080\"\nsources:\n  - name: a\n    kind: file\n    path: [/a.json\n")
	badIndent := writeFile(t, "indent.yaml", "listen: \":8080\"\nsources:\n  - name: a\n    kind: file\n   path: /a.json\n")
	typo := writeFile(t, "typo.yaml", "listen: \":8080\"\nlistne: \":1\"\nsources:\n  - name: a\n    kind: file\n    pth: /a.json\n")
	twice := writeFile(t, "twice.yaml", "sources:\n  - name: a\n    kind: file\n    path: /a.json\n    path: /b.json\n")
	tests := []struct {
		name string
		env  map[string]string
		want []string
		not  []string
	}{
		{"env duration", env("MCPFED_CACHE_MAX_AGE", "30"), []string{`MCPFED_CACHE_MAX_AGE: "30" is not a duration: write 30s`}, []string{"CacheMaxAge"}},
		{"env duration word", env("MCPFED_RESPONSE_CACHE_TTL", "soon"), []string{`MCPFED_RESPONSE_CACHE_TTL: "soon" is not a duration: write a number and a unit, e.g. 30s, 5m or 1h`}, nil},
		{"env bool", env("MCPFED_ACCESS_LOG", "yes please"), []string{`MCPFED_ACCESS_LOG: "yes please" is not true or false`}, nil},
		{"env number", env("MCPFED_HTTP_MAX_IN_FLIGHT", "many"), []string{`MCPFED_HTTP_MAX_IN_FLIGHT: "many" is not a whole number`}, nil},
		{"env negative", env("MCPFED_RESPONSE_CACHE_MAX_BYTES", "-1", "MCPFED_SHUTDOWN_TIMEOUT", "0s"), []string{`MCPFED_RESPONSE_CACHE_MAX_BYTES: must not be negative`, `MCPFED_SHUTDOWN_TIMEOUT: must be positive`}, nil},
		{"unknown env", env("MCPFED_CACHE_MAXAGE", "1s", "MCPFED_FROBNICATE", "1"), []string{
			`MCPFED_CACHE_MAXAGE: is not a variable mcpfed reads; did you mean MCPFED_CACHE_MAX_AGE?`,
			`MCPFED_FROBNICATE: is not a variable mcpfed reads (see README.md, Configuration)`}, nil},
		{"flag", map[string]string{"MCPFED_STATE_DIR": "/s", "MCPFED_LOG_LEVEL": "loud"}, []string{`MCPFED_LOG_LEVEL: "loud" is not debug, info, warn or error`}, nil},
		{"file line of a value", env(EnvConfig, multiLine), []string{
			multiLine + `:10: sources[1].interval: "30" is not a duration: write 30s`,
			multiLine + `:11: sources[1].pageSize: "lots" is not a whole number`}, nil},
		{"file syntax", env(EnvConfig, syntax), []string{syntax + `:5: invalid YAML: did not find expected ',' or ']'`}, nil},
		{"file indentation", env(EnvConfig, badIndent), []string{badIndent + `:5: invalid YAML: `}, nil},
		{"file typo", env(EnvConfig, typo), []string{
			typo + `:2: unknown field "listne"; did you mean "listen"?`,
			typo + `:6: sources[0]: unknown field "pth"; did you mean "path"?`}, []string{"SourceConfig", "main."}},
		{"given twice", env(EnvConfig, twice), []string{twice + `:5: sources[0].path: given twice (first on line 4)`}, nil},
		{"sources typo", env(EnvSources, `[{"name":"a","kind":"file","pth":"/x"}]`), []string{`MCPFED_SOURCES:1: sources[0]: unknown field "pth"; did you mean "path"?`}, nil},
		{"other kind's field", env(EnvSources, "- name: a\n  kind: file\n  path: /x\n- name: b\n  kind: file\n  path: /y\n- name: c\n  kind: file\n  path: /z\n  repository: https://example.invalid/r.git\n"),
			[]string{`MCPFED_SOURCES:10: sources[2].repository does not apply to kind file`}, nil},
		{"api field on git", env(EnvSources, `[{"name":"g","kind":"git","repository":"/r","mode":"mirror","pageSize":5}]`),
			[]string{`sources[0].mode does not apply to kind git`, `sources[0].pageSize does not apply to kind git`}, nil},
		{"mode-only fields", env(EnvSources, `[{"name":"m","kind":"api","url":"https://x.invalid","mode":"mirror","breaker":{"failures":2}},{"name":"l","kind":"api","url":"https://x.invalid","resyncEvery":"1h"}]`),
			[]string{`sources[0].breaker: applies to mode live only`, `sources[1].resyncEvery: applies to mode mirror only`}, nil},
		{"order", env(EnvSources, `[{"name":"m","kind":"api","url":"https://x.invalid","mode":"mirror","order":"bytes"},{"name":"l","kind":"api","url":"https://x.invalid","order":"random"}]`),
			[]string{`sources[0].order: applies to mode live only`, `sources[1].order: "random" is not auto, bytes or upstream`}, nil},
		{"kind", env(EnvSources, `[{"name":"a","path":"/x"},{"name":"b","kind":"ftp","path":"/x"}]`),
			[]string{`sources[0]: kind is missing (file, git, api, kubernetes or managed)`, `sources[1].kind: "ftp" is not file, git, api, kubernetes or managed`}, nil},
		{"names", env(EnvSources, `[{"name":"Bad Name","kind":"file","path":"/a"},{"name":"dup","kind":"file","path":"/b"},{"name":"dup","kind":"file","path":"/c"}]`),
			[]string{`sources[0].name: "Bad Name" must be a slug`, `sources[2].name: "dup" is used by another source`}, nil},
		{"file url credentials", env(EnvSources, `[{"name":"a","kind":"file","url":"https://bob:hunter2@example.invalid/r.json"},{"name":"b","kind":"file","url":"https://example.invalid/r.json?ref=main&access_token=s3cr3t"}]`),
			[]string{`sources[0].url: "https://example.invalid/r.json" must not carry a user name or password: put them in usernameFile and passwordFile`,
				`sources[1].url: "https://example.invalid/r.json" must not carry a credential (query parameter "access_token"): put a token in tokenFile`},
			[]string{"hunter2", "s3cr3t"}},
		{"git url credentials", env(EnvSources, `[{"name":"a","kind":"git","repository":"https://x:tok@example.invalid/r.git"},{"name":"b","kind":"git","repository":"https://example.invalid/r.git?private_token=s3cr3t"}]`),
			[]string{`sources[0]: repository https://example.invalid/r.git must not hold credentials`, `tokenFile`, `sources[1].repository: "https://example.invalid/r.git" must not carry a credential`}, []string{"tok@", "s3cr3t"}},
		{"api url credentials", env(EnvSources, `[{"name":"a","kind":"api","url":"https://example.invalid/?api_key=s3cr3t"}]`),
			[]string{`sources[0].url`, `tokenFile`}, []string{"s3cr3t"}},
		{"headers", env(EnvSources, `[{"name":"a","kind":"api","url":"https://x.invalid","headers":{"Host":"evil.invalid","Connection":"close","Bad Name":"v","X-Team":"ok"}}]`),
			[]string{`sources[0].headers: "Bad Name" is not a valid header name`, `sources[0].headers: "Connection" cannot be set`, `sources[0].headers: "Host" cannot be set`}, []string{"X-Team"}},
		{"resync without token in the file", env(EnvConfig, writeFile(t, "admin.yaml", "admin:\n  resync: true\n")), []string{`admin.yaml:2: admin.resync: the resync endpoint needs admin.tokenFile`}, nil},
		{"resync without token", env("MCPFED_ADMIN_RESYNC", "true"), []string{`MCPFED_ADMIN_RESYNC: the resync endpoint needs admin.tokenFile (MCPFED_ADMIN_TOKEN_FILE) or admin.claims; to run it without a token, set admin.allowUnauthenticated: true`}, nil},
		{"reservations and filters", env(EnvSources, `[{"name":"r1","kind":"file","path":"/f","namespaces":["com.acme/*"]},{"name":"r2","kind":"file","path":"/g","namespaces":["com.acme/*"],"filter":{"names":{"include":["[unclosed"]},"status":["retired"]}}]`),
			[]string{`sources[1].namespaces: namespace "com.acme/*" is already reserved by source "r1"`, `sources[1].filter.names: bad pattern "[unclosed"`, `sources[1].filter.status: "retired" is not active, deprecated or deleted`}, nil},
		{"file source fields", env(EnvSources, `[{"name":"a","kind":"file"},{"name":"b","kind":"file","path":"/b","url":"https://x.invalid/r.json"},{"name":"c","kind":"file","url":"ftp://x.invalid/r.json"},{"name":"d","kind":"file","path":"/d","tokenFile":"/t"}]`),
			[]string{`sources[0]: path or url is required`, `sources[1]: give path or url, not both`, `sources[2].url: "ftp://x.invalid/r.json" must be http:// or https://`, `sources[3]: tokenFile, usernameFile and passwordFile apply only to an https url`}, nil},
		{"git selection", env(EnvSources, `[{"name":"g","kind":"git","repository":"/r","branch":"main","tag":"v1"}]`), []string{`sources[0]: branch, tag and commit exclude each other`}, nil},
		{"not a list", env(EnvSources, `{"name":"a"}`), []string{`MCPFED_SOURCES:1: sources: expects a list`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(tc.env, Flags{})
			if err == nil {
				t.Fatal("accepted")
			}
			got := strings.Join(Errors(err), "\n")
			for _, want := range tc.want {
				if !strings.Contains(got, want) {
					t.Errorf("no problem says\n  %s\ngot:\n%s", want, got)
				}
			}
			for _, not := range tc.not {
				if strings.Contains(got, not) {
					t.Errorf("a problem says %q:\n%s", not, got)
				}
			}
			for _, e := range flatten(err) {
				var p *Problem
				if !errors.As(e, &p) {
					t.Errorf("not a *Problem: %v", e)
				}
			}
		})
	}
}

func TestKubernetesServiceVariablesAreNotReported(t *testing.T) {
	t.Parallel()
	_, err := Load(env("MCPFED_SERVICE_HOST", "10.0.0.1", "MCPFED_SERVICE_PORT", "80", "MCPFED_SERVICE_PORT_HTTP", "80",
		"MCPFED_PORT", "tcp://10.0.0.1:80", "MCPFED_PORT_80_TCP", "tcp://10.0.0.1:80", "MCPFED_PORT_80_TCP_ADDR", "10.0.0.1",
		"MCPFED_METRICS_SERVICE_HOST", "10.0.0.2", "OTHER_VAR", "x"), Flags{})
	if err != nil {
		t.Errorf("Kubernetes service variables reported: %v", err)
	}
}

func TestEnvNamesComeFromTheStruct(t *testing.T) {
	t.Parallel()
	names := EnvNames()
	for _, want := range []string{"MCPFED_CONFIG", "MCPFED_SOURCES", "MCPFED_LISTEN_ADDR", "MCPFED_CURSOR_KEY_FILE", "MCPFED_RESPONSE_CACHE_TTL",
		"MCPFED_HTTP_READ_TIMEOUT", "MCPFED_HTTP_READ_HEADER_TIMEOUT", "MCPFED_HTTP_WRITE_TIMEOUT", "MCPFED_HTTP_IDLE_TIMEOUT",
		"MCPFED_HTTP_MAX_HEADER_BYTES", "MCPFED_HTTP_MAX_IN_FLIGHT", "MCPFED_ADMIN_RESYNC", "MCPFED_ADMIN_TOKEN_FILE", "MCPFED_ADMIN_ALLOW_UNAUTHENTICATED"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s is not known", want)
		}
	}
	cfg, err := Load(env("MCPFED_HTTP_READ_TIMEOUT", "7s", "MCPFED_ADMIN_RESYNC", "true", "MCPFED_ADMIN_ALLOW_UNAUTHENTICATED", "true"), Flags{})
	if err != nil || cfg.HTTP.ReadTimeout != 7*time.Second || !cfg.Admin.AllowUnauthenticated {
		t.Errorf("%v %+v %+v", err, cfg.HTTP, cfg.Admin)
	}
}

// TestMergeKeys: shared settings written once with an anchor.
func TestMergeKeys(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "merge.yaml", `
x-api: &api
  kind: api
  timeout: 5s
  rateLimit: {perMinute: 60}
sources:
  - <<: *api
    name: a
    url: https://a.invalid
  - <<: *api
    name: b
    url: https://b.invalid
    timeout: 7s
`)
	_, err := Load(env(EnvConfig, file), Flags{})
	if err == nil || !strings.Contains(err.Error(), `unknown field "x-api"`) {
		t.Fatalf("a top-level anchor holder is an unknown field: %v", err)
	}
	file = writeFile(t, "merge2.yaml", strings.Replace(`
sources:
  - &api
    name: a
    kind: api
    url: https://a.invalid
    timeout: 5s
    rateLimit: {perMinute: 60}
  - <<: *api
    name: b
    url: https://b.invalid
    timeout: 7s
`, "\t", "  ", -1))
	cfg, err := Load(env(EnvConfig, file), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Sources[0].Spec.(*remote.Spec), cfg.Sources[1].Spec.(*remote.Spec)
	if cfg.Sources[1].Kind != "api" || b.URL != "https://b.invalid" || b.Timeout != 7*time.Second || b.RateLimit.PerMinute != 60 || a.Timeout != 5*time.Second {
		t.Errorf("merge: %+v %+v", cfg.Sources[1], b)
	}
}

// TestSourcesRoundTrip: what Fields writes, MCPFED_SOURCES reads back (the
// load command writes its scenarios' sources this way).
func TestSourcesRoundTrip(t *testing.T) {
	t.Parallel()
	retries := 0
	in := []SourceConfig{
		{Name: "m", Kind: "api", Required: true, Spec: &remote.Spec{URL: "https://x.invalid", Mode: "mirror", Interval: time.Hour}},
		{Name: "l", Kind: "api", Namespaces: []string{"com.x/*"}, Spec: &remote.Spec{URL: "https://y.invalid", PageSize: 30,
			RateLimit: remote.RateLimitSpec{PerMinute: 60, Retries: &retries}, Cache: remote.PageCacheSpec{Fresh: time.Second}}},
	}
	text, err := MarshalSources(in)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(env(EnvSources, string(text)), Flags{})
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	m, l := cfg.Sources[0].Spec.(*remote.Spec), cfg.Sources[1].Spec.(*remote.Spec)
	if !cfg.Sources[0].Required || m.Mode != "mirror" || m.Interval != time.Hour || cfg.Sources[1].Namespaces[0] != "com.x/*" ||
		l.PageSize != 30 || l.RateLimit.PerMinute != 60 || *l.RateLimit.Retries != 0 || l.Cache.Fresh != time.Second {
		t.Errorf("round trip lost fields:\n%s\n%+v %+v", text, m, l)
	}
}

func TestCursorKeys(t *testing.T) {
	t.Parallel()
	a, _ := Load(env(EnvSources, `[{"name":"a","kind":"file","path":"/a"}]`), Flags{})
	b, _ := Load(env(EnvSources, "- name: a\n  kind: file\n  path: /a\n", "MCPFED_LISTEN_ADDR", ":9"), Flags{})
	c, _ := Load(env(EnvSources, `[{"name":"a","kind":"file","path":"/b"}]`), Flags{})
	ka, from, err := CursorKeys(a, true)
	if err != nil || from != KeysDerived || len(ka) != 1 || len(ka[0]) != 32 {
		t.Fatalf("derived key: %v %v %v", ka, from, err)
	}
	kb, _, _ := CursorKeys(b, true)
	kc, _, _ := CursorKeys(c, true)
	if string(ka[0]) != string(kb[0]) {
		t.Error("the same sources written differently give different keys")
	}
	if string(ka[0]) == string(kc[0]) {
		t.Error("different sources give the same key")
	}

	good := writeFile(t, "keys", strings.Repeat("k", 40)+"\n"+strings.Repeat("o", 32)+"\n")
	short := writeFile(t, "short", strings.Repeat("k", 40)+"\nshort\n")
	cfg, err := Load(env("MCPFED_CURSOR_KEY_FILE", good), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	keys, from, err := CursorKeys(cfg, true)
	if err != nil || from != KeysFromFile || len(keys) != 2 || string(keys[1]) != strings.Repeat("o", 32) {
		t.Errorf("keys from file: %q %v %v", keys, from, err)
	}
	for name, path := range map[string]string{"short": short, "missing": filepath.Join(t.TempDir(), "nope"), "empty": writeFile(t, "empty", "\n")} {
		if _, err := Load(env("MCPFED_CURSOR_KEY_FILE", path), Flags{}); err == nil || !strings.Contains(err.Error(), "MCPFED_CURSOR_KEY_FILE: ") {
			t.Errorf("%s key file: %v", name, err)
		}
	}
}

func TestSourceProblemsAreLocated(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "c.yaml", "sources:\n  - name: a\n    kind: file\n    path: /a.json\n  - name: b\n    kind: file\n    path: /nonexistent/b.json\n")
	cfg, err := Load(env(EnvConfig, file), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.SourceProblems(1, errors.New("path /nonexistent/b.json does not exist"))
	if at := cfg.SourceProblems(0, errors.New("path: not there")); len(at) != 1 || at[0].Error() != file+":4: sources[0].path: not there" {
		t.Errorf("got %v", at)
	}
	if len(got) != 1 || got[0].Error() != file+":7: sources[1]: path /nonexistent/b.json does not exist" {
		t.Errorf("got %v", got)
	}
	if bad := InvalidSources(errors.Join(&Problem{Path: "sources[3].url"}, &Problem{Path: "listen"})); !bad[3] || len(bad) != 1 {
		t.Errorf("invalid sources = %v", bad)
	}
}

// FuzzSources: whatever MCPFED_SOURCES holds, Load answers with a
// configuration or problems, never a panic, and every problem is located.
func FuzzSources(f *testing.F) {
	for _, s := range []string{
		`[{"name":"a","kind":"file","path":"/a"}]`, "- name: a\n  kind: api\n  url: https://x.invalid\n  rateLimit: {retries: 0}\n",
		`{"name":"a"}`, `[1, "x", null, [], {}]`, `[{"kind":["file"],"headers":[1],"filter":{"names":"x"}}]`,
		"- &a {name: a, kind: git}\n- *a\n", "- &a {name: a, kind: api, url: x}\n- {<<: [*a, {kind: file}], name: b}\n- {<<: 5}\n", `[{"name":"a","kind":"api","rateLimit":{"retries":"x"},"crawl":5}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sources string) {
		_, err := Load(map[string]string{"MCPFED_STATE_DIR": "/s", EnvSources: sources}, Flags{})
		for _, e := range flatten(err) {
			var p *Problem
			if e != nil && !errors.As(e, &p) {
				t.Errorf("not a *Problem: %v", e)
			}
		}
	})
}

// TestFieldsOfOtherKindsAreRefused: for every kind, every field that only
// another kind has is refused by name, derived from the specs themselves.
func TestFieldsOfOtherKindsAreRefused(t *testing.T) {
	t.Parallel()
	kinds := Kinds()
	for _, k := range kinds {
		own := append(fieldNames(sourceType), fieldNames(reflect.TypeOf(k.New()).Elem())...)
		for _, o := range kinds {
			for _, f := range fieldNames(reflect.TypeOf(o.New()).Elem()) {
				if slices.Contains(own, f) {
					continue
				}
				_, err := Load(env(EnvSources, fmt.Sprintf("- name: a\n  kind: %s\n  %s: x\n", k.Name, f)), Flags{})
				want := fmt.Sprintf("MCPFED_SOURCES:3: sources[0].%s does not apply to kind %s", f, k.Name)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s on kind %s: %v", f, k.Name, err)
				}
			}
		}
	}
}

// TestCursorKeyWithALiveSource: a cursor carrying a live source's upstream
// position cannot be checked again on resume, so its key is never derived
// from the configuration (anyone who knows it could forge one): a random
// key is kept in the state directory (0600, reused after a restart, never
// replaced), or generated and forgotten when nothing may be written.
func TestCursorKeyWithALiveSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := Load(env(EnvSources, `[{"name":"live","kind":"api","url":"https://registry.example.com"}]`, "MCPFED_STATE_DIR", dir), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	ephemeral, from, err := CursorKeys(cfg, false)
	if err != nil || from != KeysEphemeral {
		t.Fatalf("read-only: %v %v", from, err)
	}
	if _, err := os.Stat(filepath.Join(dir, CursorKeyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read-only run wrote a key: %v", err)
	}
	first, from, err := CursorKeys(cfg, true)
	if err != nil || from != KeysInStateDir || len(first) != 1 || len(first[0]) < federate.MinCursorKeyBytes {
		t.Fatalf("kept key: %q %v %v", first, from, err)
	}
	fi, err := os.Stat(filepath.Join(dir, CursorKeyFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	again, _, err := CursorKeys(cfg, true)
	if err != nil || string(again[0]) != string(first[0]) {
		t.Fatal("a restart does not reuse the kept key")
	}
	if string(ephemeral[0]) == string(first[0]) {
		t.Fatal("the ephemeral key was kept")
	}
	other, _ := Load(env(EnvSources, `[{"name":"live","kind":"api","url":"https://registry.example.com"}]`, "MCPFED_STATE_DIR", t.TempDir()), Flags{})
	if k, _, _ := CursorKeys(other, true); string(k[0]) == string(first[0]) {
		t.Fatal("the key is predictable from the configuration")
	}
}

// TestMarshalSourcesRedacted: what check -offline prints never shows a
// header value, a URL's credentials or its query, whatever got through
// validation.
func TestMarshalSourcesRedacted(t *testing.T) {
	t.Parallel()
	cfg, err := Load(env(EnvSources, `[
	  {"name":"f","kind":"file","url":"https://files.example.com/r.json?jwt=SECRETJWT"},
	  {"name":"g","kind":"git","repository":"https://git.example.com/r.git?access-token=GITSECRET"},
	  {"name":"a","kind":"api","url":"https://registry.example.com","headers":{"X-Api-Key":"SECRET123"}}
	]`), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := MarshalSourcesRedacted(cfg.Sources)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"SECRETJWT", "GITSECRET", "SECRET123"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("printed %s:\n%s", secret, out)
		}
	}
	for _, want := range []string{"https://files.example.com/r.json", "https://git.example.com/r.git", "X-Api-Key: <redacted>"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}

// TestConfigFileMustBeRegular: a configuration file that is a FIFO or a
// device is refused at once, never waited on or read without bound.
func TestConfigFileMustBeRegular(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/zero"} {
		done := make(chan error, 1)
		go func() {
			_, err := Load(env(EnvConfig, path), Flags{})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%s: %v", path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still reading after 5s", path)
		}
	}
}

// TestMergeKeysAreSearchedOnce: merge keys that merge the same anchors
// again, ten per level and ten levels deep, cost one visit per mapping,
// not 10^10 (hostile input is bounded in time, not only in depth).
func TestMergeKeysAreSearchedOnce(t *testing.T) {
	t.Parallel()
	var doc strings.Builder
	doc.WriteString("sources:\n  - &m0 {name: a, path: /a}\n")
	for i := 1; i <= 10; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 10), ", ")
		fmt.Fprintf(&doc, "  - &m%d {<<: [%s]}\n", i, refs)
	}
	file := writeFile(t, "merges.yaml", doc.String())
	start := time.Now()
	_, err := Load(env(EnvConfig, file), Flags{})
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("loading took %s", d)
	}
	if err == nil {
		t.Fatal("eleven sources named a: want a problem")
	}
}

// TestKubernetesNamespacesAreNotReservations: a kubernetes source's
// cluster namespaces (watchNamespaces) and the name globs every source may
// reserve (namespaces) are two fields, never confused.
func TestKubernetesNamespacesAreNotReservations(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "kube.yaml", `
sources:
  - name: cluster
    kind: kubernetes
    kubeconfig: /etc/mcpfed/kubeconfig
    namespaces: ["com.toolhive.k8s.*/*"]
    watchNamespaces: [team-a, team-b]
`)
	cfg, err := Load(env(EnvConfig, file), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	spec := cfg.Sources[0].Spec.(*kube.Spec)
	if got := cfg.Sources[0].Namespaces; !slices.Equal(got, []string{"com.toolhive.k8s.*/*"}) {
		t.Errorf("reserved namespaces = %v", got)
	}
	if !slices.Equal(spec.Namespaces, []string{"team-a", "team-b"}) {
		t.Errorf("watched namespaces = %v", spec.Namespaces)
	}
	// A cluster namespace written as namespaces reserves nothing: refused
	// with the way out, never accepted while every namespace is watched.
	file = writeFile(t, "kube2.yaml", `
sources:
  - name: cluster
    kind: kubernetes
    kubeconfig: /etc/mcpfed/kubeconfig
    namespaces: [team-a]
`)
	_, err = Load(env(EnvConfig, file), Flags{})
	if err == nil || !strings.Contains(err.Error(), `sources[0].namespaces: "team-a" reserves no server name`) || !strings.Contains(err.Error(), "watchNamespaces") {
		t.Errorf("a namespace name as a reservation: %v", err)
	}
}
