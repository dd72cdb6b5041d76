// Package toolhivetest runs the real ToolHive CLI (thv) against a running
// mcpfed, the way a ToolHive user would point it at a registry:
//
//	bin := toolhivetest.Build(t)                    // thv, built once, cached
//	rt := toolhivetest.StartRuntime(t)              // the container runtime thv insists on
//	trap := toolhivetest.StartTrap(t)               // catches any attempt to leave the machine
//	cli := toolhivetest.NewCLI(t, bin, rt, trap)    // a throwaway HOME and XDG directories
//	cli.Run(ctx, "config", "set-registry", url, "--allow-private-ip")
//
// thv is built from its Go module (github.com/stacklok/toolhive, the version
// in Version) through the Go module proxy, unmodified, and kept under
// os.UserCacheDir()/mcpfed-thv/<version>/thv, so only the first run pays
// for the build.
//
// thv refuses to start most commands without a Docker-compatible container
// runtime; StartRuntime serves the few read-only Docker Engine API calls it
// makes on a Unix socket (TOOLHIVE_DOCKER_SOCKET), enough for the registry
// commands and `thv serve`, which never run a container here. Everything
// listens on 127.0.0.1 or a Unix socket. thv's HTTP proxy variables point at
// the trap, loopback exempt, so a request for anywhere else from a client
// that honours them (update checks, usage metrics) is recorded and refused;
// thv's registry client ignores proxies, but it only ever asks the
// registry URL it was given.
//
// The integration test in this package runs only when
// MCPFED_TEST_TOOLHIVE=1 (`make test-toolhive`).
package toolhivetest
