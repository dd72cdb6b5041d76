package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/gitsource"
	"github.com/mcpfed/mcpfed/upstream/kube"
	"github.com/mcpfed/mcpfed/upstream/remote"
)

// said is every warning and problem, one per line, as "line: path: msg".
func said(m *ToolHiveMapping, probs []error) string {
	var lines []string
	for _, w := range m.Warnings {
		lines = append(lines, fmt.Sprintf("warning %d: %s: %s", w.Line, w.Path, w.Msg))
	}
	for _, p := range probs {
		var pr *Problem
		if errors.As(p, &pr) {
			lines = append(lines, fmt.Sprintf("problem %d: %s: %s", pr.Line, pr.Path, pr.Msg))
		}
	}
	return strings.Join(lines, "\n")
}

const anonymous = "auth: {mode: anonymous}\n"

// TestToolHiveRules: one case per mapping rule; want are substrings of
// the warnings and problems (said), check looks at the mapped fields.
func TestToolHiveRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		doc   string
		want  []string
		not   []string
		check func(t *testing.T, cfg Config)
	}{
		{"git with tag and credentials", `sources:
  - name: g
    git:
      repository: https://git.example/r.git
      tag: v1.2.0
      path: registry.json
      auth: {username: bot, passwordFile: /run/secrets/git}
registries: [{name: default, sources: [g]}]
` + anonymous, []string{"warning 7: sources[0].git.auth.username: mcpfed reads the user name from a file"}, []string{"problem"},
			func(t *testing.T, cfg Config) {
				s := cfg.Sources[0].Spec.(*gitsource.Spec)
				if s.Repository != "https://git.example/r.git" || s.Tag != "v1.2.0" || s.Path != "registry.json" || s.PasswordFile != "/run/secrets/git" || s.UsernameFile != "" {
					t.Errorf("git = %+v", s)
				}
			}},
		{"api is a mirror", "sources:\n  - name: up\n    api: {endpoint: https://registry.example}\n    syncPolicy: {interval: 2h}\nregistries: [{name: default, sources: [up]}]\n" + anonymous, nil, []string{"warning", "problem"},
			func(t *testing.T, cfg Config) {
				s := cfg.Sources[0].Spec.(*remote.Spec)
				if cfg.Sources[0].Kind != "api" || s.URL != "https://registry.example" || s.Mode != remote.ModeMirror || s.Interval != 2*time.Hour {
					t.Errorf("api = %s %+v", cfg.Sources[0].Kind, s)
				}
			}},
		{"file url and timeout", "sources:\n  - name: f\n    file: {url: https://files.example/r.json, timeout: 45s}\nregistries: [{name: default, sources: [f]}]\n" + anonymous, nil, []string{"warning", "problem"},
			func(t *testing.T, cfg Config) {
				s := cfg.Sources[0].Spec.(*upstream.FileSpec)
				if s.URL != "https://files.example/r.json" || s.LoadTimeout != 45*time.Second || s.Path != "" {
					t.Errorf("file = %+v", s)
				}
			}},
		{"inline data is left out", "sources:\n  - name: inline\n    file: {data: '{}'}\n  - name: f\n    file: {path: /f.json}\nregistries: [{name: default, sources: [inline, f]}]\n" + anonymous,
			[]string{`warning 3: sources[0].file.data: no mcpfed equivalent`, `source "inline" is left out`}, []string{"problem"},
			func(t *testing.T, cfg Config) {
				if len(cfg.Sources) != 1 || !slices.Equal(cfg.Views[0].Sources, []string{"f"}) {
					t.Errorf("sources %+v, views %+v", cfg.Sources, cfg.Views)
				}
			}},
		{"nothing left to run", "sources:\n  - name: m\n    managed: {}\nregistries: [{name: default, sources: [m]}]\n" + anonymous,
			[]string{"warning 3: sources[0].managed: no mcpfed equivalent yet", `warning 4: registries[0]: every source it lists is left out`, "problem 0: : no source mcpfed can run"}, nil, nil},
		{"managed is left out", "sources:\n  - name: m\n    managed: {}\n    syncPolicy: {interval: 1m}\n    claims: {org: acme}\n  - name: f\n    file: {path: /f.json}\nregistries: [{name: default, sources: [m, f]}]\n" + anonymous,
			[]string{"warning 3: sources[0].managed", "warning 4: sources[0].syncPolicy: ignored with the source", "warning 5: sources[0].claims: ignored: auth.mode is anonymous"}, []string{"problem"},
			func(t *testing.T, cfg Config) {
				if len(cfg.Sources) != 1 || cfg.Sources[0].Name != "f" || !slices.Equal(cfg.Views[0].Sources, []string{"f"}) {
					t.Errorf("sources %+v, views %+v", cfg.Sources, cfg.Views)
				}
			}},
		{"kubernetes", "sources:\n  - name: k\n    kubernetes: {namespaces: [mcp, tools]}\n    syncPolicy: {interval: 1m}\n    filter: {tags: {include: [a]}}\n  - name: all\n    kubernetes: {}\nregistries: [{name: default, sources: [k, all]}]\n" + anonymous,
			[]string{"warning 4: sources[0].syncPolicy: ignored for a kubernetes source", "warning 5: sources[0].filter: ignored for a kubernetes source", "warning 7: sources[1].kubernetes: no namespaces: mcpfed watches every namespace"}, []string{"problem"},
			func(t *testing.T, cfg Config) {
				s := cfg.Sources[0].Spec.(*kube.Spec)
				if cfg.Sources[0].Kind != "kubernetes" || !slices.Equal(s.Namespaces, []string{"mcp", "tools"}) || cfg.Sources[0].Filter.Tags.Include != nil {
					t.Errorf("kubernetes = %+v %+v", cfg.Sources[0], s)
				}
			}},
		{"filter", "sources:\n  - name: f\n    file: {path: /f.json}\n    filter:\n      names: {include: [\"com.acme/*\"], exclude: [\"*/old\"]}\n      tags: {include: [prod], exclude: [beta], other: [x]}\n      status: [active]\nregistries: [{name: default, sources: [f]}]\n" + anonymous,
			[]string{"warning 6: sources[0].filter.tags.other: not a toolhive-registry-server field", "warning 7: sources[0].filter.status: not a toolhive-registry-server field"}, []string{"problem"},
			func(t *testing.T, cfg Config) {
				f := cfg.Sources[0].Filter
				if !slices.Equal(f.Names.Include, []string{"com.acme/*"}) || !slices.Equal(f.Names.Exclude, []string{"*/old"}) || !slices.Equal(f.Tags.Include, []string{"prod"}) || !slices.Equal(f.Tags.Exclude, []string{"beta"}) || f.Status != nil {
					t.Errorf("filter = %+v", f)
				}
			}},
		{"registries without default: a root of their sources", "sources:\n  - {name: a, file: {path: /a}}\n  - {name: b, file: {path: /b}}\n  - {name: c, file: {path: /c}}\nregistries:\n  - {name: team-a, sources: [b, a]}\n  - {name: team-c, sources: [c, b]}\n" + anonymous, nil, []string{"warning", "problem"},
			func(t *testing.T, cfg Config) {
				if len(cfg.Views) != 3 || !slices.Equal(cfg.Views[0].Sources, []string{"b", "a"}) || cfg.Views[2].Name != DefaultView || !slices.Equal(cfg.Views[2].Sources, []string{"b", "a", "c"}) || !cfg.Views[2].Access.Anonymous {
					t.Errorf("views = %+v", cfg.Views)
				}
			}},
		{"the root serves every source when the registries do", "sources:\n  - {name: a, file: {path: /a}}\nregistries: [{name: only, sources: [a]}]\n" + anonymous, nil, nil,
			func(t *testing.T, cfg Config) {
				if len(cfg.Views) != 2 || cfg.Views[1].Name != DefaultView || cfg.Views[1].Sources != nil {
					t.Errorf("views = %+v", cfg.Views)
				}
			}},
		{"no registries", "sources:\n  - {name: a, file: {path: /a}}\n" + anonymous, []string{"warning 1: registries: none: toolhive-registry-server serves no registry"}, []string{"problem"},
			func(t *testing.T, cfg Config) {
				if len(cfg.Views) != 0 {
					t.Errorf("views = %+v", cfg.Views)
				}
			}},
		{"registry problems", "sources:\n  - {name: a, file: {path: /a}}\nregistries:\n  - {name: default}\n  - sources: [a, {x: 1}]\n" + anonymous,
			[]string{"problem 4: registries[0].sources: required", "problem 5: registries[1].name: required", "problem 5: registries[1].sources[1]: expects a source's name, not a mapping"}, nil, nil},
		{"oauth", `sources: [{name: a, file: {path: /a}}]
registries: [{name: default, sources: [a]}]
auth:
  publicPaths: [/metrics]
  authz: {roles: {superAdmin: [{role: admin}], manageEntries: [{role: writer}]}}
  oauth:
    resourceUrl: https://registry.example
    scopesSupported: [read]
    providers:
      - name: idp
        issuerUrl: https://idp.example
        jwksUrl: https://idp.example/keys
        audience: api://registry
        clientId: registry
        clientSecretFile: /s
        introspectionUrl: https://idp.example/introspect
        caCertPath: /ca.pem
        authTokenFile: /token
        allowPrivateIP: true
`, []string{"warning 4: auth.publicPaths: no mcpfed equivalent", "warning 5: auth.authz.roles.superAdmin: no mcpfed equivalent: mcpfed has no admin roles", "warning 5: auth.authz.roles.manageEntries",
			"warning 8: auth.oauth.scopesSupported", "warning 12: auth.oauth.providers[0].jwksUrl", "warning 14: auth.oauth.providers[0].clientId", "warning 15: auth.oauth.providers[0].clientSecretFile",
			"warning 16: auth.oauth.providers[0].introspectionUrl", "warning 19: auth.oauth.providers[0].allowPrivateIP"}, []string{"problem"},
			func(t *testing.T, cfg Config) {
				o := cfg.Auth.OIDC[0]
				if cfg.Auth.ResourceURL != "https://registry.example" || o.Name != "idp" || o.Issuer != "https://idp.example" || o.Audience != "api://registry" || o.CAFile != "/ca.pem" || o.JWKSTokenFile != "/token" {
					t.Errorf("auth = %+v", cfg.Auth)
				}
				if a := cfg.Views[0].Access; a.Anonymous || a.Claims != nil {
					t.Errorf("access = %+v", a)
				}
			}},
		{"oauth is the default mode", "sources: [{name: a, file: {path: /a}}]\nregistries: [{name: default, sources: [a]}]\nauth: {publicPaths: []}\n",
			[]string{"problem 3: auth.oauth.providers: required when auth.mode is oauth"}, nil, nil},
		{"auth is required", "sources: [{name: a, file: {path: /a}}]\nregistries: [{name: default, sources: [a]}]\n",
			[]string{"problem 1: auth: missing: toolhive-registry-server then requires OAuth"}, nil, nil},
		{"auth mode", "sources: [{name: a, file: {path: /a}}]\nauth: {mode: open}\n", []string{`problem 2: auth.mode: "open" is not anonymous or oauth`}, nil, nil},
		{"oauth block ignored when anonymous", "sources: [{name: a, file: {path: /a}}]\nregistries: [{name: default, sources: [a]}]\nauth:\n  mode: anonymous\n  oauth: {providers: [{name: x}]}\n",
			[]string{"warning 5: auth.oauth: ignored: auth.mode is anonymous"}, []string{"problem"}, nil},
		{"claims become access claims", `sources:
  - {name: a, file: {path: /a}, claims: {org: acme}}
  - {name: b, file: {path: /b}}
  - {name: k, kubernetes: {namespaces: [x]}, claims: {team: k8s}}
registries:
  - {name: default, sources: [a, b, k], claims: {org: [acme], team: platform}}
  - {name: other, sources: [b]}
auth: {oauth: {providers: [{name: i, issuerUrl: https://i.example, audience: a}]}}
`, []string{"warning 2: sources[0].claims: mcpfed has no claims on entries: they are required by every view serving the source (default)",
			"warning 4: sources[2].claims: ignored: toolhive-registry-server does not put a kubernetes source's claims on its entries"}, []string{"problem"},
			func(t *testing.T, cfg Config) {
				want := map[string]any{"org": "acme", "team": "platform"}
				if a := cfg.Views[0].Access; a.Anonymous || fmt.Sprint(a.Claims) != fmt.Sprint(want) {
					t.Errorf("default access = %+v", a)
				}
				if a := cfg.Views[1].Access; a.Anonymous || a.Claims != nil {
					t.Errorf("other access = %+v", a)
				}
			}},
		{"claims mcpfed cannot say", `sources:
  - {name: a, file: {path: /a}, claims: {team: a}}
  - {name: b, file: {path: /b}, claims: {team: b}}
registries:
  - {name: both, sources: [a, b]}
  - {name: all-of, sources: [a], claims: {groups: [x, y]}}
  - {name: present, sources: [a], claims: {groups: []}}
  - {name: bad, sources: [a], claims: {groups: {x: 1}}}
auth: {oauth: {providers: [{name: i, issuerUrl: https://i.example, audience: a}]}}
`, []string{`problem 2: sources[0].claims.team: requires "team" to carry every one of [a, b] (sources[0].claims.team, sources[1].claims.team)`,
			`problem 6: registries[1].claims.groups: requires "groups" to carry every one of [x, y]`,
			`problem 7: registries[2].claims.groups: an empty list requires the claim "groups" with any value`,
			`problem 8: registries[3].claims.groups: expects a string or a list of strings`}, nil, nil},
		{"the root needs every registry's claims", `sources: [{name: a, file: {path: /a}}, {name: b, file: {path: /b}}]
registries:
  - {name: one, sources: [a], claims: {org: acme}}
  - {name: two, sources: [b], claims: {tier: gold}}
auth: {oauth: {providers: [{name: i, issuerUrl: https://i.example, audience: a}]}}
`, nil, []string{"problem", "warning"},
			func(t *testing.T, cfg Config) {
				root := cfg.Views[2]
				if root.Name != DefaultView || root.Sources != nil || fmt.Sprint(root.Access.Claims) != "map[org:acme tier:gold]" {
					t.Errorf("root = %+v", root)
				}
			}},
		{"claims ignored when anonymous", "sources: [{name: a, file: {path: /a}}]\nregistries: [{name: default, sources: [a], claims: {org: acme}}]\n" + anonymous,
			[]string{"warning 2: registries[0].claims: ignored: auth.mode is anonymous"}, []string{"problem"},
			func(t *testing.T, cfg Config) {
				if a := cfg.Views[0].Access; !a.Anonymous || a.Claims != nil {
					t.Errorf("access = %+v", a)
				}
			}},
		{"single-source without a name or auth", "source:\n  api: {endpoint: https://r.example}\nsyncPolicy: {interval: 10m}\n", nil, []string{"problem", "warning"},
			func(t *testing.T, cfg Config) {
				if cfg.Sources[0].Name != "default" || cfg.Sources[0].Kind != "api" || len(cfg.Views) != 0 {
					t.Errorf("sources %+v views %+v", cfg.Sources, cfg.Views)
				}
			}},
		{"source claims without registries gate the root", "sources:\n  - name: f\n    file: {path: /f.json}\n    claims: {team: a}\nauth: {mode: oauth, oauth: {providers: [{name: i, issuerUrl: https://i.example, audience: a}]}}\n",
			[]string{"they are required by every view serving the source (default)"}, []string{"no registry serves the source", "problem"},
			func(t *testing.T, cfg Config) {
				if root := cfg.RootView(); root.Access.Anonymous || root.Access.Claims["team"] != "a" {
					t.Errorf("root %+v", root)
				}
			}},
		{"single-source with oauth: the root needs a token", "registryName: r\nsource: {type: file, file: {path: /r.json}}\nauth: {mode: oauth, oauth: {providers: [{name: i, issuerUrl: https://i.example, audience: a}]}}\n", nil, []string{"problem", "warning"},
			func(t *testing.T, cfg Config) {
				if len(cfg.Views) != 1 || cfg.Views[0].Name != DefaultView || cfg.Views[0].Access.Anonymous {
					t.Errorf("views %+v", cfg.Views)
				}
			}},
		{"single-source type", "registryName: r\nsource:\n  type: git\n  file: {path: /r.json}\n", []string{"problem 3: source.type: is git but there is no source.git block"}, nil, nil},
		{"single-source configmap", "registryName: r\nsource:\n  type: configmap\n  configmap: {name: reg}\n", []string{"problem 3: source.type: configmap (a Kubernetes ConfigMap) has no mcpfed equivalent"}, nil, nil},
		{"single-source other block", "source:\n  type: file\n  file: {path: /r.json}\n  git: {repository: https://g.example/r.git}\n", []string{"warning 4: source.git: ignored: source.type is file"}, []string{"problem"}, nil},
		{"registries form", `registryName: mine
registries:
  - name: cat
    format: upstream
    git: {repository: https://g.example/r.git, branch: main}
    syncPolicy: {interval: 15m}
  - name: local
    file: {path: /l.json}
fileStorage: {baseDir: /data}
auth: {mode: anonymous}
`, []string{"warning 1: registryName: no mcpfed equivalent", "warning 9: fileStorage.baseDir: no mcpfed equivalent"}, []string{"problem"},
			func(t *testing.T, cfg Config) {
				if len(cfg.Sources) != 2 || len(cfg.Views) != 3 || !slices.Equal(cfg.Views[0].Sources, []string{"cat"}) || cfg.Views[2].Name != DefaultView || cfg.Views[2].Sources != nil {
					t.Errorf("sources %+v views %+v", cfg.Sources, cfg.Views)
				}
				if cfg.Sources[0].Spec.(*gitsource.Spec).Interval != 15*time.Minute {
					t.Errorf("interval not read: %+v", cfg.Sources[0].Spec)
				}
			}},
		{"unknown and ignored fields", `sources:
  - name: a
    file: {path: /a, pth: /b}
    sycnPolicy: {interval: 1m}
registries: [{name: default, sources: [a]}]
telemetry:
  enabled: true
  tracing: {enabled: true, sampling: 0.1}
  metrics: {}
listen: ":9000"
auth: {mode: anonymous}
`, []string{`warning 3: sources[0].file.pth: not a toolhive-registry-server field mcpfed knows (did you mean "path"?); ignored`,
			`warning 4: sources[0].sycnPolicy: not a toolhive-registry-server field mcpfed knows (did you mean "syncPolicy"?)`,
			"warning 7: telemetry.enabled: no mcpfed equivalent: mcpfed exports Prometheus metrics", "warning 8: telemetry.tracing.enabled", "warning 8: telemetry.tracing.sampling", "warning 9: telemetry.metrics",
			`warning 10: listen: not a toolhive-registry-server field mcpfed knows`}, []string{"problem"}, nil},
		{"source blocks", "sources:\n  - {name: none}\n  - {name: two, git: {repository: /r}, file: {path: /f}}\n  - {file: {path: /f}}\n" + anonymous,
			[]string{"problem 2: sources[0]: needs one of git, api, file, managed or kubernetes", "problem 3: sources[1]: has git, file: give one", "problem 4: sources[2].name: required"}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, m, probs := mapToolHive(t, "thv.yaml", tc.doc)
			got := said(m, probs)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("nothing says\n  %s\ngot:\n%s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("something says %q:\n%s", n, got)
				}
			}
			if tc.check != nil && !t.Failed() {
				tc.check(t, cfg)
			}
		})
	}
}

