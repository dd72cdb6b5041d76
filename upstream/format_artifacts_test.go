package upstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// artSkill is a minimal valid skill (or plugin) object; extra fields are merged in.
func artSkill(namespace, name, version string, extra ...string) string {
	s := fmt.Sprintf(`{"namespace":%q,"name":%q,"version":%q,"description":"test artifact %s"`, namespace, name, version, name)
	for _, x := range extra {
		s += "," + x
	}
	return s + "}"
}

// artUpstreamFile is an upstream-format file with the given data members.
func artUpstreamFile(data string) string {
	return `{"$schema":"https://example.com/s.json","version":"1.0.0","meta":{"last_updated":"2026-01-02T03:04:05Z"},"data":{` + data + `}}`
}

// TestParseToolHiveCatalogueArtifacts: the built-in ToolHive catalogue
// carries 222 skills; each is indexed, in file order, and the snapshot
// built from it serves them beside its 111 servers, whose oci packages
// give their images.
func TestParseToolHiveCatalogueArtifacts(t *testing.T) {
	t.Parallel()
	doc := parseTestdata(t, "catalog", "toolhive.json")
	if doc.Format != FormatUpstream || len(doc.Entries) != 111 {
		t.Fatalf("format %s, %d servers", doc.Format, len(doc.Entries))
	}
	skills := doc.Artifacts[Skills]
	if len(skills) != 222 || doc.ArtifactCount(Skills) != 222 || doc.ArtifactCount(Plugins) != 0 {
		t.Fatalf("%d skills, %d plugins; want 222 and 0", len(skills), doc.ArtifactCount(Plugins))
	}
	first := skills[0]
	if first.Kind != Skills || first.ID() != "io.github.stacklok/agent-observability-eval-bootstrap" || first.Version != "0.3.0" ||
		first.Status != "active" || strings.Join(first.PackageTypes, ",") != "oci,git" {
		t.Errorf("first skill: %+v", first)
	}
	h := NewHolder(HolderOptions{Name: "toolhive", Kind: "file"})
	if err := h.Attempt(t.Context(), "test", func(_ context.Context, now time.Time) error { return h.Install(doc, now) }); err != nil {
		t.Fatal(err)
	}
	snap := h.Snapshot()
	if snap.Len() != 111 || snap.Artifacts(Skills).Len() != 222 || snap.Artifacts(Plugins) != nil {
		t.Errorf("snapshot: %d servers, %d skills, plugins %v", snap.Len(), snap.Artifacts(Skills).Len(), snap.Artifacts(Plugins))
	}
	for _, a := range snap.Artifacts(Skills).All() {
		if a.Source != "toolhive" {
			t.Fatalf("skill %s has source %q", a.ID(), a.Source)
		}
	}
	if st := h.Status(); st.Entries != 111 || st.Skills != 222 || st.Plugins != 0 {
		t.Errorf("status counts: %d entries, %d skills, %d plugins", st.Entries, st.Skills, st.Plugins)
	}
	// Every oci package of its servers yields an image without tag.
	images := 0
	for _, e := range doc.Entries {
		for _, img := range e.OCIImages {
			images++
			if img == "" || img != OCIRepository(img) || strings.ContainsAny(img, "@") {
				t.Errorf("%s: image %q still has a tag or digest", e.Name, img)
			}
		}
	}
	if images < 70 {
		t.Errorf("only %d images in the catalogue's oci packages", images)
	}
}

