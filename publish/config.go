package publish

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mcpfed/mcpfed/auth"
	"github.com/mcpfed/mcpfed/store"
)

// Config is the `publishing:` block of mcpfed's configuration.
type Config struct {
	// Publishers say who may write which names. A caller may write a name
	// when a rule whose claims it carries lists a namespace pattern that
	// covers it. Admins (auth's admin decision) may write every name.
	Publishers []Publisher `yaml:"publishers" json:"publishers"`
	// GitHubOIDC is the token exchange mcp-publisher's `login github-oidc`
	// uses (POST /v0/auth/github-oidc). Off while Audience is empty.
	GitHubOIDC GitHubOIDC `yaml:"githubOIDC" json:"githubOIDC"`
	// Anonymous enables POST /v0/auth/none: a token for the
	// io.modelcontextprotocol.anonymous/* namespace to anyone who asks.
	// For local testing only.
	Anonymous bool `yaml:"anonymous" json:"anonymous"`
	// TokenKeyFile holds the Ed25519 private key (PEM, PKCS #8) that signs
	// registry tokens. Empty: a key generated once and kept in the state
	// directory. Replicas behind one address must share it: a token from
	// one replica's login is presented to another's publish.
	TokenKeyFile string `yaml:"tokenKeyFile" json:"tokenKeyFile"`
	// MaxBodyBytes bounds a request body (server.json); default 256 KiB,
	// the most the store keeps of one server.json.
	MaxBodyBytes int64 `yaml:"maxBodyBytes" json:"maxBodyBytes"`
}

// Publisher is one rule of publishing.publishers.
type Publisher struct {
	// Claims the caller's token must carry, matched as auth matches a
	// view's access claims (every key must match; a list means any of its
	// values; keys may be dotted paths). Empty matches every caller.
	Claims map[string]any `yaml:"claims" json:"claims"`
	// Namespaces are name patterns: "*" (every name), a prefix ending in
	// "/*" or ".*" ("com.acme/*", "com.acme.*"), or an exact server name.
	Namespaces []string `yaml:"namespaces" json:"namespaces"`
}

// GitHubOIDC configures the GitHub Actions OIDC token exchange.
type GitHubOIDC struct {
	// Issuer of the tokens; default GitHub Actions'
	// (https://token.actions.githubusercontent.com). GitHub Enterprise
	// Server has its own.
	Issuer string `yaml:"issuer" json:"issuer"`
	// Audience the tokens must carry. mcp-publisher asks GitHub for the
	// registry's origin (scheme://host of its --registry URL), so this is
	// mcpfed's public origin, e.g. https://mcp.example.com.
	Audience string `yaml:"audience" json:"audience"`
}

// Defaults.
const (
	DefaultGitHubIssuer = "https://token.actions.githubusercontent.com"
	DefaultMaxBodyBytes = store.MaxServerBytes
	// TokenLifetime is how long a registry token is valid (as the
	// official registry: a login is followed at once by a publish).
	TokenLifetime = 5 * time.Minute
	// AnonymousNamespace is what /v0/auth/none grants (the official
	// registry's anonymous namespace).
	AnonymousNamespace = "io.modelcontextprotocol.anonymous/*"
)

// maxMaxBodyBytes bounds the configured body limit: a server.json is a
// few kilobytes.
const maxMaxBodyBytes = 64 << 20

// ApplyDefaults fills what the operator left out.
func (c *Config) ApplyDefaults() {
	if c.GitHubOIDC.Issuer == "" {
		c.GitHubOIDC.Issuer = DefaultGitHubIssuer
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// Validate lists every problem of c, each naming its field by its YAML
// path (publishing.publishers[0].namespaces[1]: ...). It reads no file.
func (c Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("publishing.%s: %s", path, fmt.Sprintf(format, args...)))
	}
	for i, p := range c.Publishers {
		at := fmt.Sprintf("publishers[%d]", i)
		if err := (auth.Access{Claims: p.Claims}).Validate(); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("publishing.%s.%s", at, strings.TrimPrefix(e.Error(), "access.")))
			}
		}
		if len(p.Namespaces) == 0 {
			add(at+".namespaces", "required: the name patterns this rule lets its callers write")
		}
		for j, ns := range p.Namespaces {
			if err := checkPattern(ns); err != nil {
				add(fmt.Sprintf("%s.namespaces[%d]", at, j), "%v", err)
			}
		}
	}
	if iss := c.GitHubOIDC.Issuer; iss != "" {
		if err := checkIssuer(iss); err != nil {
			add("githubOIDC.issuer", "%v", err)
		}
	}
	if a := c.GitHubOIDC.Audience; a != "" && strings.TrimSpace(a) != a {
		add("githubOIDC.audience", "must not start or end with white space")
	}
	if c.TokenKeyFile != "" && strings.TrimSpace(c.TokenKeyFile) == "" {
		add("tokenKeyFile", "must not be blank")
	}
	if c.MaxBodyBytes < 0 || c.MaxBodyBytes > maxMaxBodyBytes {
		add("maxBodyBytes", "must be between 1 and %d (0: %d)", maxMaxBodyBytes, DefaultMaxBodyBytes)
	}
	return errors.Join(errs...)
}

// unjoin splits an errors.Join result (auth's validation lists several
// problems) so each gets its own path prefix.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// checkIssuer accepts an https URL, or http on a loopback host (tests).
func checkIssuer(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an issuer URL (https://host[/path])", s)
	}
	if u.Scheme == "https" {
		return nil
	}
	if u.Scheme == "http" && isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%q must be an https URL", s)
}

func isLoopback(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}
