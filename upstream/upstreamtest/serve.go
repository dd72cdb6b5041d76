package upstreamtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// response is what a handler decided to answer, before body faults.
type response struct {
	status int
	ctype  string
	body   []byte
	header http.Header
}

const (
	ctypeJSON    = "application/json"
	ctypeProblem = "application/problem+json"
)

// ServeHTTP serves the registry API; it is the test server's handler.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.record(req)
	eff := r.faultsFor(req)
	if eff.Latency > 0 && !r.sleep(req.Context(), eff.Latency) {
		// Drop the connection rather than let net/http send an empty 200.
		panic(http.ErrAbortHandler)
	}
	if eff.Reset {
		r.reset(w)
		return
	}
	var resp response
	if eff.Status != 0 {
		resp = problem(eff.Status, "injected fault")
	} else if ok, challenge := r.authorized(req); !ok {
		resp = problem(http.StatusUnauthorized, "missing or invalid credentials")
		resp.header = http.Header{"Www-Authenticate": {challenge}}
	} else {
		resp = r.route(req, &eff)
	}
	r.write(w, req, resp, &eff)
}

// route dispatches on the escaped path, so an encoded server name
// ("io.github.x%2Fy") stays one segment and is decoded exactly once.
func (r *Registry) route(req *http.Request, eff *effect) response {
	rest, ok := strings.CutPrefix(req.URL.EscapedPath(), r.prefix)
	if !ok {
		return notFound()
	}
	if after, ok := strings.CutPrefix(rest, "/v0.1/x/dev.toolhive/"); ok {
		return r.artifactRoute(req, after, eff)
	}
	matched := false
	for _, v := range []string{"/v0.1", "/v0"} {
		if after, ok := strings.CutPrefix(rest, v); ok && strings.HasPrefix(after, "/") {
			rest, matched = after, true
			break
		}
	}
	if !matched {
		return notFound()
	}
	var segs []string
	if rest != "/servers" {
		after, ok := strings.CutPrefix(rest, "/servers/")
		if !ok {
			return notFound()
		}
		segs = strings.Split(after, "/")
		if (len(segs) != 2 && len(segs) != 3) || segs[1] != "versions" || segs[0] == "" || (len(segs) == 3 && segs[2] == "") {
			return notFound()
		}
	}
	if req.Method != http.MethodGet {
		resp := problem(http.StatusMethodNotAllowed, "method not allowed")
		resp.header = http.Header{"Allow": {http.MethodGet}}
		return resp
	}
	if segs == nil {
		return r.list(req, eff)
	}
	name, err := url.PathUnescape(segs[0])
	if err != nil {
		return problem(http.StatusBadRequest, "Invalid server name encoding")
	}
	incl, _, errResp := boolParam(req.URL.Query(), "include_deleted")
	if errResp != nil {
		return *errResp
	}
	if len(segs) == 2 {
		return r.versions(name, incl, eff)
	}
	version, err := url.PathUnescape(segs[2])
	if err != nil {
		return problem(http.StatusBadRequest, "Invalid version encoding")
	}
	return r.version(name, version, incl)
}

// listQuery is a parsed GET /servers request.
type listQuery struct {
	limit          int
	after          key
	rawCursor      string
	search         string // lower-cased
	since          time.Time
	hasSince       bool
	version        string
	includeDeleted bool
}

func (q *listQuery) match(rec *record) bool {
	switch {
	case !q.includeDeleted && rec.off.Status == StatusDeleted:
		return false
	case q.hasSince && !rec.off.UpdatedAt.After(q.since):
		return false
	case q.version == "latest" && !rec.off.IsLatest:
		return false
	case q.version != "" && q.version != "latest" && rec.version != q.version:
		return false
	case q.search != "" && !strings.Contains(rec.lowerName, q.search):
		return false
	}
	return true
}

// parseList validates in the official registry's order: schema checks on
// the parameters first (422), then the handler's own checks (400/422).
func parseList(v url.Values) (*listQuery, *response) {
	q := &listQuery{limit: 30}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			return nil, invalid("query.limit", "invalid integer", s)
		case n < 1:
			return nil, invalid("query.limit", "expected number >= 1", n)
		case n > 100:
			return nil, invalid("query.limit", "expected number <= 100", n)
		}
		q.limit = n
	}
	incl, inclSet, errResp := boolParam(v, "include_deleted")
	if errResp != nil {
		return nil, errResp
	}
	q.includeDeleted = incl
	if s := v.Get("updated_since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			resp := problem(http.StatusBadRequest, "Invalid updated_since format: expected RFC3339 timestamp (e.g., 2025-08-07T13:15:04.280Z)")
			return nil, &resp
		}
		q.since, q.hasSince = t, true
	}
	if s := v.Get("search"); s != "" {
		if utf8.RuneCountInString(strings.TrimSpace(s)) < 3 {
			resp := problem(http.StatusUnprocessableEntity, "search must contain at least 3 characters after trimming surrounding whitespace")
			return nil, &resp
		}
		q.search = strings.ToLower(s)
	}
	q.version = v.Get("version")
	if q.hasSince {
		if inclSet && !incl {
			resp := problem(http.StatusBadRequest, "Cannot set include_deleted=false when using updated_since (incremental sync requires deleted servers)")
			return nil, &resp
		}
		q.includeDeleted = true
	}
	if s := v.Get("cursor"); s != "" {
		k, err := decodeCursor(s)
		if err != nil {
			resp := problem(http.StatusBadRequest, "invalid cursor: "+err.Error())
			return nil, &resp
		}
		q.after, q.rawCursor = k, s
	}
	return q, nil
}

