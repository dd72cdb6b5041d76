package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Bounds of the GitHub OIDC exchange.
const (
	oidcTimeout    = 10 * time.Second
	oidcRetryAfter = 10 * time.Second // after a failed discovery
	// oidcRefetch is the least time between two requests for one URL:
	// go-oidc fetches the JWKS again for every token whose signature its
	// cached keys do not verify, and the exchange is open to anyone.
	oidcRefetch       = 10 * time.Second
	maxIssuerResponse = 1 << 20
	maxOIDCToken      = 16 << 10
)

// Errors of the GitHub OIDC exchange.
var (
	ErrOIDCUnavailable = errors.New("the GitHub OIDC issuer cannot be reached")
	ErrOIDCToken       = errors.New("GitHub OIDC token does not verify")
)

// githubClaims are the claims of a GitHub Actions OIDC token the exchange
// uses; the rest are kept for the publishers rules (claims).
type githubClaims struct {
	Subject         string `json:"sub"`
	RepositoryOwner string `json:"repository_owner"`
}

// githubVerifier verifies GitHub Actions OIDC tokens with go-oidc:
// discovery (lazy, retried no sooner than oidcRetryAfter after a failure),
// signature by the issuer's JWKS, issuer, audience and expiry.
type githubVerifier struct {
	issuer, audience string
	client           *http.Client
	transport        *boundedTransport
	now              func() time.Time

	mu       sync.Mutex // held during discovery; guards the fields below
	verifier *oidc.IDTokenVerifier
	retryAt  time.Time
	lastErr  error
}

func newGitHubVerifier(cfg GitHubOIDC, client *http.Client, now func() time.Time) *githubVerifier {
	if client == nil {
		client = &http.Client{Timeout: oidcTimeout}
	}
	// Every issuer response is bounded; the caller's transport does the rest.
	c := *client
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	bt := &boundedTransport{base: base, now: now, last: map[string]time.Time{}}
	c.Transport = bt
	if c.Timeout == 0 {
		c.Timeout = oidcTimeout
	}
	return &githubVerifier{issuer: cfg.Issuer, audience: cfg.Audience, client: &c, transport: bt, now: now}
}

func (v *githubVerifier) ready(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.verifier != nil {
		return v.verifier, nil
	}
	if v.now().Before(v.retryAt) {
		return nil, fmt.Errorf("%w: %w", ErrOIDCUnavailable, v.lastErr)
	}
	ctx, cancel := context.WithTimeout(ctx, oidcTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, v.client), v.issuer)
	if err == nil {
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err = p.Claims(&doc); err == nil {
			err = checkJWKS(doc.JWKSURI)
		}
	}
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			v.retryAt, v.lastErr = v.now().Add(oidcRetryAfter), err
		}
		return nil, fmt.Errorf("%w: %w", ErrOIDCUnavailable, err)
	}
	// The key set keeps the client (go-oidc ignores the context's
	// cancellation for its background fetches).
	v.verifier = p.VerifierContext(oidc.ClientContext(context.Background(), v.client), &oidc.Config{
		ClientID:             v.audience,
		SupportedSigningAlgs: []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512},
		Now:                  v.now,
	})
	return v.verifier, nil
}

// checkJWKS refuses a key set that is not served over https (http only on
// loopback, for tests).
func checkJWKS(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return fmt.Errorf("discovery document: jwks_uri %q is not an https URL", s)
	}
	return nil
}

// verify returns the token's claims (all of them, for the publishers
// rules) and the fields the exchange needs.
func (v *githubVerifier) verify(ctx context.Context, raw string) (githubClaims, map[string]any, error) {
	if len(raw) > maxOIDCToken {
		return githubClaims{}, nil, fmt.Errorf("%w: larger than %d bytes", ErrOIDCToken, maxOIDCToken)
	}
	verifier, err := v.ready(ctx)
	if err != nil {
		return githubClaims{}, nil, err
	}
	failed := v.transport.failed.Load()
	tok, err := verifier.Verify(ctx, raw)
	if err != nil {
		// go-oidc wraps a key fetch error with %v: a key set that could
		// not be fetched (refused by the refetch limit, or the issuer
		// failing) while this token was verified means the token's key
		// may be one the issuer rotated in, not that the token is bad.
		if v.transport.failed.Load() != failed {
			return githubClaims{}, nil, fmt.Errorf("%w: fetching the key set: %w", ErrOIDCUnavailable, err)
		}
		return githubClaims{}, nil, fmt.Errorf("%w: %w", ErrOIDCToken, err)
	}
	var gc githubClaims
	var all map[string]any
	if err := tok.Claims(&gc); err != nil {
		return githubClaims{}, nil, fmt.Errorf("%w: %w", ErrOIDCToken, err)
	}
	if err := tok.Claims(&all); err != nil {
		return githubClaims{}, nil, fmt.Errorf("%w: %w", ErrOIDCToken, err)
	}
	if gc.RepositoryOwner == "" {
		return githubClaims{}, nil, fmt.Errorf("%w: no repository_owner claim", ErrOIDCToken)
	}
	return gc, all, nil
}

// githubName is a GitHub user or organisation name: letters, digits and
// single inner hyphens, at most 39 characters.
var githubName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}$`)

// githubNamespace is what a GitHub Actions token proves, as the official
// registry derives it: the repository owner's namespace (io.github.<owner>/*),
// not only the repository's, since one repository may publish several
// servers. An owner that is not a GitHub name proves nothing.
func githubNamespace(owner string) (string, bool) {
	if len(owner) > 39 || !githubName.MatchString(owner) {
		return "", false
	}
	return "io.github." + owner + "/*", true
}

// boundedTransport bounds what the issuer may cost: every response body,
// and how often one URL is fetched.
type boundedTransport struct {
	base http.RoundTripper
	now  func() time.Time

	mu   sync.Mutex
	last map[string]time.Time // by URL without query

	// failed counts fetches refused by the limit, failed in transport,
	// or answered with a server error.
	failed atomic.Uint64
}

var errRefetchLimited = errors.New("fetched less than 10 s ago")

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.RawQuery = ""
	key := u.String()
	t.mu.Lock()
	if last, ok := t.last[key]; ok && t.now().Sub(last) < oidcRefetch {
		t.mu.Unlock()
		t.failed.Add(1)
		return nil, fmt.Errorf("%s: %w", key, errRefetchLimited)
	}
	if len(t.last) > 16 {
		clear(t.last) // only the discovery and key set URLs are fetched
	}
	t.last[key] = t.now()
	t.mu.Unlock()
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.failed.Add(1)
		return nil, err
	}
	if resp.StatusCode >= 500 {
		t.failed.Add(1)
	}
	resp.Body = &boundedBody{rc: resp.Body}
	return resp, nil
}

// boundedBody fails a read once more than maxIssuerResponse bytes came.
type boundedBody struct {
	rc   io.ReadCloser
	read int64
}

var errIssuerResponseTooLong = errors.New("issuer response is larger than 1 MiB")

func (b *boundedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.read += int64(n)
	if b.read > maxIssuerResponse {
		return 0, errIssuerResponseTooLong
	}
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }
