package publish

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpfed/mcpfed/store"
)

// fakeStore is an in-memory store.Store for the handler tests: the
// contract's semantics (ErrExists, ErrNotFound, isLatest, history,
// revision, Watch), a switch that makes every call fail, and a count of
// writes so a test can assert that nothing was written.
type fakeStore struct {
	mu      sync.Mutex
	servers []store.Server
	changes []store.Change
	rev     int64
	fail    error
	notify  store.Notifier
	now     func() time.Time
}

func newFakeStore() *fakeStore {
	return &fakeStore{now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
}

func (f *fakeStore) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeStore) writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.changes)
}

func (f *fakeStore) wrote(kind, who string, s store.Server, detail any) {
	d, _ := json.Marshal(detail)
	f.rev++
	f.changes = append(f.changes, store.Change{Seq: f.rev, At: f.now(), Who: who, Kind: kind, Server: s.Name, Version: s.Version, Detail: d})
	f.notify.Signal()
}

// relatest marks the latest version of name: the newest publication among
// the versions that are not deleted, else among all.
func (f *fakeStore) relatest(name string) {
	best := -1
	for _, deletedToo := range []bool{false, true} {
		for i, s := range f.servers {
			if s.Name != name || (!deletedToo && s.Status == "deleted") {
				continue
			}
			if best < 0 || s.PublishedAt.After(f.servers[best].PublishedAt) ||
				(s.PublishedAt.Equal(f.servers[best].PublishedAt) && s.Version > f.servers[best].Version) {
				best = i
			}
		}
		if best >= 0 {
			break
		}
	}
	for i := range f.servers {
		if f.servers[i].Name == name {
			f.servers[i].IsLatest = i == best
		}
	}
}

func (f *fakeStore) Publish(_ context.Context, s store.Server, who string) (store.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Server{}, f.fail
	}
	for _, o := range f.servers {
		if o.Name == s.Name && o.Version == s.Version {
			return store.Server{}, store.ErrExists
		}
	}
	s.Server = slices.Clone(s.Server)
	f.servers = append(f.servers, s)
	f.relatest(s.Name)
	f.wrote(store.ChangePublish, who, s, nil)
	return f.get(s.Name, s.Version), nil
}

func (f *fakeStore) get(name, version string) store.Server {
	for _, s := range f.servers {
		if s.Name == name && s.Version == version {
			return s
		}
	}
	return store.Server{}
}

func (f *fakeStore) SetStatus(_ context.Context, c store.StatusChange, who string) ([]store.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var changed []string
	for i, s := range f.servers {
		if s.Name == c.Name && (c.Version == "" || s.Version == c.Version) {
			f.servers[i].Status, f.servers[i].StatusMessage = c.Status, c.StatusMessage
			f.servers[i].StatusChangedAt, f.servers[i].UpdatedAt = f.now(), f.now()
			changed = append(changed, s.Version)
		}
	}
	if len(changed) == 0 {
		return nil, store.ErrNotFound
	}
	f.relatest(c.Name)
	f.wrote(store.ChangeStatus, who, store.Server{Name: c.Name, Version: c.Version}, c)
	var out []store.Server
	for _, v := range changed {
		out = append(out, f.get(c.Name, v))
	}
	return out, nil
}

func (f *fakeStore) Servers(context.Context) ([]store.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	out := slices.Clone(f.servers)
	slices.SortFunc(out, func(a, b store.Server) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return out, nil
}

func (f *fakeStore) PutDecision(context.Context, store.Decision) error { return nil }
func (f *fakeStore) DeleteDecision(context.Context, string, string, string) error {
	return store.ErrNotFound
}
func (f *fakeStore) Decisions(context.Context) ([]store.Decision, error) { return nil, nil }

func (f *fakeStore) Changes(_ context.Context, after int64, limit int) ([]store.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Change
	for _, c := range f.changes {
		if c.Seq > after && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeStore) Revision(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	return f.rev, nil
}

func (f *fakeStore) Watch(ctx context.Context) <-chan struct{} { return f.notify.Watch(ctx) }

func (f *fakeStore) Close() error { return nil }

var _ store.Store = (*fakeStore)(nil)
