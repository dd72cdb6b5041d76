package auth

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// Record is one audit line: who asked what of which view, and the
// decision. It has no field for a token, a query or a path: the route is
// the template.
type Record struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id"`
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	View      string    `json:"view"`
	Method    string    `json:"method"`
	Route     string    `json:"route"`
	Status    int       `json:"status"`
	Decision  Result    `json:"decision"`
	Reason    string    `json:"reason"`
	Client    string    `json:"client"`
}

// maxAuditField bounds every text field of an audit line (in bytes), so a
// line is bounded however long a subject claim is.
const maxAuditField = 256

// Auditor writes one JSON line per decision. Writes are serialised; a nil
// *Auditor (audit disabled) writes nothing.
type Auditor struct {
	now    func() time.Time
	log    *slog.Logger
	errors prometheus.Counter

	mu     sync.Mutex
	w      io.Writer
	closer io.Closer
}

// NewAuditor writes to w (e.g. os.Stderr: a stream of its own, not the
// application log). now nil is time.Now; log nil discards.
func NewAuditor(w io.Writer, now func() time.Time, log *slog.Logger) *Auditor {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Auditor{w: w, now: now, log: log}
}

// OpenAuditor builds the auditor cfg asks for: nil when disabled, a file
// opened for appending (created 0600) when Path is set, else stderr.
func OpenAuditor(cfg AuditConfig, stderr io.Writer, now func() time.Time, log *slog.Logger) (*Auditor, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	if cfg.Path == "" {
		return NewAuditor(stderr, now, log), nil
	}
	f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("auth.audit.path: %w", err)
	}
	a := NewAuditor(f, now, log)
	a.closer = f
	return a, nil
}

// Write appends rec as one line. A zero Time is the auditor's clock.
// Failures are logged (and counted when Metrics is attached), not
// returned to the request.
func (a *Auditor) Write(rec Record) {
	if a == nil {
		return
	}
	if rec.Time.IsZero() {
		rec.Time = a.now()
	}
	rec.Time = rec.Time.UTC()
	for _, f := range []*string{&rec.RequestID, &rec.Subject, &rec.Issuer, &rec.View, &rec.Method, &rec.Route, &rec.Reason, &rec.Client} {
		*f = truncate(*f, maxAuditField)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	line, err := json.Marshal(rec)
	if err != nil {
		a.fail(err)
		return
	}
	line = append(line, '\n')
	if _, err := a.w.Write(line); err != nil {
		a.fail(err)
	}
}

// fail is called with a.mu held.
func (a *Auditor) fail(err error) {
	a.log.Error("audit line not written", "err", err)
	if a.errors != nil {
		a.errors.Inc()
	}
}

// Close closes the audit file, if the auditor opened one.
func (a *Auditor) Close() error {
	if a == nil || a.closer == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closer.Close()
}

// truncate cuts s to at most n bytes on a rune boundary, and replaces
// invalid UTF-8.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Metrics counts access decisions.
type Metrics struct {
	decisions   *prometheus.CounterVec
	auditErrors prometheus.Counter
}

// NewMetrics registers mcpfed_auth_decisions_total{view,result} and
// mcpfed_auth_audit_write_errors_total on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpfed_auth_decisions_total",
			Help: "Access decisions by view and result (allow, unauthenticated, invalid_token, forbidden, rate_limited).",
		}, []string{"view", "result"}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mcpfed_auth_audit_write_errors_total",
			Help: "Audit lines that could not be written.",
		}),
	}
	for _, c := range []prometheus.Collector{m.decisions, m.auditErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register auth metrics: %w", err)
		}
	}
	return m, nil
}

// Observe counts one decision. The view label is the configured view name
// (bounded by the configuration), never anything a client sends.
func (m *Metrics) Observe(view string, result Result) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(view, string(result)).Inc()
}

// AttachAuditor counts a's write failures.
func (m *Metrics) AttachAuditor(a *Auditor) {
	if m == nil || a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errors = m.auditErrors
}
