package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/mcpfed/mcpfed"
	"github.com/mcpfed/mcpfed/config"
)

// Where the Deployment mounts the ConfigMap and the Secret.
const (
	configDir = "/etc/mcpfed"
	secretDir = "/run/secrets/mcpfed"
)

// exampleLine is a commented-out line of configuration in configmap.yaml:
// "# key: …", "# - key: …" (keys are camelCase), or the indented
// continuation of a block. Prose comments start with a capital letter or
// with words and spaces before any colon, so they never match.
var exampleLine = regexp.MustCompile(`^(\s*)# ((- )?[a-z][a-zA-Z0-9]*:( |$)|  +\S)`)

// uncomment enables every commented-out example of a configuration.
func uncomment(cfg string) string {
	lines := strings.Split(cfg, "\n")
	for i, l := range lines {
		if m := exampleLine.FindStringSubmatch(l); m != nil {
			lines[i] = m[1] + strings.TrimPrefix(l[len(m[1]):], "# ")
		}
	}
	return strings.Join(lines, "\n")
}

func TestUncomment(t *testing.T) {
	t.Parallel()
	in := "a: 1\n# Prose: not code\n  # - name: x\n  #   kind: api\n  #     status: [x]\n# key: v\n# (note)\n"
	want := "a: 1\n# Prose: not code\n  - name: x\n    kind: api\n      status: [x]\nkey: v\n# (note)\n"
	if got := uncomment(in); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// shippedSource is what these tests read of a configured source.
type shippedSource struct {
	Name, Kind, Mode, Path, URL, Order string
	Required                           bool
	MaxBytes                           int64  `yaml:"maxBytes"`
	TokenFile                          string `yaml:"tokenFile"`
	UsernameFile                       string `yaml:"usernameFile"`
	PasswordFile                       string `yaml:"passwordFile"`
	Cache                              struct {
		MaxBytes int64 `yaml:"maxBytes"`
	} `yaml:"cache"`
	Crawl struct {
		MaxBytes int64 `yaml:"maxBytes"`
	} `yaml:"crawl"`
	RateLimit struct {
		PerMinute float64 `yaml:"perMinute"`
	} `yaml:"rateLimit"`
}

type shippedConfig struct {
	CursorKeyFile string `yaml:"cursorKeyFile"`
	ResponseCache struct {
		MaxBytes int64 `yaml:"maxBytes"`
	} `yaml:"responseCache"`
	Admin struct {
		TokenFile string `yaml:"tokenFile"`
	} `yaml:"admin"`
	Sources []shippedSource `yaml:"sources"`
	Auth    struct {
		Tokens []struct {
			TokenFile string `yaml:"tokenFile"`
		} `yaml:"tokens"`
	} `yaml:"auth"`
	Views []struct {
		Name   string `yaml:"name"`
		Access *struct {
			Anonymous bool `yaml:"anonymous"`
		} `yaml:"access"`
	} `yaml:"views"`
}

// files lists every file the configuration names.
func (c shippedConfig) files() []string {
	out := []string{c.CursorKeyFile, c.Admin.TokenFile}
	for _, s := range c.Sources {
		out = append(out, s.Path, s.TokenFile, s.UsernameFile, s.PasswordFile)
	}
	for _, t := range c.Auth.Tokens {
		out = append(out, t.TokenFile)
	}
	return slices.DeleteFunc(out, func(f string) bool { return f == "" || strings.HasPrefix(f, "builtin:") })
}

// variant is one configuration the base ships: as is, or with its
// commented-out examples enabled.
type variant struct {
	name string
	text string
	cfg  shippedConfig
}

func shippedVariants(t *testing.T) []variant {
	t.Helper()
	text := readManifest(t, "configmap.yaml").Data["config.yaml"]
	var out []variant
	for _, v := range []variant{{name: "as shipped", text: text}, {name: "examples enabled", text: uncomment(text)}} {
		if err := yaml.Unmarshal([]byte(v.text), &v.cfg); err != nil {
			t.Fatalf("config.yaml %s: %v", v.name, err)
		}
		out = append(out, v)
	}
	return out
}

// TestShippedConfigAnswersComplete: as shipped, every source is inside the
// cluster (the ConfigMap or the image), so no answer is partial and no
// alert fires; the documented examples add the official registry's mirror.
func TestShippedConfigAnswersComplete(t *testing.T) {
	t.Parallel()
	vs := shippedVariants(t)
	shipped, examples := vs[0].cfg, vs[1].cfg
	cm := readManifest(t, "configmap.yaml")
	builtinNames := 0
	for _, s := range shipped.Sources {
		if s.Kind != "file" {
			t.Errorf("source %s is of kind %s: as shipped, only sources inside the cluster (file) answer for sure", s.Name, s.Kind)
			continue
		}
		if name, ok := strings.CutPrefix(s.Path, "builtin:"); ok {
			builtinNames++
			if !slices.Contains(mcpfed.BuiltinSources, name) {
				t.Errorf("source %s reads %s, which the image does not have (%v)", s.Name, s.Path, mcpfed.BuiltinSources)
			}
		} else if key, ok := strings.CutPrefix(s.Path, configDir+"/"); !ok || cm.Data[key] == "" {
			t.Errorf("source %s reads %s, which the ConfigMap lacks", s.Name, s.Path)
		}
	}
	if builtinNames != len(mcpfed.BuiltinSources) {
		t.Errorf("the shipped configuration serves %d of the %d built-in catalogues", builtinNames, len(mcpfed.BuiltinSources))
	}
	mirror := slices.IndexFunc(examples.Sources, func(s shippedSource) bool {
		return s.Kind == "api" && s.Mode == "mirror" && strings.Contains(s.URL, "registry.modelcontextprotocol.io")
	})
	if mirror < 0 {
		t.Fatal("no commented-out mirror of the official registry")
	}
	if pm := examples.Sources[mirror].RateLimit.PerMinute; pm != 60 {
		t.Errorf("the official registry mirror has rateLimit.perMinute %v, want 60", pm)
	}
	if examples.CursorKeyFile == "" || examples.Admin.TokenFile == "" {
		t.Error("no commented-out cursorKeyFile or admin.tokenFile example")
	}
	// Access control: as shipped every view is anonymous; the example adds
	// a private view named internal and a static token for it.
	for _, v := range shipped.Views {
		if v.Access != nil && !v.Access.Anonymous {
			t.Errorf("as shipped, view %s needs a token", v.Name)
		}
	}
	internal := slices.IndexFunc(examples.Views, func(v struct {
		Name   string `yaml:"name"`
		Access *struct {
			Anonymous bool `yaml:"anonymous"`
		} `yaml:"access"`
	}) bool {
		return v.Name == "internal" && v.Access != nil && !v.Access.Anonymous
	})
	if internal < 0 || len(examples.Auth.Tokens) == 0 || len(shipped.Auth.Tokens) != 0 {
		t.Error("no commented-out private view internal with a static token (or a token enabled as shipped)")
	}

	// Every file either variant names is in the ConfigMap, or is a key of the
	// Secret that secret.yaml tells how to create.
	secretDoc, err := os.ReadFile(filepath.Join("kubernetes", "secret.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	secret := readManifest(t, "secret.yaml")
	for _, v := range vs {
		for _, f := range v.cfg.files() {
			if key, ok := strings.CutPrefix(f, configDir+"/"); ok && cm.Data[key] != "" {
				continue
			}
			key, ok := strings.CutPrefix(f, secretDir+"/")
			switch {
			case !ok:
				t.Errorf("%s: %s is neither in the ConfigMap nor in the Secret's directory", v.name, f)
			case v.name == "as shipped" && secret.StringData[key] == "" && secret.Data[key] == "":
				t.Errorf("%s: %s is not a key of the Secret", v.name, f)
			case !strings.Contains(string(secretDoc), "--from-literal="+key) && !strings.Contains(string(secretDoc), "--from-file="+key):
				t.Errorf("%s: secret.yaml does not show how to create the key %s", v.name, key)
			}
		}
	}
}

// TestShippedConfigLoads: both variants pass mcpfed's own configuration
// validation with the Deployment's environment (so every field and
// MCPFED_* variable is one mcpfed knows), with the ConfigMap's and the
// Secret's files in place.
func TestShippedConfigLoads(t *testing.T) {
	t.Parallel()
	_, _, c := readDeployment(t)
	cm := readManifest(t, "configmap.yaml")
	for _, v := range shippedVariants(t) {
		dir := t.TempDir()
		cfgDir, secDir := filepath.Join(dir, "config"), filepath.Join(dir, "secrets")
		for _, d := range []string{cfgDir, secDir} {
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		for key, data := range cm.Data {
			if err := os.WriteFile(filepath.Join(cfgDir, key), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range v.cfg.files() {
			if key, ok := strings.CutPrefix(f, secretDir+"/"); ok {
				// A secret as the operator creates it: 64 hex digits.
				if err := os.WriteFile(filepath.Join(secDir, key), []byte(strings.Repeat("5e", 32)+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		text := strings.NewReplacer(configDir+"/", cfgDir+"/", secretDir+"/", secDir+"/").Replace(v.text)
		file := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		env["MCPFED_CONFIG"] = file
		env["MCPFED_STATE_DIR"] = filepath.Join(dir, "state")
		cfg, err := config.Load(env, config.Flags{})
		if err != nil {
			t.Errorf("%s: %v", v.name, err)
			continue
		}
		if len(cfg.Sources) != len(v.cfg.Sources) {
			t.Errorf("%s: %d sources loaded, %d written", v.name, len(cfg.Sources), len(v.cfg.Sources))
		}
	}
}