// TestToolHiveProblemsNameTheFile: mcpfed's own checks of the mapped
// configuration are shown with the ToolHive field and line.
func TestToolHiveProblemsNameTheFile(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "thv.yaml", `sources:
  - name: m
    managed: {}
  - name: Bad Name
    git:
      repository: https://g.example/r.git
      branch: main
      tag: v1
    syncPolicy:
      interval: soon
  - name: f
    file: {path: /f.json}
    filter: {names: {include: ["[oops"]}}
registries:
  - name: default
    sources: [m, f, nope]
auth:
  mode: oauth
  oauth:
    providers:
      - name: Company SSO
        issuerUrl: http://idp.example
        audience: api://registry
database: {host: db}
`)
	_, err := Load(env(EnvConfig, file), Flags{})
	if err == nil {
		t.Fatal("accepted")
	}
	got := strings.Join(Errors(err), "\n")
	for _, want := range []string{
		file + `:4: sources[1].name: "Bad Name" must be a slug`,
		file + `:4: sources[1]: branch, tag and commit exclude each other`,
		file + `:10: sources[1].syncPolicy.interval: "soon" is not a duration`,
		file + `:13: sources[2].filter.names: bad pattern "[oops"`,
		file + `:16: registries[0].sources[2]: no source named "nope"`,
		file + `:21: auth.oauth.providers[0].name: "Company SSO" must be a slug`,
		file + `:22: auth.oauth.providers[0].issuerUrl: "http://idp.example" must be an https URL`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no problem says\n  %s\ngot:\n%s", want, got)
		}
	}
}