// boolParam parses an optional boolean, reporting whether it was given.
func boolParam(v url.Values, name string) (val, set bool, errResp *response) {
	s := v.Get(name)
	if s == "" {
		return false, false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, false, invalid("query."+name, "invalid boolean", s)
	}
	return b, true, nil
}

func (r *Registry) list(req *http.Request, eff *effect) response {
	q, errResp := parseList(req.URL.Query())
	if errResp != nil {
		return *errResp
	}
	if eff.Endless {
		return r.endlessPage(q, eff.EndlessPad)
	}
	d := &r.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	start := d.seek(q.after)
	page := make([]*record, 0, q.limit)
	more := false
	for _, rec := range d.sorted[start:] {
		if !q.match(rec) {
			continue
		}
		if len(page) == q.limit {
			more = true
			break
		}
		page = append(page, rec)
	}
	if r.emptyTrailingPage {
		more = len(page) == q.limit // upstream: a full page always has a next cursor
	}
	next := ""
	if more {
		next = encodeCursor(page[len(page)-1].key)
	}
	if eff.CursorLoop {
		next = r.loopCursor(q, start, eff.LoopBack)
	}
	if eff.NoProgress {
		next = r.noProgressCursor(q.after)
	}
	if eff.OutOfOrder {
		slices.Reverse(page)
	}
	return response{status: http.StatusOK, ctype: ctypeJSON, body: serverList(page, next)}
}

// loopCursor returns a cursor for the page back pages before the one
// starting at start (0: this page). Pages are runs of limit matching
// records, so the page k back starts k*limit matches earlier.
func (r *Registry) loopCursor(q *listQuery, start, back int) string {
	if back <= 0 {
		if q.rawCursor != "" {
			return q.rawCursor
		}
		return encodeCursor(key{})
	}
	sorted := r.data.sorted
	need, first := back*q.limit, start
	for i := start - 1; i >= 0 && need > 0; i-- {
		if q.match(sorted[i]) {
			first, need = i, need-1
		}
	}
	if need > 0 || first == 0 {
		return encodeCursor(key{})
	}
	return encodeCursor(sorted[first-1].key)
}

func (r *Registry) versions(name string, includeDeleted bool, eff *effect) response {
	d := &r.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []*record
	for _, rec := range d.byName[name] {
		if includeDeleted || rec.off.Status != StatusDeleted {
			out = append(out, rec)
		}
	}
	if len(out) == 0 {
		return notFound()
	}
	// Newest publication first; the version breaks ties so the order is
	// stable (upstream leaves it to the database).
	slices.SortFunc(out, func(a, b *record) int {
		if c := b.off.PublishedAt.Compare(a.off.PublishedAt); c != 0 {
			return c
		}
		return strings.Compare(b.version, a.version)
	})
	if eff.OutOfOrder {
		slices.Reverse(out)
	}
	return response{status: http.StatusOK, ctype: ctypeJSON, body: serverList(out, "")}
}

func (r *Registry) version(name, version string, includeDeleted bool) response {
	d := &r.data
	d.mu.RLock()
	defer d.mu.RUnlock()
	var rec *record
	if version == "latest" {
		rec = d.latest(name)
	} else {
		rec = d.byKey[key{name, version}]
	}
	if rec == nil || (!includeDeleted && rec.off.Status == StatusDeleted) {
		return notFound()
	}
	return response{status: http.StatusOK, ctype: ctypeJSON, body: slices.Clone(rec.enc)}
}

func serverList(page []*record, next string) []byte {
	n := 64
	for _, rec := range page {
		n += len(rec.enc) + 1
	}
	b := bytes.NewBuffer(make([]byte, 0, n))
	b.WriteString(`{"servers":[`)
	for i, rec := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(rec.enc)
	}
	b.WriteString(`],"metadata":{`)
	if next != "" {
		nj, _ := json.Marshal(next)
		b.WriteString(`"nextCursor":`)
		b.Write(nj)
		b.WriteByte(',')
	}
	b.WriteString(`"count":` + strconv.Itoa(len(page)) + `}}`)
	return b.Bytes()
}

// Cursors are this fake's own: base64url of "u1.<len(name)>.<name><version>",
// a keyset position (the last key served), so they survive data changes the
// way upstream's do. The empty key means "from the start"; only cursor loops
// hand it out.
const cursorTag = "u1."

