package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Req is one request of a scenario's mix.
type Req struct {
	// Path is the path and query, appended to the target's base URL.
	Path string
	// Class groups requests for a latency breakdown ("" = none).
	Class string
}

// Worker is the state one load goroutine hands to a scenario's Next.
type Worker struct {
	ID  int
	N   int // requests this worker has issued in the current phase
	Rng *rand.Rand
}

// Load describes one measured run against one target.
type Load struct {
	Label    string // e.g. "mcpfed", "bare net/http"
	Base     string // http://127.0.0.1:port
	Clients  int
	Duration time.Duration
	// Warmup runs the same mix first, unmeasured (0: none).
	Warmup  time.Duration
	Timeout time.Duration // per request
	Next    func(w *Worker) Req
	// Expect, if set, checks an answer of status 200 (n body bytes read);
	// failures are counted as bad bodies.
	Expect func(resp *http.Response, n int64) bool
	// BeforeMeasure, if set, runs between the warm-up and the measured
	// phase (reset counters, start CPU windows).
	BeforeMeasure func()
	// PID is the server process, for the CPU split of the result (0: none).
	PID int
	// Transport, if set, is used (and kept open) instead of a new one, so
	// interleaved chunks of a run keep their connections.
	Transport *http.Transport
}

// Result is what one run measured.
type Result struct {
	Label   string `json:"label"`
	Clients int    `json:"clients"`
	// Seconds is the measured window: requests are issued until it ends.
	Seconds float64 `json:"seconds"`
	// TailSeconds is how long requests still in flight at the end of the
	// window took to finish (they count in the latencies, not in the
	// throughput).
	TailSeconds float64 `json:"tailSeconds"`
	Requests    int64   `json:"requests"`
	// InWindow counts the requests completed within the window; Throughput
	// is InWindow per second of window.
	InWindow   int64   `json:"completedInWindow"`
	Throughput float64 `json:"reqPerSec"`
	Latency
	// Status counts answers by HTTP status.
	Status map[string]int64 `json:"status"`
	// Answers counts 200s by what mcpfed reported: complete, partial
	// (X-Federation-Complete: false), stale (X-Federation-Stale-Sources),
	// or plain (no federation headers: the bare server).
	Answers map[string]int64 `json:"answers,omitempty"`
	// Errors counts transport errors by kind; ErrorSample keeps one message each.
	Errors      map[string]int64  `json:"errors,omitempty"`
	ErrorSample map[string]string `json:"errorSample,omitempty"`
	ErrorsTotal int64             `json:"errorsTotal"`
	Status5xx   int64             `json:"status5xx"`
	BadBodies   int64             `json:"badBodies"`
	Bytes       int64             `json:"bytes"`
	Classes     map[string]*Class `json:"classes,omitempty"`
	// CPU over the measured phase, in cores: the server process, this
	// process (load clients and fake upstreams), and everything else on
	// the machine (other programs competing for the same CPUs).
	ServerCores float64 `json:"serverCores"`
	LoadCores   float64 `json:"loadCores"`
	OtherCores  float64 `json:"otherCores"`

	hist *Hist
}

// Latency summarises a histogram in milliseconds.
type Latency struct {
	P50Ms  float64 `json:"p50Ms"`
	P90Ms  float64 `json:"p90Ms"`
	P99Ms  float64 `json:"p99Ms"`
	MaxMs  float64 `json:"maxMs"`
	MeanMs float64 `json:"meanMs"`
}

