package metrics

import (
	"log/slog"
	"net/http"
	"time"
)

// AccessLog logs one line when a request ends: method, route template,
// path, status, bytes, duration and request id. It logs no header and no
// body, so credentials cannot reach the log. Wrap it inside Middleware, which
// gives the request its id and route template.
func AccessLog(logger *slog.Logger, next http.Handler) http.Handler {
	logger = slog.New(RequestIDHandler(logger.Handler())) // request_id once, even if the caller's handler is not wrapped
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = AssignRequestID(w, r) // a no-op behind Middleware
		start := time.Now()
		rec := &countingRecorder{statusRecorder: statusRecorder{ResponseWriter: w, code: http.StatusOK}}
		next.ServeHTTP(rec, r)
		level := slog.LevelInfo
		if rec.code >= 500 {
			level = slog.LevelError
		}
		logger.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("route", Route(r)),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.code),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

type countingRecorder struct {
	statusRecorder
	bytes int64
}

func (c *countingRecorder) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.bytes += int64(n)
	return n, err
}
