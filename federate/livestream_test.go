package federate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
)

// fakeLive is a LiveSource over a fixed, sorted list of entries, paged by
// index ("" is 0). It counts fetches and the faults reported to it. A
// stuck fake answers every page with its first entries and a new cursor:
// an upstream that never makes progress. An index it did not hand out is
// a 400, as a registry refuses a cursor it cannot read.
type fakeLive struct {
	name     string
	entries  []*upstream.Entry
	pageSize int
	maxPages int
	stuck    bool
	// cursorPad is appended to every next cursor (a cursor like a padded
	// one some upstreams send); a fetch ignores it.
	cursorPad string
	// fail, when set, is returned by every fetch.
	fail error
	// lost is every answer's Response.Dropped (invalid records skipped).
	lost int
	// index and indexErr are what Index returns (nil, nil: forwarded).
	index    *upstream.Index
	indexErr error
	// artifacts are the skills and plugins it serves, by kind;
	// staleArtifacts serves them marked stale (from cache, upstream down).
	artifacts      map[upstream.ArtifactKind][]*upstream.Artifact
	staleArtifacts bool

	fetches   atomic.Int64
	disorders atomic.Int64 // ReportDisorder calls
	mu        sync.Mutex
	faults    []error
}

func newFakeLive(t testing.TB, name string, items ...srv) *fakeLive {
	t.Helper()
	doc, err := upstream.Parse(serverList(items...))
	if err != nil {
		t.Fatal(err)
	}
	upstream.Finalize(doc.Entries, time.Time{})
	upstream.Seal(name, doc.Entries)
	slices.SortFunc(doc.Entries, func(a, b *upstream.Entry) int {
		switch {
		case a.Key().Less(b.Key()):
			return -1
		case b.Key().Less(a.Key()):
			return 1
		}
		return 0
	})
	return &fakeLive{name: name, entries: doc.Entries, pageSize: 2, maxPages: 3}
}

func (f *fakeLive) Name() string            { return f.name }
func (f *fakeLive) PageSize() int           { return f.pageSize }
func (f *fakeLive) MaxPagesPerRequest() int { return f.maxPages }
func (f *fakeLive) Served() bool            { return true }
func (f *fakeLive) ReportDisorder()         { f.disorders.Add(1) }

func (f *fakeLive) OrderMode() string {
	if f.index != nil {
		return "index"
	}
	return "bytes"
}

// Artifacts serves the fake's artifacts of kind (none unless set), or fail.
func (f *fakeLive) Artifacts(_ context.Context, kind upstream.ArtifactKind) (*upstream.Artifacts, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	a, err := upstream.NewArtifacts(f.name, f.artifacts[kind])
	if err == nil && f.staleArtifacts {
		a = a.AsStale()
	}
	return a, err
}

func (f *fakeLive) Index(context.Context) (*upstream.Index, error) { return f.index, f.indexErr }

func (f *fakeLive) ReportFault(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, err)
}

func (f *fakeLive) reported() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.faults)
}

func (f *fakeLive) Fetch(_ context.Context, r upstream.Request) (*upstream.Response, error) {
	f.fetches.Add(1)
	if f.fail != nil {
		return nil, f.fail
	}
	if r.Op == upstream.OpVersions {
		var out []*upstream.Entry
		for _, e := range f.entries {
			if e.Name == r.Name {
				out = append(out, e)
			}
		}
		if len(out) == 0 {
			return nil, upstream.ErrNotFound
		}
		return f.withLost(&upstream.Response{Entries: out}), nil
	}
	start := 0
	if r.Cursor != "" {
		n, err := strconv.Atoi(strings.TrimSuffix(r.Cursor, f.cursorPad))
		if err != nil || n < 0 || n > len(f.entries) && !f.stuck {
			return nil, &upstream.StatusError{Code: http.StatusBadRequest}
		}
		start = n
	}
	if f.stuck {
		return &upstream.Response{Entries: f.entries[:min(f.pageSize, len(f.entries))], NextCursor: strconv.Itoa(start + 1)}, nil
	}
	end := min(start+f.pageSize, len(f.entries))
	resp := &upstream.Response{Entries: f.entries[start:end]}
	if end < len(f.entries) {
		resp.NextCursor = strconv.Itoa(end) + f.cursorPad
	}
	return f.withLost(resp), nil
}

