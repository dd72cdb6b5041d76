package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcpfed/mcpfed/config"
	"github.com/mcpfed/mcpfed/upstream/remote"
)

// child is a process the load command started. Every child is registered
// so that killChildren can end them all on any exit path (error, panic,
// signal); Linux's parent-death signal is set as a last resort.
type child struct {
	name    string
	cmd     *exec.Cmd
	pid     int
	started time.Time
	logPath string
	logFile *os.File

	exited  chan struct{} // closed when the process has been waited for
	waitErr error
}

var children struct {
	mu  sync.Mutex
	set map[*child]struct{}
}

// startChild starts a process whose stdout and stderr go to logPath.
func startChild(name, bin string, args, env []string, logPath string) (*child, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), logPath: logPath, logFile: lf, exited: make(chan struct{})}
	children.mu.Lock()
	if children.set == nil {
		children.set = map[*child]struct{}{}
	}
	children.set[c] = struct{}{}
	children.mu.Unlock()
	go func() {
		c.waitErr = cmd.Wait()
		lf.Close()
		children.mu.Lock()
		delete(children.set, c)
		children.mu.Unlock()
		close(c.exited)
	}()
	return c, nil
}

// killChildren kills every child still running and waits briefly for them.
func killChildren() {
	children.mu.Lock()
	var list []*child
	for c := range children.set {
		list = append(list, c)
	}
	children.mu.Unlock()
	for _, c := range list {
		_ = c.cmd.Process.Kill()
	}
	for _, c := range list {
		select {
		case <-c.exited:
		case <-time.After(5 * time.Second):
		}
	}
}

// running reports whether the child has not exited yet.
func (c *child) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to grace for the exit, then kills.
// It returns how long the graceful stop took and whether it was clean.
func (c *child) stop(grace time.Duration) (time.Duration, error) {
	start := time.Now()
	if !c.running() {
		return 0, fmt.Errorf("%s had already exited: %v", c.name, c.waitErr)
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		took := time.Since(start)
		if c.waitErr != nil {
			return took, fmt.Errorf("%s exited with %v", c.name, c.waitErr)
		}
		return took, nil
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return time.Since(start), fmt.Errorf("%s did not stop within %s after SIGTERM: killed", c.name, grace)
	}
}

