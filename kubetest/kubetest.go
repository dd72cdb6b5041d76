// Package kubetest runs a real, throwaway Kubernetes API server for tests:
// ../shared/tools/kube-apiserver.sh (kube-apiserver built from the Go module
// proxy and cached, etcd from Debian's etcd-server package), listening only
// on 127.0.0.1 on a free port, stopped when the test ends.
//
//	c := kubetest.Start(t)
//	c.CreateNamespace(t, "tools")
//	c.CreateServiceAccount(t, "tools", "ci")
//	tok := c.Token(t, "tools", "ci", "mcpfed")
//
// The helpers speak to the API server with plain net/http, trusting the
// cluster's CA and sending the admin bearer (system:masters): no client-go,
// no kubectl. Nothing but the API server and etcd runs: no controllers, no
// nodes, so service accounts are created explicitly and nothing is scheduled.
//
// Tests using it are opt-in: Start skips unless MCPFED_TEST_K8S=1, so
// `make test` never builds kube-apiserver (`make test-k8s` does). Once
// opted in, anything missing (the script, bash, go, openssl, curl, etcd or
// a way to install it) fails the test with a message saying what to do.
//
// The first start builds kube-apiserver (4.5 minutes measured on 2 cores
// with empty Go caches, allow 10; seconds when Go's build cache is warm);
// the binary is cached under $MCPFED_K8S_CACHE, else $XDG_CACHE_HOME/mcpfed-k8s,
// else ~/.cache/mcpfed-k8s. Run the tests with -timeout 30m, or build
// ahead with `kube-apiserver.sh build`.
package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment variables the harness reads.
const (
	// EnvGate must be "1" for Start to run a cluster; otherwise it skips.
	EnvGate = "MCPFED_TEST_K8S"
	// EnvScript overrides where kube-apiserver.sh is found.
	EnvScript = "MCPFED_KUBE_APISERVER_SH"
)

// Audience is the audience mcpfed's tests ask tokens for.
const Audience = "mcpfed"

// TokenExpiration is the lifetime Token asks for: the API server's minimum.
const TokenExpiration = 600 * time.Second

// IssuerDiscoveryRole is the ClusterRole that lets a caller read the
// issuer's discovery document and keys.
const IssuerDiscoveryRole = "system:service-account-issuer-discovery"

// Bounds of the harness's own waits.
const (
	buildTimeout   = 25 * time.Minute
	startTimeout   = 3 * time.Minute
	stopTimeout    = 30 * time.Second
	requestTimeout = 15 * time.Second
	rbacTimeout    = 10 * time.Second
	waitDelay      = 5 * time.Second
	startTries     = 2
	maxResponse    = 4 << 20
	scriptRelPath  = "../shared/tools/kube-apiserver.sh"
)

// Cluster is a running API server and its etcd.
type Cluster struct {
	// Server is the API server's URL, https://127.0.0.1:Port; it is also
	// the service-account token issuer.
	Server string
	Port   int
	// CAFile is the PEM certificate the API server serves (self-signed).
	CAFile string
	// Kubeconfig is an admin (system:masters) kubeconfig for kubectl.
	Kubeconfig string
	// Dir holds the cluster's files: etcd data, certificates, logs.
	Dir string
	// BuildTime is how long finding or building kube-apiserver took;
	// StartTime how long starting etcd and the API server took.
	BuildTime, StartTime time.Duration

	script string
	admin  string // the admin bearer; never logged
	client *http.Client
}

// Enabled reports whether the Kubernetes tests are opted in.
func Enabled() bool { return os.Getenv(EnvGate) == "1" }

