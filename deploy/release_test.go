package deploy

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const releaseWorkflow = "../.github/workflows/release.yaml"

type workflow struct {
	On struct {
		Push struct {
			Tags     []string `yaml:"tags"`
			Branches []string `yaml:"branches"`
		} `yaml:"push"`
		PullRequest any `yaml:"pull_request"`
	} `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]struct {
		Env   map[string]string `yaml:"env"`
		Steps []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// TestReleaseWorkflow: a tag v* builds deploy/Dockerfile with the version
// and the commit and pushes it to the registry the manifests pull from,
// under the tag and latest; the workflow may write packages and nothing
// else.
func TestReleaseWorkflow(t *testing.T) {
	t.Parallel()
	w := readYAML[workflow](t, releaseWorkflow)
	if len(w.On.Push.Tags) == 0 || len(w.On.Push.Branches) > 0 || w.On.PullRequest != nil {
		t.Errorf("trigger %+v: want push of tags only", w.On)
	}
	for _, tc := range []struct {
		tag  string
		want bool
	}{{"v1.2.3", true}, {"v0.1.0-rc.1", true}, {"nightly", false}} {
		matched := slices.ContainsFunc(w.On.Push.Tags, func(p string) bool { ok, _ := path.Match(p, tc.tag); return ok })
		if matched != tc.want {
			t.Errorf("tag %s triggers the release: %v", tc.tag, matched)
		}
	}
	if w.Permissions["packages"] != "write" {
		t.Errorf("permissions %v: the image push needs packages: write", w.Permissions)
	}
	for scope, level := range w.Permissions {
		if scope != "packages" && level != "read" && level != "none" {
			t.Errorf("permissions: %s: %s, want read at most", scope, level)
		}
	}

	_, _, c := readDeployment(t)
	image, _, _ := strings.Cut(c.Image, ":")
	var builds, logins int
	for _, job := range w.Jobs {
		expand := strings.NewReplacer("${{ env.IMAGE }}", job.Env["IMAGE"]).Replace
		for _, s := range job.Steps {
			action, _, _ := strings.Cut(s.Uses, "@")
			switch action {
			case "docker/login-action":
				logins++
				if s.With["registry"] != "ghcr.io" || !strings.Contains(s.With["password"], "secrets.GITHUB_TOKEN") {
					t.Errorf("login %v: want ghcr.io with GITHUB_TOKEN", s.With)
				}
			case "docker/build-push-action":
				builds++
				if s.With["file"] != "deploy/Dockerfile" || s.With["context"] != "." || s.With["push"] != "true" {
					t.Errorf("build %v: want file deploy/Dockerfile, context ., push true", s.With)
				}
				if _, err := os.Stat(filepath.Join("..", s.With["file"])); err != nil {
					t.Error(err)
				}
				args := strings.Fields(s.With["build-args"])
				for _, want := range []string{"VERSION=${{ github.ref_name }}", "COMMIT=${{ github.sha }}"} {
					if !slices.Contains(joinExpr(args), want) {
						t.Errorf("build-args %q lack %s", s.With["build-args"], want)
					}
				}
				tags := joinExpr(strings.Fields(expand(s.With["tags"])))
				for _, want := range []string{image + ":${{ github.ref_name }}", image + ":latest"} {
					if !slices.Contains(tags, want) {
						t.Errorf("tags %q lack %s (the Deployment pulls %s)", s.With["tags"], want, image)
					}
				}
			}
		}
	}
	if builds != 1 || logins != 1 {
		t.Errorf("%d build-push and %d login steps, want one each", builds, logins)
	}
}

// joinExpr undoes strings.Fields inside ${{ … }} expressions.
func joinExpr(fields []string) []string {
	var out []string
	open := false
	for _, f := range fields {
		if open {
			out[len(out)-1] += " " + f
		} else {
			out = append(out, f)
		}
		open = strings.Count(out[len(out)-1], "${{") > strings.Count(out[len(out)-1], "}}")
	}
	return out
}

// TestImageReportsVersionAndCommit: the Dockerfile and the Makefile stamp
// the binary's version and commit, from build arguments the workflow sets.
func TestImageReportsVersionAndCommit(t *testing.T) {
	t.Parallel()
	stages := dockerStages(t, "Dockerfile")
	args := map[string]bool{}
	var build string
	for _, in := range stages[0] {
		switch in.cmd {
		case "ARG":
			name, _, _ := strings.Cut(in.args, "=")
			args[name] = true
		case "RUN":
			if strings.Contains(in.args, "go build") {
				build = in.args
			}
		}
	}
	for _, want := range []string{"VERSION", "COMMIT"} {
		if !args[want] {
			t.Errorf("the build stage declares no ARG %s", want)
		}
	}
	for _, want := range []string{"-X main.version=${VERSION}", "-X main.commit=${COMMIT}"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build %q lacks %s", build, want)
		}
	}
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	ldflags := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=.*$`).Find(makefile)
	for _, want := range []string{"-X main.version=", "-X main.commit="} {
		if !strings.Contains(string(ldflags), want) {
			t.Errorf("the Makefile's LDFLAGS %q lack %s", ldflags, want)
		}
	}
}

func TestJoinExpr(t *testing.T) {
	t.Parallel()
	got := joinExpr(strings.Fields("a:${{ github.ref_name }} b ${{ x }}"))
	if want := []string{"a:${{ github.ref_name }}", "b", "${{ x }}"}; !slices.Equal(got, want) {
		t.Errorf("%q", got)
	}
}
