package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// toolHiveExamples are toolhive-registry-server's example configurations.
func toolHiveExamples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "toolhive", "configs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	return files
}

// mapToolHive reads data as a ToolHive file named origin, without
// defaults or validation: what the file says, and nothing else.
func mapToolHive(t *testing.T, origin, data string) (Config, *ToolHiveMapping, []error) {
	t.Helper()
	doc, ok := toolHiveDocument([]byte(data))
	if !ok {
		t.Fatalf("%s: not recognised as a toolhive-registry-server configuration", origin)
	}
	var cfg Config
	m, probs := readToolHive(origin, doc, &cfg, map[string]position{})
	return cfg, m, probs
}

// renderMapped is the golden form: the mapping, then the mcpfed
// configuration it gives, as mcpfed's own file would say it.
func renderMapped(t *testing.T, cfg Config, m *ToolHiveMapping) []byte {
	t.Helper()
	return []byte(m.Describe() + mcpfedFile(t, cfg))
}

// mcpfedFile is cfg's sources, views and auth as mcpfed's own file.
func mcpfedFile(t *testing.T, cfg Config) string {
	t.Helper()
	sources, err := MarshalSources(cfg.Sources)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := MarshalViewsAndAuth(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return "sources:\n" + string(sources) + string(rest)
}

func TestToolHiveGolden(t *testing.T) {
	t.Parallel()
	for _, path := range toolHiveExamples(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, m, probs := mapToolHive(t, filepath.Base(path), string(data))
			if err := errors.Join(probs...); err != nil {
				t.Fatalf("problems:\n%v", err)
			}
			got := renderMapped(t, cfg, m)
			golden := filepath.Join("..", "testdata", "golden", "toolhive-config", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -run ToolHiveGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file; got:\n%s", name, got)
			}
		})
	}
}

// TestToolHiveExamplesLoad: every example is a valid configuration for
// mcpfed as it is, with its warnings on the side.
func TestToolHiveExamplesLoad(t *testing.T) {
	t.Parallel()
	for _, path := range toolHiveExamples(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(env(EnvConfig, path), Flags{})
			if err != nil {
				t.Fatalf("problems:\n%s", strings.Join(Errors(err), "\n"))
			}
			m := cfg.ToolHive()
			if m == nil || m.Origin != path {
				t.Fatalf("not read as a ToolHive file: %+v", m)
			}
			for _, w := range cfg.Warnings() {
				if !strings.HasPrefix(w, path+":") {
					t.Errorf("warning without its place: %s", w)
				}
			}
			if strings.Contains(path, "single-source") {
				return
			}
			if root := cfg.RootView(); root.Name != DefaultView || len(root.Sources) == 0 {
				t.Errorf("the registry named default is not the root: %+v", root)
			}
		})
	}
}

// TestToolHiveRoundTrip: the mapped configuration, written as mcpfed's
// own file, loads to the same sources, views and auth.
func TestToolHiveRoundTrip(t *testing.T) {
	t.Parallel()
	for _, path := range toolHiveExamples(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			thv, err := Load(env(EnvConfig, path), Flags{})
			if err != nil {
				t.Fatal(err)
			}
			file := writeFile(t, "mcpfed.yaml", mcpfedFile(t, thv))
			own, err := Load(env(EnvConfig, file), Flags{})
			if err != nil {
				t.Fatalf("%v\n%s", err, mustRead(t, file))
			}
			if own.ToolHive() != nil {
				t.Fatal("mcpfed's own file read as ToolHive's")
			}
			a, b := mcpfedFile(t, own), mcpfedFile(t, thv)
			if a != b || own.RootView().Private() != thv.RootView().Private() {
				t.Errorf("differs:\n%s\nwant:\n%s", a, b)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestToolHiveDetection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		want      bool
	}{
		{"multi-source", "sources:\n  - name: a\n    file: {path: /a.json}\n", true},
		{"kubernetes block", "sources:\n  - name: k\n    kubernetes: {}\n", true},
		{"registries", "registries:\n  - name: r\n    sources: [a]\n", true},
		{"single-source", "registryName: r\nsource: {type: file, file: {path: /a}}\n", true},
		{"auth mode", "auth: {mode: anonymous}\n", true},
		{"database", "database: {host: db}\n", true},
		{"mcpfed source", "sources:\n  - name: a\n    kind: file\n    path: /a.json\n", false},
		{"mcpfed source beside a block", "sources:\n  - name: a\n    kind: file\n    file: {path: /a}\n", false},
		{"mcpfed views", "views: [{name: v}]\nregistries: []\n", false},
		{"mcpfed auth", "auth: {oidc: [{name: a, issuer: https://i, audience: x}]}\n", false},
		{"empty", "", false},
		{"list", "- a\n", false},
		{"syntax", "sources: [\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, got := toolHiveDocument([]byte(tc.doc)); got != tc.want {
				t.Errorf("recognised = %v, want %v", got, tc.want)
			}
		})
	}
}
