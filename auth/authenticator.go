package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Kind says how an identity was established.
type Kind int

// The kinds of identity.
const (
	KindAnonymous Kind = iota
	KindStatic
	KindOIDC
)

func (k Kind) String() string {
	switch k {
	case KindStatic:
		return "static"
	case KindOIDC:
		return "oidc"
	}
	return "anonymous"
}

// Identity is who a request comes from. Its Claims must not be modified.
type Identity struct {
	Kind Kind
	// Provider names the configured issuer (oidc[].name) or static token
	// (tokens[].name) that established the identity.
	Provider string
	// Issuer is the token's verified iss; "" for static tokens.
	Issuer string
	// Subject is the token's verified sub, or the static token's name.
	Subject string
	// Claims are the verified claims (numbers as json.Number), or the
	// static token's configured claims.
	Claims map[string]any
}

// Anonymous reports whether the request carried no token.
func (id Identity) Anonymous() bool { return id.Kind == KindAnonymous }

// Options are the authenticator's collaborators and tunables; zero fields
// take the defaults below.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// HTTPTimeout bounds one discovery or JWKS request.
	HTTPTimeout time.Duration
	// DiscoveryBackoff is the wait after a failed discovery, doubled up to
	// DiscoveryBackoffMax.
	DiscoveryBackoff    time.Duration
	DiscoveryBackoffMax time.Duration
	// JWKSRefetchInterval: at most one JWKS fetch per interval (an
	// unknown key id triggers one).
	JWKSRefetchInterval time.Duration
	// StaticRecheck: how often static token files are checked for change.
	StaticRecheck time.Duration
}

// Defaults of Options.
const (
	DefaultLeeway              = 30 * time.Second
	DefaultHTTPTimeout         = 10 * time.Second
	DefaultDiscoveryBackoff    = time.Second
	DefaultDiscoveryBackoffMax = time.Minute
	DefaultJWKSRefetchInterval = 30 * time.Second
	DefaultStaticRecheck       = time.Second
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Leeway, DefaultLeeway)
	def(&o.HTTPTimeout, DefaultHTTPTimeout)
	def(&o.DiscoveryBackoff, DefaultDiscoveryBackoff)
	def(&o.DiscoveryBackoffMax, DefaultDiscoveryBackoffMax)
	def(&o.JWKSRefetchInterval, DefaultJWKSRefetchInterval)
	def(&o.StaticRecheck, DefaultStaticRecheck)
	return o
}

// Authenticator establishes request identities. It is safe for concurrent
// use.
type Authenticator struct {
	static  *staticTokens
	issuers []*issuer
	log     *slog.Logger
}

// New builds an authenticator from a validated configuration. It reads
// the static token files and CA files (an unreadable or empty file is an
// error) but contacts no issuer: discovery happens on first use, or on
// Discover.
func New(cfg Config, opts Options) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	a := &Authenticator{log: opts.Logger}
	st, err := newStaticTokens(cfg.Tokens, opts.Logger, opts.Now, opts.StaticRecheck)
	if err != nil {
		return nil, err
	}
	a.static = st
	for i, o := range cfg.OIDC {
		is, err := newIssuer(o, opts.Logger, opts.Now, opts)
		if err != nil {
			return nil, fmt.Errorf("auth.oidc[%d].%w", i, err)
		}
		a.issuers = append(a.issuers, is)
	}
	return a, nil
}

// Issuers lists the configured issuer URLs (RFC 9728
// authorization_servers), in configured order, without repeats.
func (a *Authenticator) Issuers() []string {
	var out []string
	seen := map[string]bool{}
	for _, is := range a.issuers {
		if !seen[is.cfg.Issuer] {
			seen[is.cfg.Issuer] = true
			out = append(out, is.cfg.Issuer)
		}
	}
	return out
}

// Discover attempts discovery of every issuer not yet discovered (subject
// to backoff) and returns what failed. Failures are not fatal: a caller
// at start logs them; tokens of those issuers fail until discovery works.
func (a *Authenticator) Discover(ctx context.Context) error {
	var errs []error
	for _, is := range a.issuers {
		if _, err := is.ready(ctx); err != nil {
			errs = append(errs, fmt.Errorf("issuer %s: %w", is.cfg.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Close releases idle connections to the issuers.
func (a *Authenticator) Close() {
	for _, is := range a.issuers {
		is.close()
	}
}

// Authenticate returns the request's identity: anonymous without an
// Authorization header, else the verified token's identity, else an error
// wrapping ErrInvalidToken (whose text never contains the token).
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (Identity, error) {
	tok, err := BearerToken(r)
	if err != nil {
		return Identity{}, err
	}
	if tok == "" {
		return Identity{Kind: KindAnonymous}, nil
	}
	return a.verify(ctx, tok)
}

func (a *Authenticator) verify(ctx context.Context, tok string) (Identity, error) {
	if id, ok := a.static.match(tok); ok {
		return id, nil
	}
	if len(a.issuers) == 0 {
		return Identity{}, invalid(ErrUnknownToken)
	}
	if strings.Count(tok, ".") != 2 {
		// Not a JWT (compact JWS): it could only have been a static token.
		return Identity{}, invalid(ErrUnknownToken)
	}
	iss, err := peekIssuer(tok)
	if err != nil {
		return Identity{}, invalid(err)
	}
	var last error = invalid(ErrUnknownIssuer)
	for _, is := range a.issuers {
		if is.cfg.Issuer != iss {
			continue
		}
		id, err := is.verify(ctx, tok)
		if err == nil {
			return id, nil
		}
		last = err
	}
	return Identity{}, last
}

func joseAlgorithms() []jose.SignatureAlgorithm {
	algs := AllowedAlgorithms()
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}

// peekIssuer reads the unverified iss claim, only to choose the verifier.
// Nothing else of the unverified token is used.
func peekIssuer(tok string) (string, error) {
	t, err := jwt.ParseSigned(tok, joseAlgorithms())
	if err != nil {
		return "", ErrMalformedToken
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if err := t.UnsafeClaimsWithoutVerification(&c); err != nil {
		return "", ErrMalformedToken
	}
	if c.Issuer == "" {
		return "", ErrUnknownIssuer
	}
	return c.Issuer, nil
}