// logTail returns the last n lines the child wrote.
func (c *child) logTail(n int) string {
	data, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logLines counts the lines the child has written so far.
func (c *child) logLines() int {
	data, err := os.ReadFile(c.logPath)
	if err != nil {
		return 0
	}
	return bytes.Count(data, []byte{'\n'})
}

// procStatusKB reads a "Vm…" field (in kB) of /proc/<pid>/status.
func procStatusKB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			break
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procCPU returns the user+system CPU time a process has used.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	fields := strings.Fields(string(data[i+1:]))
	// After the name: state(3) ... utime(14) stime(15), 1-based overall.
	if len(fields) < 13 {
		return 0, errors.New("short stat")
	}
	ut, err1 := strconv.ParseInt(fields[11], 10, 64)
	st, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// procFDs counts a process's open file descriptors.
func procFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// ProcStats is what the load command measured of one server process.
type ProcStats struct {
	Name      string  `json:"name"`
	PeakRSSMB float64 `json:"peakRssMB"`
	RSSMB     float64 `json:"rssMB"`
	CPUSec    float64 `json:"cpuSec"`
	// Cores is CPU time over wall time of the window measured.
	Cores float64 `json:"cores"`
	// StopSec is how long the graceful stop took: -1 when measured while
	// running, stopFailed when SIGTERM did not end it cleanly.
	StopSec  float64 `json:"stopSec"`
	LogLines int     `json:"logLines"`
}

const stopFailed = -2

// freePort returns a free 127.0.0.1 TCP address.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// apiSource is an api source of a scenario, in the configuration's own
// types: what config.MarshalSources writes, mcpfed reads back.
func apiSource(name string, required bool, spec remote.Spec) config.SourceConfig {
	return config.SourceConfig{Name: name, Kind: "api", Required: required, Spec: &spec}
}

// server is a running mcpfed (or bare) process with its base URL.
type server struct {
	*child
	URL     string
	cpuBase time.Duration
	cpuAt   time.Time
}

// startMcpfed runs the mcpfed binary with the given sources and extra
// MCPFED_* settings, and waits until /readyz answers 200.
func (e *env) startMcpfed(ctx context.Context, label string, sources []config.SourceConfig, extra map[string]string, readyTimeout time.Duration) (*server, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	srcText, err := config.MarshalSources(sources)
	if err != nil {
		return nil, err
	}
	state, err := os.MkdirTemp(e.tmp, "state-"+label+"-")
	if err != nil {
		return nil, err
	}
	vars := map[string]string{
		"MCPFED_LISTEN_ADDR": addr,
		"MCPFED_LOG_LEVEL":   "warn",
		"MCPFED_LOG_FORMAT":  "text",
		"MCPFED_ACCESS_LOG":  "false",
		"MCPFED_STATE_DIR":   state,
		"MCPFED_SOURCES":     string(srcText),
	}
	for k, v := range extra {
		vars[k] = v
	}
	for k, v := range e.mcpfedEnv {
		vars[k] = v
	}
	c, err := startChild("mcpfed["+label+"]", e.bin, []string{"serve"}, childEnv(vars), filepath.Join(e.tmp, "mcpfed-"+label+".log"))
	if err != nil {
		return nil, err
	}
	s := &server{child: c, URL: "http://" + addr}
	if err := s.waitReady(ctx, "/readyz", readyTimeout); err != nil {
		_, _ = c.stop(2 * time.Second)
		return nil, fmt.Errorf("%s: %w\n%s", c.name, err, c.logTail(20))
	}
	return s, nil
}

// startBare runs this program as the bare net/http server for body.
func (e *env) startBare(ctx context.Context, body []byte, etag, ctype string) (*server, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	bodyPath := filepath.Join(e.tmp, "bare-body")
	if err := os.WriteFile(bodyPath, body, 0o600); err != nil {
		return nil, err
	}
	vars := map[string]string{bareAddrEnv: addr, bareBodyEnv: bodyPath, bareETagEnv: etag, bareCTypeEnv: ctype}
	c, err := startChild("bare", e.self, nil, childEnv(vars), filepath.Join(e.tmp, "bare.log"))
	if err != nil {
		return nil, err
	}
	s := &server{child: c, URL: "http://" + addr}
	if err := s.waitReady(ctx, "/", 30*time.Second); err != nil {
		_, _ = c.stop(2 * time.Second)
		return nil, fmt.Errorf("bare server: %w\n%s", err, c.logTail(20))
	}
	return s, nil
}

// childEnv is this process's environment without any MCPFED* variable
// (so an operator's configuration cannot leak into a scenario), plus vars.
func childEnv(vars map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MCPFED") {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

var probeClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, DisableCompression: true},
}