// TestToolHiveHostile: wrong types name the field and line; size, aliases
// and depth are bounded.
func TestToolHiveHostile(t *testing.T) {
	t.Parallel()
	var bomb strings.Builder
	bomb.WriteString("sources: [{name: a, file: {path: /a}}]\nauth: {mode: anonymous}\nl0: &l0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&bomb, "l%d: &l%d {a: *l%d, b: *l%d, c: *l%d, d: *l%d, e: *l%d, f: *l%d, g: *l%d, h: *l%d, i: *l%d, j: *l%d}\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	bomb.WriteString("database: *l9\n")
	var merges strings.Builder
	merges.WriteString("m0: &m0 {a: 1}\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&merges, "m%d: &m%d {<<: [*m%d, *m%d, *m%d, *m%d, *m%d, *m%d, *m%d, *m%d, *m%d, *m%d]}\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	merges.WriteString("sources:\n  - name: a\n    <<: *m10\n    file: {path: /a}\n" + anonymous)
	deep := "sources: [{name: a, file: {path: /a}}]\nauth: {mode: anonymous}\ndatabase: " + strings.Repeat("{a: ", 200) + "1" + strings.Repeat("}", 200) + "\n"
	self := "sources: [{name: a, file: {path: /a}}]\nauth: {mode: anonymous}\ntelemetry: &t {a: *t}\n"
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"sources not a list", "sources: {name: a}\nregistries: []\n", []string{"problem 1: sources: expects a list"}},
		{"interval a list", "sources:\n  - name: a\n    file: {path: /a}\n    syncPolicy:\n      interval: [1m]\n" + anonymous, []string{"problem 5: sources[0].syncPolicy.interval: expects a single value, not a list"}},
		{"interval a number", "sources:\n  - name: a\n    file: {path: /a}\n    syncPolicy: {interval: 30}\n" + anonymous, []string{`problem 4: sources[0].syncPolicy.interval: "30" is not a duration: write 30s`}},
		{"name a mapping", "sources:\n  - name: {x: 1}\n    file: {path: /a}\n" + anonymous, []string{"problem 2: sources[0].name: expects a single value, not a mapping"}},
		{"block a list", "sources:\n  - name: a\n    git: [x]\n" + anonymous, []string{"problem 3: sources[0].git: expects fields (name: value), not a list"}},
		{"claims a string", "sources:\n  - name: a\n    file: {path: /a}\n    claims: everyone\n" + anonymous, []string{`problem 4: sources[0].claims: expects fields (name: value), not "everyone"`}},
		{"given twice", "sources:\n  - name: a\n    name: b\n    file: {path: /a}\n" + anonymous, []string{"problem 3: sources[0].name: given twice (first on line 2)"}},
		{"empty source", "sources:\n  -\n" + anonymous, []string{"problem 2: sources[0]: expects a source"}},
		{"alias bomb", bomb.String(), []string{"more than 1000 warnings: the rest are left out"}},
		{"merge bomb", merges.String(), []string{"sources[0]: the document is too large once its aliases are expanded (more than 100000 values)"}},
		{"deep", deep, []string{"warning 3: database.a.a.a.a"}},
		{"alias to itself", self, []string{"telemetry.a.a.a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, m, probs := mapToolHive(t, "thv.yaml", tc.doc)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			if len(m.Warnings) > maxToolHiveWarnings+1 {
				t.Errorf("%d warnings", len(m.Warnings))
			}
			got := said(m, probs)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("nothing says\n  %s\ngot:\n%.3000s", w, got)
				}
			}
		})
	}
	t.Run("huge file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "thv.yaml")
		big := "registries: []\ndatabase:\n" + strings.Repeat("  # padding padding padding padding padding padding padding\n", maxConfigBytes/50)
		if err := os.WriteFile(path, []byte(big), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(env(EnvConfig, path), Flags{})
		if err == nil || !strings.Contains(err.Error(), "cannot read the configuration file") {
			t.Errorf("a file over %d bytes: %v", maxConfigBytes, err)
		}
	})
}
