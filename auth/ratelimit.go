package auth

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Proxies are the trusted reverse proxies whose X-Forwarded-For is
// believed.
type Proxies struct {
	prefixes []netip.Prefix
}

// maxForwardedHops bounds how many X-Forwarded-For entries are examined.
const maxForwardedHops = 32

// ParseProxies reads trustedProxies (CIDRs or single addresses).
func ParseProxies(cidrs []string) (Proxies, error) {
	var p Proxies
	var errs []error
	for i, s := range cidrs {
		pr, err := parsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.trustedProxies[%d]: %w", i, err))
			continue
		}
		p.prefixes = append(p.prefixes, pr)
	}
	return p, errors.Join(errs...)
}

func (p Proxies) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, pr := range p.prefixes {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

func remoteAddr(r *http.Request) netip.Addr {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// ClientAddress is the request's client address: the peer's, unless the
// peer is a trusted proxy; then the right-most X-Forwarded-For address
// that is not a trusted proxy (entries left of it may be forged by the
// client). When every forwarded address is trusted, the left-most one; an
// entry that is not an address stops the walk at the hop that added it.
func (p Proxies) ClientAddress(r *http.Request) string {
	peer := remoteAddr(r)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !p.trusted(peer) {
		return peer.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i, n := len(hops)-1, 0; i >= 0 && n < maxForwardedHops; i, n = i-1, n+1 {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = a.Unmap()
		if !p.trusted(client) {
			break
		}
	}
	return client.String()
}

// ClientKey is the rate-limit key of a request: the token's issuer and
// subject when there is one, else the client address.
func ClientKey(id Identity, clientAddr string) string {
	switch id.Kind {
	case KindOIDC:
		return "oidc\x00" + id.Issuer + "\x00" + id.Subject
	case KindStatic:
		return "static\x00" + id.Subject
	}
	return "addr\x00" + clientAddr
}

// DefaultMaxClients bounds the clients a Limiter remembers.
const DefaultMaxClients = 10000

// Limiter is a per-client token bucket. Clients are kept in an LRU of
// bounded size, so a flood of distinct clients cannot grow memory: the
// least recently seen client is forgotten (and starts with a full bucket
// when it returns).
type Limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time
	cache *lru.Cache[string, *rate.Limiter]
}

// NewLimiter builds a limiter from the configuration (nil when PerMinute
// is 0: no limit; a nil *Limiter allows everything). maxClients <= 0 is
// DefaultMaxClients; now nil is time.Now.
func NewLimiter(cfg RateLimitConfig, maxClients int, now func() time.Time) (*Limiter, error) {
	if cfg.PerMinute < 0 || cfg.Burst < 0 {
		return nil, errors.New("auth.rateLimit: must not be negative")
	}
	if cfg.PerMinute == 0 {
		return nil, nil
	}
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	if now == nil {
		now = time.Now
	}
	burst := cfg.Burst
	if burst == 0 {
		burst = max(1, cfg.PerMinute/10)
	}
	c, err := lru.New[string, *rate.Limiter](maxClients)
	if err != nil {
		return nil, fmt.Errorf("rate limiter: %w", err)
	}
	return &Limiter{limit: rate.Limit(float64(cfg.PerMinute) / 60), burst: burst, now: now, cache: c}, nil
}

// Allow takes one token from key's bucket; when it is empty, ok is false
// and retryAfter says when a token will be available (at least 1s, whole
// seconds, for a Retry-After header).
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	lim, found := l.cache.Get(key)
	if !found {
		fresh := rate.NewLimiter(l.limit, l.burst)
		if prev, had, _ := l.cache.PeekOrAdd(key, fresh); had {
			lim = prev
		} else {
			lim = fresh
		}
	}
	now := l.now()
	if lim.AllowN(now, 1) {
		return true, 0
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	secs := math.Ceil(d.Seconds())
	return false, time.Duration(max(1, secs)) * time.Second
}

// Len is the number of clients remembered.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	return l.cache.Len()
}