// waitReady polls path until it answers 200, the process exits, or the
// timeout passes.
func (s *server) waitReady(ctx context.Context, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		if !s.running() {
			return fmt.Errorf("exited before ready: %v", s.waitErr)
		}
		resp, err := probeClient.Get(s.URL + path)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.resetCPU()
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s (last answer: %s)", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// resetCPU starts a new CPU measurement window.
func (s *server) resetCPU() {
	s.cpuBase, _ = procCPU(s.pid)
	s.cpuAt = time.Now()
}

// stats measures the process now: peak and current RSS, CPU since the
// last resetCPU.
func (s *server) stats(name string) ProcStats {
	ps := ProcStats{Name: name, StopSec: -1}
	if kb, err := procStatusKB(s.pid, "VmHWM"); err == nil {
		ps.PeakRSSMB = float64(kb) / 1024
	}
	if kb, err := procStatusKB(s.pid, "VmRSS"); err == nil {
		ps.RSSMB = float64(kb) / 1024
	}
	if cpu, err := procCPU(s.pid); err == nil {
		ps.CPUSec = (cpu - s.cpuBase).Seconds()
		if wall := time.Since(s.cpuAt).Seconds(); wall > 0 {
			ps.Cores = ps.CPUSec / wall
		}
	}
	ps.LogLines = s.logLines()
	return ps
}

// finish measures the process, stops it gracefully and records the stop.
func (s *server) finish(name string) (ProcStats, error) {
	ps := s.stats(name)
	took, err := s.stop(20 * time.Second)
	ps.StopSec = stopFailed
	if err == nil {
		ps.StopSec = took.Seconds()
	}
	return ps, err
}

// get fetches a URL with the probe client and returns status, headers and body.
func get(ctx context.Context, url string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, resp.Header, b, err
}

// metric returns the value of a Prometheus sample from mcpfed's /metrics
// whose name matches and whose label set contains every given label
// (e.g. `source="dead"`); ok is false if there is none.
func (s *server) metric(ctx context.Context, name string, labels ...string) (float64, bool) {
	code, _, body, err := get(ctx, s.URL+"/metrics")
	if err != nil || code != http.StatusOK {
		return 0, false
	}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		match := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err == nil {
			return v, true
		}
	}
	return 0, false
}

// kill ends the child at once if it is still running.
func (c *child) kill() {
	if c.running() {
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// metricsBy returns, for every sample of a metric whose labels contain
// every filter, the value keyed by the value of label by (summed).
func (s *server) metricsBy(ctx context.Context, name, by string, filters ...string) map[string]float64 {
	out := map[string]float64{}
	code, _, body, err := get(ctx, s.URL+"/metrics")
	if err != nil || code != http.StatusOK {
		return out
	}
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		labels, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		match := true
		for _, f := range filters {
			match = match && strings.Contains(labels, f)
		}
		if !match {
			continue
		}
		key := ""
		if _, after, ok := strings.Cut(labels, by+`="`); ok {
			key, _, _ = strings.Cut(after, `"`)
		}
		if v, err := strconv.ParseFloat(strings.Fields(val)[0], 64); err == nil {
			out[key] += v
		}
	}
	return out
}

// timeWait counts TCP sockets in TIME_WAIT on 127.0.0.1 whose local or
// remote port is one of ports: connections closed recently, i.e. churn.
func timeWait(ports ...int) int {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return -1
	}
	want := map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "06" {
			continue
		}
		for _, addr := range f[1:3] {
			_, hexPort, ok := strings.Cut(addr, ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil && want[int(p)] {
				n++
				break
			}
		}
	}
	return n
}

// portOf returns the port of a http://host:port URL (0 if none).
func portOf(u string) int {
	i := strings.LastIndexByte(u, ':')
	if i < 0 {
		return 0
	}
	rest := u[i+1:]
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	p, _ := strconv.Atoi(rest)
	return p
}

// cpuSample is a reading of CPU time: the machine's busy time, this
// process's and the server's.
type cpuSample struct {
	at                    time.Time
	machine, self, server time.Duration
}

func sampleCPU(pid int) cpuSample {
	s := cpuSample{at: time.Now(), machine: machineBusy()}
	s.self, _ = procCPU(os.Getpid())
	if pid > 0 {
		s.server, _ = procCPU(pid)
	}
	return s
}

// coresSince returns the cores used since an earlier sample by the server,
// by this process, and by everything else.
func (s cpuSample) coresSince(o cpuSample) (server, self, other float64) {
	wall := s.at.Sub(o.at).Seconds()
	if wall <= 0 {
		return 0, 0, 0
	}
	server = (s.server - o.server).Seconds() / wall
	self = (s.self - o.self).Seconds() / wall
	other = max((s.machine-o.machine).Seconds()/wall-server-self, 0)
	return server, self, other
}

// machineBusy is the machine's total non-idle CPU time (/proc/stat).
func machineBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / clockTicks
}