func encodeCursor(k key) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorTag + strconv.Itoa(len(k.name)) + "." + k.name + k.version))
}

func decodeCursor(s string) (key, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return key{}, errors.New("not issued by this registry")
	}
	rest, ok := strings.CutPrefix(string(stripRepeat(raw)), cursorTag)
	if !ok {
		return key{}, errors.New("not issued by this registry")
	}
	lenStr, rest, ok := strings.Cut(rest, ".")
	n, err := strconv.Atoi(lenStr)
	if !ok || err != nil || n < 0 || n > len(rest) || strconv.Itoa(n) != lenStr {
		return key{}, errors.New("malformed")
	}
	k := key{rest[:n], rest[n:]}
	if (k.name == "") != (k.version == "") {
		return key{}, errors.New("malformed")
	}
	return k, nil
}

// problem is an RFC 9457 body, the shape the official registry (huma) sends.
func problem(status int, detail string) response {
	body, _ := json.Marshal(struct { // plain struct: cannot fail
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{http.StatusText(status), status, detail})
	return response{status: status, ctype: ctypeProblem, body: body}
}

func notFound() response { return problem(http.StatusNotFound, "Server not found") }

// invalid is a 422 for a query parameter that fails validation, with the
// per-parameter "errors" list huma adds.
func invalid(location, message string, value any) *response {
	type detail struct {
		Message  string `json:"message"`
		Location string `json:"location"`
		Value    any    `json:"value"`
	}
	body, _ := json.Marshal(struct { // plain values: cannot fail
		Title  string   `json:"title"`
		Status int      `json:"status"`
		Detail string   `json:"detail"`
		Errors []detail `json:"errors"`
	}{http.StatusText(http.StatusUnprocessableEntity), http.StatusUnprocessableEntity, "validation failed", []detail{{message, location, value}}})
	return &response{status: http.StatusUnprocessableEntity, ctype: ctypeProblem, body: body}
}

// write sends resp with the body effects of eff applied.
func (r *Registry) write(w http.ResponseWriter, req *http.Request, resp response, eff *effect) {
	body := resp.body
	if eff.Body != nil {
		body = eff.Body
	}
	if eff.Malformed {
		// Any proper prefix of a JSON object or array is invalid JSON.
		body = body[:len(body)/2]
	}
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	h.Set("Content-Type", resp.ctype)
	if eff.ContentType != "" {
		h.Set("Content-Type", eff.ContentType)
	}
	if eff.RetryAfter != "" {
		h.Set("Retry-After", eff.RetryAfter)
	}
	if eff.CutAfter > 0 {
		cut(w, resp.status, body, eff.CutAfter)
		return
	}
	pad := max(eff.Oversize-int64(len(body)), 0)
	if pad == 0 && eff.DripChunk == 0 {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(resp.status)
	out := bodyWriter{w: w, r: r, ctx: req.Context(), chunk: eff.DripChunk, pause: eff.DripPause}
	if pad > 0 {
		spaces := bytes.Repeat([]byte{' '}, 32<<10)
		for pad > 0 {
			n := min(pad, int64(len(spaces)))
			if !out.write(spaces[:n]) {
				panic(http.ErrAbortHandler) // no clean end to a cut-short body
			}
			pad -= n
		}
	}
	if !out.write(body) {
		panic(http.ErrAbortHandler)
	}
}

// bodyWriter writes a body whole, or DripChunk bytes at a time with pauses.
type bodyWriter struct {
	w     http.ResponseWriter
	r     *Registry
	ctx   context.Context
	chunk int
	pause time.Duration
}

func (b *bodyWriter) write(p []byte) bool {
	if b.chunk <= 0 {
		_, err := b.w.Write(p)
		return err == nil
	}
	rc := http.NewResponseController(b.w)
	for len(p) > 0 {
		n := min(b.chunk, len(p))
		if _, err := b.w.Write(p[:n]); err != nil {
			return false
		}
		if rc.Flush() != nil {
			return false
		}
		p = p[n:]
		if len(p) > 0 && b.pause > 0 && !b.r.sleep(b.ctx, b.pause) {
			return false
		}
	}
	return true
}

// sleep waits d of real time; false if the client went away or the
// registry closed first, so no handler outlives Close.
func (r *Registry) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-r.done:
	}
	return false
}

// reset closes the connection with a TCP RST (SO_LINGER 0), which clients
// see as "connection reset by peer", not a clean EOF.
func (r *Registry) reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server drops the connection
	}
	abort(conn)
}

func abort(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// cut sends the head with the full Content-Length and only part of the
// body, then closes the connection. A FIN, not a reset: a reset could make
// the client's kernel discard the partial body before it is read.
func cut(w http.ResponseWriter, status int, body []byte, n int) {
	h := w.Header().Clone()
	conn, bufw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	n = max(min(n, len(body)-1), 0)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	fmt.Fprintf(bufw, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	_ = h.Write(bufw)
	bufw.WriteString("\r\n")
	bufw.Write(body[:n])
	_ = bufw.Flush()
}