func (f *fakeLive) withLost(r *upstream.Response) *upstream.Response {
	if f.lost > 0 {
		r.Dropped, r.DropReason = f.lost, upstream.DropInvalid
	}
	return r
}

// logRecord is a log record as a test reads it: message, level, attributes
// and the request mark of the context it was logged with.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]string
	mark  string
}

type markKey struct{}

// recorder is a slog handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []logRecord
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }

func (r *recorder) Handle(ctx context.Context, rec slog.Record) error {
	lr := logRecord{level: rec.Level, msg: rec.Message, attrs: map[string]string{}}
	lr.mark, _ = ctx.Value(markKey{}).(string)
	rec.Attrs(func(a slog.Attr) bool {
		lr.attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, lr)
	r.mu.Unlock()
	return nil
}

func (r *recorder) find(msg string) []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logRecord
	for _, rec := range r.records {
		if rec.msg == msg {
			out = append(out, rec)
		}
	}
	return out
}

func (r *recorder) atLeast(level slog.Level) []logRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logRecord
	for _, rec := range r.records {
		if rec.level >= level {
			out = append(out, rec)
		}
	}
	return out
}

// markRequests puts a mark in every request's context (as the request-id
// middleware does): logs written while serving must carry it.
func markRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), markKey{}, "req:"+r.URL.RequestURI())))
	})
}

// manualClock is a clock the test moves.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// liveItems are n servers io.github.live/sNN, one version each.
func liveItems(n int) []srv {
	out := make([]srv, n)
	for i := range out {
		out[i] = srv{Name: fmt.Sprintf("io.github.live/s%02d", i), Version: "1.0.0", Description: "live server", Published: "2025-01-01T00:00:00Z"}
	}
	return out
}

// TestLiveWalkWithoutProgress: an upstream whose pages never progress
// (the same entries, a new cursor each time) costs one request a bounded
// number of fetches, ends the walk as an upstream fault reported to the
// source's breaker, and is logged once per interval with a count — not a
// line per request.
func TestLiveWalkWithoutProgress(t *testing.T) {
	t.Parallel()
	for _, required := range []bool{false, true} {
		t.Run(fmt.Sprintf("required=%t", required), func(t *testing.T) {
			t.Parallel()
			live := newFakeLive(t, "stuck", liveItems(4)...)
			live.stuck, live.maxPages = true, 5
			snap := newSource(t, "file", serverList(srv{Name: "io.github.file/one", Version: "1.0.0", Description: "file", Published: "2025-01-01T00:00:00Z"}))
			rec := &recorder{}
			clock := &manualClock{now: fixedNow}
			e := newEnv(t, envOptions{
				members: []Member{{Live: live, Required: required}, {Source: snap}},
				logger:  slog.New(rec), clock: clock.Now, wrap: markRequests,
			})
			const requests = 20
			for i := range requests {
				before := live.fetches.Load()
				r := e.get(t, "/v0.1/servers?limit=100")
				if n := live.fetches.Load() - before; n > int64(live.maxPages) {
					t.Fatalf("request %d: %d upstream fetches, bound %d", i, n, live.maxPages)
				}
				if required {
					if r.status != http.StatusBadGateway {
						t.Fatalf("status %d, want 502", r.status)
					}
					continue
				}
				wantPartial(t, "stuck live source", r, "stuck")
			}
			if got := len(live.reported()); got != requests {
				t.Errorf("%d faults reported to the breaker, want one per request (%d)", got, requests)
			}
			for _, err := range live.reported() {
				if !errors.Is(err, ErrNoProgress) {
					t.Errorf("fault %v, want ErrNoProgress", err)
				}
			}
			lines := rec.find(warnNoProgress)
			if len(lines) != 1 || lines[0].attrs["occurrences"] != "1" {
				t.Fatalf("%d warning lines %v, want the first one alone", len(lines), lines)
			}
			if !required && len(rec.find("source skipped in answer")) != 1 {
				t.Errorf("skips logged %d times, want once per interval", len(rec.find("source skipped in answer")))
			}
			clock.Advance(DefaultWarnInterval)
			e.get(t, "/v0.1/servers?limit=100")
			lines = rec.find(warnNoProgress)
			if len(lines) != 2 || lines[1].attrs["occurrences"] != strconv.Itoa(requests) {
				t.Fatalf("after an interval: %v, want a second line counting %d occurrences", lines, requests)
			}
			if lines[1].mark == "" {
				t.Error("the warning was not logged with the request's context")
			}
		})
	}
}