// Class is the latency of one class of requests.
type Class struct {
	Requests int64 `json:"requests"`
	Latency
	hist *Hist
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func summarise(h *Hist) Latency {
	return Latency{
		P50Ms: ms(h.Quantile(0.50)), P90Ms: ms(h.Quantile(0.90)), P99Ms: ms(h.Quantile(0.99)),
		MaxMs: ms(h.Max()), MeanMs: ms(h.Mean()),
	}
}

// tally is one worker's counts, merged into the Result at the end.
type tally struct {
	hist    Hist
	classes map[string]*Hist
	status  map[int]int64
	answers map[string]int64
	errors  map[string]int64
	sample  map[string]string
	bad     int64
	bytes   int64
	n       int64
	inWin   int64
	end     time.Time // of the window
}

func newTally() *tally {
	return &tally{classes: map[string]*Hist{}, status: map[int]int64{}, answers: map[string]int64{},
		errors: map[string]int64{}, sample: map[string]string{}}
}

// newTransport is the client side: keep-alive connections, one per client,
// no compression (the bytes on the wire are the bytes served), no proxy.
func newTransport(clients int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no global bound
		MaxIdleConnsPerHost: clients + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// checkLoopback refuses any target that is not on 127.0.0.1.
func checkLoopback(base string) error {
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		return fmt.Errorf("refusing target %q: only http://127.0.0.1 is allowed", base)
	}
	return nil
}

// runLoad warms up, then drives l.Clients goroutines for l.Duration.
func runLoad(ctx context.Context, l Load) (*Result, error) {
	if err := checkLoopback(l.Base); err != nil {
		return nil, err
	}
	if l.Clients < 1 || l.Duration <= 0 || l.Timeout <= 0 || l.Next == nil {
		return nil, errors.New("load: clients, duration, timeout and next are required")
	}
	tr := l.Transport
	if tr == nil {
		tr = newTransport(l.Clients)
		defer tr.CloseIdleConnections()
	}
	if l.Warmup > 0 {
		if _, err := drive(ctx, tr, l, l.Warmup); err != nil {
			return nil, err
		}
	}
	if l.BeforeMeasure != nil {
		l.BeforeMeasure()
	}
	return drive(ctx, tr, l, l.Duration)
}

// herd sends n identical requests at the same instant, once, each on its
// own connection (opened beforehand with n concurrent /healthz requests, so
// the herd measures requests, not TCP handshakes).
func herd(ctx context.Context, base, path string, n int, timeout time.Duration) (*Result, error) {
	if err := checkLoopback(base); err != nil {
		return nil, err
	}
	tr := newTransport(n)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	warm := Load{Base: base, Timeout: timeout}
	fire := func(l Load, path string) []outcome {
		out := make([]outcome, n)
		gate := make(chan struct{})
		var ready, done sync.WaitGroup
		for i := range n {
			ready.Add(1)
			done.Go(func() {
				ready.Done()
				<-gate
				out[i] = one(ctx, client, l, Req{Path: path})
			})
		}
		ready.Wait()
		close(gate)
		done.Wait()
		return out
	}
	fire(warm, "/healthz")
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l := Load{Label: "herd", Base: base, Clients: n, Timeout: timeout}
	start := time.Now()
	outs := fire(l, path)
	elapsed := time.Since(start)
	t := newTally()
	for _, o := range outs {
		t.add(o)
	}
	return merge(l, []*tally{t}, elapsed, elapsed), nil
}

// runInterleaved measures several targets against each other fairly: each
// is warmed up, then they take turns in chunks (the order rotating every
// round) until each has run its Duration, and each one's chunks are
// combined. Whatever else the machine does meanwhile (GC of the load
// process, other programs) falls on all of them alike. Every target keeps
// its connections across its chunks.
func runInterleaved(ctx context.Context, loads []Load, chunk time.Duration) ([]*Result, error) {
	for i := range loads {
		if err := checkLoopback(loads[i].Base); err != nil {
			return nil, err
		}
		if loads[i].Transport == nil {
			loads[i].Transport = newTransport(loads[i].Clients)
			defer loads[i].Transport.CloseIdleConnections()
		}
	}
	for _, l := range loads {
		if l.Warmup > 0 {
			if _, err := drive(ctx, l.Transport, l, l.Warmup); err != nil {
				return nil, err
			}
		}
	}
	for _, l := range loads {
		if l.BeforeMeasure != nil {
			l.BeforeMeasure()
		}
	}
	parts := make([][]*Result, len(loads))
	done := make([]time.Duration, len(loads))
	for round := 0; ; round++ {
		progressed := false
		for k := range loads {
			i := (k + round) % len(loads)
			l := loads[i]
			left := l.Duration - done[i]
			if left <= 0 {
				continue
			}
			d := min(chunk, left)
			r, err := drive(ctx, l.Transport, l, d)
			if err != nil {
				return nil, err
			}
			parts[i] = append(parts[i], r)
			done[i] += d
			progressed = true
		}
		if !progressed {
			break
		}
	}
	out := make([]*Result, len(loads))
	for i, l := range loads {
		out[i] = combine(l, parts[i])
	}
	return out, nil
}

// combine adds up the chunks of one interleaved run.
func combine(l Load, parts []*Result) *Result {
	res := &Result{Label: l.Label, Clients: l.Clients, hist: &Hist{},
		Status: map[string]int64{}, Answers: map[string]int64{}, Errors: map[string]int64{},
		ErrorSample: map[string]string{}, Classes: map[string]*Class{}}
	for _, p := range parts {
		res.hist.Merge(p.hist)
		res.Seconds += p.Seconds
		res.TailSeconds += p.TailSeconds
		res.Requests += p.Requests
		res.InWindow += p.InWindow
		res.Bytes += p.Bytes
		res.BadBodies += p.BadBodies
		res.ErrorsTotal += p.ErrorsTotal
		res.Status5xx += p.Status5xx
		res.ServerCores += p.ServerCores * p.Seconds
		res.LoadCores += p.LoadCores * p.Seconds
		res.OtherCores += p.OtherCores * p.Seconds
		for k, v := range p.Status {
			res.Status[k] += v
		}
		for k, v := range p.Answers {
			res.Answers[k] += v
		}
		for k, v := range p.Errors {
			res.Errors[k] += v
			if _, ok := res.ErrorSample[k]; !ok {
				res.ErrorSample[k] = p.ErrorSample[k]
			}
		}
		for k, c := range p.Classes {
			rc := res.Classes[k]
			if rc == nil {
				rc = &Class{hist: &Hist{}}
				res.Classes[k] = rc
			}
			rc.hist.Merge(c.hist)
		}
	}
	for _, c := range res.Classes {
		c.Requests = int64(c.hist.Count())
		c.Latency = summarise(c.hist)
	}
	res.Latency = summarise(res.hist)
	if res.Seconds > 0 {
		res.Throughput = float64(res.InWindow) / res.Seconds
		res.ServerCores /= res.Seconds
		res.LoadCores /= res.Seconds
		res.OtherCores /= res.Seconds
	}
	return res
}

// drive runs one phase: every worker issues requests back to back until the
// phase's end; requests in flight at the end finish (bounded by Timeout).
func drive(ctx context.Context, tr *http.Transport, l Load, d time.Duration) (*Result, error) {
	cpu0 := sampleCPU(l.PID)
	start := time.Now()
	end := start.Add(d)
	tallies := make([]*tally, l.Clients)
	var wg sync.WaitGroup
	var panicMu sync.Mutex
	var panicErr error
	for i := range l.Clients {
		t := newTally()
		t.end = end
		tallies[i] = t
		w := &Worker{ID: i, Rng: rand.New(rand.NewPCG(uint64(i)+1, uint64(start.UnixNano())))}
		client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					panicMu.Lock()
					panicErr = fmt.Errorf("load worker %d panicked: %v", w.ID, p)
					panicMu.Unlock()
				}
			}()
			for time.Now().Before(end) && ctx.Err() == nil {
				r := l.Next(w)
				w.N++
				t.add(one(ctx, client, l, r))
			}
		})
	}
	wg.Wait()
	if panicErr != nil {
		return nil, panicErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := merge(l, tallies, d, time.Since(start))
	res.ServerCores, res.LoadCores, res.OtherCores = sampleCPU(l.PID).coresSince(cpu0)
	return res, nil
}