// Start runs a cluster, stopped when the test ends. It skips the test
// unless MCPFED_TEST_K8S=1, and fails it when a prerequisite is missing.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if !Enabled() {
		t.Skipf("kubetest: set %s=1 to run tests against a real kube-apiserver (make test-k8s)", EnvGate)
		return nil
	}
	script, err := FindScript()
	if err != nil {
		t.Fatalf("kubetest: %v", err)
		return nil
	}
	if err := checkTools(); err != nil {
		t.Fatalf("kubetest: %v", err)
		return nil
	}
	c := &Cluster{script: script}

	began := time.Now()
	bin, err := c.build(t)
	c.BuildTime = time.Since(began)
	if err != nil {
		t.Fatalf("kubetest: build kube-apiserver: %v", err)
		return nil
	}
	t.Logf("kubetest: kube-apiserver %s (found or built in %s)", bin, c.BuildTime.Round(time.Millisecond))

	began = time.Now()
	var lastErr error
	for try := range startTries {
		if lastErr = c.start(t, try); lastErr == nil {
			break
		}
		t.Logf("kubetest: start attempt %d failed: %v", try+1, lastErr)
	}
	c.StartTime = time.Since(began)
	if lastErr != nil {
		t.Fatalf("kubetest: start kube-apiserver: %v", lastErr)
		return nil
	}
	t.Logf("kubetest: API server %s ready in %s", c.Server, c.StartTime.Round(time.Millisecond))
	return c
}

// FindScript returns kube-apiserver.sh: $MCPFED_KUBE_APISERVER_SH when set,
// else ../shared/tools/kube-apiserver.sh relative to the module root (the
// first directory holding go.mod, walking up from the working directory).
func FindScript() (string, error) {
	if p := os.Getenv(EnvScript); p != "" {
		if err := isFile(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvScript, p, err)
		}
		return filepath.Abs(p)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isFile(filepath.Join(dir, "go.mod")) == nil {
			p := filepath.Join(dir, filepath.FromSlash(scriptRelPath))
			if err := isFile(p); err != nil {
				return "", fmt.Errorf("kube-apiserver.sh not found at %s (module root %s); set %s to its path", p, dir, EnvScript)
			}
			return p, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod above %s to find %s from; set %s", wd, scriptRelPath, EnvScript)
		}
	}
}

func isFile(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	return nil
}

// checkTools reports what the script needs and cannot find. etcd may be
// missing when the script can install it (root with apt-get).
func checkTools() error {
	var missing []string
	for _, tool := range []string{"bash", "go", "openssl", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		if _, aptErr := exec.LookPath("apt-get"); aptErr != nil || os.Geteuid() != 0 {
			missing = append(missing, "etcd (Debian: apt-get install etcd-server)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s=1 but missing from PATH: %s", EnvGate, strings.Join(missing, ", "))
	}
	return nil
}

// command runs the script in a process group of its own, so a timeout ends
// everything it started (go build, etcd, kube-apiserver), not just bash.
func (c *Cluster) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", append([]string{c.script}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	return cmd
}

// build finds or builds kube-apiserver, bounded by buildTimeout and by the
// test's own deadline.
func (c *Cluster) build(t testing.TB) (string, error) {
	bound := buildTimeout
	if d, ok := testDeadline(t); ok {
		if left := time.Until(d) - 30*time.Second; left < bound {
			bound = left
		}
	}
	if bound <= 0 {
		return "", errors.New("no time left before the test deadline")
	}
	t.Logf("kubetest: finding or building kube-apiserver (a first build takes minutes; bound %s)", bound.Round(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := c.command(ctx, "build")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("not done within %s: run the tests with -timeout 30m, or build first with `%s build`\n%s",
				bound.Round(time.Second), c.script, tail(stderr.String(), 4000))
		}
		return "", fmt.Errorf("%w\n%s", err, tail(stderr.String(), 4000))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return lines[len(lines)-1], nil
}

// testDeadline is t.Deadline for the *testing.T that has it.
func testDeadline(t testing.TB) (time.Time, bool) {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		return d.Deadline()
	}
	return time.Time{}, false
}

