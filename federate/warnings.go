package federate

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// warnings logs repeated warnings about a source at most once per interval,
// with how many occurrences the line stands for. A misbehaving upstream is
// met on every request; a line per request would flood the log (and cost
// more than the answer) while saying nothing new.
type warnings struct {
	logger   *slog.Logger
	clock    func() time.Time
	interval time.Duration

	mu   sync.Mutex
	seen map[warningKey]*warningState
}

type warningKey struct{ source, msg string }

type warningState struct {
	last    time.Time // when a line was last written
	pending int       // occurrences since then, not yet logged
}

func newWarnings(logger *slog.Logger, clock func() time.Time, interval time.Duration) *warnings {
	return &warnings{logger: logger, clock: clock, interval: interval, seen: map[warningKey]*warningState{}}
}

// warn records n occurrences of msg about source, and logs them (with the
// request's context, for its request id) when the source's last line for
// msg is an interval old. The attributes are those of this occurrence.
func (w *warnings) warn(ctx context.Context, source, msg string, n int, attrs ...any) {
	w.at(ctx, slog.LevelWarn, source, msg, n, append([]any{"source", source}, attrs...)...)
}

// at is warn at any level, for any subject (a source, a route).
func (w *warnings) at(ctx context.Context, level slog.Level, subject, msg string, n int, attrs ...any) {
	now := w.clock()
	w.mu.Lock()
	k := warningKey{subject, msg}
	st, ok := w.seen[k]
	if !ok {
		st = &warningState{}
		w.seen[k] = st
	}
	st.pending += n
	if ok && now.Sub(st.last) < w.interval {
		w.mu.Unlock()
		return
	}
	count := st.pending
	st.last, st.pending = now, 0
	w.mu.Unlock()
	w.logger.Log(ctx, level, msg, append(attrs, "occurrences", count, "per", w.interval.String())...)
}
