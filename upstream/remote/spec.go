package remote

import (
	"errors"
	"fmt"
	"time"
)

// Spec is an api source as configured (sources[i] with kind: api): its
// fields and their names are what the configuration accepts for this kind;
// the options' defaults and validation apply to them.
type Spec struct {
	URL string `yaml:"url"`
	// Mode is live (every query forwarded, the default) or mirror.
	Mode               string        `yaml:"mode"`
	APIVersion         string        `yaml:"apiVersion"`
	Timeout            time.Duration `yaml:"timeout"`
	PageSize           int           `yaml:"pageSize"`
	MaxPagesPerRequest int           `yaml:"maxPagesPerRequest"`
	// Order is how a live upstream lists: auto, bytes or upstream.
	Order        string            `yaml:"order"`
	MaxBytes     int64             `yaml:"maxBytes"`
	TokenFile    string            `yaml:"tokenFile"`
	UsernameFile string            `yaml:"usernameFile"`
	PasswordFile string            `yaml:"passwordFile"`
	Headers      map[string]string `yaml:"headers"`
	RateLimit    RateLimitSpec     `yaml:"rateLimit"`
	Breaker      BreakerSpec       `yaml:"breaker"`
	Cache        PageCacheSpec     `yaml:"cache"`
	// Crawl bounds a mirror's crawls, and a live source's list index.
	Crawl CrawlSpec `yaml:"crawl"`
	// Mirror mode.
	Interval    time.Duration `yaml:"interval"`
	ResyncEvery time.Duration `yaml:"resyncEvery"`
	Overlap     time.Duration `yaml:"overlap"`
}

// RateLimitSpec is the rateLimit block.
type RateLimitSpec struct {
	PerMinute float64 `yaml:"perMinute"`
	Burst     int     `yaml:"burst"`
	// Retries is a pointer: 0 (never) differs from unset (DefaultRetries).
	Retries *int          `yaml:"retries"`
	MaxWait time.Duration `yaml:"maxWait"`
}

// BreakerSpec is the breaker block.
type BreakerSpec struct {
	Failures         uint32        `yaml:"failures"`
	OpenFor          time.Duration `yaml:"openFor"`
	HalfOpenRequests uint32        `yaml:"halfOpenRequests"`
}

// PageCacheSpec is a live source's cache block.
type PageCacheSpec struct {
	MaxEntries int           `yaml:"maxEntries"`
	MaxBytes   int64         `yaml:"maxBytes"`
	Fresh      time.Duration `yaml:"fresh"`
	Stale      time.Duration `yaml:"stale"`
}

// CrawlSpec is the crawl block.
type CrawlSpec struct {
	MaxPages   int           `yaml:"maxPages"`
	MaxEntries int           `yaml:"maxEntries"`
	MaxBytes   int64         `yaml:"maxBytes"`
	Timeout    time.Duration `yaml:"timeout"`
}

// The modes of an api source.
const (
	ModeLive   = "live"
	ModeMirror = "mirror"
)

// IsMirror reports whether the source keeps a local copy.
func (s Spec) IsMirror() bool { return s.Mode == ModeMirror }

// ClientOptions are the options of the source's HTTP client.
func (s Spec) ClientOptions(name string) ClientOptions {
	return ClientOptions{
		Source: name, BaseURL: s.URL, APIVersion: s.APIVersion,
		TokenFile: s.TokenFile, UsernameFile: s.UsernameFile, PasswordFile: s.PasswordFile,
		Headers: s.Headers, MaxBytes: s.MaxBytes, Timeout: s.Timeout,
	}
}

// RateLimitOptions are the source's outbound budget.
func (s Spec) RateLimitOptions() RateLimitOptions {
	retries := DefaultRetries
	if s.RateLimit.Retries != nil {
		retries = *s.RateLimit.Retries
	}
	return RateLimitOptions{PerMinute: s.RateLimit.PerMinute, Burst: s.RateLimit.Burst, Retries: retries, MaxWait: s.RateLimit.MaxWait}
}

