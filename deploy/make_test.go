package deploy

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// standIn is a server that stops on SIGINT or SIGTERM, as mcpfed does:
// it stands in for mcpfed so that the test checks the Makefile (the server
// is make's own child) without building the whole gateway.
const standIn = `package main

import (
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] != "serve" {
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Getenv("MCPFED_LISTEN_ADDR"))
	if err != nil {
		os.Exit(1)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	ln.Close()
}
`

// TestMakeRunStops: `make run` serves from a process that a kill of make,
// or Ctrl-C (SIGINT to the terminal's process group), stops: the port is
// free within seconds. The build step is skipped (make -o build) and the
// binary replaced by a stand-in.
func TestMakeRunStops(t *testing.T) {
	t.Parallel()
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not on PATH")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(standIn), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module standin\n\ngo 1.22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "mcpfed")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		name  string
		group bool // signal the whole process group, as a terminal's Ctrl-C does
		sig   syscall.Signal
	}{
		{"kill of make", false, syscall.SIGTERM},
		{"Ctrl-C", true, syscall.SIGINT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, makeBin, "--no-print-directory", "-C", "..", "-o", "build", "run", "BIN="+bin)
			cmd.Env = append(os.Environ(), "MCPFED_LISTEN_ADDR="+addr)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, as under a shell
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
			if !waitFor(func() bool { return dialOK(addr) }, 10*time.Second) {
				t.Fatalf("make run never listened on %s:\n%s", addr, out.String())
			}
			target := cmd.Process.Pid
			if tc.group {
				target = -target
			}
			if err := syscall.Kill(target, tc.sig); err != nil {
				t.Fatal(err)
			}
			if !waitFor(func() bool { return !dialOK(addr) }, 5*time.Second) {
				t.Errorf("%s is still served 5s after the %s:\n%s", addr, tc.name, out.String())
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if err != nil && !errors.As(err, &exit) {
					t.Error(err)
				}
			case <-time.After(5 * time.Second):
				t.Error("make did not exit")
			}
		})
	}
}

func dialOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// waitFor polls cond every 20ms until it holds or d passes.
func waitFor(cond func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
