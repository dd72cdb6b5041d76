package remote

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of an api source. They live here, beside the code they bound,
// and nowhere else: the configuration applies them through the options'
// own defaulting and documents them from these names. Byte bounds are sized
// so that the defaults of a deployment together fit its memory limit
// (deploy/kubernetes: 896 MiB).
const (
	// DefaultTimeout bounds one upstream request.
	DefaultTimeout = 15 * time.Second
	// DefaultMaxBytes bounds one upstream answer.
	DefaultMaxBytes int64 = 16 << 20
	// DefaultPageSize is the list limit asked of the upstream: the API's
	// maximum, so a walk costs the fewest requests.
	DefaultPageSize = 100
	// MaxPageSize is the API's largest list limit.
	MaxPageSize = 100
	// DefaultRetries is how many times a 429 is retried after its
	// Retry-After (RateLimitOptions.Retries is 0 for never, so the
	// configuration sets this when the field is absent).
	DefaultRetries = 1
	// DefaultMaxWait caps how long an upstream's Retry-After holds requests.
	DefaultMaxWait = 5 * time.Minute
	// DefaultBreakerFailures consecutive failures open the breaker, which
	// stays open DefaultBreakerOpenFor.
	DefaultBreakerFailures uint32 = 5
	DefaultBreakerOpenFor         = 30 * time.Second

	// DefaultPageCacheMaxEntries and DefaultPageCacheMaxBytes bound a live
	// source's page cache (the byte bound counts each entry's cost in
	// memory, not only its bytes on the wire, so it bounds the heap:
	// TestPageCacheBoundsTheHeap); a page is fresh DefaultPageFresh, then
	// may be served stale for DefaultPageStale more.
	DefaultPageCacheMaxEntries       = 1000
	DefaultPageCacheMaxBytes   int64 = 32 << 20
	DefaultPageFresh                 = time.Minute
	DefaultPageStale                 = time.Hour

	// DefaultMirrorInterval is the time between a mirror's polls;
	// DefaultResyncEvery between its full crawls; DefaultOverlap how far
	// before the newest update seen a poll asks again.
	DefaultMirrorInterval = 5 * time.Minute
	DefaultResyncEvery    = 24 * time.Hour
	DefaultOverlap        = time.Minute
	// DefaultCrawlTimeout bounds one full crawl: at the official
	// registry's 60 requests a minute, 1,800 pages of 100 entries.
	DefaultCrawlTimeout = 30 * time.Minute
	// DefaultPollTimeout is the least deadline of a poll. A poll's deadline
	// is its interval, at least DefaultPollTimeout, at most the crawl
	// timeout: a poll that catches up after an outage may read many pages.
	DefaultPollTimeout = 5 * time.Minute
	// DefaultCrawlMaxPages, DefaultCrawlMaxEntries and DefaultCrawlMaxBytes
	// bound one crawl or poll. The byte bound is what keeps an endless or
	// oversized upstream from exhausting memory: a crawl holds about 1.2×
	// what it read; a full resync holds the old snapshot, the crawl and the
	// new snapshot at once, about 5× the bytes read (measured: 20,000
	// synthetic entries, 12 MB read, 58 MiB at the peak). 48 MiB then
	// peaks near 240 MiB, within a third of the deployment's 896 MiB; 50,000
	// entries bound the per-entry overhead when entries are small.
	DefaultCrawlMaxPages         = 10000
	DefaultCrawlMaxEntries       = 50_000
	DefaultCrawlMaxBytes   int64 = 48 << 20
)

// Validate reports every problem of the options, each naming the option as
// the configuration file spells it. Zero values stand for the defaults.
func (o ClientOptions) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := ValidateBaseURL(o.BaseURL); err != nil {
		errs = append(errs, err)
	}
	switch o.APIVersion {
	case "", "v0.1", "v0":
	default:
		add("apiVersion %q is not v0.1 or v0", o.APIVersion)
	}
	if (o.UsernameFile == "") != (o.PasswordFile == "") {
		add("usernameFile and passwordFile go together")
	}
	if o.TokenFile != "" && o.UsernameFile != "" {
		add("give tokenFile or usernameFile/passwordFile, not both")
	}
	if err := ValidateHeaders(o.Headers, o.TokenFile != "" || o.UsernameFile != ""); err != nil {
		errs = append(errs, err)
	}
	if o.MaxBytes < 0 {
		add("maxBytes must not be negative")
	}
	if o.Timeout < 0 {
		add("timeout must not be negative")
	}
	return errors.Join(errs...)
}

func (o *ClientOptions) withDefaults() {
	setDefault(&o.MaxBytes, DefaultMaxBytes)
	setDefault(&o.Timeout, DefaultTimeout)
	if o.APIVersion == "" {
		o.APIVersion = "v0.1"
	}
}

// Validate reports every problem of the rate-limit options.
func (o RateLimitOptions) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.PerMinute < 0 {
		add("rateLimit.perMinute must not be negative (0 is unlimited)")
	}
	if o.Burst < 0 {
		add("rateLimit.burst must not be negative")
	}
	if o.Retries < 0 {
		add("rateLimit.retries must not be negative")
	}
	if o.MaxWait < 0 {
		add("rateLimit.maxWait must not be negative")
	}
	return errors.Join(errs...)
}

