package federate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mcpfed/mcpfed/filter"
	"github.com/mcpfed/mcpfed/upstream"
)

// art is one skill or plugin version of an inline source.
type art struct {
	NS, Name, Version, Title, Description, Status string
}

func (a art) json() json.RawMessage {
	m := map[string]any{"namespace": a.NS, "name": a.Name, "version": a.Version, "description": a.Description}
	if m["description"] == "" {
		m["description"] = a.Name + " does things"
	}
	if a.Title != "" {
		m["title"] = a.Title
	}
	if a.Status != "" {
		m["status"] = a.Status
	}
	b, _ := json.Marshal(m)
	return b
}

// artifactDoc is an upstream-format registry file with the given servers,
// skills and plugins.
func artifactDoc(servers []srv, skills, plugins []art) []byte {
	raws := func(items []art) []json.RawMessage {
		out := []json.RawMessage{}
		for _, a := range items {
			out = append(out, a.json())
		}
		return out
	}
	var list struct {
		Servers []struct {
			Server json.RawMessage `json:"server"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(serverList(servers...), &list); err != nil {
		panic(err)
	}
	srvs := []json.RawMessage{}
	for _, s := range list.Servers {
		srvs = append(srvs, s.Server)
	}
	b, _ := json.Marshal(map[string]any{
		"version": "1.0.0",
		"meta":    map[string]string{"last_updated": "2026-01-01T00:00:00Z"},
		"data":    map[string]any{"servers": srvs, "skills": raws(skills), "plugins": raws(plugins)},
	})
	return b
}

// holderSource loads data as a file source does (a Holder installs the
// parsed document), so artifacts reach the snapshot the production way.
func holderSource(t testing.TB, name string, data []byte) *fakeSource {
	t.Helper()
	doc, err := upstream.Parse(data)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	h := upstream.NewHolder(upstream.HolderOptions{Name: name, Kind: "file", Clock: func() time.Time { return fixedNow }})
	if err := h.Install(doc, fixedNow); err != nil {
		t.Fatalf("install %s: %v", name, err)
	}
	s := &fakeSource{name: name}
	s.set(h.Snapshot())
	return s
}

type artifactList struct {
	Skills   []map[string]any `json:"skills"`
	Plugins  []map[string]any `json:"plugins"`
	Metadata struct {
		Count      int    `json:"count"`
		NextCursor string `json:"nextCursor"`
	} `json:"metadata"`
}

func decodeArtifacts(t testing.TB, r response) artifactList {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var l artifactList
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return l
}

func ids(items []map[string]any) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprintf("%s/%s@%s", it["namespace"], it["name"], it["version"])
	}
	return out
}

// builtinEnv serves the ToolHive catalogue (222 skills, no plugins) and
// the seed, with a view over the seed alone.
func builtinEnv(t *testing.T) *env {
	th := holderSource(t, "toolhive", testdata(t, "catalog/toolhive.json"))
	seed := newSource(t, "seed", testdata(t, "catalog/official-seed.json"))
	return newEnv(t, envOptions{members: members(th, seed), views: map[string]*View{
		"all":  {Name: "all"},
		"seed": {Name: "seed", Sources: []string{"seed"}},
	}})
}

func TestSkillsOfTheToolHiveCatalogue(t *testing.T) {
	t.Parallel()
	e := builtinEnv(t)
	want := map[string]json.RawMessage{}
	var doc struct {
		Data struct {
			Skills []json.RawMessage `json:"skills"`
		} `json:"data"`
	}
	if err := json.Unmarshal(testdata(t, "catalog/toolhive.json"), &doc); err != nil {
		t.Fatal(err)
	}
	for _, raw := range doc.Data.Skills {
		var s struct{ Namespace, Name string }
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		want[s.Namespace+"/"+s.Name] = raw
	}
	if len(want) != 222 {
		t.Fatalf("the catalogue holds %d skills, want 222", len(want))
	}
	for _, p := range []string{"/v0.1", "/v0", "/registry/all/v0.1", "/registry/all/v0"} {
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("%s: more than 10 pages", p)
			}
			q := "?limit=100"
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			l := decodeArtifacts(t, e.get(t, p+"/x/dev.toolhive/skills"+q))
			if l.Metadata.Count != len(l.Skills) {
				t.Fatalf("%s: count %d for %d skills", p, l.Metadata.Count, len(l.Skills))
			}
			for _, s := range l.Skills {
				got = append(got, fmt.Sprintf("%s/%s", s["namespace"], s["name"]))
			}
			if cursor = l.Metadata.NextCursor; cursor == "" {
				break
			}
		}
		if len(got) != len(want) || !slices.IsSorted(got) {
			t.Fatalf("%s: %d skills (sorted: %t), want %d in order", p, len(got), slices.IsSorted(got), len(want))
		}
		for _, id := range got {
			if want[id] == nil {
				t.Errorf("%s: unknown skill %s", p, id)
			}
		}
		// Plugins: none, and that is an empty list, not a 404.
		if r := e.get(t, p+"/x/dev.toolhive/plugins"); r.status != 200 || string(r.body) != `{"plugins":[],"metadata":{"count":0}}` {
			t.Errorf("%s plugins: %d %s", p, r.status, r.body)
		}
	}
	// One skill, byte for byte as the catalogue holds it (compacted).
	id := "io.github.stacklok/agent-observability-eval-bootstrap"
	for _, path := range []string{"/v0.1/x/dev.toolhive/skills/" + id, "/v0.1/x/dev.toolhive/skills/" + id + "/versions/0.3.0", "/v0/x/dev.toolhive/skills/" + id + "/versions/latest"} {
		r := e.get(t, path)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		if !jsonEqual(t, r.body, want[id]) {
			t.Errorf("%s: %s, want %s", path, r.body, want[id])
		}
	}
	l := decodeArtifacts(t, e.get(t, "/v0.1/x/dev.toolhive/skills/"+id+"/versions"))
	if l.Metadata.Count != 1 || len(l.Skills) != 1 {
		t.Errorf("versions: %+v", l)
	}
	// A view without the ToolHive catalogue has no skills: an empty list.
	if r := e.get(t, "/registry/seed/v0.1/x/dev.toolhive/skills"); string(r.body) != `{"skills":[],"metadata":{"count":0}}` {
		t.Errorf("seed view: %d %s", r.status, r.body)
	}
	for _, path := range []string{
		"/v0.1/x/dev.toolhive/skills/io.github.stacklok/no-such-skill",
		"/v0.1/x/dev.toolhive/skills/" + id + "/versions/9.9.9",
		"/registry/seed/v0.1/x/dev.toolhive/skills/" + id,
		"/registry/nope/v0.1/x/dev.toolhive/skills",
		"/v0.1/x/dev.toolhive/plugins/io.github.stacklok/none/versions",
	} {
		r := e.get(t, path)
		if r.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, r.status)
		}
		checkProblem(t, path, r)
	}
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func TestArtifactListParameters(t *testing.T) {
	t.Parallel()
	skills := []art{
		{NS: "com.acme", Name: "alpha", Version: "1.0.0", Title: "Alpha Helper"},
		{NS: "com.acme", Name: "alpha", Version: "1.10.0"},
		{NS: "com.acme", Name: "alpha", Version: "1.2.0"},
		{NS: "com.acme", Name: "beta", Version: "0.1.0", Description: "finds STRIPED things", Status: "deprecated"},
		{NS: "com.acme", Name: "gamma", Version: "2.0.0", Status: "archived"},
		{NS: "io.github.x", Name: "delta", Version: "abc123"},
	}
	src := holderSource(t, "acme", artifactDoc(nil, skills, nil))
	e := newEnv(t, envOptions{members: members(src)})
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"com.acme/alpha@1.10.0", "com.acme/beta@0.1.0", "com.acme/gamma@2.0.0", "io.github.x/delta@abc123"}},
		{"?search=striped", []string{"com.acme/beta@0.1.0"}},
		{"?search=ALPHA", []string{"com.acme/alpha@1.10.0"}},
		{"?search=alpha%20help", nil}, // only 1.0.0's title says so: search reads each name's latest version
		{"?search=io.github", []string{"io.github.x/delta@abc123"}},
		{"?status=deprecated,archived", []string{"com.acme/beta@0.1.0", "com.acme/gamma@2.0.0"}},
		{"?status=active", []string{"com.acme/alpha@1.10.0", "io.github.x/delta@abc123"}},
	}
	for _, tt := range tests {
		l := decodeArtifacts(t, e.get(t, "/v0.1/x/dev.toolhive/skills"+tt.query))
		got := ids(l.Skills)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.query, got, tt.want)
		}
	}
	// Versions: highest first.
	l := decodeArtifacts(t, e.get(t, "/v0.1/x/dev.toolhive/skills/com.acme/alpha/versions"))
	if got := ids(l.Skills); !slices.Equal(got, []string{"com.acme/alpha@1.10.0", "com.acme/alpha@1.2.0", "com.acme/alpha@1.0.0"}) {
		t.Errorf("versions: %v", got)
	}
	// Paging: one at a time, the cursor bound to its query.
	var walked []string
	cursor := ""
	for range 10 {
		q := "?limit=1"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		l := decodeArtifacts(t, e.get(t, "/v0.1/x/dev.toolhive/skills"+q))
		walked = append(walked, ids(l.Skills)...)
		if cursor = l.Metadata.NextCursor; cursor == "" {
			break
		}
	}
	if len(walked) != 4 {
		t.Errorf("paged walk: %v", walked)
	}
	first := decodeArtifacts(t, e.get(t, "/v0.1/x/dev.toolhive/skills?limit=1"))
	bad := []string{
		"?limit=0", "?limit=101", "?limit=x", "?status=gone", "?limit=1&limit=2",
		"?cursor=nope",
		"?search=alpha&cursor=" + url.QueryEscape(first.Metadata.NextCursor), // another query's cursor
		"?search=%01",
	}
	for _, q := range bad {
		r := e.get(t, "/v0.1/x/dev.toolhive/skills"+q)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, r.status)
		}
		checkProblem(t, q, r)
	}
}

func TestArtifactMergeRules(t *testing.T) {
	t.Parallel()
	high := holderSource(t, "high", artifactDoc(nil, []art{
		{NS: "com.acme", Name: "shared", Version: "1.0.0", Title: "from high"},
		{NS: "com.other", Name: "squatter", Version: "1.0.0"},
	}, []art{{NS: "com.acme", Name: "plug", Version: "1.0.0"}}))
	low := holderSource(t, "low", artifactDoc(nil, []art{
		{NS: "com.acme", Name: "shared", Version: "2.0.0", Title: "from low"}, // shadowed: never mixed in
		{NS: "com.acme", Name: "own", Version: "1.0.0"},
		{NS: "com.other", Name: "legit", Version: "1.0.0"},
	}, nil))
	live := newFakeLive(t, "live")
	live.artifacts = map[upstream.ArtifactKind][]*upstream.Artifact{
		upstream.Skills: {mustArtifact(t, art{NS: "com.acme", Name: "own", Version: "9.0.0"}), mustArtifact(t, art{NS: "io.live", Name: "remote", Version: "1.0.0"})},
	}
	down := newFakeLive(t, "down")
	down.fail = errors.New("upstream unreachable")
	e := newEnv(t, envOptions{
		members:      []Member{{Source: high}, {Source: low}, {Live: live}, {Live: down}},
		reservations: map[string][]string{"low": {"com.other/*"}},
		views: map[string]*View{
			"lowfirst": {Name: "lowfirst", Sources: []string{"low", "high"}},
			"noacme":   {Name: "noacme", Filter: mustFilter(t, filter.Spec{Names: filter.IncludeExclude{Exclude: []string{"com.acme/*"}}})},
		},
	})
	r := e.get(t, "/v0.1/x/dev.toolhive/skills")
	got := ids(decodeArtifacts(t, r).Skills)
	want := []string{"com.acme/own@1.0.0", "com.acme/shared@1.0.0", "com.other/legit@1.0.0", "io.live/remote@1.0.0"}
	if !slices.Equal(got, want) {
		t.Errorf("root: %v, want %v", got, want)
	}
	if r.header.Get(HeaderComplete) != "false" || !strings.Contains(r.header.Get(HeaderFailedSources), "down") {
		t.Errorf("a failed live source must make the answer partial: %v", r.header)
	}
	if got := ids(decodeArtifacts(t, e.get(t, "/v0.1/x/dev.toolhive/skills/com.acme/shared/versions")).Skills); !slices.Equal(got, []string{"com.acme/shared@1.0.0"}) {
		t.Errorf("shadowed versions: %v", got)
	}
	got = ids(decodeArtifacts(t, e.get(t, "/registry/lowfirst/v0.1/x/dev.toolhive/skills")).Skills)
	want = []string{"com.acme/own@1.0.0", "com.acme/shared@2.0.0", "com.other/legit@1.0.0"}
	if !slices.Equal(got, want) {
		t.Errorf("lowfirst: %v, want %v", got, want)
	}
	got = ids(decodeArtifacts(t, e.get(t, "/registry/noacme/v0.1/x/dev.toolhive/skills")).Skills)
	want = []string{"com.other/legit@1.0.0", "io.live/remote@1.0.0"}
	if !slices.Equal(got, want) {
		t.Errorf("noacme: %v, want %v", got, want)
	}
	if got := ids(decodeArtifacts(t, e.get(t, "/v0.1/x/dev.toolhive/plugins")).Plugins); !slices.Equal(got, []string{"com.acme/plug@1.0.0"}) {
		t.Errorf("plugins: %v", got)
	}

	// Skills a live source serves from stale cache: said, and not cached.
	live.staleArtifacts = true
	r = e.get(t, "/v0.1/x/dev.toolhive/skills?limit=7")
	if !strings.Contains(r.header.Get(HeaderStaleSources), "live") || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("stale skills: %v", r.header)
	}
	live.staleArtifacts = false

	// A required source that fails fails the request.
	e2 := newEnv(t, envOptions{members: []Member{{Source: high}, {Live: down, Required: true}}})
	if r := e2.get(t, "/v0.1/x/dev.toolhive/skills"); r.status != http.StatusBadGateway {
		t.Errorf("required failure: %d %s", r.status, r.body)
	}
}

func mustArtifact(t testing.TB, a art) *upstream.Artifact {
	t.Helper()
	got, err := upstream.NewArtifact(upstream.Skills, a.json())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// toolhiveSchemas validate the skills and plugins answers: ToolHive's own
// schemas for one artifact, wrapped in its list shape for lists.
type toolhiveSchemas struct {
	item, list map[upstream.ArtifactKind]*jsonschema.Schema
}

var (
	thSchemasOnce sync.Once
	thSchemas     *toolhiveSchemas
	thSchemasErr  error
)

func loadToolHiveSchemas(t testing.TB) *toolhiveSchemas {
	t.Helper()
	thSchemasOnce.Do(func() { thSchemas, thSchemasErr = compileToolHiveSchemas() })
	if thSchemasErr != nil {
		t.Fatalf("ToolHive schemas: %v", thSchemasErr)
	}
	return thSchemas
}

func compileToolHiveSchemas() (*toolhiveSchemas, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	s := &toolhiveSchemas{item: map[upstream.ArtifactKind]*jsonschema.Schema{}, list: map[upstream.ArtifactKind]*jsonschema.Schema{}}
	for _, kind := range upstream.ArtifactKinds {
		file := filepath.Join("..", "testdata", "toolhive", kindSingular(kind)+".schema.json")
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		loc := "mem://toolhive/" + string(kind) + ".json"
		if m, ok := doc.(map[string]any); ok {
			delete(m, "$id")
		}
		if err := c.AddResource(loc, doc); err != nil {
			return nil, err
		}
		list := map[string]any{
			"type": "object", "required": []any{string(kind), "metadata"}, "additionalProperties": false,
			"properties": map[string]any{
				string(kind): map[string]any{"type": "array", "items": map[string]any{"$ref": loc}},
				"metadata": map[string]any{
					"type": "object", "required": []any{"count"}, "additionalProperties": false,
					"properties": map[string]any{"count": map[string]any{"type": "integer", "minimum": 0}, "nextCursor": map[string]any{"type": "string", "minLength": 1}},
				},
			},
		}
		listLoc := "mem://toolhive/" + string(kind) + "-list.json"
		if err := c.AddResource(listLoc, list); err != nil {
			return nil, err
		}
		if s.item[kind], err = c.Compile(loc); err != nil {
			return nil, err
		}
		if s.list[kind], err = c.Compile(listLoc); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// toolhiveSchemaFor picks the schema of a skills or plugins answer, nil
// for other paths.
func toolhiveSchemaFor(t testing.TB, p string) *jsonschema.Schema {
	_, rest, ok := strings.Cut(p, ToolHivePath+"/")
	if !ok {
		return nil
	}
	segs := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	kind := upstream.ArtifactKind(segs[0])
	s := loadToolHiveSchemas(t)
	if len(segs) == 1 || len(segs) == 4 && segs[3] == "versions" {
		return s.list[kind]
	}
	return s.item[kind]
}
