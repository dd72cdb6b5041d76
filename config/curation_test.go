package config

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mcpfed/mcpfed/curation"
	"github.com/mcpfed/mcpfed/publish"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/gitsource"
	"github.com/mcpfed/mcpfed/upstream/managed"
)

const curatedFile = `store: {driver: postgres, url: "postgres://mcpfed@db:5432/mcpfed?sslmode=require", passwordFile: /run/secrets/db}
auth:
  oidc:
    - {name: corp, issuer: https://idp.example.com, audience: mcpfed}
sources:
  - {name: official, kind: api, url: https://registry.modelcontextprotocol.io, mode: mirror}
  - {name: internal, kind: managed, namespaces: ["com.acme/*"]}
  - name: reviews
    kind: git
    repository: https://git.example.com/platform/mcp-reviews.git
    path: decisions.yaml
    decisions: true
  - {name: security, kind: file, path: /etc/mcpfed/denied.yaml, decisions: true}
publishing:
  publishers:
    - {claims: {groups: [team-a]}, namespaces: ["com.acme.team-a/*"]}
  githubOIDC: {issuer: "https://token.actions.githubusercontent.com", audience: mcp-registry}
  anonymous: false
curation:
  reviewerClaims: {groups: [platform-reviewers]}
views:
  - {name: approved, sources: [official, internal], curation: approved-only}
  - {name: all}
`