// TestLivePageBound: one request reads at most MaxPagesPerRequest pages of
// a live source. A short search filtered locally over a long upstream
// answers what the pages read hold and a cursor that continues there; the
// walk finds everything, each request within the bound.
func TestLivePageBound(t *testing.T) {
	t.Parallel()
	items := liveItems(30)
	items[3].Description = "needle one"
	items[27].Description = "needle two"
	live := newFakeLive(t, "api", items...)
	live.pageSize, live.maxPages = 2, 3
	rec := &recorder{}
	e := newEnv(t, envOptions{members: []Member{{Live: live, Required: true}}, logger: slog.New(rec), maxAge: time.Minute})

	var got []key
	cursor, requests := "", 0
	for {
		requests++
		if requests > 30 {
			t.Fatal("the walk does not end")
		}
		before := live.fetches.Load()
		v := url.Values{"search": {"ne"}, "limit": {"5"}} // two runes: filtered by mcpfed
		if cursor != "" {
			v.Set("cursor", cursor)
		}
		r := e.get(t, "/v0.1/servers?"+v.Encode())
		if n := live.fetches.Load() - before; n > int64(live.maxPages) {
			t.Fatalf("request %d: %d upstream fetches, bound %d", requests, n, live.maxPages)
		}
		wantComplete(t, "bounded page", r)
		lb := decodeList(t, r)
		got = append(got, keys(lb.Servers)...)
		if lb.Metadata.NextCursor == nil {
			break
		}
		cursor = *lb.Metadata.NextCursor
	}
	want := []key{{"io.github.live/s03", "1.0.0", "api"}, {"io.github.live/s27", "1.0.0", "api"}}
	diffKeys(t, got, want)
	// 15 upstream pages, 3 a request, each re-reading none it had read.
	if requests != 5 {
		t.Errorf("%d requests, want 5", requests)
	}
	if len(live.reported()) != 0 {
		t.Errorf("the bound is not an upstream fault: %v", live.reported())
	}
	if n := len(rec.find(warnPageBound)); n != 1 {
		t.Errorf("page bound warned %d times, want once per interval", n)
	}
}

// TestLivePageBoundMerges: a page cut short by one live source's bound
// holds no entry of another source past the point the live source was read
// to, so the merged walk still equals the reference.
func TestLivePageBoundMerges(t *testing.T) {
	t.Parallel()
	live := newFakeLive(t, "api", liveItems(12)...)
	live.pageSize, live.maxPages = 2, 1
	var fileItems []srv
	for i := range 12 {
		fileItems = append(fileItems, srv{Name: fmt.Sprintf("io.github.live/s%02d", i), Version: "2.0.0", Description: "file copy", Published: "2025-01-01T00:00:00Z"})
		fileItems = append(fileItems, srv{Name: fmt.Sprintf("io.github.live/s%02da", i), Version: "1.0.0", Description: "file only", Published: "2025-01-01T00:00:00Z"})
	}
	file := newSource(t, "file", serverList(fileItems...))
	e := newEnv(t, envOptions{members: []Member{{Live: live}, {Source: file}}, maxAge: time.Minute})
	var want []key
	for i := range 12 {
		want = append(want, key{fmt.Sprintf("io.github.live/s%02d", i), "1.0.0", "api"}, key{fmt.Sprintf("io.github.live/s%02da", i), "1.0.0", "file"})
	}
	var got []key
	cursor := ""
	for page := 0; ; page++ {
		if page > 50 {
			t.Fatal("the walk does not end")
		}
		p := "/v0.1/servers?limit=4"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		r := e.get(t, p)
		wantComplete(t, "merged page", r)
		lb := decodeList(t, r)
		got = append(got, keys(lb.Servers)...)
		if lb.Metadata.NextCursor == nil {
			break
		}
		cursor = *lb.Metadata.NextCursor
	}
	diffKeys(t, got, want)
}

