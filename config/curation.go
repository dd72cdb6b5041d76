package config

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/mcpfed/mcpfed/auth"
	"github.com/mcpfed/mcpfed/credential"
	"github.com/mcpfed/mcpfed/curation"
	"github.com/mcpfed/mcpfed/store"
	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/managed"
)

// The store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// applyStoreDefaults picks the driver when none is written: postgres when
// a URL is given (MCPFED_DATABASE_URL alone is a PostgreSQL deployment),
// else sqlite.
func applyStoreDefaults(s *store.Config) {
	if s.Driver != "" {
		return
	}
	s.Driver = DriverSQLite
	if s.URL != "" {
		s.Driver = DriverPostgres
	}
}

// NeedsStore reports whether something configured keeps state in the
// store: a managed source, an approved-only view, reviewers or the
// publishing: block. Without any, nothing is opened or created, whatever
// store: says.
func (c Config) NeedsStore() bool {
	if slices.ContainsFunc(c.Sources, func(s SourceConfig) bool { return s.Kind == managed.Kind }) ||
		slices.ContainsFunc(c.Views, func(v ViewConfig) bool { return v.Curation == curation.ApprovedOnly }) ||
		c.Curation.Configured() {
		return true
	}
	_, written := c.where["publishing"]
	return written
}

// DecisionSources are the indexes of the sources that hold curation
// decisions (decisions: true), in configuration order.
func (c Config) DecisionSources() []int {
	var out []int
	for i, s := range c.Sources {
		if s.Decisions {
			out = append(out, i)
		}
	}
	return out
}

// ServerSources are the sources a view named no source of merges: every
// source but the decisions sources, in configuration order.
func (c Config) ServerSources() []string {
	var out []string
	for _, s := range c.Sources {
		if !s.Decisions {
			out = append(out, s.Name)
		}
	}
	return out
}

// validateStore checks the store: block. Messages never repeat a
// password: URLs are shown redacted.
func (l *loader) validateStore(s store.Config) {
	switch s.Driver {
	case DriverSQLite:
		for _, f := range []struct{ name, val string }{
			{"url", s.URL}, {"passwordFile", s.PasswordFile}, {"migrationURL", s.MigrationURL}, {"migrationPasswordFile", s.MigrationPasswordFile},
		} {
			if f.val != "" {
				l.problem("store."+f.name, "applies to driver postgres only (store.driver is sqlite)")
			}
		}
		return
	case DriverPostgres:
	default:
		l.problem("store.driver", "%q is not %s or %s", s.Driver, DriverSQLite, DriverPostgres)
		return
	}
	if s.Path != "" {
		l.problem("store.path", "applies to driver sqlite only (store.driver is postgres)")
	}
	if s.URL == "" {
		l.problemAt("store.url", "store.driver", fmt.Sprintf("required for driver postgres (or %s)", EnvDatabaseURL))
	} else if err := checkDatabaseURL(s.URL, "passwordFile ("+EnvDatabasePasswordFile+")"); err != nil {
		l.problem("store.url", "%v", err)
	}
	if s.MigrationURL != "" {
		if err := checkDatabaseURL(s.MigrationURL, "migrationPasswordFile"); err != nil {
			l.problem("store.migrationURL", "%v", err)
		}
	} else if s.MigrationPasswordFile != "" {
		l.problem("store.migrationPasswordFile", "needs migrationURL: the migration user's password goes with its URL")
	}
}

// checkDatabaseURL accepts a postgres:// URL without a password (in the
// user information or the query): the password belongs in a file.
func checkDatabaseURL(raw, passwordField string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" || (u.Host == "" && u.Query().Get("host") == "") {
		// Not shown: a keyword=value string (host=db password=...) is
		// not a URL, and RedactURL would keep its password.
		return errors.New("is not a URL such as postgres://mcpfed@db:5432/mcpfed (keyword=value strings are not accepted)")
	}
	shown := credential.RedactURL(raw)
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("%q must be a postgres:// or postgresql:// URL", shown)
	}
	if _, set := u.User.Password(); set {
		return fmt.Errorf("%q must not carry a password: put it in %s", shown, passwordField)
	}
	for name := range u.Query() {
		if strings.EqualFold(name, "password") || strings.EqualFold(name, "sslpassword") {
			return fmt.Errorf("%q must not carry a password (query parameter %q): put it in %s", shown, name, passwordField)
		}
	}
	return nil
}