// outcome is what one request gave.
type outcome struct {
	class  string
	lat    time.Duration
	err    error
	status int
	kind   string // answerKind of a 200
	bad    bool
	bytes  int64
	done   time.Time
}

// one issues one request.
func one(ctx context.Context, client *http.Client, l Load, r Req) outcome {
	rctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, l.Base+r.Path, nil)
	if err != nil {
		panic(err) // a scenario built a bad URL: a bug in this program
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	var n int64
	if err == nil {
		n, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	done := time.Now()
	o := outcome{class: r.Class, lat: done.Sub(t0), err: err, bytes: n, done: done}
	if err != nil {
		return o
	}
	o.status = resp.StatusCode
	if resp.StatusCode == http.StatusOK {
		o.kind = answerKind(resp.Header)
		o.bad = l.Expect != nil && !l.Expect(resp, n)
	}
	return o
}

// add records an outcome.
func (t *tally) add(o outcome) {
	t.n++
	if t.end.IsZero() || !o.done.After(t.end) {
		t.inWin++
	}
	t.hist.Record(o.lat)
	if o.class != "" {
		h := t.classes[o.class]
		if h == nil {
			h = &Hist{}
			t.classes[o.class] = h
		}
		h.Record(o.lat)
	}
	if o.err != nil {
		k := errKind(o.err)
		t.errors[k]++
		if _, ok := t.sample[k]; !ok {
			t.sample[k] = o.err.Error()
		}
		return
	}
	t.bytes += o.bytes
	t.status[o.status]++
	if o.status == http.StatusOK {
		t.answers[o.kind]++
		if o.bad {
			t.bad++
		}
	}
}

// answerKind classifies a 200 by mcpfed's federation headers.
func answerKind(h http.Header) string {
	switch {
	case h.Get("X-Federation-Complete") == "false":
		return "partial"
	case h.Get("X-Federation-Stale-Sources") != "":
		return "stale"
	case h.Get("X-Federation-Complete") == "true":
		return "complete"
	}
	return "plain"
}

// errKind names a transport error.
func errKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), os.IsTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no-local-port"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "eof"
	}
	return "other"
}

