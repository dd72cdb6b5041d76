package toolhivetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/mcpfedtest"
)

// EnvGate opts in to the tests that run thv (make test-toolhive).
const EnvGate = "MCPFED_TEST_TOOLHIVE"

// Enabled reports whether the tests that run thv are opted in.
func Enabled() bool { return os.Getenv(EnvGate) == "1" }

// Module is ToolHive's Go module; its CLI is the package Module+"/cmd/thv".
const Module = "github.com/stacklok/toolhive"

// Version is the ToolHive release built and tested against. v0.47.0 is the
// newest whose whole dependency graph the Go module proxy serves here
// (v0.55.1 to v0.63.0 need module versions it refuses, and Go 1.27), it
// builds with the Go in go.mod, and its built-in registry is the same
// toolhive-catalog release (v0.20260908.0) as mcpfed's built-in catalogue,
// so the two can be compared byte for byte. MCPFED_THV_VERSION overrides it.
const Version = "v0.47.0"

// EnvVersion overrides Version (a newer release may need
// GOTOOLCHAIN=go1.27.3 in the environment to build).
const EnvVersion = "MCPFED_THV_VERSION"

// buildTimeout bounds the first build, module downloads included (about
// five minutes on two idle cores, eleven on busy ones).
const buildTimeout = 20 * time.Minute

// Build returns the thv binary for Version (or MCPFED_THV_VERSION),
// building it on first use into os.UserCacheDir()/mcpfed-thv/<version>/thv.
// It fails the test when the go tool is missing or the build fails.
func Build(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	version := Version
	if v := os.Getenv(EnvVersion); v != "" {
		version = v
	}
	start := time.Now()
	bin, built, err := build(ctx, version)
	if err != nil {
		t.Fatalf("toolhivetest: %v", err)
	}
	if built {
		t.Logf("toolhivetest: built thv %s in %s into %s", version, time.Since(start).Round(time.Second), bin)
	}
	return bin
}

// build installs thv at version into the cache unless it is there already;
// built reports whether it had to.
func build(ctx context.Context, version string) (bin string, built bool, err error) {
	if !validVersion(version) {
		return "", false, fmt.Errorf("thv version %q: want a module version such as v0.47.0", version)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", false, fmt.Errorf("find the user cache directory: %w", err)
	}
	dest := filepath.Join(cache, "mcpfed-thv", version)
	bin = filepath.Join(dest, "thv")
	if executable(bin) {
		return bin, false, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", false, fmt.Errorf("find the go tool: %w", err)
	}
	// go install writes into its own directory beside the final one and
	// the binary is renamed into place: a test process building at the
	// same time never runs a half-written thv.
	tmp := filepath.Join(dest, ".tmp-"+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", false, fmt.Errorf("create the thv cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	ldflags := "-s -w -X " + Module + "/pkg/versions.Version=" + version
	cmd := exec.CommandContext(ctx, goTool, "install", "-trimpath", "-ldflags", ldflags, Module+"/cmd/thv@"+version)
	// Outside any module, so mcpfed's go.mod and a go.work play no part;
	// GOFLAGS is cleared so a -mod setting meant for mcpfed cannot break
	// the install.
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=0")
	if err := mcpfedtest.RunQuiet(ctx, cmd); err != nil {
		return "", false, fmt.Errorf("build thv %s: %w", version, err)
	}
	if err := os.Rename(filepath.Join(tmp, "thv"), bin); err != nil {
		return "", false, fmt.Errorf("install %s: %w", bin, err)
	}
	return bin, true, nil
}

// validVersion accepts what a module version can look like and nothing
// that could be read as a flag or a path.
func validVersion(v string) bool {
	if len(v) < 2 || len(v) > 64 || v[0] != 'v' {
		return false
	}
	for _, r := range v[1:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-' || r == '+') {
			return false
		}
	}
	return true
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
