package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the bare server child, as the
// command does.
func TestMain(m *testing.M) {
	if isBareChild() {
		os.Exit(runBare())
	}
	os.Exit(m.Run())
}

func TestBucketsCoverEveryValue(t *testing.T) {
	values := []int64{0, 1, 2, 63, 64, 127, 128, 129, 255, 256, 1000, 4095, 4096, 123456789, 1 << 40, math.MaxInt64 - 1, math.MaxInt64}
	for v := int64(1); v > 0 && v < math.MaxInt64/3; v = v*3 + 1 {
		values = append(values, v, v+1, v-1)
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0,%d)", v, i, histBuckets)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d [%d, %d]", v, i, lo, hi)
		}
		if v >= histExact && float64(hi-lo) > float64(lo)/histSub {
			t.Errorf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, hi, histSub)
		}
	}
	// Buckets tile the range: each starts right after the previous one.
	for i := 1; i < histBuckets; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, prevHi)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	var h Hist
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	// 1..10000 µs, shuffled order does not matter to a histogram.
	for i := 10000; i >= 1; i-- {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	if h.Count() != 10000 {
		t.Fatalf("count %d", h.Count())
	}
	if h.Min() != time.Microsecond || h.Max() != 10*time.Millisecond {
		t.Fatalf("min %v max %v, want exact 1µs and 10ms", h.Min(), h.Max())
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.9, 9 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {0.999, 9990 * time.Microsecond}} {
		got := h.Quantile(c.q)
		// Never below the true value, at most one bucket (1/64) above.
		if got < c.want || float64(got) > float64(c.want)*(1+1.0/histSub) {
			t.Errorf("Quantile(%v) = %v, want %v within +1/%d", c.q, got, c.want, histSub)
		}
	}
	if got := h.Quantile(1); got != h.Max() {
		t.Errorf("Quantile(1) = %v, want max %v", got, h.Max())
	}
	if mean := h.Mean(); mean < 5000*time.Microsecond || mean > 5001*time.Microsecond {
		t.Errorf("mean %v, want 5.0005ms", mean)
	}
}

func TestHistSmallValuesAreExactAndClamped(t *testing.T) {
	var h Hist
	for _, v := range []time.Duration{3, 3, 3, 100} {
		h.Record(v)
	}
	if got := h.Quantile(0.5); got != 3 {
		t.Errorf("p50 = %v, want exactly 3ns", got)
	}
	if got := h.Quantile(0.99); got != 100 {
		t.Errorf("p99 = %v, want 100ns", got)
	}
	// A single large value: the quantile is clamped to the exact max, not
	// the bucket's upper bound.
	var one Hist
	one.Record(123456789)
	if got := one.Quantile(0.5); got != 123456789 {
		t.Errorf("single value p50 = %v, want the value itself", got)
	}
	var neg Hist
	neg.Record(-5)
	if neg.Max() != 0 || neg.Quantile(0.5) != 0 {
		t.Error("negative durations count as zero")
	}
}

func TestHistMerge(t *testing.T) {
	var a, b, all Hist
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i*i) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Hist
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(nil)
	m.Merge(&Hist{})
	if m.Count() != all.Count() || m.Min() != all.Min() || m.Max() != all.Max() || m.Mean() != all.Mean() {
		t.Fatalf("merged count/min/max/mean %d/%v/%v/%v, want %d/%v/%v/%v",
			m.Count(), m.Min(), m.Max(), m.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99} {
		if m.Quantile(q) != all.Quantile(q) {
			t.Errorf("Quantile(%v): merged %v, direct %v", q, m.Quantile(q), all.Quantile(q))
		}
	}
}

func TestPickScenarios(t *testing.T) {
	names := func(spec string) string {
		ss, err := pick(spec)
		if err != nil {
			return "error: " + err.Error()
		}
		var out []string
		for _, s := range ss {
			out = append(out, s.name)
		}
		return strings.Join(out, ",")
	}
	if got := names("all"); strings.Contains(got, "soak") || !strings.Contains(got, "hot") {
		t.Errorf("all = %s: want every scenario but soak", got)
	}
	if got := names("all+soak"); !strings.HasSuffix(got, "soak") {
		t.Errorf("all+soak = %s", got)
	}
	if got := names("soak,hot,soak"); got != "soak,hot" {
		t.Errorf("soak,hot,soak = %s", got)
	}
	if got := names("nope"); !strings.HasPrefix(got, "error") {
		t.Errorf("an unknown scenario must be an error, got %s", got)
	}
}

func TestCheckLoopback(t *testing.T) {
	if err := checkLoopback("http://127.0.0.1:8080"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"http://localhost:8080", "http://10.0.0.1:80", "https://127.0.0.1:443", "http://127.0.0.1.example.com:80"} {
		if checkLoopback(bad) == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestHotScenario runs the whole command once, briefly: it builds mcpfed,
// runs it against a fake upstream, drives it and the bare server, and
// writes the JSON report.
func TestHotScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs mcpfed: skipped with -short")
	}
	out := filepath.Join(t.TempDir(), "results.json")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-scenario", "hot", "-c", "4", "-d", "1s", "-warmup", "200ms", "-json", out}, &stdout, &stderr)
	t.Log(stdout.String())
	if code != 0 {
		t.Fatalf("exit code %d\n%s", code, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 1 || rep.Scenarios[0].Name != "hot" {
		t.Fatalf("scenarios: %+v", rep.Scenarios)
	}
	sr := rep.Scenarios[0]
	if sr.Error != "" {
		t.Fatal(sr.Error)
	}
	if len(sr.Runs) != 2 {
		t.Fatalf("want a mcpfed run and a bare run, got %d", len(sr.Runs))
	}
	for _, r := range sr.Runs {
		if r.Requests == 0 || r.Status["200"] != r.Requests || r.BadBodies != 0 || r.P50Ms <= 0 || r.MaxMs < r.P99Ms {
			t.Errorf("%s: %d requests, status %v, %d bad bodies, p50 %v p99 %v max %v", r.Label, r.Requests, r.Status, r.BadBodies, r.P50Ms, r.P99Ms, r.MaxMs)
		}
	}
	if len(sr.Processes) < 2 || sr.Processes[0].PeakRSSMB <= 0 {
		t.Errorf("processes: %+v", sr.Processes)
	}
	for _, tg := range sr.Targets {
		if tg.Verdict == "MISS" {
			t.Errorf("target missed: %+v", tg)
		}
	}
	for _, want := range []string{"=== hot", "bare net/http", "throughput mcpfed/bare", "=== summary ==="} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	children.mu.Lock()
	left := len(children.set)
	children.mu.Unlock()
	if left != 0 {
		t.Errorf("%d child processes still running", left)
	}
}
