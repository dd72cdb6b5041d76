package upstreamtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpfed/mcpfed/upstream/upstreamtest"
)

// artifactPage is the list shape of ToolHive's extension, decoded
// independently of the package under test.
type artifactPage struct {
	Items []struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		Version   string `json:"version"`
	}
	Metadata struct {
		Count      int     `json:"count"`
		NextCursor *string `json:"nextCursor"`
	} `json:"metadata"`
}

func getArtifacts(t *testing.T, r *upstreamtest.Registry, kind, path string) (int, artifactPage, []byte) {
	t.Helper()
	resp, err := r.Client().Get(r.URL + "/v0.1/x/dev.toolhive/" + kind + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var page artifactPage
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(string(body), `{"`+kind+`"`) {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(top[kind], &page.Items); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(top["metadata"], &page.Metadata); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, page, body
}

func TestArtifactsServedAsToolHive(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(t, upstreamtest.WithPrefix("/registry/main"))
	if code, _, _ := getArtifacts(t, r, "skills", ""); code != http.StatusNotFound {
		t.Fatalf("skills of a registry without them: %d, want 404", code)
	}
	r.ServeArtifacts("plugins")
	if code, page, body := getArtifacts(t, r, "plugins", ""); code != http.StatusOK || len(page.Items) != 0 || page.Metadata.NextCursor != nil {
		t.Fatalf("enabled empty plugins: %d %s", code, body)
	}
	for i := range 7 {
		r.PutArtifact("skills", upstreamtest.ArtifactJSON("io.github.acme", fmt.Sprintf("s%d", i), "1.0.0"))
	}
	r.PutArtifact("skills", upstreamtest.ArtifactJSON("io.github.acme", "s1", "1.10.0"))
	r.PutArtifact("skills", upstreamtest.ArtifactJSON("io.github.acme", "s1", "1.9.0"))
	r.PutArtifact("skills", upstreamtest.ArtifactJSON("io.github.acme", "s1", "main"))

	// Pages of latest versions, by namespace/name.
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		q := "?limit=3"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		code, page, body := getArtifacts(t, r, "skills", q)
		if code != http.StatusOK || page.Metadata.Count != len(page.Items) {
			t.Fatalf("page %d: %d %s", pages, code, body)
		}
		for _, it := range page.Items {
			got = append(got, it.Name+"@"+it.Version)
		}
		if page.Metadata.NextCursor == nil {
			break
		}
		cursor = *page.Metadata.NextCursor
	}
	if want := "s0@1.0.0 s1@1.10.0 s2@1.0.0 s3@1.0.0 s4@1.0.0 s5@1.0.0 s6@1.0.0"; strings.Join(got, " ") != want {
		t.Errorf("listing %q, want %q", got, want)
	}
	_, page, _ := getArtifacts(t, r, "skills", "/io.github.acme/s1/versions")
	var versions []string
	for _, it := range page.Items {
		versions = append(versions, it.Version)
	}
	if strings.Join(versions, " ") != "1.10.0 1.9.0 1.0.0 main" {
		t.Errorf("versions %v", versions)
	}
	if code, _, body := getArtifacts(t, r, "skills", "/io.github.acme/s1"); code != 200 || !strings.Contains(string(body), `"version":"1.10.0"`) {
		t.Errorf("latest: %d %s", code, body)
	}
	if code, _, body := getArtifacts(t, r, "skills", "/io.github.acme/s1/versions/main"); code != 200 || !strings.Contains(string(body), `"version":"main"`) {
		t.Errorf("one version: %d %s", code, body)
	}
	for _, path := range []string{"?limit=0", "?limit=101", "?cursor=bm9wZQ"} {
		if code, _, _ := getArtifacts(t, r, "skills", path); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", path, code)
		}
	}
	for _, path := range []string{"/io.github.acme/nope", "/io.github.acme/s1/versions/9.9.9", "/io.github.acme/s1/other", "/io.github.acme"} {
		if code, _, _ := getArtifacts(t, r, "skills", path); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, code)
		}
	}
	if !r.DeleteArtifact("skills", "io.github.acme", "s0", "1.0.0") || r.ArtifactCount("skills") != 9 {
		t.Errorf("after delete: %d skill versions", r.ArtifactCount("skills"))
	}
	f := r.Inject(upstreamtest.Fault{Path: "/registry/main/v0.1/x/dev.toolhive/skills", Status: 500, Times: 1})
	if code, _, _ := getArtifacts(t, r, "skills", ""); code != 500 || f.Hits() != 1 {
		t.Errorf("fault: %d", code)
	}
	r.StopArtifacts("skills")
	if code, _, _ := getArtifacts(t, r, "skills", ""); code != http.StatusNotFound {
		t.Errorf("stopped skills: %d", code)
	}
}

// TestLoadFileServesCatalogueSkills: the ToolHive catalogue's 222 skills
// come with its servers.
func TestLoadFileServesCatalogueSkills(t *testing.T) {
	t.Parallel()
	r, _ := newRegistry(t)
	if n := r.LoadFile("../../testdata/catalog/toolhive.json"); n != 111 {
		t.Fatalf("%d servers", n)
	}
	if r.ArtifactCount("skills") != 222 {
		t.Errorf("%d skills", r.ArtifactCount("skills"))
	}
	if code, page, _ := getArtifacts(t, r, "skills", "?limit=100"); code != 200 || len(page.Items) != 100 || page.Metadata.NextCursor == nil {
		t.Errorf("first page: %d, %d items", code, len(page.Items))
	}
	r.Clear()
	if code, _, _ := getArtifacts(t, r, "skills", ""); code != http.StatusNotFound {
		t.Errorf("after Clear: %d", code)
	}
}
