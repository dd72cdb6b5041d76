package curation

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/store"
)

// fakeStore is an in-memory store of decisions and history, with the
// semantics store.Store documents (the real ones are tested in store).
type fakeStore struct {
	mu        sync.Mutex
	decisions []store.Decision
	changes   []store.Change
	fail      error // returned by every call while set
	reads     int
	notify    store.Notifier
}

func (f *fakeStore) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeStore) PutDecision(_ context.Context, d store.Decision) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	i := slices.IndexFunc(f.decisions, func(x store.Decision) bool { return x.ServerName == d.ServerName && x.Versions == d.Versions })
	if i >= 0 {
		f.decisions[i] = d
	} else {
		f.decisions = append(f.decisions, d)
	}
	slices.SortFunc(f.decisions, func(a, b store.Decision) int {
		if c := strings.Compare(a.ServerName, b.ServerName); c != 0 {
			return c
		}
		return strings.Compare(a.Versions, b.Versions)
	})
	detail, _ := json.Marshal(d)
	f.appendChange(d.Who, store.ChangeDecision, d.ServerName, detail)
	return nil
}

func (f *fakeStore) DeleteDecision(_ context.Context, name, versions, who string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	n := len(f.decisions)
	f.decisions = slices.DeleteFunc(f.decisions, func(x store.Decision) bool {
		return x.ServerName == name && (versions == "" || x.Versions == versions)
	})
	if len(f.decisions) == n {
		return store.ErrNotFound
	}
	f.appendChange(who, store.ChangeDecisionDelete, name, json.RawMessage(`{"versions":"`+versions+`"}`))
	return nil
}

func (f *fakeStore) appendChange(who, kind, server string, detail json.RawMessage) {
	f.changes = append(f.changes, store.Change{Seq: int64(len(f.changes) + 1), At: time.Unix(1700000000, 0), Who: who, Kind: kind, Server: server, Detail: detail})
	f.notify.Signal()
}

func (f *fakeStore) Decisions(context.Context) ([]store.Decision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.fail != nil {
		return nil, f.fail
	}
	return slices.Clone(f.decisions), nil
}

func (f *fakeStore) Changes(_ context.Context, after int64, limit int) ([]store.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []store.Change
	for _, c := range f.changes {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

// Watch signals after every write until ctx ends (then it is closed).
func (f *fakeStore) Watch(ctx context.Context) <-chan struct{} { return f.notify.Watch(ctx) }

// writeBehind adds a decision as another replica would: the store
// signals, nothing else is told.
func (f *fakeStore) writeBehind(d store.Decision) {
	_ = f.PutDecision(context.Background(), d)
}

func (f *fakeStore) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}