func (o *RateLimitOptions) withDefaults() {
	setDefault(&o.Burst, 1)
	setDefault(&o.MaxWait, DefaultMaxWait)
	o.Retries = max(o.Retries, 0)
	if o.Clock == nil {
		o.Clock = time.Now
	}
}

// Validate reports every problem of the breaker options.
func (o BreakerOptions) Validate() error {
	if o.OpenFor < 0 {
		return errors.New("breaker.openFor must not be negative")
	}
	return nil
}

func (o *BreakerOptions) withDefaults() {
	if o.Failures == 0 {
		o.Failures = DefaultBreakerFailures
	}
	setDefault(&o.OpenFor, DefaultBreakerOpenFor)
	if o.HalfOpenRequests == 0 {
		o.HalfOpenRequests = 1
	}
}

// Validate reports every problem of the page cache options.
func (o PageCacheOptions) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		neg  bool
	}{
		{"cache.maxEntries", o.MaxEntries < 0}, {"cache.maxBytes", o.MaxBytes < 0},
		{"cache.fresh", o.Fresh < 0}, {"cache.stale", o.Stale < 0},
	} {
		if f.neg {
			errs = append(errs, fmt.Errorf("%s must not be negative", f.name))
		}
	}
	return errors.Join(errs...)
}

func (o *PageCacheOptions) withDefaults() {
	setDefault(&o.MaxEntries, DefaultPageCacheMaxEntries)
	setDefault(&o.MaxBytes, DefaultPageCacheMaxBytes)
	setDefault(&o.Fresh, DefaultPageFresh)
	setDefault(&o.Stale, DefaultPageStale)
}

func validPageSize(n int) error {
	if n < 0 || n > MaxPageSize {
		return fmt.Errorf("pageSize must be from 1 to %d", MaxPageSize)
	}
	return nil
}

// Validate reports every problem of a live source's options; the
// configuration prefixes each with the source's position.
func (o LiveOptions) Validate() error {
	errs := []error{o.Client.Validate(), o.RateLimit.Validate(), o.Breaker.Validate(), o.PageCache.Validate(), validPageSize(o.PageSize)}
	if o.MaxPagesPerRequest < 0 {
		errs = append(errs, errors.New("maxPagesPerRequest must not be negative"))
	}
	switch o.Order {
	case "", OrderAuto, OrderBytes, OrderUpstream:
	default:
		errs = append(errs, fmt.Errorf("order %q is not %s, %s or %s", o.Order, OrderAuto, OrderBytes, OrderUpstream))
	}
	errs = append(errs, o.Crawl.Validate())
	return errors.Join(errs...)
}

func (o *LiveOptions) withDefaults() {
	o.Client.withDefaults()
	o.RateLimit.withDefaults()
	o.Breaker.withDefaults()
	o.PageCache.withDefaults()
	setDefault(&o.PageSize, DefaultPageSize)
	setDefault(&o.MaxPagesPerRequest, DefaultMaxPagesPerRequest)
	if o.Order == "" {
		o.Order = OrderAuto
	}
	o.Crawl.withDefaults()
	if o.PageCache.FlightTimeout <= 0 {
		o.PageCache.FlightTimeout = o.Client.Timeout
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
}

// Validate reports every problem of a mirror's options.
func (o MirrorOptions) Validate() error {
	errs := []error{o.Client.Validate(), o.RateLimit.Validate(), validPageSize(o.PageSize)}
	for _, f := range []struct {
		name string
		neg  bool
	}{
		{"interval", o.Interval < 0}, {"resyncEvery", o.ResyncEvery < 0}, {"overlap", o.Overlap < 0},
	} {
		if f.neg {
			errs = append(errs, fmt.Errorf("%s must not be negative", f.name))
		}
	}
	errs = append(errs, o.bounds().Validate())
	return errors.Join(errs...)
}

// bounds are the mirror's crawl bounds (flat fields: the configuration's
// crawl block maps onto them).
func (o *MirrorOptions) bounds() CrawlBounds {
	return CrawlBounds{MaxPages: o.MaxPages, MaxEntries: o.MaxEntries, MaxBytes: o.MaxBytes, Timeout: o.CrawlTimeout}
}

func (o *MirrorOptions) withDefaults() {
	o.Client.withDefaults()
	o.RateLimit.withDefaults()
	setDefault(&o.Interval, DefaultMirrorInterval)
	setDefault(&o.ResyncEvery, DefaultResyncEvery)
	setDefault(&o.Overlap, DefaultOverlap)
	setDefault(&o.PageSize, DefaultPageSize)
	b := o.bounds()
	b.withDefaults()
	o.MaxPages, o.MaxEntries, o.MaxBytes, o.CrawlTimeout = b.MaxPages, b.MaxEntries, b.MaxBytes, b.Timeout
	if o.Clock == nil {
		o.Clock = time.Now
	}
}

// pollTimeout is the deadline of a poll: the interval, at least
// DefaultPollTimeout, never more than a full crawl's.
func (o *MirrorOptions) pollTimeout() time.Duration {
	return min(max(o.Interval, DefaultPollTimeout), o.CrawlTimeout)
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
