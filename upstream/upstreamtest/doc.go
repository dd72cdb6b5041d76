// Package upstreamtest runs a fake upstream MCP registry for tests, in the
// spirit of net/http/httptest: a real HTTP server on 127.0.0.1 that speaks
// the official registry's read API, holds a dataset the test can change at
// any time, misbehaves on request, and records what it was asked.
//
// It is the reference mcpfed's api sources are tested against, so it
// implements the registry semantics on its own and shares no engine, index
// or cursor code with mcpfed (it uses mcpfed's upstream.Parse only to read
// dataset files).
//
// # Serving
//
//	r := upstreamtest.New(t)                        // closed by t.Cleanup
//	r.Put(upstreamtest.ServerJSON("io.github.acme/weather", "1.0.0"), upstreamtest.Official{})
//	resp, err := r.Client().Get(r.URL + "/v0.1/servers?limit=10")
//
// r.URL is the registry's base URL (with the path prefix given by
// WithPrefix, if any). Under it, for both /v0.1 and /v0:
//
//	GET /servers                                   ServerList
//	GET /servers/{serverName}/versions             ServerList, newest publication first
//	GET /servers/{serverName}/versions/{version}   ServerResponse; {version} may be "latest"
//
// Semantics follow the official registry (github.com/modelcontextprotocol/registry):
//
//   - one record per server version, ordered by name then version, both in
//     byte order ("1.10.0" sorts before "1.9.0");
//   - limit: default 30, 1..100, anything else is 422 (problem+json);
//   - cursor: opaque (this fake's own encoding: base64url of the last key);
//     a cursor it did not issue is 400. Cursors are keyset positions, so a
//     walk stays consistent while the dataset changes, as the official one does;
//   - search: case-insensitive substring of the name only; a nonempty search
//     shorter than 3 characters after trimming is 422;
//   - updated_since: RFC 3339, updatedAt strictly greater, implies
//     include_deleted (include_deleted=false with it is 400, a bad time is 400);
//   - version: "latest" keeps isLatest records only, anything else is exact;
//   - include_deleted: deleted records are hidden unless true;
//   - metadata.count is the page size; metadata.nextCursor is absent on the
//     last page (WithEmptyTrailingPage restores the official quirk of a
//     trailing empty page when the last page is exactly full);
//   - serverName arrives URL-encoded ("io.github.x%2Fy") and is decoded once;
//     an unencoded slash does not route (404), as upstream;
//   - errors are application/problem+json {"title","status","detail"}.
//
// Skills and plugins, ToolHive's registry extension, are served under
// /v0.1/x/dev.toolhive/{kind} as ToolHive's registry server serves them
// (see artifacts.go): PutArtifact, ServeArtifacts, StopArtifacts,
// DeleteArtifact; a kind never put or enabled is a 404, as on a registry
// without the extension.
//
// Every record carries _meta["io.modelcontextprotocol.registry/official"]
// with status, statusChangedAt (when set), statusMessage (when set),
// publishedAt, updatedAt and isLatest.
//
// # Dataset
//
// Put adds or replaces one version; SetStatus, Update and Delete change it;
// LoadFile/LoadJSON read any format upstream.Parse knows (the files in
// testdata/catalog, ServerList dumps, server.json arrays); Generate adds
// deterministic synthetic servers (100,000 entries take about a second). isLatest is recomputed per name after every change with the
// official rules: the highest non-deleted version (semver order when both are
// semver, a semver version beats a non-semver one, else the later
// publishedAt); when every version is deleted the highest deleted one keeps
// the flag. As upstream, a flag that moves does not touch updatedAt, which
// is exactly what an incremental mirror has to cope with.
//
// Methods that can fail the test (Put, Update, SetStatus, LoadFile,
// LoadJSON, Generate) report through the testing.TB given to New, so call
// them from the test's goroutine.
//
// Timestamps come from the clock given with WithClock (NewManualClock gives
// one that moves only when told), so tests need no sleeps.
//
// # Faults
//
// Inject installs a Fault (latency, a status such as 503 or 429 with
// Retry-After, a connection reset before or in the middle of the body,
// malformed JSON, an oversized body, a wrong Content-Type or body, a cursor
// loop, pages without forward progress (the same entries under a new cursor
// each time), endless pages of fresh padded entries, out-of-order items, a
// slow drip) scoped to a path pattern, a request predicate, and a number of
// requests:
//
//	f := r.Inject(upstreamtest.Fault{Status: 429, RetryAfter: "2", Times: 1})
//	... // the next request gets 429, the ones after it are served
//	f.Hits() // 1
//	f.Remove()
//
// SetAuth (or WithAuth) makes the registry demand a bearer token or basic
// credentials (401 otherwise).
//
// # Observing
//
// Requests, Count (per normalised path and query), CountPath, Log (method,
// URL, headers of each request, including Authorization), Authorizations and
// Reset let a test assert what a client sent, e.g. that a cached page was not
// fetched twice or that credentials went only where they should.
//
// Everything is safe for concurrent use. Handlers never outlive Close: sleeps
// and drips stop when the registry closes or the client goes away.
package upstreamtest