// TestCurationConfiguration: the configuration, as written there,
// loads into the components' own types.
func TestCurationConfiguration(t *testing.T) {
	t.Parallel()
	cfg, err := Load(env(EnvConfig, writeFile(t, "curated.yaml", curatedFile)), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Store; s.Driver != DriverPostgres || s.URL != "postgres://mcpfed@db:5432/mcpfed?sslmode=require" || s.PasswordFile != "/run/secrets/db" {
		t.Errorf("store %+v", s)
	}
	if _, ok := cfg.Sources[1].Spec.(*managed.Spec); !ok || cfg.Sources[1].Kind != managed.Kind {
		t.Errorf("managed source %+v", cfg.Sources[1])
	}
	if g, ok := cfg.Sources[2].Spec.(*gitsource.Spec); !ok || !cfg.Sources[2].Decisions || g.Path != "decisions.yaml" {
		t.Errorf("git decisions source %+v", cfg.Sources[2])
	}
	if f, ok := cfg.Sources[3].Spec.(*upstream.FileSpec); !ok || !cfg.Sources[3].Decisions || f.Path != "/etc/mcpfed/denied.yaml" {
		t.Errorf("file decisions source %+v", cfg.Sources[3])
	}
	p := cfg.Publishing
	if len(p.Publishers) != 1 || p.Publishers[0].Namespaces[0] != "com.acme.team-a/*" || p.GitHubOIDC.Audience != "mcp-registry" || p.MaxBodyBytes != publish.DefaultMaxBodyBytes {
		t.Errorf("publishing %+v", p)
	}
	if cfg.Curation.ReviewerClaims["groups"] == nil || cfg.Views[0].Curation != curation.ApprovedOnly || cfg.Views[1].Curation != "" {
		t.Errorf("curation %+v, views %+v", cfg.Curation, cfg.Views)
	}
	if !cfg.NeedsStore() || !slices.Equal(cfg.DecisionSources(), []int{2, 3}) || !slices.Equal(cfg.ServerSources(), []string{"official", "internal"}) {
		t.Errorf("needs store %v, decisions %v, servers %v", cfg.NeedsStore(), cfg.DecisionSources(), cfg.ServerSources())
	}
}

// TestStoreDefaultsAndVariables: without store: it is SQLite and nothing
// needs it; the variables set it, a URL alone meaning PostgreSQL; the
// blocks read from variables replace the file's.
func TestStoreDefaultsAndVariables(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "s.yaml", "store: {driver: sqlite, path: /data/m.db}\ncuration: {reviewerClaims: {g: x}}\nauth: {tokens: [{name: ci, tokenFile: /t}]}\n")
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, cfg Config)
	}{
		{"default", env(), func(t *testing.T, cfg Config) {
			if cfg.Store.Driver != DriverSQLite || cfg.Store.URL != "" || cfg.NeedsStore() {
				t.Errorf("store %+v, needs %v", cfg.Store, cfg.NeedsStore())
			}
		}},
		{"url alone is postgres", env(EnvDatabaseURL, " postgres://mcpfed@db/mcpfed ", EnvDatabasePasswordFile, "/run/secrets/db"), func(t *testing.T, cfg Config) {
			if cfg.Store.Driver != DriverPostgres || cfg.Store.URL != "postgres://mcpfed@db/mcpfed" || cfg.Store.PasswordFile != "/run/secrets/db" {
				t.Errorf("store %+v", cfg.Store)
			}
		}},
		{"store block as JSON", env(EnvStore, `{"driver":"postgres","url":"postgresql://m@db/m","migrationURL":"postgres://owner@db/m","migrationPasswordFile":"/o"}`), func(t *testing.T, cfg Config) {
			if cfg.Store.Driver != DriverPostgres || cfg.Store.MigrationURL != "postgres://owner@db/m" || cfg.Store.MigrationPasswordFile != "/o" {
				t.Errorf("store %+v", cfg.Store)
			}
		}},
		{"store block replaces the file's", env(EnvConfig, file, EnvStore, "driver: sqlite\n"), func(t *testing.T, cfg Config) {
			if cfg.Store.Path != "" || cfg.Store.Driver != DriverSQLite {
				t.Errorf("store %+v", cfg.Store)
			}
		}},
		{"variables after the block", env(EnvStore, "{driver: postgres, url: postgres://a@x/m}", EnvDatabaseURL, "postgres://b@y/m"), func(t *testing.T, cfg Config) {
			if cfg.Store.URL != "postgres://b@y/m" {
				t.Errorf("store %+v", cfg.Store)
			}
		}},
		{"file", env(EnvConfig, file), func(t *testing.T, cfg Config) {
			if cfg.Store.Path != "/data/m.db" || !cfg.NeedsStore() {
				t.Errorf("store %+v, needs %v", cfg.Store, cfg.NeedsStore())
			}
		}},
		{"curation block", env(EnvCuration, "reviewerClaims: {groups: [r]}\n", EnvAuth, "tokens: [{name: ci, tokenFile: /t}]"), func(t *testing.T, cfg Config) {
			if cfg.Curation.ReviewerClaims["groups"] == nil || !cfg.NeedsStore() {
				t.Errorf("curation %+v", cfg.Curation)
			}
		}},
		{"publishing block", env(EnvPublishing, `{"anonymous": true}`), func(t *testing.T, cfg Config) {
			if !cfg.Publishing.Anonymous || cfg.Publishing.GitHubOIDC.Issuer != publish.DefaultGitHubIssuer || !cfg.NeedsStore() {
				t.Errorf("publishing %+v", cfg.Publishing)
			}
		}},
		{"a managed source needs the store", env(EnvSources, `[{"name":"internal","kind":"managed"}]`), func(t *testing.T, cfg Config) {
			if !cfg.NeedsStore() {
				t.Error("a managed source does not need the store")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(tc.env, Flags{})
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
	names := EnvNames()
	for _, want := range []string{EnvStore, EnvPublishing, EnvCuration, EnvDatabaseURL, EnvDatabasePasswordFile} {
		if !slices.Contains(names, want) {
			t.Errorf("%s is not known", want)
		}
	}
}

// TestCurationMessages: every problem of the new blocks is placed where
// the operator wrote it, under the operator's names, never showing a
// password.
func TestCurationMessages(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "c.yaml", `store:
  driver: postgres
  url: "postgres://mcpfed:hunter2@db:5432/mcpfed"
  path: /data/m.db
  migrationPasswordFile: /run/secrets/owner
sources:
  - {name: a, kind: file, path: /a.json}
  - {name: m1, kind: managed}
  - {name: m2, kind: managed, path: /x}
  - {name: d1, kind: api, url: "https://x.invalid", decisions: true}
  - name: d2
    kind: file
    path: builtin:toolhive
    decisions: true
    namespaces: ["com.acme/*"]
    filter: {status: [active]}
views:
  - {name: v1, sources: [a, d2], curation: approved}
  - {name: v2, curation: approved-only}
publishing:
  publishers:
    - {claims: {groups: [x]}}
`)
	tests := []struct {
		name string
		env  map[string]string
		want []string
		not  []string
	}{
		{"file", env(EnvConfig, file), []string{
			file + `:3: store.url: "postgres://db:5432/mcpfed" must not carry a password: put it in passwordFile (MCPFED_DATABASE_PASSWORD_FILE)`,
			file + `:4: store.path: applies to driver sqlite only`,
			file + `:5: store.migrationPasswordFile: needs migrationURL`,
			file + `:9: sources[2].kind: only one source may be of kind managed (sources[1] is)`,
			file + `:9: sources[2].path does not apply to kind managed`,
			file + `:10: sources[3].decisions: applies to kind file or git only`,
			file + `:13: sources[4].path: a decisions source cannot read the built-in catalogue`,
			file + `:15: sources[4].namespaces: does not apply to a decisions source`,
			file + `:16: sources[4].filter: does not apply to a decisions source`,
			file + `:18: views[0].curation: "approved" is not approved-only (leave it out to show every version)`,
			file + `:18: views[0].sources[1]: "d2" holds curation decisions, not servers`,
			file + `:22: publishing.publishers[0].namespaces: required`,
		}, []string{"hunter2"}},
		{"nobody can approve", env(EnvSources, `[{"name":"a","kind":"file","path":"/a"}]`, EnvViews, "- name: v\n  curation: approved-only\n"), []string{
			`MCPFED_VIEWS:2: views[0].curation: approved-only shows only approved versions, but nobody can approve: set curation.reviewerClaims`}, nil},
		{"driver", env(EnvStore, "driver: mysql\n"), []string{`MCPFED_STORE:1: store.driver: "mysql" is not sqlite or postgres`}, nil},
		{"postgres without url", env(EnvStore, "{driver: postgres}"), []string{`MCPFED_STORE:1: store.url: required for driver postgres (or MCPFED_DATABASE_URL)`}, nil},
		{"sqlite with postgres fields", env(EnvStore, "driver: sqlite\nurl: postgres://m@db/m\npasswordFile: /p\n"), []string{
			`MCPFED_STORE:2: store.url: applies to driver postgres only`, `MCPFED_STORE:3: store.passwordFile: applies to driver postgres only`}, nil},
		{"store typo", env(EnvStore, `{"drivr": "sqlite"}`), []string{`MCPFED_STORE:1: store: unknown field "drivr"; did you mean "driver"?`}, nil},
		{"url variable with a password", env(EnvDatabaseURL, "postgres://mcpfed:s3cr3t@db/mcpfed"), []string{
			`MCPFED_DATABASE_URL: "postgres://db/mcpfed" must not carry a password: put it in passwordFile (MCPFED_DATABASE_PASSWORD_FILE)`}, []string{"s3cr3t"}},
		{"password in the query", env(EnvDatabaseURL, "postgres://db/mcpfed?password=s3cr3t"), []string{`MCPFED_DATABASE_URL: "postgres://db/mcpfed" must not carry a password (query parameter "password")`}, []string{"s3cr3t"}},
		{"not postgres", env(EnvDatabaseURL, "mysql://db/mcpfed"), []string{`MCPFED_DATABASE_URL: "mysql://db/mcpfed" must be a postgres:// or postgresql:// URL`}, nil},
		{"not a URL", env(EnvDatabaseURL, "host=db user=mcpfed password=s3cr3t"), []string{`MCPFED_DATABASE_URL: is not a URL such as postgres://`}, []string{"s3cr3t"}},
		{"opaque", env(EnvDatabaseURL, "postgres:s3cr3t@db"), []string{`MCPFED_DATABASE_URL: is not a URL such as postgres://`}, []string{"s3cr3t"}},
		{"migration url", env(EnvStore, "{driver: postgres, url: postgres://m@db/m, migrationURL: 'postgres://o:pw@db/m'}"), []string{
			`MCPFED_STORE:1: store.migrationURL: "postgres://db/m" must not carry a password: put it in migrationPasswordFile`}, []string{":pw@"}},
		{"misspelt variable", env("MCPFED_DATABASE_UR", "postgres://db/m"), []string{`MCPFED_DATABASE_UR: is not a variable mcpfed reads; did you mean MCPFED_DATABASE_URL?`}, nil},
		{"reviewer claims without auth", env(EnvCuration, "reviewerClaims: {groups: [r]}\n"), []string{`MCPFED_CURATION:1: curation.reviewerClaims: needs auth.oidc or auth.tokens`}, nil},
		{"reviewer claims", env(EnvAuth, "tokens: [{name: ci, tokenFile: /t}]", EnvCuration, "reviewerClaims:\n  a..b: x\n  groups: {x: 1}\n"), []string{
			`MCPFED_CURATION:2: curation.reviewerClaims: "a..b" has an empty segment`,
			`MCPFED_CURATION:3: curation.reviewerClaims.groups: must be a string, number, boolean or a list of them`}, nil},
		{"curation typo", env(EnvCuration, "reviewerClaim: {g: x}\n"), []string{`MCPFED_CURATION:1: curation: unknown field "reviewerClaim"; did you mean "reviewerClaims"?`}, nil},
		{"publishing variable", env(EnvPublishing, `{"githubOIDC": {"issuer": "http://token.example.com"}, "maxBodyBytes": -1}`), []string{
			`MCPFED_PUBLISHING:1: publishing.githubOIDC.issuer: "http://token.example.com" must be an https URL`,
			`MCPFED_PUBLISHING:1: publishing.maxBodyBytes: must be between`}, nil},
		{"publishing typo", env(EnvPublishing, "publisher: []\n"), []string{`MCPFED_PUBLISHING:1: publishing: unknown field "publisher"; did you mean "publishers"?`}, nil},
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
