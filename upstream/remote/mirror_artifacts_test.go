package remote

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/upstream"
	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// TestMirrorKeepsArtifacts: a full sync walks skills and plugins (every
// version); polls keep them; a resync takes the upstream's changes; a walk
// that fails keeps the last good ones without holding the servers back,
// and the next poll walks again.
func TestMirrorKeepsArtifacts(t *testing.T) {
	t.Parallel()
	clock := upstreamtest.NewManualClock(t0)
	r := newRegistry(t)
	putSkills(r, 12)
	m := newMirror(t, r, clock.Now, func(o *MirrorOptions) { o.PageSize = 5 })
	ctx := ctxTimeout(t, 20*time.Second)
	skills := func() int { return m.Snapshot().Artifacts(upstream.Skills).Len() }

	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	st := m.LastCrawl()
	if skills() != 14 || m.Snapshot().Artifacts(upstream.Plugins).Len() != 0 || m.Snapshot().Len() != 4 {
		t.Fatalf("after the first sync: %d skills, %d servers", skills(), m.Snapshot().Len())
	}
	// 3 list pages + 12 versions for skills, one 404 for plugins.
	if a := st.Artifacts; !a.Walked || a.Requests != 16 || a.Versions != 14 || !a.Changed || a.Error != "" || st.Requests != 1 {
		t.Errorf("first sync stats %+v", st)
	}
	if m.Status().Skills != 14 {
		t.Errorf("status %+v", m.Status())
	}
	rev := m.Snapshot().Revision

	// A poll keeps them, and walks nothing.
	r.PutArtifact("skills", upstreamtest.ArtifactJSON("io.github.acme", "new", "1.0.0"))
	r.Put(upstreamtest.ServerJSON("com.example/polled", "1.0.0"), upstreamtest.Official{})
	clock.Advance(time.Minute)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.LastCrawl(); st.Full || st.Artifacts.Walked || skills() != 14 || m.Snapshot().Len() != 5 {
		t.Errorf("poll: %+v, %d skills, %d servers", st, skills(), m.Snapshot().Len())
	}

	// A resync takes the new skill.
	if err := m.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	if skills() != 15 || m.Snapshot().Revision == rev {
		t.Errorf("after resync: %d skills", skills())
	}

	// A failing walk keeps them; servers still move.
	down := r.Inject(upstreamtest.Fault{Path: skillsPath, Status: 500})
	r.DeleteArtifact("skills", "io.github.acme", "new", "1.0.0")
	r.Put(upstreamtest.ServerJSON("com.example/resynced", "1.0.0"), upstreamtest.Official{})
	if err := m.Resync(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.LastCrawl(); !strings.Contains(st.Artifacts.Error, "HTTP 500") || skills() != 15 || m.Snapshot().Len() != 6 {
		t.Errorf("failed walk: %+v, %d skills, %d servers", st.Artifacts, skills(), m.Snapshot().Len())
	}
	// The next poll walks again, even with no server change.
	down.Remove()
	clock.Advance(time.Minute)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.LastCrawl(); st.Full || !st.Artifacts.Walked || st.Artifacts.Error != "" || skills() != 14 {
		t.Errorf("poll after a failed walk: %+v, %d skills", st, skills())
	}
	clock.Advance(time.Minute)
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if st := m.LastCrawl(); st.Artifacts.Walked {
		t.Errorf("a poll walked artifacts again after a good walk: %+v", st.Artifacts)
	}
}

// TestMirrorRestoresArtifacts: a restart serves the persisted artifacts,
// and its first sync, a poll, walks them again.
func TestMirrorRestoresArtifacts(t *testing.T) {
	t.Parallel()
	clock := upstreamtest.NewManualClock(t0)
	r := newRegistry(t)
	putSkills(r, 3)
	r.PutArtifact("plugins", upstreamtest.ArtifactJSON("io.github.acme", "plug", "1.0.0"))
	stateDir := t.TempDir()
	mod := func(o *MirrorOptions) { o.StateDir = stateDir }
	ctx := ctxTimeout(t, 10*time.Second)
	first := newMirror(t, r, clock.Now, mod)
	if err := first.Load(ctx); err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Minute)
	second := newMirror(t, r, clock.Now, mod)
	if !second.Restore() || second.Snapshot().Revision != first.Snapshot().Revision ||
		second.Snapshot().Artifacts(upstream.Skills).Len() != 4 || second.Snapshot().Artifacts(upstream.Plugins).Len() != 1 {
		t.Fatal("persisted artifacts not restored")
	}
	// While the extension fails, the restored artifacts stand.
	down := r.Inject(upstreamtest.Fault{Path: pluginsPath, Status: 503})
	if err := second.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if st := second.LastCrawl(); st.Full || !st.Artifacts.Walked || st.Artifacts.Error == "" || second.Snapshot().Artifacts(upstream.Plugins).Len() != 1 {
		t.Errorf("first poll with plugins failing: %+v", st)
	}
	down.Remove()
	r.StopArtifacts("plugins")
	clock.Advance(time.Minute)
	if err := second.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if st := second.LastCrawl(); !st.Artifacts.Walked || !st.Artifacts.Changed || second.Snapshot().Artifacts(upstream.Plugins) != nil {
		t.Errorf("plugins gone upstream: %+v", st)
	}
}
