package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/mcpfed/mcpfed/credential"
)

// AllowedAlgorithms returns the signature algorithms a JWT may use:
// asymmetric only (no "none", no HMAC, so a public key can never be used
// as a shared secret).
func AllowedAlgorithms() []string {
	return []string{
		oidc.RS256, oidc.RS384, oidc.RS512,
		oidc.ES256, oidc.ES384, oidc.ES512,
		oidc.PS256, oidc.PS384, oidc.PS512,
		oidc.EdDSA,
	}
}

// maxIssuerResponse bounds a discovery document or a JWKS.
const maxIssuerResponse = 1 << 20

var (
	errRefetchLimited  = errors.New("JWKS fetched less than the refetch interval ago")
	errResponseTooLong = errors.New("issuer response is larger than 1 MiB")
)

// issuer verifies the tokens of one configured OIDC issuer.
type issuer struct {
	cfg    OIDCConfig
	log    *slog.Logger
	now    func() time.Time
	opts   Options
	client *http.Client
	rt     *issuerTransport

	verifier atomic.Pointer[oidc.IDTokenVerifier] // set once discovered

	// attempt is held (a slot of one) during a discovery attempt; it
	// guards next, backoff and attempts.
	attempt  chan struct{}
	next     time.Time // no discovery attempt before
	backoff  time.Duration
	attempts int
}

func newIssuer(cfg OIDCConfig, log *slog.Logger, now func() time.Time, opts Options) (*issuer, error) {
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("http.DefaultTransport is not an *http.Transport")
	}
	tr := base.Clone()
	if cfg.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := readBounded(cfg.CAFile, maxIssuerResponse)
		if err != nil {
			return nil, fmt.Errorf("caFile: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("caFile: %s holds no PEM certificate", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	rt := &issuerTransport{
		base:       tr,
		now:        now,
		tokenFile:  cfg.JWKSTokenFile,
		hosts:      map[string]bool{u.Host: true},
		minRefetch: opts.JWKSRefetchInterval,
	}
	return &issuer{
		cfg:     cfg,
		log:     log,
		now:     now,
		opts:    opts,
		rt:      rt,
		client:  &http.Client{Transport: rt, Timeout: opts.HTTPTimeout},
		backoff: opts.DiscoveryBackoff,
		attempt: make(chan struct{}, 1),
	}, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// ready returns the verifier, attempting discovery when it has not
// succeeded yet and the backoff allows. Callers arriving during an attempt
// wait for it (bounded by their context and the HTTP timeout).
func (is *issuer) ready(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	if v := is.verifier.Load(); v != nil {
		return v, nil
	}
	select {
	case is.attempt <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrIssuerNotReady, ctx.Err())
	}
	defer func() { <-is.attempt }()
	if v := is.verifier.Load(); v != nil {
		return v, nil
	}
	if is.now().Before(is.next) {
		return nil, ErrIssuerNotReady
	}
	v, err := is.discover(ctx)
	if err != nil && ctx.Err() != nil {
		// The caller gave up (a client hung up): not the issuer's failure.
		return nil, fmt.Errorf("%w: %w", ErrIssuerNotReady, err)
	}
	if err != nil {
		is.attempts++
		is.next = is.now().Add(is.backoff)
		is.log.Warn("OIDC discovery failed; tokens of this issuer fail until it succeeds",
			"issuer", is.cfg.Name, "attempt", is.attempts, "retry_in", is.backoff, "err", err)
		is.backoff = min(is.backoff*2, is.opts.DiscoveryBackoffMax)
		return nil, fmt.Errorf("%w: %w", ErrIssuerNotReady, err)
	}
	is.verifier.Store(v)
	is.log.Info("OIDC issuer discovered", "issuer", is.cfg.Name)
	return v, nil
}

