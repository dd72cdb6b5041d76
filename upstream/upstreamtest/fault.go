package upstreamtest

import (
	"net/http"
	"path"
	"time"
)

// Fault describes how the registry misbehaves for the requests it matches.
// The scope fields choose requests; the effect fields can be combined (a
// fault with Latency and Status answers late and wrong).
//
// Order of effects: Latency, then Reset, then Status (before the auth check
// and routing, as a proxy or overloaded front end would answer), then the
// body effects on whatever response results.
type Fault struct {
	// Path limits the fault to requests whose escaped path (prefix
	// included; a server name keeps its %2F) matches this path.Match
	// pattern, e.g. "/v0.1/servers" or "/v0.1/servers/*/versions/*".
	// Empty matches every path.
	Path string
	// Match, if set, must also accept the request (e.g. to pick a cursor).
	Match func(*http.Request) bool
	// Skip lets the first Skip matching requests through untouched, to
	// break a walk in its middle.
	Skip int
	// Times is how many matching requests the fault affects after Skip;
	// then it expires. Zero means no limit.
	Times int

	// Latency delays the response (cut short when the client gives up or
	// the registry closes).
	Latency time.Duration
	// Status answers with this status and a problem+json body instead of
	// serving the request, e.g. 500, 503, 429.
	Status int
	// RetryAfter, if set, is sent as the Retry-After header: seconds ("2")
	// or an HTTP date.
	RetryAfter string
	// Reset closes the connection with a TCP reset before any response.
	// Note that Go's http.Transport silently retries an idempotent request
	// once when a reused connection fails before the first response byte,
	// so with Times: 1 a client may never see the error; use Times: 0 or
	// a client without keep-alives to make it visible.
	Reset bool
	// CutAfter, if > 0, sends the status line, headers (with the full
	// Content-Length) and at most this many body bytes (always fewer than
	// the whole body), then closes the connection: the client reads an
	// unexpected EOF in the middle of the body.
	CutAfter int
	// Malformed truncates the JSON body (at half its length), so it no
	// longer parses, while the HTTP exchange itself is clean.
	Malformed bool
	// Oversize pads the body with leading whitespace (still valid JSON) to
	// this many bytes, sent without Content-Length so the client must bound
	// its own read.
	Oversize int64
	// ContentType replaces the Content-Type header, e.g. "text/html".
	ContentType string
	// Body replaces the response body (e.g. an HTML error page).
	Body []byte
	// CursorLoop makes a list response's nextCursor point back LoopBack
	// pages before the page served (0: the page itself, i.e. the cursor the
	// request carried), even on the last page: a chain that never ends.
	CursorLoop bool
	LoopBack   int
	// NoProgress makes a list response carry a nextCursor that is new every
	// time (never a repeat) but leads back to the page just served: the
	// same entries again and again, without end.
	NoProgress bool
	// Endless replaces list responses with pages of Limit fresh synthetic
	// versions (names under EndlessNamespace) following the request's
	// cursor, always with a nextCursor: a listing without end, whatever the
	// dataset holds. EndlessPad pads each server body with this many bytes
	// (in a publisher-provided _meta), to make pages large.
	Endless    bool
	EndlessPad int
	// OutOfOrder reverses the items within a page (list and versions).
	OutOfOrder bool
	// DripChunk, if > 0, writes the body this many bytes at a time with
	// DripPause between writes.
	DripChunk int
	DripPause time.Duration
}

// Injection is an installed fault.
type Injection struct {
	r    *Registry
	f    Fault
	seen int // matching requests so far
	hits int // requests affected
}

// Inject installs a fault; it applies from the next request on. Several
// faults may be active; each request gets the effects of all that match.
func (r *Registry) Inject(f Fault) *Injection {
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	in := &Injection{r: r, f: f}
	r.faults = append(r.faults, in)
	return in
}

// Remove uninstalls the fault.
func (in *Injection) Remove() {
	in.r.faultMu.Lock()
	defer in.r.faultMu.Unlock()
	for i, x := range in.r.faults {
		if x == in {
			in.r.faults = append(in.r.faults[:i:i], in.r.faults[i+1:]...)
			break
		}
	}
}

// Hits returns how many requests the fault has affected.
func (in *Injection) Hits() int {
	in.r.faultMu.Lock()
	defer in.r.faultMu.Unlock()
	return in.hits
}

// ClearFaults removes every fault.
func (r *Registry) ClearFaults() {
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	r.faults = nil
}

// effect is the merge of every fault that matched one request.
type effect struct {
	Fault
	any bool
}

// faultsFor picks the faults for a request and counts it against their
// Skip and Times under one lock, so concurrent requests never both take a
// fault's last use.
func (r *Registry) faultsFor(req *http.Request) effect {
	r.faultMu.Lock()
	defer r.faultMu.Unlock()
	var e effect
	p := req.URL.EscapedPath()
	for _, in := range r.faults {
		f := &in.f
		if f.Path != "" {
			if ok, _ := path.Match(f.Path, p); !ok {
				continue
			}
		}
		if f.Match != nil && !f.Match(req) {
			continue
		}
		if f.Times > 0 && in.hits >= f.Times {
			continue
		}
		in.seen++
		if in.seen <= f.Skip {
			continue
		}
		in.hits++
		e.any = true
		e.merge(f)
	}
	return e
}

func (e *effect) merge(f *Fault) {
	e.Latency += f.Latency
	if e.Status == 0 {
		e.Status = f.Status
	}
	if e.RetryAfter == "" {
		e.RetryAfter = f.RetryAfter
	}
	e.Reset = e.Reset || f.Reset
	if e.CutAfter == 0 {
		e.CutAfter = f.CutAfter
	}
	e.Malformed = e.Malformed || f.Malformed
	e.Oversize = max(e.Oversize, f.Oversize)
	if e.ContentType == "" {
		e.ContentType = f.ContentType
	}
	if e.Body == nil {
		e.Body = f.Body
	}
	if f.CursorLoop && !e.CursorLoop {
		e.CursorLoop, e.LoopBack = true, f.LoopBack
	}
	e.NoProgress = e.NoProgress || f.NoProgress
	if f.Endless && !e.Endless {
		e.Endless, e.EndlessPad = true, f.EndlessPad
	}
	e.OutOfOrder = e.OutOfOrder || f.OutOfOrder
	if e.DripChunk == 0 {
		e.DripChunk, e.DripPause = f.DripChunk, f.DripPause
	}
}