// LiveOptions are a live source's options, without what the process adds
// (clock, metrics, breaker notifications).
func (s Spec) LiveOptions(name string) LiveOptions {
	return LiveOptions{
		Client:    s.ClientOptions(name),
		Breaker:   BreakerOptions{Source: name, Failures: s.Breaker.Failures, OpenFor: s.Breaker.OpenFor, HalfOpenRequests: s.Breaker.HalfOpenRequests},
		RateLimit: s.RateLimitOptions(),
		PageCache: PageCacheOptions{
			MaxEntries: s.Cache.MaxEntries, MaxBytes: s.Cache.MaxBytes, Fresh: s.Cache.Fresh, Stale: s.Cache.Stale,
		},
		PageSize: s.PageSize, MaxPagesPerRequest: s.MaxPagesPerRequest, Order: s.Order,
		Crawl: CrawlBounds{MaxPages: s.Crawl.MaxPages, MaxEntries: s.Crawl.MaxEntries, MaxBytes: s.Crawl.MaxBytes, Timeout: s.Crawl.Timeout},
	}
}

// MirrorOptions are a mirror's options, without what the process adds.
func (s Spec) MirrorOptions(name string) MirrorOptions {
	return MirrorOptions{
		Client: s.ClientOptions(name), RateLimit: s.RateLimitOptions(),
		Interval: s.Interval, ResyncEvery: s.ResyncEvery, Overlap: s.Overlap, PageSize: s.PageSize,
		MaxPages: s.Crawl.MaxPages, MaxEntries: s.Crawl.MaxEntries, MaxBytes: s.Crawl.MaxBytes, CrawlTimeout: s.Crawl.Timeout,
	}
}

// ApplyDefaults sets the options' defaults on the fields left unset.
func (s *Spec) ApplyDefaults() {
	if s.Mode == "" {
		s.Mode = ModeLive
	}
	if s.RateLimit.Retries == nil {
		r := DefaultRetries
		s.RateLimit.Retries = &r
	}
	if s.IsMirror() {
		o := s.MirrorOptions("")
		o.withDefaults()
		s.setClient(o.Client)
		s.RateLimit.Burst, s.RateLimit.MaxWait = o.RateLimit.Burst, o.RateLimit.MaxWait
		s.Interval, s.ResyncEvery, s.Overlap, s.PageSize = o.Interval, o.ResyncEvery, o.Overlap, o.PageSize
		s.Crawl = CrawlSpec{MaxPages: o.MaxPages, MaxEntries: o.MaxEntries, MaxBytes: o.MaxBytes, Timeout: o.CrawlTimeout}
		return
	}
	o := s.LiveOptions("")
	o.withDefaults()
	s.setClient(o.Client)
	s.RateLimit.Burst, s.RateLimit.MaxWait = o.RateLimit.Burst, o.RateLimit.MaxWait
	s.Breaker = BreakerSpec{Failures: o.Breaker.Failures, OpenFor: o.Breaker.OpenFor, HalfOpenRequests: o.Breaker.HalfOpenRequests}
	s.Cache = PageCacheSpec{MaxEntries: o.PageCache.MaxEntries, MaxBytes: o.PageCache.MaxBytes, Fresh: o.PageCache.Fresh, Stale: o.PageCache.Stale}
	s.PageSize, s.MaxPagesPerRequest, s.Order = o.PageSize, o.MaxPagesPerRequest, o.Order
	s.Crawl = CrawlSpec{MaxPages: o.Crawl.MaxPages, MaxEntries: o.Crawl.MaxEntries, MaxBytes: o.Crawl.MaxBytes, Timeout: o.Crawl.Timeout}
}

func (s *Spec) setClient(o ClientOptions) {
	s.APIVersion, s.MaxBytes, s.Timeout = o.APIVersion, o.MaxBytes, o.Timeout
}

// Validate lists every problem: the mode's options' own, and the fields
// that apply to the other mode only.
func (s Spec) Validate() error {
	var errs []error
	switch s.Mode {
	case "", ModeLive:
		errs = append(errs, s.LiveOptions("").Validate())
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"interval", s.Interval != 0}, {"resyncEvery", s.ResyncEvery != 0}, {"overlap", s.Overlap != 0},
		} {
			if f.set {
				errs = append(errs, fmt.Errorf("%s: applies to mode mirror only", f.name))
			}
		}
	case ModeMirror:
		errs = append(errs, s.MirrorOptions("").Validate())
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"maxPagesPerRequest", s.MaxPagesPerRequest != 0}, {"order", s.Order != ""},
			{"breaker", s.Breaker != (BreakerSpec{})}, {"cache", s.Cache != (PageCacheSpec{})},
		} {
			if f.set {
				errs = append(errs, fmt.Errorf("%s: applies to mode live only", f.name))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("mode: %q is not %s or %s", s.Mode, ModeLive, ModeMirror))
	}
	return errors.Join(errs...)
}