func merge(l Load, tallies []*tally, window, elapsed time.Duration) *Result {
	res := &Result{Label: l.Label, Clients: l.Clients, Seconds: window.Seconds(), TailSeconds: max(elapsed-window, 0).Seconds(), hist: &Hist{},
		Status: map[string]int64{}, Answers: map[string]int64{}, Errors: map[string]int64{},
		ErrorSample: map[string]string{}, Classes: map[string]*Class{}}
	for _, t := range tallies {
		res.hist.Merge(&t.hist)
		res.Requests += t.n
		res.InWindow += t.inWin
		res.Bytes += t.bytes
		res.BadBodies += t.bad
		for code, c := range t.status {
			res.Status[strconv.Itoa(code)] += c
			if code >= 500 {
				res.Status5xx += c
			}
		}
		for k, c := range t.answers {
			res.Answers[k] += c
		}
		for k, c := range t.errors {
			res.Errors[k] += c
			res.ErrorsTotal += c
			if _, ok := res.ErrorSample[k]; !ok {
				res.ErrorSample[k] = t.sample[k]
			}
		}
		for name, h := range t.classes {
			c := res.Classes[name]
			if c == nil {
				c = &Class{hist: &Hist{}}
				res.Classes[name] = c
			}
			c.hist.Merge(h)
		}
	}
	for _, c := range res.Classes {
		c.Requests = int64(c.hist.Count())
		c.Latency = summarise(c.hist)
	}
	res.Latency = summarise(res.hist)
	if window > 0 {
		res.Throughput = float64(res.InWindow) / window.Seconds()
	}
	return res
}

// non200 counts answers that were not 200.
func (r *Result) non200() int64 {
	var n int64
	for code, c := range r.Status {
		if code != "200" {
			n += c
		}
	}
	return n
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
