package auth

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

func TestClientAddress(t *testing.T) {
	t.Parallel()
	proxies, err := ParseProxies([]string{"10.0.0.0/8", "192.168.1.1", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		p      Proxies
		remote string
		xff    []string
		want   string
	}{
		{"no proxies: the peer", Proxies{}, "203.0.113.7:5555", []string{"198.51.100.1"}, "203.0.113.7"},
		{"untrusted peer: XFF ignored (spoofing)", proxies, "203.0.113.7:5555", []string{"10.1.1.1"}, "203.0.113.7"},
		{"trusted peer, one hop", proxies, "10.0.0.2:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"trusted chain: right-most untrusted", proxies, "10.0.0.2:80", []string{"6.6.6.6, 198.51.100.1, 10.0.0.9"}, "198.51.100.1"},
		{"client-forged left entries ignored", proxies, "10.0.0.2:80", []string{"10.9.9.9, 198.51.100.1"}, "198.51.100.1"},
		{"several XFF headers", proxies, "10.0.0.2:80", []string{"6.6.6.6", "198.51.100.1", "192.168.1.1"}, "198.51.100.1"},
		{"every hop trusted: the left-most", proxies, "10.0.0.2:80", []string{"10.0.0.5, 10.0.0.6"}, "10.0.0.5"},
		{"garbage entry stops at the hop that added it", proxies, "10.0.0.2:80", []string{"198.51.100.1, nonsense, 10.0.0.3"}, "10.0.0.3"},
		{"trusted peer, no XFF", proxies, "10.0.0.2:80", nil, "10.0.0.2"},
		{"single-address proxy", proxies, "192.168.1.1:80", []string{"198.51.100.4"}, "198.51.100.4"},
		{"neighbour of the single address is not trusted", proxies, "192.168.1.2:80", []string{"198.51.100.4"}, "192.168.1.2"},
		{"IPv6 proxy and client", proxies, "[fd00::1]:443", []string{"2001:db8::5"}, "2001:db8::5"},
		{"IPv4-mapped peer", proxies, "[::ffff:10.0.0.2]:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"unparsable peer kept as is", proxies, "pipe", nil, "pipe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.p.ClientAddress(r); got != tc.want {
				t.Fatalf("ClientAddress = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClientAddressBoundsHops(t *testing.T) {
	t.Parallel()
	p, err := ParseProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	xff := "198.51.100.1"
	for i := range 100 {
		xff += fmt.Sprintf(", 10.0.%d.1", i)
	}
	r.Header.Set("X-Forwarded-For", xff)
	// Only maxForwardedHops entries are examined: the walk ends on a trusted one.
	if got := p.ClientAddress(r); got == "198.51.100.1" {
		t.Fatalf("walked %d hops", 101)
	}
}

func TestParseProxiesErrors(t *testing.T) {
	t.Parallel()
	if _, err := ParseProxies([]string{"10.0.0.0/8", "x"}); err == nil {
		t.Fatal("ParseProxies accepted garbage")
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   Identity
		addr string
		want string
	}{
		{"anonymous by address", Identity{}, "1.2.3.4", "addr\x001.2.3.4"},
		{"oidc by issuer and subject", Identity{Kind: KindOIDC, Issuer: "https://a", Subject: "alice"}, "1.2.3.4", "oidc\x00https://a\x00alice"},
		{"same subject, other issuer", Identity{Kind: KindOIDC, Issuer: "https://b", Subject: "alice"}, "1.2.3.4", "oidc\x00https://b\x00alice"},
		{"static by name", Identity{Kind: KindStatic, Subject: "ci-bot"}, "1.2.3.4", "static\x00ci-bot"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ClientKey(tc.id, tc.addr); got != tc.want {
				t.Fatalf("ClientKey = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       RateLimitConfig
		calls     int
		advance   time.Duration
		wantOK    int
		wantRetry time.Duration
	}{
		{"burst then refused", RateLimitConfig{PerMinute: 60, Burst: 3}, 5, 0, 3, time.Second},
		{"refill after a second", RateLimitConfig{PerMinute: 60, Burst: 1}, 2, time.Second, 2, 0},
		{"slow rate: retry rounds up", RateLimitConfig{PerMinute: 1, Burst: 1}, 2, 0, 1, time.Minute},
		{"default burst is a tenth", RateLimitConfig{PerMinute: 600}, 61, 0, 60, time.Second},
		{"disabled", RateLimitConfig{}, 1000, 0, 1000, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			l, err := NewLimiter(tc.cfg, 10, clock.Now)
			if err != nil {
				t.Fatal(err)
			}
			ok, lastRetry := 0, time.Duration(0)
			for i := range tc.calls {
				if i == tc.calls-1 {
					clock.Add(tc.advance)
				}
				allowed, retry := l.Allow("k")
				if allowed {
					ok++
					if retry != 0 {
						t.Errorf("retry %v on an allowed call", retry)
					}
				} else {
					lastRetry = retry
				}
			}
			if ok != tc.wantOK || lastRetry != tc.wantRetry {
				t.Fatalf("allowed %d (retry %v), want %d (retry %v)", ok, lastRetry, tc.wantOK, tc.wantRetry)
			}
		})
	}
}

func TestLimiterKeysAreIndependentAndBounded(t *testing.T) {
	t.Parallel()
	clock := newClock()
	l, err := NewLimiter(RateLimitConfig{PerMinute: 60, Burst: 1}, 100, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("first call refused")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("second call of a allowed")
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("b limited by a's use")
	}
	for i := range 10000 {
		l.Allow(fmt.Sprintf("flood-%d", i))
	}
	if n := l.Len(); n != 100 {
		t.Fatalf("limiter remembers %d clients, want the bound 100", n)
	}
	if _, err := NewLimiter(RateLimitConfig{PerMinute: -1}, 0, nil); err == nil {
		t.Fatal("negative rate accepted")
	}
}
