package remote

import (
	"strings"
	"testing"
	"time"
)

// TestOptionsValidate: every problem is listed, each naming the option as
// the configuration file spells it, so the configuration only adds the
// source's position.
func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	client := ClientOptions{BaseURL: "https://registry.example.com"}
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"live defaults", LiveOptions{Client: client}.Validate(), nil},
		{"mirror defaults", MirrorOptions{Client: client}.Validate(), nil},
		{"live, everything wrong", LiveOptions{
			Client: ClientOptions{
				BaseURL: "https://u:p@registry.example.com", APIVersion: "v9", UsernameFile: "/u",
				Headers: map[string]string{"Host": "x"}, MaxBytes: -1, Timeout: -1,
			},
			RateLimit:          RateLimitOptions{PerMinute: -1, Burst: -1, Retries: -1, MaxWait: -1},
			Breaker:            BreakerOptions{OpenFor: -1},
			PageCache:          PageCacheOptions{MaxEntries: -1, MaxBytes: -1, Fresh: -1, Stale: -1},
			PageSize:           101,
			MaxPagesPerRequest: -1,
		}.Validate(), []string{
			"url ", "apiVersion", "usernameFile and passwordFile", "headers: \"Host\"", "maxBytes", "timeout",
			"rateLimit.perMinute", "rateLimit.burst", "rateLimit.retries", "rateLimit.maxWait", "breaker.openFor",
			"cache.maxEntries", "cache.maxBytes", "cache.fresh", "cache.stale", "pageSize must be from 1 to 100", "maxPagesPerRequest",
		}},
		{"mirror, everything wrong", MirrorOptions{
			Client:   client,
			PageSize: -3, Interval: -1, ResyncEvery: -1, Overlap: -1,
			MaxPages: -1, MaxEntries: -1, MaxBytes: -1, CrawlTimeout: -1,
		}.Validate(), []string{
			"pageSize", "interval", "resyncEvery", "overlap", "crawl.maxPages", "crawl.maxEntries", "crawl.maxBytes", "crawl.timeout",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if len(tt.want) == 0 {
				if tt.err != nil {
					t.Fatalf("Validate = %v, want nil", tt.err)
				}
				return
			}
			if tt.err == nil {
				t.Fatal("Validate = nil")
			}
			lines := strings.Split(tt.err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("Validate listed %d problems, want %d:\n%v", len(lines), len(tt.want), tt.err)
			}
			for i, w := range tt.want {
				if i < len(lines) && !strings.HasPrefix(lines[i], w) && !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q, want it about %q", i, lines[i], w)
				}
			}
		})
	}
}

// TestOptionsDefaults: zero options take the exported defaults, which are
// the only statement of each default.
func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	var l LiveOptions
	l.withDefaults()
	c := l.Client
	if c.Timeout != DefaultTimeout || c.MaxBytes != DefaultMaxBytes || c.APIVersion != "v0.1" {
		t.Errorf("client defaults: %+v", c)
	}
	if p := l.PageCache; p.MaxEntries != DefaultPageCacheMaxEntries || p.MaxBytes != DefaultPageCacheMaxBytes ||
		p.Fresh != DefaultPageFresh || p.Stale != DefaultPageStale || p.FlightTimeout != DefaultTimeout {
		t.Errorf("page cache defaults: %+v", p)
	}
	if b := l.Breaker; b.Failures != DefaultBreakerFailures || b.OpenFor != DefaultBreakerOpenFor || b.HalfOpenRequests != 1 {
		t.Errorf("breaker defaults: %+v", b)
	}
	if l.PageSize != DefaultPageSize || l.MaxPagesPerRequest != DefaultMaxPagesPerRequest || l.RateLimit.MaxWait != DefaultMaxWait || l.RateLimit.Burst != 1 {
		t.Errorf("live defaults: page size %d, pages per request %d, rate limit %+v", l.PageSize, l.MaxPagesPerRequest, l.RateLimit)
	}

	var m MirrorOptions
	m.withDefaults()
	if m.Interval != DefaultMirrorInterval || m.ResyncEvery != DefaultResyncEvery || m.Overlap != DefaultOverlap ||
		m.PageSize != DefaultPageSize || m.MaxPages != DefaultCrawlMaxPages || m.MaxEntries != DefaultCrawlMaxEntries ||
		m.MaxBytes != DefaultCrawlMaxBytes || m.CrawlTimeout != DefaultCrawlTimeout {
		t.Errorf("mirror defaults: %+v", m)
	}
	// A poll's deadline: its interval, at least DefaultPollTimeout, at most
	// the crawl's.
	for _, tt := range []struct{ interval, crawl, want time.Duration }{
		{time.Minute, DefaultCrawlTimeout, DefaultPollTimeout},
		{time.Hour, DefaultCrawlTimeout, DefaultCrawlTimeout},
		{10 * time.Minute, DefaultCrawlTimeout, 10 * time.Minute},
		{time.Minute, time.Minute, time.Minute},
	} {
		o := MirrorOptions{Interval: tt.interval, CrawlTimeout: tt.crawl}
		if got := o.pollTimeout(); got != tt.want {
			t.Errorf("poll deadline with interval %s, crawl timeout %s = %s, want %s", tt.interval, tt.crawl, got, tt.want)
		}
	}
}
