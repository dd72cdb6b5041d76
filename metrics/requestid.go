package metrics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
)

// HeaderRequestID carries a request's id: taken from the client when it sends
// a well-formed one (so a trace spans proxies), generated otherwise, and
// returned on the response.
const HeaderRequestID = "X-Request-Id"

// requestIDAttr is the log attribute that carries the id.
const requestIDAttr = "request_id"

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// AssignRequestID gives r an id unless its context already carries one: the
// client's X-Request-Id when well formed, else a random one. It sets the
// response header and returns r with the id in its context. Middleware calls
// it; a handler in front of Middleware that may answer by itself (an overload
// guard) calls it too, and Middleware then keeps that id.
func AssignRequestID(w http.ResponseWriter, r *http.Request) *http.Request {
	if id := RequestID(r.Context()); id != "" {
		w.Header().Set(HeaderRequestID, id)
		return r
	}
	id := r.Header.Get(HeaderRequestID)
	if !requestIDPattern.MatchString(id) {
		id = NewRequestID()
	}
	w.Header().Set(HeaderRequestID, id)
	return r.WithContext(WithRequestID(r.Context(), id))
}

// NewRequestID returns a fresh random request id (16 hex digits).
func NewRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on supported platforms
	return hex.EncodeToString(b[:])
}

// RequestIDHandler wraps h so that every record logged with a context
// carrying a request id (logger.InfoContext(r.Context(), …)) gets a
// request_id attribute. Wrapping twice adds it once.
func RequestIDHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

type requestIDHandler struct{ inner slog.Handler }

func (h requestIDHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		// Clone: the record's attribute storage may be shared with the caller.
		r = r.Clone()
		r.AddAttrs(slog.String(requestIDAttr, id))
	}
	return h.inner.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.inner.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.inner.WithGroup(name)}
}
