package federate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/cache"
	"github.com/mcpfed/mcpfed/upstream"
)

// Headers that report a partial answer.
const (
	HeaderComplete      = "X-Federation-Complete"
	HeaderFailedSources = "X-Federation-Failed-Sources"
	// HeaderStaleSources names sources answered from cache past its
	// freshness because the upstream was down: complete, but not current.
	HeaderStaleSources = "X-Federation-Stale-Sources"
	// HeaderDroppedSources names sources that took part but whose entries
	// the answer does not hold all of (out of byte order, invalid upstream
	// records, over a bound): the answer is not complete.
	HeaderDroppedSources = "X-Federation-Dropped-Sources"
)

// minGzipBytes: below this, gzip costs more than it saves.
const minGzipBytes = 1024

// encodeList writes a ServerList from pre-encoded entries.
func encodeList(entries []*upstream.Entry, nextCursor string) []byte {
	size := 64 + len(nextCursor)
	for _, e := range entries {
		size += len(e.Encoded) + 1
	}
	b := make([]byte, 0, size)
	b = append(b, `{"servers":[`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.Encoded...)
	}
	b = append(b, `],"metadata":{`...)
	if nextCursor != "" {
		// Cursors are base64url: no character needs escaping.
		b = append(b, `"nextCursor":"`...)
		b = append(b, nextCursor...)
		b = append(b, `",`...)
	}
	b = append(b, `"count":`...)
	b = strconv.AppendInt(b, int64(len(entries)), 10)
	return append(b, `}}`...)
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// statusOf maps an error to its HTTP status: the one place that does.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrRequiredSourceFailed):
		return http.StatusBadGateway
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// writeError answers with a problem document for err. Only request errors
// are told as they are; a server-side failure names the source at most:
// its cause (upstream URLs, dial errors, file paths) goes to the log.
func writeError(w http.ResponseWriter, err error) {
	status := statusOf(err)
	writeProblem(w, status, publicDetail(err, status))
}

func publicDetail(err error, status int) string {
	if status < 500 {
		return err.Error()
	}
	var sf *sourceFailure
	switch {
	case errors.As(err, &sf):
		return fmt.Sprintf("required source %q could not answer", sf.source)
	case status == http.StatusGatewayTimeout:
		return "the sources did not answer within the request timeout"
	}
	return "internal error"
}

func writeProblem(w http.ResponseWriter, status int, detail string) { WriteProblem(w, status, detail) }

// ProblemBody is the RFC 9457 document for status and detail.
func ProblemBody(status int, detail string) []byte {
	body, _ := json.Marshal(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}) // plain strings: cannot fail
	return body
}

// WriteProblem answers with an RFC 9457 problem document (never cached):
// the one writer of problems, for the API and for what runs before it (the
// HTTP server's guards, access control).
func WriteProblem(w http.ResponseWriter, status int, detail string) {
	body := ProblemBody(status, detail)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// answer is a successful response ready to send: the body, its ETag, the
// completeness report and (made once, on first demand) its gzip form. The
// response cache keeps answers, so a hit costs a header write and a copy.
type answer struct {
	contentType string
	body        []byte
	etag        string
	rep         Report
	gzipOnce    sync.Once
	gz          []byte

	// Header values, made once: a cached answer is written without
	// allocating them again (header value slices are never modified by
	// net/http, so sharing them between responses is safe).
	hType, hETag, hETagGz, hLength, hLengthGz []string
}

func newAnswer(contentType string, body []byte, rep Report) *answer {
	etag := cache.ETag(body)
	return &answer{
		contentType: contentType, body: body, etag: etag, rep: rep,
		hType: []string{contentType}, hETag: []string{etag}, hETagGz: []string{cache.EncodedETag(etag, "gzip")},
		hLength: []string{strconv.Itoa(len(body))},
	}
}

// cacheable reports whether the answer may be kept: complete (nothing
// failed, nothing dropped) and current.
func (a *answer) cacheable() bool { return a.rep.Complete() && len(a.rep.Stale) == 0 }

func (a *answer) gzipped() []byte {
	a.gzipOnce.Do(func() {
		a.gz = cache.Gzip(a.body)
		a.hLengthGz = []string{strconv.Itoa(len(a.gz))}
	})
	return a.gz
}

// Shared header values (see answer).
var (
	hVary = []string{"Accept-Encoding"}
	// hVaryPrivate: a private view's answer depends on who asks.
	hVaryPrivate = []string{"Accept-Encoding, Authorization"}
	hTrue        = []string{"true"}
	hFalse       = []string{"false"}
	hNoStore     = []string{"no-store"}
	hGzip        = []string{"gzip"}
)

// size is what the answer costs the response cache.
func (a *answer) size() int64 { return int64(len(a.body)+len(a.gz)) + 256 }

// responder writes answers with validators, caching headers, the
// completeness report and gzip.
type responder struct {
	maxAge []string // Cache-Control of complete, current answers
	// privateMaxAge is maxAge for a view that needs a token: shared
	// caches must not keep it.
	privateMaxAge []string
	// partial is told about every partial answer (metrics); may be nil.
	partial func(route string)
}

func newResponder(maxAge time.Duration, partial func(string)) responder {
	age := strconv.Itoa(int(maxAge.Seconds()))
	return responder{maxAge: []string{"public, max-age=" + age}, privateMaxAge: []string{"private, max-age=" + age}, partial: partial}
}

// write sends an answer of a public view (see writeFor).
func (rs responder) write(w http.ResponseWriter, r *http.Request, route string, a *answer) {
	rs.writeFor(w, r, route, a, false)
}

// writeFor sends an answer. A complete one honours If-None-Match and may
// be cached for maxAge (by the client only, and varying on Authorization,
// when private); a partial or stale one is no-store.
func (rs responder) writeFor(w http.ResponseWriter, r *http.Request, route string, a *answer, private bool) {
	h := w.Header()
	h["Content-Type"] = a.hType
	h["Vary"] = hVary
	maxAge := rs.maxAge
	if private {
		h["Vary"] = hVaryPrivate
		maxAge = rs.privateMaxAge
	}
	switch {
	case !a.rep.Complete():
		h[HeaderComplete] = hFalse
		setReport(h, a.rep)
		h["Cache-Control"] = hNoStore
		if rs.partial != nil {
			rs.partial(route)
		}
	case len(a.rep.Stale) > 0:
		h[HeaderComplete] = hTrue
		h["Cache-Control"] = hNoStore
	default:
		h[HeaderComplete] = hTrue
		h["Cache-Control"] = maxAge
	}
	if len(a.rep.Stale) > 0 {
		h.Set(HeaderStaleSources, a.rep.StaleHeader())
	}
	gz := len(a.body) >= minGzipBytes && cache.AcceptsGzip(r.Header.Get("Accept-Encoding"))
	if gz {
		h["Etag"] = a.hETagGz
	} else {
		h["Etag"] = a.hETag
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && cache.NoneMatch(inm, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body, length := a.body, a.hLength
	if gz {
		body, length = a.gzipped(), a.hLengthGz
		h["Content-Encoding"] = hGzip
	}
	h["Content-Length"] = length
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// setReport names the sources an incomplete answer lacks.
func setReport(h http.Header, rep Report) {
	if len(rep.Failed) > 0 {
		h.Set(HeaderFailedSources, rep.FailedHeader())
	}
	if len(rep.Dropped) > 0 {
		h.Set(HeaderDroppedSources, rep.DroppedHeader())
	}
}
