package officialtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// modulePath is the official registry's Go module, required by mcpfed's
// go.mod, so its source is in the module cache at the version mcpfed is
// tested against.
const modulePath = "github.com/modelcontextprotocol/registry"

// buildTimeout bounds the first build (module downloads included).
const buildTimeout = 10 * time.Minute

// Binaries are the official registry server and publisher CLI, built from
// the registry module's source.
type Binaries struct {
	// Version is the registry module's version, e.g. v1.8.7.
	Version string
	// Registry is the server (cmd/registry), Publisher the CLI
	// (cmd/publisher, mcp-publisher).
	Registry, Publisher string
}

// Build returns the registry and publisher binaries for the registry module
// version in mcpfed's go.mod, building them on first use into
// os.UserCacheDir()/mcpfed-test/official-<version> (later runs reuse them).
// The module's source is copied from the module cache to a writable
// temporary directory and built there with -mod=mod, so its own
// dependencies come through the module proxy. It fails the test when the go
// tool or the module source is unavailable.
func Build(t testing.TB) Binaries {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	b, err := build(ctx, t.TempDir(), t.Logf)
	if err != nil {
		t.Fatalf("officialtest: %v", err)
	}
	return b
}

func build(ctx context.Context, scratch string, logf func(string, ...any)) (Binaries, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return Binaries{}, fmt.Errorf("find the go tool: %w", err)
	}
	out, err := runQuiet(ctx, exec.CommandContext(ctx, goTool, "list", "-m", "-f", "{{.Dir}}\t{{.Version}}", modulePath))
	if err != nil {
		return Binaries{}, fmt.Errorf("locate %s in the module cache (run `go mod download` in mcpfed): %w", modulePath, err)
	}
	dir, version, ok := strings.Cut(strings.TrimSpace(out), "\t")
	if !ok || dir == "" || version == "" {
		return Binaries{}, fmt.Errorf("go list -m %s: no source directory (%q); run `go mod download`", modulePath, out)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return Binaries{}, fmt.Errorf("find the user cache directory: %w", err)
	}
	dest := filepath.Join(cache, "mcpfed-test", "official-"+version)
	b := Binaries{Version: version, Registry: filepath.Join(dest, "registry"), Publisher: filepath.Join(dest, "mcp-publisher")}
	if executable(b.Registry) && executable(b.Publisher) {
		return b, nil
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("create binary cache: %w", err)
	}
	src := filepath.Join(scratch, "registry-src")
	if err := copyModule(dir, src); err != nil {
		return Binaries{}, err
	}
	start := time.Now()
	for _, target := range []struct{ pkg, out string }{
		{"./cmd/registry", b.Registry},
		{"./cmd/publisher", b.Publisher},
	} {
		// Build beside the final name and rename: another test process
		// building at the same time never sees a half-written binary.
		tmp := target.out + ".tmp-" + strconv.Itoa(os.Getpid())
		cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath",
			"-ldflags", "-X main.Version="+version, "-o", tmp, target.pkg)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
		if _, err := runQuiet(ctx, cmd); err != nil {
			_ = os.Remove(tmp)
			return Binaries{}, fmt.Errorf("build %s %s: %w", modulePath, target.pkg, err)
		}
		if err := os.Rename(tmp, target.out); err != nil {
			return Binaries{}, fmt.Errorf("install %s: %w", target.out, err)
		}
	}
	logf("officialtest: built %s registry and mcp-publisher in %s into %s", version, time.Since(start).Round(time.Second), dest)
	return b, nil
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// runQuiet runs cmd and returns its stdout; on failure the error carries
// stderr.
func runQuiet(ctx context.Context, cmd *exec.Cmd) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return "", fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, lastLines(stderr.String(), 40))
	}
	return stdout.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// copyModule copies the module source (read-only in the module cache) to a
// writable directory, leaving out the documentation tree, which the build
// does not need.
func copyModule(from, to string) error {
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		switch {
		case d.IsDir() && rel == "docs":
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return nil // the module cache holds no links; skip anything odd
		}
		return copyFile(path, target)
	})
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", from, to, err)
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
