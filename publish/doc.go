// Package publish is mcpfed's publishing API: the official registry's
// write endpoints and the token exchange its publisher CLI (mcp-publisher)
// uses, over store.Store. The managed source (upstream/managed) serves what
// is written here.
//
// Endpoints, under /v0.1 and /v0 alike (see [Handler.Patterns]):
//
//   - POST /publish: a server.json. 401 without a valid token, 403 for a
//     name the token may not publish, 422 for a server.json that fails
//     validation, 400 for a version already published (versions are
//     immutable: the official registry's answer), 503 when the store is
//     down, 200 with the ServerResponse. Nothing is written on any error.
//   - POST /validate: the official ValidationResult, always 200 for a JSON
//     object (mcp-publisher validate, and publish after a 422).
//   - PATCH /servers/{serverName}/versions/{version}/status and
//     PATCH /servers/{serverName}/status: {"status", "statusMessage"} with
//     the official rules (no message with "active", 400 when nothing
//     changes, 404, 403 without publish or edit permission).
//   - POST /auth/github-oidc and POST /auth/none: the token exchange.
//
// Validation: the official server.json schema of the current version
// (embedded, server.schema.json, the file published at its $id), the
// rules the schema cannot say (no "latest" or range as a version, each
// side of the name's slash starting and ending alphanumeric, at most 4 KiB
// of publisher-provided _meta), and mcpfed's own index rules, so nothing
// that validates is later dropped by the managed source. The official
// registry's checks against npm, PyPI and other package registries, and
// its refusal of a remote URL used by another server, are left out: a
// private registry publishes private packages and runs without internet.
//
// Tokens. A registry token is mcpfed's own JWT (Ed25519, go-jose), valid
// for five minutes as the official registry's, carrying the official
// claims (auth_method, auth_method_sub, permissions [{action, resource}]).
// The exchange answers {"registry_token", "expires_at"}, which is what
// mcp-publisher reads. GitHub OIDC proves io.github.<repository_owner>/*
// (the official derivation: a repository may publish several servers);
// the token gets only the part of it the publishers rules grant to the
// OIDC token's claims, so an operator decides which owners (or which
// repositories, refs, environments: any claim) may publish. /auth/none,
// when publishing.anonymous is on, grants the anonymous namespace and
// nothing else; the switch is the rule.
//
// mcpfed's own tokens (auth: OIDC and static tokens) may publish too, when
// the caller wires [Identify]: their permissions are the namespaces of the
// publishers rules whose claims they carry, or everything for an admin.
package publish
