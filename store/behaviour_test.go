package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// behaviour is the table of tests every driver passes.
var behaviour = []struct {
	name string
	run  func(t *testing.T, b backend)
}{
	{"PublishStoresAndReads", testPublish},
	{"PublishExistingIsErrExistsAndWritesNothing", testPublishExisting},
	{"ConcurrentPublishOfOneVersionKeepsOne", testConcurrentPublish},
	{"LatestByOfficialRules", testLatest},
	{"SetStatusOneVersion", testSetStatusOne},
	{"SetStatusAllVersions", testSetStatusAll},
	{"InvalidWritesWriteNothing", testInvalid},
	{"Decisions", testDecisions},
	{"ChangesPageInCommitOrder", testChanges},
	{"WatchSignalsWritesAndCloses", testWatch},
	{"ReopenKeepsEverything", testReopen},
	{"MigrateUpDownUp", testMigrateUpDownUp},
}

func runBehaviour(t *testing.T, b backend) {
	for _, tc := range behaviour {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, b)
		})
	}
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	runBehaviour(t, sqliteBackend())
}

func open(t *testing.T, b backend) Store {
	cfg, opts := b.fresh(t)
	opts.Clock = newTickClock().Now
	return openT(t, cfg, opts)
}

func testPublish(t *testing.T, b backend) {
	s := open(t, b)
	ctx := ctxT(t)
	// Whitespace is compacted; key order and content are kept.
	raw := []byte("{\n  \"name\": \"com.acme/a\",\n  \"version\": \"1.0.0\",\n  \"z\": [1, 2],\n  \"a\": \"é\"\n}")
	got, err := s.Publish(ctx, Server{Name: "com.acme/a", Version: "1.0.0", Server: raw, Status: "deleted", IsLatest: false}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"com.acme/a","version":"1.0.0","z":[1,2],"a":"é"}`
	if string(got.Server) != want {
		t.Errorf("server.json %s, want %s", got.Server, want)
	}
	if got.Status != StatusActive || !got.IsLatest || got.Publisher != "alice" || got.StatusMessage != "" {
		t.Errorf("published %+v: want active, latest, publisher alice", got)
	}
	if got.PublishedAt.IsZero() || !got.PublishedAt.Equal(got.UpdatedAt) || !got.PublishedAt.Equal(got.StatusChangedAt) || got.PublishedAt.Location() != time.UTC {
		t.Errorf("times %v %v %v: want one UTC stamp", got.PublishedAt, got.UpdatedAt, got.StatusChangedAt)
	}
	mustPublish(t, s, "com.acme/b", "0.1.0")
	mustPublish(t, s, "com.acme/a", "0.9.0")
	all, err := s.Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, sv := range all {
		keys = append(keys, sv.Name+"@"+sv.Version)
	}
	if w := []string{"com.acme/a@0.9.0", "com.acme/a@1.0.0", "com.acme/b@0.1.0"}; !slices.Equal(keys, w) {
		t.Errorf("Servers %v, want %v (name, then version)", keys, w)
	}
	if all[1].PublishedAt != got.PublishedAt || string(all[1].Server) != want {
		t.Errorf("read back %+v, want %+v", all[1], got)
	}
}

func testPublishExisting(t *testing.T, b backend) {
	s := open(t, b)
	ctx := ctxT(t)
	first := mustPublish(t, s, "com.acme/a", "1.0.0")
	rev, _ := s.Revision(ctx)
	_, err := s.Publish(ctx, Server{Name: "com.acme/a", Version: "1.0.0", Server: []byte(`{"other":true}`)}, "mallory")
	if !errors.Is(err, ErrExists) {
		t.Fatalf("re-publish: %v, want ErrExists", err)
	}
	if rev2, _ := s.Revision(ctx); rev2 != rev {
		t.Errorf("revision %d after a refused write, want %d", rev2, rev)
	}
	all, _ := s.Servers(ctx)
	if len(all) != 1 || string(all[0].Server) != string(first.Server) || all[0].Publisher != "alice" {
		t.Errorf("after re-publish: %+v, want the first publication", all)
	}
	if ch, _ := s.Changes(ctx, 0, 0); len(ch) != 1 {
		t.Errorf("history %+v, want one publish", ch)
	}
}

func testConcurrentPublish(t *testing.T, b backend) {
	s := open(t, b)
	ctx := ctxT(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Publish(ctx, Server{Name: "com.acme/race", Version: "1.0.0", Server: serverJSON("com.acme/race", "1.0.0")}, "p")
		})
	}
	wg.Wait()
	ok, exists := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrExists):
			exists++
		default:
			t.Errorf("concurrent publish: %v", err)
		}
	}
	if ok != 1 || exists != n-1 {
		t.Errorf("%d stored and %d ErrExists, want 1 and %d", ok, exists, n-1)
	}
	all, _ := s.Servers(ctx)
	ch, _ := s.Changes(ctx, 0, 0)
	if len(all) != 1 || len(ch) != 1 {
		t.Errorf("%d versions and %d changes stored, want 1 and 1", len(all), len(ch))
	}

	// Distinct versions at once: all kept, one latest.
	versions := []string{"1.0.1", "1.1.0", "2.0.0-rc.1", "2.0.0", "1.10.0", "0.1.0", "snapshot"}
	for _, v := range versions {
		wg.Go(func() {
			if _, err := s.Publish(ctx, Server{Name: "com.acme/many", Version: v, Server: serverJSON("com.acme/many", v)}, "p"); err != nil {
				t.Errorf("publish %s: %v", v, err)
			}
		})
	}
	wg.Wait()
	all, _ = s.Servers(ctx)
	if got := latestOf(all, "com.acme/many"); !slices.Equal(got, []string{"2.0.0"}) {
		t.Errorf("latest %v, want [2.0.0]", got)
	}
}

func testLatest(t *testing.T, b backend) {
	s := open(t, b)
	ctx := ctxT(t)
	latest := func(name string) []string {
		t.Helper()
		all, err := s.Servers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return latestOf(all, name)
	}
	steps := []struct {
		do   func()
		name string
		want string
	}{
		// Semver order, not publication order; a pre-release is older.
		{func() { mustPublish(t, s, "com.acme/s", "1.0.0") }, "com.acme/s", "1.0.0"},
		{func() { mustPublish(t, s, "com.acme/s", "2.0.0-rc.1") }, "com.acme/s", "2.0.0-rc.1"},
		{func() { mustPublish(t, s, "com.acme/s", "2.0.0") }, "com.acme/s", "2.0.0"},
		{func() { mustPublish(t, s, "com.acme/s", "1.10.0") }, "com.acme/s", "2.0.0"},
		// A semver version is newer than any non-semver one.
		{func() { mustPublish(t, s, "com.acme/s", "nightly") }, "com.acme/s", "2.0.0"},
		// Deleting the latest hands the flag to the newest left.
		{func() { setStatus(t, s, "com.acme/s", "2.0.0", StatusDeleted) }, "com.acme/s", "2.0.0-rc.1"},
		{func() { setStatus(t, s, "com.acme/s", "2.0.0-rc.1", StatusDeprecated) }, "com.acme/s", "2.0.0-rc.1"},
		{func() { setStatus(t, s, "com.acme/s", "", StatusDeleted) }, "com.acme/s", "2.0.0"},
		{func() { setStatus(t, s, "com.acme/s", "1.0.0", StatusActive) }, "com.acme/s", "1.0.0"},
		// Neither semver: publication time decides.
		{func() { mustPublish(t, s, "com.acme/t", "beta") }, "com.acme/t", "beta"},
		{func() { mustPublish(t, s, "com.acme/t", "alpha") }, "com.acme/t", "alpha"},
		{func() { mustPublish(t, s, "com.acme/t", "1.0") }, "com.acme/t", "1.0"},
		{func() { mustPublish(t, s, "com.acme/t", "0.0.1") }, "com.acme/t", "0.0.1"},
	}
	for i, st := range steps {
		st.do()
		if got := latest(st.name); !slices.Equal(got, []string{st.want}) {
			t.Fatalf("step %d: latest of %s %v, want [%s]", i, st.name, got, st.want)
		}
	}
}

func setStatus(t *testing.T, s Store, name, version, status string) []Server {
	t.Helper()
	out, err := s.SetStatus(ctxT(t), StatusChange{Name: name, Version: version, Status: status, StatusMessage: "because"}, "bob")
	if err != nil {
		t.Fatalf("SetStatus %s %s %s: %v", name, version, status, err)
	}
	return out
}

func testSetStatusOne(t *testing.T, b backend) {
	s := open(t, b)
	ctx := ctxT(t)
	pub := mustPublish(t, s, "com.acme/a", "1.0.0")
	mustPublish(t, s, "com.acme/a", "1.1.0")
	got := setStatus(t, s, "com.acme/a", "1.0.0", StatusDeprecated)
	if len(got) != 1 || got[0].Version != "1.0.0" || got[0].Status != StatusDeprecated || got[0].StatusMessage != "because" {
		t.Fatalf("SetStatus returned %+v", got)
	}
	dep := got[0]
	if !dep.StatusChangedAt.After(pub.StatusChangedAt) || !dep.UpdatedAt.Equal(dep.StatusChangedAt) || !dep.PublishedAt.Equal(pub.PublishedAt) {
		t.Errorf("times after a status change: %+v (published %+v)", dep, pub)
	}
	// The same status again: the message and updatedAt change, the status
	// change time does not.
	again, err := s.SetStatus(ctx, StatusChange{Name: "com.acme/a", Version: "1.0.0", Status: StatusDeprecated, StatusMessage: "moved"}, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if again[0].StatusMessage != "moved" || !again[0].StatusChangedAt.Equal(dep.StatusChangedAt) || !again[0].UpdatedAt.After(dep.UpdatedAt) {
		t.Errorf("same status again: %+v", again[0])
	}
	for _, c := range []struct {
		change StatusChange
		want   error
	}{
		{StatusChange{Name: "com.acme/a", Version: "9.9.9", Status: StatusActive}, ErrNotFound},
		{StatusChange{Name: "com.acme/none", Status: StatusActive}, ErrNotFound},
		{StatusChange{Name: "com.acme/a", Version: "1.0.0", Status: "gone"}, ErrInvalid},
		{StatusChange{Name: "com.acme/a", Version: "1.0.0", Status: StatusActive, StatusMessage: strings.Repeat("x", MaxStatusMessageBytes+1)}, ErrInvalid},
		{StatusChange{Version: "1.0.0", Status: StatusActive}, ErrInvalid},
	} {
		if _, err := s.SetStatus(ctx, c.change, "bob"); !errors.Is(err, c.want) {
			t.Errorf("SetStatus(%+v): %v, want %v", c.change, err, c.want)
		}
	}
	if ch, _ := s.Changes(ctx, 0, 0); len(ch) != 4 || ch[2].Kind != ChangeStatus || ch[2].Who != "bob" || ch[2].Version != "1.0.0" {
		t.Errorf("history %+v: want 2 publishes, 2 status changes by bob", ch)
	}
}

func testSetStatusAll(t *testing.T, b backend) {
	s := open(t, b)
	ctx := ctxT(t)
	mustPublish(t, s, "com.acme/a", "1.0.0")
	mustPublish(t, s, "com.acme/a", "2.0.0")
	mustPublish(t, s, "com.acme/other", "1.0.0")
	setStatus(t, s, "com.acme/a", "1.0.0", StatusDeprecated)
	got := setStatus(t, s, "com.acme/a", "", StatusDeprecated)
	if len(got) != 2 {
		t.Fatalf("all-versions change returned %d versions, want 2", len(got))
	}
	for _, sv := range got {
		if sv.Name != "com.acme/a" || sv.Status != StatusDeprecated || sv.StatusMessage != "because" {
			t.Errorf("after the all-versions change: %+v", sv)
		}
	}
	// Nothing differs now: nothing is written, the versions come back.
	rev, _ := s.Revision(ctx)
	got = setStatus(t, s, "com.acme/a", "", StatusDeprecated)
	if rev2, _ := s.Revision(ctx); rev2 != rev || len(got) != 2 {
		t.Errorf("a change of nothing: revision %d→%d, %d versions", rev, rev2, len(got))
	}
	all, _ := s.Servers(ctx)
	for _, sv := range all {
		if sv.Name == "com.acme/other" && sv.Status != StatusActive {
			t.Errorf("another server changed: %+v", sv)
		}
	}
	ch, _ := s.Changes(ctx, 0, 0)
	last := ch[len(ch)-1]
	var detail struct {
		Status   string `json:"status"`
		Versions int    `json:"versions"`
	}
	if err := json.Unmarshal(last.Detail, &detail); err != nil || last.Kind != ChangeStatus || last.Version != "" || detail.Versions != 1 || detail.Status != StatusDeprecated {
		t.Errorf("last change %+v (%s): want the all-versions status change of the 1 version that differed", last, last.Detail)
	}
}

func testInvalid(t *testing.T, b backend) {
	s := open(t, b)
	ctx := ctxT(t)
	big := `{"x":"` + strings.Repeat("a", MaxServerBytes) + `"}`
	for _, sv := range []Server{
		{Name: "", Version: "1.0.0", Server: []byte(`{}`)},
		{Name: "com.acme/a", Version: "", Server: []byte(`{}`)},
		{Name: strings.Repeat("n", MaxNameBytes+1), Version: "1", Server: []byte(`{}`)},
		{Name: "com.acme/a", Version: strings.Repeat("1", MaxVersionBytes+1), Server: []byte(`{}`)},
		{Name: "com.acme/a", Version: "1.0.0", Server: []byte(`[1]`)},
		{Name: "com.acme/a", Version: "1.0.0", Server: []byte(`{"a":`)},
		{Name: "com.acme/a", Version: "1.0.0", Server: nil},
		{Name: "com.acme/a", Version: "1.0.0", Server: []byte(big)},
	} {
		if _, err := s.Publish(ctx, sv, "alice"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Publish(%.40s %.20s %.20s): %v, want ErrInvalid", sv.Name, sv.Version, sv.Server, err)
		}
	}
	if _, err := s.Publish(ctx, Server{Name: "com.acme/a", Version: "1", Server: []byte(`{}`)}, strings.Repeat("w", MaxWhoBytes+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized publisher: %v, want ErrInvalid", err)
	}
	for _, d := range []Decision{
		{ServerName: "com.acme/a", Versions: "*", Decision: "maybe"},
		{ServerName: "", Versions: "*", Decision: DecisionApproved},
		{ServerName: "com.acme/a", Versions: "", Decision: DecisionApproved},
		{ServerName: "com.acme/a", Versions: "*", Decision: DecisionApproved, Note: strings.Repeat("n", MaxNoteBytes+1)},
	} {
		if err := s.PutDecision(ctx, d); !errors.Is(err, ErrInvalid) {
			t.Errorf("PutDecision(%+v): %v, want ErrInvalid", d, err)
		}
	}
	if rev, _ := s.Revision(ctx); rev != 0 {
		t.Errorf("revision %d after refused writes, want 0", rev)
	}
	if all, _ := s.Servers(ctx); len(all) != 0 {
		t.Errorf("stored %+v", all)
	}
}

func testDecisions(t *testing.T, b backend) {
	s := open(t, b)
	ctx := ctxT(t)
	put := func(d Decision) {
		t.Helper()
		if err := s.PutDecision(ctx, d); err != nil {
			t.Fatalf("PutDecision(%+v): %v", d, err)
		}
	}
	put(Decision{ServerName: "com.acme/b", Versions: "*", Decision: DecisionApproved, Who: "rev1", Note: "ok"})
	put(Decision{ServerName: "com.acme/a", Versions: ">=1.2 <2", Decision: DecisionApproved, Who: "rev1"})
	put(Decision{ServerName: "com.acme/a", Versions: "1.3.0", Decision: DecisionDenied, Who: "rev2", Note: "CVE"})
	// Replaces the decision for (com.acme/b, *).
	put(Decision{ServerName: "com.acme/b", Versions: "*", Decision: DecisionDenied, Who: "rev2", Note: "withdrawn"})
	got, err := s.Decisions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, d := range got {
		keys = append(keys, d.ServerName+" "+d.Versions+" "+d.Decision+" "+d.Who+" "+d.Note)
		if d.At.IsZero() {
			t.Errorf("decision %+v has no time", d)
		}
	}
	want := []string{"com.acme/a 1.3.0 denied rev2 CVE", "com.acme/a >=1.2 <2 approved rev1 ", "com.acme/b * denied rev2 withdrawn"}
	if !slices.Equal(keys, want) {
		t.Errorf("Decisions\n %q\nwant\n %q", keys, want)
	}
	if err := s.DeleteDecision(ctx, "com.acme/a", "1.3.0", "rev3"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDecision(ctx, "com.acme/a", "1.3.0", "rev3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete again: %v, want ErrNotFound", err)
	}
	put(Decision{ServerName: "com.acme/a", Versions: "2.0.0", Decision: DecisionApproved})
	if err := s.DeleteDecision(ctx, "com.acme/a", "", "rev3"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDecision(ctx, "com.acme/none", "", "rev3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete of nothing: %v, want ErrNotFound", err)
	}
	got, _ = s.Decisions(ctx)
	if len(got) != 1 || got[0].ServerName != "com.acme/b" {
		t.Errorf("after deletes: %+v", got)
	}
	ch, _ := s.Changes(ctx, 0, 0)
	var kinds []string
	for _, c := range ch {
		kinds = append(kinds, c.Kind+":"+c.Who)
	}
	wantKinds := []string{"decision:rev1", "decision:rev1", "decision:rev2", "decision:rev2", "decision-delete:rev3", "decision:", "decision-delete:rev3"}
	if !slices.Equal(kinds, wantKinds) {
		t.Errorf("history %v, want %v", kinds, wantKinds)
	}
	var d struct {
		Deleted int `json:"deleted"`
	}
	if err := json.Unmarshal(ch[len(ch)-1].Detail, &d); err != nil || d.Deleted != 2 {
		t.Errorf("delete-all detail %s: want 2 deleted", ch[len(ch)-1].Detail)
	}
}

func testChanges(t *testing.T, b backend) {
	s := open(t, b)
	ctx := ctxT(t)
	for _, v := range []string{"1", "2", "3", "4", "5"} {
		mustPublish(t, s, "com.acme/a", v)
	}
	rev, err := s.Revision(ctx)
	if err != nil || rev != 5 {
		t.Fatalf("revision %d (%v), want 5", rev, err)
	}
	page, _ := s.Changes(ctx, 0, 2)
	next, _ := s.Changes(ctx, page[len(page)-1].Seq, 10)
	rest, _ := s.Changes(ctx, 5, 10)
	if len(page) != 2 || len(next) != 3 || len(rest) != 0 {
		t.Fatalf("pages of %d, %d, %d, want 2, 3, 0", len(page), len(next), len(rest))
	}
	all := append(page, next...)
	for i, c := range all {
		if c.Seq != int64(i+1) || c.Kind != ChangePublish || c.Who != "alice" || c.Server != "com.acme/a" || c.At.IsZero() || !json.Valid(c.Detail) {
			t.Errorf("change %d: %+v", i, c)
		}
		if i > 0 && !c.At.After(all[i-1].At) {
			t.Errorf("change %d not after %d", i, i-1)
		}
	}
}

func testWatch(t *testing.T, b backend) {
	s := open(t, b)
	ctx, cancel := context.WithCancel(ctxT(t))
	w := s.Watch(ctx)
	w2 := s.Watch(context.Background())
	mustPublish(t, s, "com.acme/a", "1.0.0")
	waitSignal(t, w, 2*time.Second, "publish")
	waitSignal(t, w2, 2*time.Second, "publish, second watcher")
	if err := s.PutDecision(ctxT(t), Decision{ServerName: "com.acme/a", Versions: "*", Decision: DecisionApproved}); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, w, 2*time.Second, "decision")
	cancel()
	select {
	case _, ok := <-w:
		if ok {
			// A signal may still be pending; the close follows.
			if _, ok = <-w; ok {
				t.Error("watch channel open after its context ended")
			}
		}
	case <-time.After(2 * time.Second):
		t.Error("watch channel not closed after its context ended")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	drain(w2)
	if _, ok := <-w2; ok {
		t.Error("watch channel open after Close")
	}
	if _, ok := <-s.Watch(context.Background()); ok {
		t.Error("Watch after Close returned an open channel")
	}
}

func testReopen(t *testing.T, b backend) {
	cfg, opts := b.fresh(t)
	s1 := openT(t, cfg, opts)
	mustPublish(t, s1, "com.acme/a", "1.0.0")
	if err := s1.PutDecision(ctxT(t), Decision{ServerName: "com.acme/a", Versions: "*", Decision: DecisionApproved}); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openT(t, cfg, opts)
	all, _ := s2.Servers(ctxT(t))
	ds, _ := s2.Decisions(ctxT(t))
	rev, _ := s2.Revision(ctxT(t))
	if len(all) != 1 || len(ds) != 1 || rev != 2 {
		t.Errorf("reopened: %d versions, %d decisions, revision %d; want 1, 1, 2", len(all), len(ds), rev)
	}
	if _, err := s2.Publish(ctxT(t), Server{Name: "com.acme/a", Version: "1.0.0", Server: []byte(`{}`)}, ""); !errors.Is(err, ErrExists) {
		t.Errorf("re-publish after reopen: %v, want ErrExists", err)
	}
}
