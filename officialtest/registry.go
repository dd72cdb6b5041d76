package officialtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mcpfed/mcpfed/pgtest"
)

// Bounds of the harness's waits.
const (
	readyTimeout   = 60 * time.Second
	stopTimeout    = 10 * time.Second
	publishTimeout = 30 * time.Second
	requestTimeout = 10 * time.Second
)

// Options configures Start.
type Options struct {
	// Collation of the registry's database: pgtest.CollationC (default) or
	// pgtest.CollationICUEnUS.
	Collation string
	// Binaries to run; Build's when zero.
	Binaries Binaries
	// Seed and Publish replace SeedVersions and PublishVersions when not
	// nil.
	Seed, Publish []Version
}

// Registry is a running official registry.
type Registry struct {
	// URL is its base URL (http://127.0.0.1:<port>).
	URL string
	// Collation of its database.
	Collation string
	// Versions is everything seeded and published, Entries its count as
	// the registry lists it with include_deleted=true.
	Versions []Version
	// SeededAt is a time after the seed import and before the first
	// publication (for updated_since queries).
	SeededAt time.Time

	bin     Binaries
	home    string
	logFile string
	cmd     *exec.Cmd
	exited  chan struct{}
	client  *http.Client
}

// Start runs the official registry on 127.0.0.1 against a fresh pgtest
// database with the given collation, seeded from a local file and then
// given PublishVersions through mcp-publisher (`login none`, `publish`,
// `status`). It is stopped when the test ends. Nothing it runs reaches
// beyond the loopback interface: registry validation is off, the seed is a
// file, and outbound HTTP goes to a proxy that refuses.
func Start(t testing.TB, opts Options) *Registry {
	t.Helper()
	if opts.Collation == "" {
		opts.Collation = pgtest.CollationC
	}
	if opts.Binaries.Registry == "" {
		opts.Binaries = Build(t)
	}
	seed, publish := opts.Seed, opts.Publish
	if seed == nil {
		seed = SeedVersions()
	}
	if publish == nil {
		publish = PublishVersions()
	}
	cluster := pgtest.Start(t, pgtest.Options{})
	dsn := cluster.CreateDatabase(t, "registry", opts.Collation)

	dir := t.TempDir()
	r := &Registry{
		Collation: opts.Collation,
		bin:       opts.Binaries,
		home:      filepath.Join(dir, "home"),
		logFile:   filepath.Join(dir, "registry.log"),
		client:    &http.Client{Timeout: requestTimeout},
	}
	t.Cleanup(r.client.CloseIdleConnections)
	if err := os.MkdirAll(r.home, 0o700); err != nil {
		t.Fatalf("officialtest: %v", err)
	}
	seedFile := filepath.Join(dir, "seed.json")
	if err := writeSeed(seedFile, seed); err != nil {
		t.Fatalf("officialtest: %v", err)
	}
	if err := r.start(t, dsn, seedFile); err != nil {
		t.Fatalf("officialtest: start registry: %v\nregistry log:\n%s", err, r.Log())
	}
	if n, err := r.count(); err != nil || n != len(seed) {
		t.Fatalf("officialtest: registry lists %d entries after the seed import, want %d (err %v)\nregistry log:\n%s", n, len(seed), err, r.Log())
	}
	r.Versions = append(r.Versions, seed...)
	// The seed was imported before the registry listened, and publishing
	// starts a process per version: both lie well apart from this instant.
	r.SeededAt = time.Now().UTC()
	if err := r.publish(publish); err != nil {
		t.Fatalf("officialtest: %v\nregistry log:\n%s", err, r.Log())
	}
	r.Versions = append(r.Versions, publish...)
	return r
}

func writeSeed(path string, vs []Version) error {
	docs := make([]json.RawMessage, len(vs))
	for i, v := range vs {
		docs[i] = v.ServerJSON()
	}
	b, err := json.MarshalIndent(docs, "", "  ")
	if err != nil {
		return fmt.Errorf("encode seed: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write seed: %w", err)
	}
	return nil
}

// env is the registry's and the publisher's whole environment: nothing
// leaks in from the caller, and outbound HTTP meets a refusing proxy (the
// discard port on loopback) unless it goes to loopback.
func (r *Registry) env(extra ...string) []string {
	return append([]string{
		"PATH=/usr/bin:/bin",
		"HOME=" + r.home,
		"TZ=UTC",
		"HTTP_PROXY=http://127.0.0.1:9",
		"HTTPS_PROXY=http://127.0.0.1:9",
		"NO_PROXY=127.0.0.1,localhost",
	}, extra...)
}