// validateCuration checks curation:, publishing:, views[].curation and
// the sources that are managed or hold decisions.
func (l *loader) validateCuration(c Config) {
	if len(c.Curation.ReviewerClaims) > 0 {
		if err := (auth.Access{Claims: c.Curation.ReviewerClaims}).Validate(); err != nil {
			var rest []error
			for _, e := range flatten(err) {
				rest = append(rest, errors.New(strings.Replace(strings.TrimPrefix(e.Error(), "access."), "claims", "reviewerClaims", 1)))
			}
			l.fieldErrors("curation", reflect.TypeFor[curation.Config](), errors.Join(rest...))
		}
		if len(c.Auth.OIDC) == 0 && len(c.Auth.Tokens) == 0 {
			l.problem("curation.reviewerClaims", "needs auth.oidc or auth.tokens: no token can carry claims without them")
		}
	}
	if err := c.Publishing.Validate(); err != nil {
		l.fieldErrors("", reflect.TypeFor[Config](), err)
	}
	managedAt := -1
	decisions := false
	for i, s := range c.Sources {
		path := fmt.Sprintf("sources[%d]", i)
		if s.Kind == managed.Kind {
			if managedAt >= 0 {
				l.problem(path+".kind", "only one source may be of kind managed (sources[%d] is): it serves everything published to this mcpfed", managedAt)
			} else {
				managedAt = i
			}
		}
		if s.Decisions {
			decisions = true
			l.validateDecisionSource(s, path)
		}
	}
	deciders := len(c.Curation.ReviewerClaims) > 0 || len(c.Admin.Claims) > 0 || c.Admin.TokenFile != "" || decisions
	for i, v := range c.Views {
		path := fmt.Sprintf("views[%d]", i)
		switch {
		case v.Curation == "":
		case v.Curation != curation.ApprovedOnly:
			l.problem(path+".curation", "%q is not %s (leave it out to show every version)", v.Curation, curation.ApprovedOnly)
		case !deciders:
			l.problem(path+".curation", "%s shows only approved versions, but nobody can approve: set curation.reviewerClaims "+
				"(or admin.claims or admin.tokenFile), or add a decisions source (a file or git source with decisions: true)", curation.ApprovedOnly)
		}
		for j, name := range v.Sources {
			if k := slices.IndexFunc(c.Sources, func(s SourceConfig) bool { return s.Name == name }); k >= 0 && c.Sources[k].Decisions {
				l.problem(fmt.Sprintf("%s.sources[%d]", path, j), "%q holds curation decisions, not servers: a view cannot list it", name)
			}
		}
	}
}

// validateDecisionSource checks a source with decisions: true.
func (l *loader) validateDecisionSource(s SourceConfig, path string) {
	if s.Kind != "file" && s.Kind != "git" {
		if s.Kind != "" {
			l.problem(path+".decisions", "applies to kind file or git only")
		}
		return
	}
	if len(s.Namespaces) > 0 {
		l.problem(path+".namespaces", "does not apply to a decisions source: it holds no servers")
	}
	if !reflect.ValueOf(s.Filter).IsZero() {
		l.problem(path+".filter", "does not apply to a decisions source: it holds no servers")
	}
	if f, ok := s.Spec.(*upstream.FileSpec); ok && strings.HasPrefix(f.Path, upstream.BuiltinPrefix) {
		l.problem(path+".path", "a decisions source cannot read the built-in catalogue: give a file or url")
	}
}