// start runs `kube-apiserver.sh start DIR PORT` in a fresh directory and
// reads what it wrote.
func (c *Cluster) start(t testing.TB, try int) error {
	dir := filepath.Join(t.TempDir(), "cluster"+strconv.Itoa(try))
	port, err := freePorts(3) // the API server, etcd's client and peer ports
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := c.command(ctx, "start", dir, strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	// Registered even after a failure: the script stops what it started
	// when the API server does not become ready, but not when it is killed.
	pgid := 0
	if cmd.Process != nil {
		pgid = cmd.Process.Pid
	}
	t.Cleanup(func() { c.stop(t, dir, pgid) })
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("not ready within %s", startTimeout)
		}
		return fmt.Errorf("%w\n%s\napiserver.log (end):\n%s", err, tail(out.String(), 2000), tail(readFile(filepath.Join(dir, "apiserver.log")), 4000))
	}
	env, err := readEnv(filepath.Join(dir, "env"))
	if err != nil {
		return err
	}
	c.Dir, c.Port = dir, port
	c.Server, c.CAFile, c.Kubeconfig = env["K8S_SERVER"], env["K8S_CA"], env["KUBECONFIG"]
	if want := "https://127.0.0.1:" + strconv.Itoa(port); c.Server != want {
		return fmt.Errorf("env: K8S_SERVER is %q, want %q", c.Server, want)
	}
	if c.admin, err = adminToken(dir, c.Kubeconfig); err != nil {
		return err
	}
	if c.client, err = newClient(c.CAFile); err != nil {
		return err
	}
	t.Cleanup(c.client.CloseIdleConnections)
	return nil
}

// stop runs `kube-apiserver.sh stop DIR` (bounded), then kills whatever is
// left of the start script's process group.
func (c *Cluster) stop(t testing.TB, dir string, pgid int) {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	cmd := c.command(ctx, "stop", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("kubetest: stop %s: %v\n%s", dir, err, out)
	}
	if pgid > 0 {
		// ESRCH when the group is gone, which is the normal case.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// freePorts returns the first of n consecutive ports free on 127.0.0.1
// right now (the script puts etcd on the next two).
func freePorts(n int) (int, error) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find a free port: %w", err)
		}
		first := ln.Addr().(*net.TCPAddr).Port
		held := []net.Listener{ln}
		ok := first+n-1 <= 65535
		for p := first + 1; ok && p < first+n; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			_ = l.Close()
		}
		if ok {
			return first, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports on 127.0.0.1", n)
}

// readEnv reads the script's `export K=V` lines.
func readEnv(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the cluster's env file: %w", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{"KUBECONFIG", "K8S_SERVER", "K8S_CA"} {
		if env[k] == "" {
			return nil, fmt.Errorf("%s: no %s", path, k)
		}
	}
	return env, nil
}

// kubeconfigToken finds the admin user's token in the script's kubeconfig.
const kubeconfigToken = `user:\s*\{\s*token:\s*"([^"]+)"`

// adminToken reads the admin bearer: tokens.csv's first field, else the
// kubeconfig's user token.
func adminToken(dir, kubeconfig string) (string, error) {
	if b, err := os.ReadFile(filepath.Join(dir, "tokens.csv")); err == nil {
		line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		if tok, _, ok := strings.Cut(line, ","); ok && tok != "" {
			return tok, nil
		}
	}
	b, err := os.ReadFile(kubeconfig)
	if err != nil {
		return "", fmt.Errorf("admin token: no tokens.csv and %w", err)
	}
	if m := regexp.MustCompile(kubeconfigToken).FindSubmatch(b); m != nil {
		return string(m[1]), nil
	}
	return "", fmt.Errorf("admin token: neither %s nor %s holds one", filepath.Join(dir, "tokens.csv"), kubeconfig)
}

// newClient trusts only the cluster's CA.
func newClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster CA: %s holds no PEM certificate", caFile)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		Proxy:               nil, // loopback only: never a proxy from the environment
		TLSHandshakeTimeout: requestTimeout,
		MaxIdleConnsPerHost: 4,
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}, nil
}

// Log returns the end of the API server's log (for failure messages).
func (c *Cluster) Log() string {
	return tail(readFile(filepath.Join(c.Dir, "apiserver.log")), 8000)
}

func readFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