// TestUpstreamRefusesCursor: a client cursor whose upstream position the
// upstream refuses (4xx) is the client's to fix: a 400 problem and no
// ERROR log, whether or not the source is required — never a 502.
func TestUpstreamRefusesCursor(t *testing.T) {
	t.Parallel()
	for _, required := range []bool{false, true} {
		t.Run(fmt.Sprintf("required=%t", required), func(t *testing.T) {
			t.Parallel()
			live := newFakeLive(t, "api", liveItems(6)...)
			rec := &recorder{}
			e := newEnv(t, envOptions{members: []Member{{Live: live, Required: required}}, logger: slog.New(rec)})
			fp := Query{}.fingerprint("")
			for _, pos := range []string{"999", "not-an-index"} {
				c := encodeCursor(cursor{Q: fp, Name: "io.github.live/s00", Version: "1.0.0", Owner: "api",
					Live: []liveCursor{{Source: "api", Upstream: pos}}})
				r := e.get(t, "/v0.1/servers?cursor="+url.QueryEscape(c))
				if r.status != http.StatusBadRequest {
					t.Fatalf("position %q: status %d, want 400: %s", pos, r.status, r.body)
				}
			}
			if errs := rec.atLeast(slog.LevelError); len(errs) != 0 {
				t.Errorf("ERROR logged for a client's cursor: %v", errs)
			}
			if len(live.reported()) != 0 {
				t.Errorf("a refused cursor counted as an upstream fault: %v", live.reported())
			}
		})
	}
}

// TestProblemsNameSourcesOnly: a failed required source is named in the
// 502, its cause (upstream URL, dial error) is not; the log has the cause,
// with the request's context.
func TestProblemsNameSourcesOnly(t *testing.T) {
	t.Parallel()
	const cause = `Get "http://10.9.8.7:8443/internal/v0.1/servers": dial tcp 10.9.8.7:8443: connect: connection refused`
	live := newFakeLive(t, "official", liveItems(2)...)
	live.fail = errors.New(cause)
	optional := newFakeLive(t, "optional", liveItems(2)...)
	optional.fail = errors.New(cause)
	rec := &recorder{}
	e := newEnv(t, envOptions{members: []Member{{Live: optional}, {Live: live, Required: true}}, logger: slog.New(rec), wrap: markRequests})
	for _, p := range []string{"/v0.1/servers", "/v0.1/servers/io.github.live%2Fs00/versions", "/v0.1/servers/io.github.live%2Fs00/versions/latest"} {
		r := e.get(t, p)
		if r.status != http.StatusBadGateway {
			t.Fatalf("%s: status %d, want 502", p, r.status)
		}
		body := string(r.body)
		if strings.Contains(body, "10.9.8.7") || strings.Contains(body, "dial") || !strings.Contains(body, `\"official\"`) {
			t.Errorf("%s: problem %s, want the source named and no cause", p, body)
		}
	}
	failed := rec.find("request failed")
	if len(failed) == 0 || len(failed) > 3 {
		t.Fatalf("%d request failures logged, want one per route", len(failed))
	}
	// Failing again and again is not a line per request: a client must not
	// drive ERROR lines at its own rate.
	for range 5 {
		e.get(t, "/v0.1/servers")
	}
	if again := rec.find("request failed"); len(again) != len(failed) {
		t.Fatalf("%d request failure lines after 5 more failures, want still %d", len(again), len(failed))
	}
	for _, f := range failed {
		if !strings.Contains(f.attrs["error"], "10.9.8.7") || !strings.HasPrefix(f.mark, "req:") {
			t.Errorf("log record %+v: want the cause, logged with the request's context", f)
		}
	}
	for _, s := range rec.find("source skipped in answer") {
		if !strings.HasPrefix(s.mark, "req:") {
			t.Errorf("skip logged without the request's context: %+v", s)
		}
	}
}

