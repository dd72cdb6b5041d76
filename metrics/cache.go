package metrics

import "github.com/prometheus/client_golang/prometheus"

// cacheCollectors implement cache.Observer.
type cacheCollectors struct {
	requests  *prometheus.CounterVec
	entries   *prometheus.GaugeVec
	bytes     *prometheus.GaugeVec
	evictions *prometheus.CounterVec
	shared    *prometheus.CounterVec
}

func newCacheCollectors() cacheCollectors {
	return cacheCollectors{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_requests_total",
			Help: "Cache lookups by cache and result (hit_fresh, hit_stale, miss).",
		}, []string{"cache", "result"}),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "cache_entries",
			Help: "Entries held by each cache.",
		}, []string{"cache"}),
		bytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "cache_bytes",
			Help: "Bytes held by each cache.",
		}, []string{"cache"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_evictions_total",
			Help: "Entries evicted from each cache to stay within its bounds.",
		}, []string{"cache"}),
		shared: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "singleflight_shared_total",
			Help: "Callers that received another caller's in-flight result instead of doing the work again.",
		}, []string{"group"}),
	}
}

func (c cacheCollectors) all() []prometheus.Collector {
	return []prometheus.Collector{c.requests, c.entries, c.bytes, c.evictions, c.shared}
}

// CacheObserver is the cache.Observer that feeds these metrics. Caches of
// the same name (one page cache per source) add up under one label.
type CacheObserver struct{ c cacheCollectors }

// Cache returns the observer for caches and singleflight groups.
func (m *Metrics) Cache() CacheObserver { return CacheObserver{m.cache} }

// Request counts a lookup.
func (o CacheObserver) Request(cache, result string) {
	o.c.requests.WithLabelValues(cache, result).Inc()
}

// Size records a cache's size. Several caches with one name each report
// their own size; the gauge shows the last reported.
func (o CacheObserver) Size(cache string, entries int, bytes int64) {
	o.c.entries.WithLabelValues(cache).Set(float64(entries))
	o.c.bytes.WithLabelValues(cache).Set(float64(bytes))
}

// Evicted counts an eviction.
func (o CacheObserver) Evicted(cache string) { o.c.evictions.WithLabelValues(cache).Inc() }

// Shared counts a caller served by another's flight.
func (o CacheObserver) Shared(group string) { o.c.shared.WithLabelValues(group).Inc() }

// Instance returns the observer of one cache among several that share a
// name (one page cache per live source): their sizes add up under the
// name instead of overwriting each other.
func (o CacheObserver) Instance() *InstanceObserver { return &InstanceObserver{CacheObserver: o} }

// InstanceObserver reports one cache's size as its change since the last
// report. A cache reports under its own lock, so reports do not interleave.
type InstanceObserver struct {
	CacheObserver
	entries int
	bytes   int64
}

// Size adds the change of this cache's size to the shared gauges.
func (o *InstanceObserver) Size(cache string, entries int, bytes int64) {
	o.c.entries.WithLabelValues(cache).Add(float64(entries - o.entries))
	o.c.bytes.WithLabelValues(cache).Add(float64(bytes - o.bytes))
	o.entries, o.bytes = entries, bytes
}

// Started exports a cache's and its singleflight group's series at zero,
// so dashboards and alerts see zeros rather than gaps.
func (o CacheObserver) Started(cache, group string) {
	for _, r := range []string{"hit_fresh", "hit_stale", "miss"} {
		o.c.requests.WithLabelValues(cache, r).Add(0)
	}
	o.c.evictions.WithLabelValues(cache).Add(0)
	o.c.entries.WithLabelValues(cache).Add(0)
	o.c.bytes.WithLabelValues(cache).Add(0)
	o.c.shared.WithLabelValues(group).Add(0)
}