func (is *issuer) discover(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	ctx, cancel := context.WithTimeout(ctx, is.opts.HTTPTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, is.client), is.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	ju, err := url.Parse(doc.JWKSURI)
	if err != nil || ju.Host == "" || (ju.Scheme != "https" && !(ju.Scheme == "http" && isLoopbackHost(ju.Hostname()))) {
		return nil, fmt.Errorf("discovery document: jwks_uri %q is not an https URL", doc.JWKSURI)
	}
	is.rt.setJWKS(ju)
	// The key set's context only carries the client: go-oidc ignores its
	// cancellation and fetches in the background.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), is.client), ju.String())
	leeway := is.opts.Leeway
	return oidc.NewVerifier(is.cfg.Issuer, keys, &oidc.Config{
		ClientID:             is.cfg.Audience,
		SupportedSigningAlgs: AllowedAlgorithms(),
		// exp is checked by go-oidc against this clock: shifted back by
		// the leeway, a token is accepted until exp+leeway.
		Now: func() time.Time { return is.now().Add(-leeway) },
	}), nil
}

// verify checks raw against the issuer and returns the identity.
func (is *issuer) verify(ctx context.Context, raw string) (Identity, error) {
	v, err := is.ready(ctx)
	if err != nil {
		return Identity{}, invalid(err)
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return Identity{}, invalid(classify(err))
	}
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return Identity{}, invalid(ErrVerification)
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return Identity{}, invalid(ErrVerification)
	}
	now := is.now()
	for _, c := range []struct {
		name  string
		cause error
	}{{"nbf", ErrNotYetValid}, {"iat", ErrIssuedInFuture}} {
		v, ok := claims[c.name]
		if !ok {
			continue
		}
		n, ok := v.(json.Number)
		if !ok {
			return Identity{}, invalid(ErrVerification)
		}
		f, err := n.Float64()
		if err != nil {
			return Identity{}, invalid(ErrVerification)
		}
		// Compared as floats: a huge value must not wrap around.
		if f > float64(now.Add(is.opts.Leeway).Unix()) {
			return Identity{}, invalid(c.cause)
		}
	}
	if tok.Subject == "" {
		return Identity{}, invalid(ErrMissingSubject)
	}
	return Identity{Kind: KindOIDC, Provider: is.cfg.Name, Issuer: tok.Issuer, Subject: tok.Subject, Claims: claims}, nil
}

// classify maps a go-oidc verification error to a fixed cause. go-oidc's
// messages may quote claim values; they are dropped here.
func classify(err error) error {
	var exp *oidc.TokenExpiredError
	switch msg := err.Error(); {
	case errors.As(err, &exp):
		return ErrExpired
	case strings.HasPrefix(msg, "oidc: malformed jwt"):
		return ErrMalformedToken
	case strings.HasPrefix(msg, "failed to verify signature"):
		return ErrSignature
	case strings.HasPrefix(msg, "oidc: expected audience"):
		return ErrAudience
	case strings.HasPrefix(msg, "oidc: current time") && strings.Contains(msg, "nbf"):
		return ErrNotYetValid
	}
	return ErrVerification
}

func (is *issuer) close() { is.rt.base.CloseIdleConnections() }

// issuerTransport sends requests to the issuer: the bearer from
// jwksTokenFile to the issuer's host and its JWKS host over https only, at
// most one JWKS fetch per minRefetch, responses bounded in size.
type issuerTransport struct {
	base       *http.Transport
	now        func() time.Time
	tokenFile  string
	minRefetch time.Duration

	mu        sync.Mutex
	hosts     map[string]bool
	jwks      string
	lastFetch time.Time
	fetches   int
}

func (t *issuerTransport) setJWKS(u *url.URL) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.jwks = u.String()
	t.hosts[u.Host] = true
}

func (t *issuerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	sendToken := t.tokenFile != "" && req.URL.Scheme == "https" && t.hosts[req.URL.Host]
	if t.jwks != "" && req.URL.String() == t.jwks {
		now := t.now()
		if t.fetches > 0 && now.Sub(t.lastFetch) < t.minRefetch {
			t.mu.Unlock()
			return nil, errRefetchLimited
		}
		t.lastFetch = now
		t.fetches++
	}
	t.mu.Unlock()
	if sendToken {
		tok, err := credential.ReadFile(t.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("jwksTokenFile: %w", err)
		}
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundedBody{rc: resp.Body, left: maxIssuerResponse}
	return resp, nil
}

// boundedBody fails a read beyond its limit instead of truncating.
type boundedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errResponseTooLong
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *boundedBody) Close() error { return b.rc.Close() }