// TestFileSourceServesArtifacts: a file source's snapshot carries the
// file's skills, and a new version of the file that only changes a skill
// is a new revision.
func TestFileSourceServesArtifacts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "registry.json")
	write := func(title string) {
		t.Helper()
		data := artUpstreamFile(`"servers":[` + serverJSON("io.github.acme/s", "1.0.0") + `],"skills":[` + artSkill("io.github.acme", "one", "1.0.0", `"title":"`+title+`"`) + `]`)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("One")
	s, err := NewFileSource(FileOptions{Name: "f", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := s.Snapshot()
	if first.Artifacts(Skills).Len() != 1 || first.Artifacts(Skills).All()[0].Title != "One" {
		t.Fatalf("skills %v", first.Artifacts(Skills).All())
	}
	write("One, renamed") // another size: the file source sees the change
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Snapshot().Revision == first.Revision || s.Snapshot().Artifacts(Skills).All()[0].Title != "One, renamed" {
		t.Errorf("a changed skill did not change the snapshot")
	}
}

// TestParseArtifactErrors: an invalid skill or plugin fails the whole file
// with its position, as an invalid server does.
func TestParseArtifactErrors(t *testing.T) {
	t.Parallel()
	good := artSkill("io.github.acme", "one", "1.0.0")
	tests := []struct {
		name, data, want string
	}{
		{"skill without description", `"skills":[` + good + `,{"namespace":"io.github.acme","name":"two","version":"1.0.0"}]`, "data.skills[1]: invalid server entry"},
		{"skill with a bad name", `"skills":[` + good + `,` + artSkill("io.github.acme", "Two", "1") + `]`, "data.skills[1]: invalid server entry: io.github.acme: name must be"},
		{"fourth skill latest", `"skills":[` + artSkill("a.b", "x", "1") + `,` + artSkill("a.b", "y", "1") + `,` + artSkill("a.b", "z", "1") + `,` + artSkill("a.b", "w", "latest") + `]`, `data.skills[3]: invalid server entry: a.b/w: "latest" is reserved`},
		{"plugin not an object", `"plugins":[42]`, "data.plugins[0]: invalid server entry"},
		{"plugin without namespace", `"plugins":[{"name":"p","version":"1","description":"d"}]`, "data.plugins[0]: invalid server entry: namespace"},
		{"duplicate skill version", `"skills":[` + good + `,` + artSkill("io.github.acme", "two", "1.0.0") + `,` + good + `]`, "data.skills[2]: invalid server entry: io.github.acme/one version \"1.0.0\" is already at data.skills[0]"},
		{"skills not an array", `"skills":{}`, "data:"},
		{"bad JSON inside", `"skills":["x"]`, "data.skills[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(artUpstreamFile(`"servers":[],` + tc.data)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.HasPrefix(tc.want, "data.") && !errors.Is(err, ErrInvalidEntry) {
				t.Errorf("err %v is not ErrInvalidEntry", err)
			}
		})
	}
}

// TestParseArtifactsOnlyFromUpstreamFormat: the same version in two kinds
// is no conflict, and formats other than the upstream one carry none.
func TestParseArtifactsOnlyFromUpstreamFormat(t *testing.T) {
	t.Parallel()
	same := artSkill("io.github.acme", "one", "1.0.0")
	doc, err := Parse([]byte(artUpstreamFile(`"servers":[` + serverJSON("io.github.acme/s", "1.0.0") + `],"skills":[` + same + `],"plugins":[` + same + `]`)))
	if err != nil {
		t.Fatal(err)
	}
	if doc.ArtifactCount(Skills) != 1 || doc.ArtifactCount(Plugins) != 1 || doc.Artifacts[Plugins][0].Kind != Plugins {
		t.Errorf("artifacts: %v", doc.Artifacts)
	}
	for _, other := range []string{
		`[` + serverJSON("io.github.acme/s", "1.0.0") + `]`,
		`{"servers":[{"server":` + serverJSON("io.github.acme/s", "1.0.0") + `}],"skills":[` + same + `]}`,
		serverJSON("io.github.acme/s", "1.0.0", `"skills":[`+same+`]`),
	} {
		doc, err := Parse([]byte(other))
		if err != nil {
			t.Fatalf("Parse(%.60s): %v", other, err)
		}
		if doc.Artifacts != nil {
			t.Errorf("%s document carries artifacts: %v", doc.Format, doc.Artifacts)
		}
	}
}

// TestDirectoryKeepsArtifacts: a directory's files bring their artifacts
// together; the same version in two files fails the snapshot.
func TestDirectoryKeepsArtifacts(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"a/server.json": {Data: []byte(artUpstreamFile(`"servers":[` + serverJSON("io.github.acme/a", "1.0.0") + `],"skills":[` + artSkill("io.github.acme", "one", "1.0.0") + `]`))},
		"b/server.json": {Data: []byte(artUpstreamFile(`"servers":[],"skills":[` + artSkill("io.github.acme", "one", "2.0.0") + `],"plugins":[` + artSkill("io.github.acme", "p", "1") + `]`))},
		"c/server.json": {Data: []byte(serverJSON("io.github.acme/c", "1.0.0"))},
	}
	doc, err := ParseTree(fsys, ".", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Entries) != 2 || doc.ArtifactCount(Skills) != 2 || doc.ArtifactCount(Plugins) != 1 {
		t.Fatalf("%d servers, %d skills, %d plugins", len(doc.Entries), doc.ArtifactCount(Skills), doc.ArtifactCount(Plugins))
	}
	fsys["d/server.json"] = &fstest.MapFile{Data: []byte(artUpstreamFile(`"skills":[` + artSkill("io.github.acme", "one", "2.0.0") + `]`))}
	doc, err = ParseTree(fsys, ".", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHolder(HolderOptions{Name: "dir", Kind: "file"})
	err = h.Attempt(t.Context(), "test", func(_ context.Context, now time.Time) error { return h.Install(doc, now) })
	if !errors.Is(err, ErrInvalidEntry) || !strings.Contains(err.Error(), `io.github.acme/one version "2.0.0" appears more than once`) {
		t.Errorf("duplicate across files: %v", err)
	}
}
