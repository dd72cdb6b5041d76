// Package metrics owns mcpfed's Prometheus metrics: the registry, the HTTP
// middleware shared by every handler, and the bucket layout. Labels are
// bounded: route templates and source slugs, never server names, cursors or
// search strings.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mcpfed/mcpfed/upstream"
)

const namespace = "mcpfed"

// LatencyBuckets spans a cached answer (sub-millisecond) to a slow upstream.
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// SyncBuckets spans a small file load to a large crawl.
var SyncBuckets = []float64{.001, .01, .05, .1, .5, 1, 5, 15, 60, 300}

// Metrics holds every collector mcpfed exports.
type Metrics struct {
	gatherer prometheus.Gatherer

	httpDuration *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	httpRejected *prometheus.CounterVec

	sourceEntries      *prometheus.GaugeVec
	sourceLastSuccess  *prometheus.GaugeVec
	sourceSyncDuration *prometheus.HistogramVec
	sourceSyncFailures *prometheus.CounterVec

	partialResponses *prometheus.CounterVec
	mergeDuration    prometheus.Histogram
	sourceInfo       *prometheus.GaugeVec

	up    upstreamCollectors
	cache cacheCollectors
}

// New registers mcpfed's collectors (and the Go and process collectors) on a
// fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return NewWith(reg, reg)
}

// NewWith registers mcpfed's collectors on reg and serves gatherer.
func NewWith(reg prometheus.Registerer, gatherer prometheus.Gatherer) *Metrics {
	m := &Metrics{
		gatherer: gatherer,
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Inbound HTTP request latency by route template, method and status code.",
			Buckets: LatencyBuckets,
		}, []string{"handler", "method", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "http_requests_in_flight",
			Help: "Inbound HTTP requests being served.",
		}),
		httpRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_rejected_total",
			Help: "Inbound HTTP requests refused before any handler ran, by reason (in_flight: over the cap, 503; transfer_encoding: a request body framing the API does not accept, 400).",
		}, []string{"reason"}),
		sourceEntries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "source_entries",
			Help: "Server versions in the source's current snapshot.",
		}, []string{"source"}),
		sourceLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "source_last_success_timestamp_seconds",
			Help: "Unix time of the source's last successful load or sync.",
		}, []string{"source"}),
		sourceSyncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "source_sync_duration_seconds",
			Help:    "Duration of source loads and syncs.",
			Buckets: SyncBuckets,
		}, []string{"source", "kind"}),
		sourceSyncFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "source_sync_failures_total",
			Help: "Failed source loads and syncs.",
		}, []string{"source"}),
		partialResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "partial_responses_total",
			Help: "Answers served without every source (X-Federation-Complete: false).",
		}, []string{"handler"}),
		sourceInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "source_info",
			Help: "Always 1: each configured source with its kind, mode (api sources) and whether it is required.",
		}, []string{"source", "kind", "mode", "required"}),
		mergeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "merge_duration_seconds",
			Help:    "Time spent merging source streams into one page.",
			Buckets: LatencyBuckets,
		}),
	}
	m.up, m.cache = newUpstreamCollectors(), newCacheCollectors()
	reg.MustRegister(m.httpDuration, m.inFlight, m.httpRejected, m.sourceEntries, m.sourceLastSuccess,
		m.sourceSyncDuration, m.sourceSyncFailures, m.partialResponses, m.mergeDuration, m.sourceInfo)
	for _, reason := range []string{RejectInFlight, RejectTransferEncoding} {
		m.httpRejected.WithLabelValues(reason).Add(0) // export the series from the start
	}
	reg.MustRegister(m.up.all()...)
	reg.MustRegister(m.cache.all()...)
	return m
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

// SourceLoaded records a load attempt of a source.
func (m *Metrics) SourceLoaded(st upstream.SourceStatus, took time.Duration) {
	m.sourceSyncDuration.WithLabelValues(st.Name, st.Kind).Observe(took.Seconds())
	if st.LastError != "" {
		m.sourceSyncFailures.WithLabelValues(st.Name).Inc()
	} else {
		m.sourceSyncFailures.WithLabelValues(st.Name).Add(0) // export the series from the start
	}
	m.sourceEntries.WithLabelValues(st.Name).Set(float64(st.Entries))
	if !st.LastSuccess.IsZero() {
		m.sourceLastSuccess.WithLabelValues(st.Name).Set(float64(st.LastSuccess.UnixNano()) / 1e9)
	}
}

// SourceConfigured exports a source's static description
// (mcpfed_source_info) and its load series at zero.
func (m *Metrics) SourceConfigured(source, kind, mode string, required bool) {
	m.sourceInfo.WithLabelValues(source, kind, mode, strconv.FormatBool(required)).Set(1)
	m.sourceSyncFailures.WithLabelValues(source).Add(0)
	m.sourceEntries.WithLabelValues(source).Add(0)
}

// Reasons a request is refused before any handler runs.
const (
	RejectInFlight         = "in_flight"         // beyond the in-flight cap: 503
	RejectTransferEncoding = "transfer_encoding" // a chunked request body: 400
)

// Rejected counts a request refused by the server's guard before any
// handler ran, for one of the Reject* reasons.
func (m *Metrics) Rejected(reason string) { m.httpRejected.WithLabelValues(reason).Inc() }

// Partial counts an answer that lacked some sources.
func (m *Metrics) Partial(handler string) { m.partialResponses.WithLabelValues(handler).Inc() }

// ObserveMerge records one merge.
func (m *Metrics) ObserveMerge(d time.Duration) { m.mergeDuration.Observe(d.Seconds()) }

type routeKey struct{}

// SetRoute names the route template of the request being served, for the
// handler label; without it the mux pattern is used.
func SetRoute(r *http.Request, route string) {
	if p, ok := r.Context().Value(routeKey{}).(*string); ok {
		*p = route
	}
}

// Route returns the route template set for the request so far.
func Route(r *http.Request) string {
	if p, ok := r.Context().Value(routeKey{}).(*string); ok {
		return *p
	}
	return ""
}

// Middleware gives every request an id (X-Request-Id on the response, and
// in the context for RequestID and RequestIDHandler, whether or not the
// access log is on) and measures it: in-flight gauge and latency by route
// template, method and code.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = AssignRequestID(w, r)
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		start := time.Now()
		route := ""
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, &route))
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		if route == "" {
			route = "other" // unmatched paths must not create a series each
		}
		m.httpDuration.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(rec.code)).Observe(time.Since(start).Seconds())
	})
}

// methodLabel bounds the method label to the methods HTTP defines.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPost,
		http.MethodPut, http.MethodPatch, http.MethodDelete:
		return method
	}
	return "OTHER"
}

type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.code, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
