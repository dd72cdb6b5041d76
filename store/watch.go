package store

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifyChannel is the PostgreSQL channel writes notify at commit.
const notifyChannel = "mcpfed_store"

// Bounds of the listener's reconnection waits.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
	closeTimeout     = 2 * time.Second
)

// notifier fans a write out to the Watch channels. Each channel holds at
// most one pending signal: watchers re-read the store, so signals that
// arrive while one is pending fold into it.
type notifier struct {
	mu     sync.Mutex
	subs   map[chan struct{}]func() bool
	closed bool
	// rev is the last revision heard of (seen: any at all).
	rev  int64
	seen bool
}

func newNotifier() *notifier {
	return &notifier{subs: map[chan struct{}]func() bool{}}
}

func (n *notifier) watch(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || ctx.Err() != nil {
		close(ch)
		return ch
	}
	// No goroutine per watcher: the channel is closed when ctx ends.
	n.subs[ch] = context.AfterFunc(ctx, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if _, ok := n.subs[ch]; ok {
			delete(n.subs, ch)
			close(ch)
		}
	})
	return ch
}

// broadcastLocked signals every watcher; n.mu is held.
func (n *notifier) broadcastLocked() {
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// committed reports a write known to be committed at rev (this process's,
// or another replica's through a notification): revisions grow in commit
// order, so the highest heard of is kept.
func (n *notifier) committed(rev int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.seen || rev > n.rev {
		n.rev, n.seen = rev, true
	}
	n.broadcastLocked()
}

// observe reports the revision a periodic check read: any difference (a
// lower one too: a database restored from a backup) is a change.
func (n *notifier) observe(rev int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen && rev == n.rev {
		return
	}
	first := !n.seen
	n.rev, n.seen = rev, true
	if !first {
		n.broadcastLocked()
	}
}

// close ends every Watch channel (the store is closed).
func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for ch, stop := range n.subs {
		stop()
		delete(n.subs, ch)
		close(ch)
	}
}

// pollLoop checks the revision periodically: the whole of change
// notification on SQLite (for another process on the same file), and on
// PostgreSQL what heals a lost notification or a listener that is
// reconnecting.
func (s *sqlStore) pollLoop(ctx context.Context) {
	t := time.NewTicker(s.poll)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rev, err := s.Revision(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				s.log.Warn("store: revision check failed; retrying", "err", err)
			}
			failing = true
			continue
		case failing:
			s.log.Info("store: revision check succeeds again")
			failing = false
		}
		s.notify.observe(rev)
	}
}

// listenLoop keeps a PostgreSQL connection listening for other replicas'
// writes, reconnecting with a bounded backoff when it is lost.
func (s *sqlStore) listenLoop(ctx context.Context) {
	backoff := listenBackoffMin
	for {
		heard, err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if heard {
			backoff = listenBackoffMin
		}
		s.log.Debug("store: listener lost; reconnecting", "err", err, "after", backoff)
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// listenOnce connects, listens and relays notifications until the
// connection fails; listening reports whether it got as far as LISTEN.
func (s *sqlStore) listenOnce(ctx context.Context) (listening bool, err error) {
	cfg, err := withPassword(s.listen, s.listenPW)
	if err != nil {
		return false, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	lctx, cancel := context.WithTimeout(ctx, s.timeout)
	_, err = conn.Exec(lctx, "LISTEN "+notifyChannel)
	cancel()
	if err != nil {
		return false, err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		if rev, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			s.notify.committed(rev)
		}
	}
}

// Notifier is Watch's fan-out for other implementations of Store (test
// fakes): each channel holds one pending signal and is closed when its
// context ends. The zero value is ready to use.
type Notifier struct {
	once sync.Once
	n    *notifier
}

func (p *Notifier) get() *notifier {
	p.once.Do(func() { p.n = newNotifier() })
	return p.n
}

// Watch is Store.Watch.
func (p *Notifier) Watch(ctx context.Context) <-chan struct{} { return p.get().watch(ctx) }

// Signal tells every watcher of a write.
func (p *Notifier) Signal() {
	n := p.get()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.broadcastLocked()
}