func (r *Registry) start(t testing.TB, dsn, seedFile string) error {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // never fails (crypto/rand)
	port, err := pgtest.FreePort()
	if err != nil {
		return err
	}
	log, err := os.Create(r.logFile)
	if err != nil {
		return fmt.Errorf("create log: %w", err)
	}
	defer log.Close()
	// Not CommandContext: the server outlives this call; stop ends it.
	r.cmd = exec.Command(r.bin.Registry)
	r.cmd.Env = r.env(
		"MCP_REGISTRY_SERVER_ADDRESS=127.0.0.1:"+strconv.Itoa(port),
		"MCP_REGISTRY_DATABASE_URL="+dsn,
		"MCP_REGISTRY_DATABASE_MAX_CONNECTIONS=8",
		"MCP_REGISTRY_DATABASE_MIN_CONNECTIONS=1",
		"MCP_REGISTRY_SEED_FROM="+seedFile,
		"MCP_REGISTRY_JWT_PRIVATE_KEY="+hex.EncodeToString(key),
		"MCP_REGISTRY_ENABLE_ANONYMOUS_AUTH=true",
		"MCP_REGISTRY_ENABLE_REGISTRY_VALIDATION=false",
		"MCP_REGISTRY_VERSION="+r.bin.Version,
	)
	r.cmd.Dir = filepath.Dir(r.logFile)
	r.cmd.Stdout, r.cmd.Stderr = log, log
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", r.bin.Registry, err)
	}
	r.exited = make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.stop)
	r.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	return r.waitReady()
}

// waitReady polls /v0.1/health; the registry imports the seed before it
// listens, so ready means seeded.
func (r *Registry) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		resp, err := r.client.Get(r.URL + "/v0.1/health")
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-r.exited:
			return errors.New("registry exited during start")
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("registry not healthy after %s", readyTimeout)
}

// stop sends SIGTERM (graceful shutdown), then kills the process group
// after the bound.
func (r *Registry) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		return
	case <-time.After(stopTimeout):
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-r.exited:
	case <-time.After(stopTimeout):
	}
}

// Log returns the registry's output so far.
func (r *Registry) Log() string {
	b, err := os.ReadFile(r.logFile)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return lastLines(string(b), 200)
}

// count walks the full listing with include_deleted and counts entries.
func (r *Registry) count() (int, error) {
	n, cursor := 0, ""
	for range 1000 {
		u := r.URL + "/v0.1/servers?limit=100&include_deleted=true"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Servers  []json.RawMessage `json:"servers"`
			Metadata struct {
				NextCursor string `json:"nextCursor"`
			} `json:"metadata"`
		}
		if err := r.getJSON(u, &page); err != nil {
			return n, err
		}
		n += len(page.Servers)
		if page.Metadata.NextCursor == "" || len(page.Servers) == 0 {
			return n, nil
		}
		cursor = page.Metadata.NextCursor
	}
	return n, errors.New("listing did not end within 1000 pages")
}

func (r *Registry) getJSON(u string, into any) error {
	resp, err := r.client.Get(u)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("decode %s: %w", u, err)
	}
	return nil
}

// publish logs in anonymously and publishes each version with
// mcp-publisher, then applies the statuses.
func (r *Registry) publish(vs []Version) error {
	if len(vs) == 0 {
		return nil
	}
	if err := r.publisher(r.home, "login", "none", "--registry", r.URL); err != nil {
		return err
	}
	for i, v := range vs {
		dir := filepath.Join(r.home, "publish-"+strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("publish %s@%s: %w", v.Name, v.Version, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "server.json"), v.ServerJSON(), 0o600); err != nil {
			return fmt.Errorf("publish %s@%s: %w", v.Name, v.Version, err)
		}
		if err := r.publisher(dir, "publish", "server.json"); err != nil {
			return err
		}
	}
	for _, v := range vs {
		if v.Status == "" || v.Status == "active" {
			continue
		}
		args := []string{"status", "--status", v.Status}
		if v.StatusMessage != "" {
			args = append(args, "--message", v.StatusMessage)
		}
		if err := r.publisher(r.home, append(args, v.Name, v.Version)...); err != nil {
			return err
		}
	}
	return nil
}

func (r *Registry) publisher(dir string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin.Publisher, args...)
	cmd.Dir = dir
	cmd.Env = r.env()
	cmd.Stdin = nil // never waits for a confirmation
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("mcp-publisher %v: %w\n%s", args, err, out)
	}
	return nil
}
