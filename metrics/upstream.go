package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcpfed/mcpfed/upstream"
)

// upstreamCollectors are the per-source upstream metrics.
type upstreamCollectors struct {
	duration     *prometheus.HistogramVec
	breakerState *prometheus.GaugeVec
	rateLimited  *prometheus.CounterVec
	retries      *prometheus.CounterVec
	outOfOrder   *prometheus.CounterVec
	dropped      *prometheus.CounterVec
}

// DropReasons are the values of mcpfed_upstream_dropped_entries_total's
// reason label (the engine maps anything else to "other").
var DropReasons = []string{"out_of_order", "invalid", "over_bound", "other"}

func newUpstreamCollectors() upstreamCollectors {
	return upstreamCollectors{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "upstream_request_duration_seconds",
			Help:    "Requests to upstream registries by source, operation and outcome (ok, not_found, client_error, server_error, rate_limited, breaker_open, timeout, canceled, error).",
			Buckets: LatencyBuckets,
		}, []string{"source", "operation", "outcome"}),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "upstream_breaker_state",
			Help: "Circuit breaker state per source: 0 closed, 1 half-open, 2 open.",
		}, []string{"source"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "upstream_rate_limited_total",
			Help: "429 answers received from upstream registries.",
		}, []string{"source"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "upstream_retries_total",
			Help: "Upstream requests retried (after a 429's Retry-After).",
		}, []string{"source"}),
		outOfOrder: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "upstream_out_of_order_total",
			Help: "Entries an upstream returned out of (name, version) order.",
		}, []string{"source"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "upstream_dropped_entries_total",
			Help: "Entries left out of answers (which were then marked incomplete), by source and reason: out_of_order, invalid, over_bound, other.",
		}, []string{"source", "reason"}),
	}
}

func (u upstreamCollectors) all() []prometheus.Collector {
	return []prometheus.Collector{u.duration, u.breakerState, u.rateLimited, u.retries, u.outOfOrder, u.dropped}
}

// instrumented is the metrics decorator of a source's Fetcher.
type instrumented struct {
	next   upstream.Fetcher
	source string
	m      *Metrics
}

// InstrumentFetcher measures every request that passes through next.
func (m *Metrics) InstrumentFetcher(source string, next upstream.Fetcher) upstream.Fetcher {
	return &instrumented{next: next, source: source, m: m}
}

func (i *instrumented) Fetch(ctx context.Context, r upstream.Request) (*upstream.Response, error) {
	start := time.Now()
	resp, err := i.next.Fetch(ctx, r)
	i.m.up.duration.WithLabelValues(i.source, string(r.Op), Outcome(err)).Observe(time.Since(start).Seconds())
	return resp, err
}

// Outcome classifies an upstream result into a bounded label value.
func Outcome(err error) string {
	var se *upstream.StatusError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, upstream.ErrNotFound):
		return "not_found"
	case errors.Is(err, upstream.ErrBreakerOpen):
		return "breaker_open"
	case errors.As(err, &se) && se.Code == 429:
		return "rate_limited"
	case errors.As(err, &se) && se.ClientFault():
		return "client_error"
	case errors.As(err, &se):
		return "server_error"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

// BreakerState records a breaker transition: 0 closed, 1 half-open, 2 open.
func (m *Metrics) BreakerState(source string, state int) {
	m.up.breakerState.WithLabelValues(source).Set(float64(state))
}

// RateLimited counts a 429 from source.
func (m *Metrics) RateLimited(source string) { m.up.rateLimited.WithLabelValues(source).Inc() }

// Retried counts a retry to source.
func (m *Metrics) Retried(source string) { m.up.retries.WithLabelValues(source).Inc() }

// OutOfOrder counts entries an upstream sent out of order.
func (m *Metrics) OutOfOrder(source string, n int) {
	m.up.outOfOrder.WithLabelValues(source).Add(float64(n))
}

// Dropped counts entries an answer lacked because source's upstream sent
// them out of order, invalid, or past a bound.
func (m *Metrics) Dropped(source, reason string, n int) {
	m.up.dropped.WithLabelValues(source, reason).Add(float64(n))
}

// SourceStarted exports a source's series from the start, so dashboards
// and alerts see zeros rather than gaps.
func (m *Metrics) SourceStarted(source string) {
	m.up.breakerState.WithLabelValues(source).Set(0)
	m.up.rateLimited.WithLabelValues(source).Add(0)
	m.up.retries.WithLabelValues(source).Add(0)
	m.up.outOfOrder.WithLabelValues(source).Add(0)
	for _, r := range DropReasons {
		m.up.dropped.WithLabelValues(source, r).Add(0)
	}
}
