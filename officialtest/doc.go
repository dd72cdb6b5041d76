// Package officialtest runs the real official MCP registry for integration
// tests: its server (cmd/registry) and publisher CLI (cmd/publisher) built
// from the registry module's source in the module cache (the version in
// mcpfed's go.mod; Build caches the binaries under
// os.UserCacheDir()/mcpfed-test), on a throwaway PostgreSQL from pgtest with
// a chosen collation, seeded from a local file and given a few servers
// through mcp-publisher:
//
//	reg := officialtest.Start(t, officialtest.Options{Collation: pgtest.CollationICUEnUS})
//	resp, err := http.Get(reg.URL + "/v0.1/servers")
//
// Everything listens on 127.0.0.1 and nothing reaches the internet once the
// binaries are built (the first build downloads the registry's own
// dependencies through the Go module proxy).
//
// The integration tests in this package are slow (a build on first use,
// then a few seconds per registry) and run only when MCPFED_TEST_OFFICIAL=1
// (`make test-official`).
package officialtest