// TestLiveSourceFilterEmptiesAPage: a live source's own filter may leave an
// upstream page empty; that page still made progress (the upstream moved
// on), so the walk goes on, nothing is reported to the breaker, and the
// answer is complete. Per-server answers apply the same filter.
func TestLiveSourceFilterEmptiesAPage(t *testing.T) {
	t.Parallel()
	live := newFakeLive(t, "up",
		srv{Name: "com.acme/a", Version: "1.0.0", Description: "kept", Published: "2025-01-01T00:00:00Z"},
		srv{Name: "com.acme/b", Version: "1.0.0", Description: "kept", Published: "2025-01-01T00:00:00Z"},
		srv{Name: "org.other/c", Version: "1.0.0", Description: "filtered", Published: "2025-01-01T00:00:00Z"},
		srv{Name: "org.other/d", Version: "1.0.0", Description: "filtered", Published: "2025-01-01T00:00:00Z"},
		srv{Name: "org.other/e", Version: "1.0.0", Description: "filtered", Published: "2025-01-01T00:00:00Z"},
		srv{Name: "org.other/f", Version: "1.0.0", Description: "filtered", Published: "2025-01-01T00:00:00Z"},
		srv{Name: "org.zeta/g", Version: "1.0.0", Description: "filtered", Published: "2025-01-01T00:00:00Z"},
	)
	live.pageSize, live.maxPages = 2, 10
	acme := func(e *upstream.Entry) bool { return strings.HasPrefix(e.Name, "com.acme/") }
	e := newEnv(t, envOptions{members: []Member{{Live: live, Admit: acme}}, maxAge: time.Minute})
	for range 3 {
		r := e.get(t, "/v0.1/servers?limit=100")
		wantComplete(t, "filtered live source", r)
		if got := string(r.body); !strings.Contains(got, `"com.acme/a"`) || !strings.Contains(got, `"com.acme/b"`) || strings.Contains(got, "org.") {
			t.Fatalf("answer: %s", got)
		}
	}
	if faults := live.reported(); len(faults) != 0 {
		t.Fatalf("faults reported to the breaker: %v", faults)
	}
	if r := e.get(t, "/v0.1/servers/org.other%2Fc/versions"); r.status != http.StatusNotFound {
		t.Fatalf("a version the source's filter drops: %d, want 404", r.status)
	}
	if r := e.get(t, "/v0.1/servers/com.acme%2Fa/versions"); r.status != http.StatusOK {
		t.Fatalf("a kept server: %d", r.status)
	}
}

// TestUpstreamCursorMcpfedCannotCarry: an upstream next cursor too long to
// fit in mcpfed's own, or holding control characters, is an upstream fault
// (partial answer, reported to the breaker) — never a cursor handed to the
// client that mcpfed then refuses with a 400. One of ordinary size walks.
func TestUpstreamCursorMcpfedCannotCarry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, pad string
		fault     bool
	}{
		{"ordinary", strings.Repeat("c", 200), false},
		{"too long", strings.Repeat("X", maxUpstreamCursor+1), true},
		{"control character", "a\tb", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			live := newFakeLive(t, "up", liveItems(5)...)
			live.cursorPad = tc.pad
			e := newEnv(t, envOptions{members: []Member{{Live: live}}, maxAge: time.Minute})
			r := e.get(t, "/v0.1/servers?limit=100")
			if !tc.fault {
				wantComplete(t, tc.name, r)
				if n := strings.Count(string(r.body), `"io.github.live/`); n != 5 {
					t.Fatalf("%d servers, want 5", n)
				}
				return
			}
			wantPartial(t, tc.name, r, "up")
			faults := live.reported()
			if len(faults) != 1 || !errors.Is(faults[0], ErrUpstreamCursor) {
				t.Fatalf("faults %v, want one ErrUpstreamCursor", faults)
			}
		})
	}
}
