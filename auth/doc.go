// Package auth decides who a request comes from and what it may see.
//
// The model, in the order the HTTP layer applies it:
//
//  1. Identity. [Authenticator.Authenticate] reads the request's
//     `Authorization: Bearer <token>` header, and only that header: a token
//     in the query string (`access_token`) is refused without its value
//     being read. No header is the anonymous identity. A header that is not
//     a well-formed bearer token, a token over 8 KiB, or a token that fails
//     verification is an error wrapping [ErrInvalidToken] — never silently
//     anonymous. A token is first compared, in constant time, with every
//     static token (files re-read when they change); otherwise it must be a
//     JWT whose unverified `iss` names a configured OIDC issuer, and that
//     issuer's verifier (github.com/coreos/go-oidc/v3: discovery, JWKS,
//     signature with an asymmetric-algorithm allow-list, iss, aud, exp;
//     then nbf and iat, all with a small leeway) decides. Discovery is lazy
//     and retried with backoff, so an issuer that is down at start does not
//     stop mcpfed; its tokens fail until discovery succeeds. Keys are cached
//     and keep verifying while the issuer is down; an unknown key id
//     triggers at most one JWKS fetch per interval.
//  2. Access. [Decide] applies a view's [Access] (anonymous allowed, or
//     claims every authenticated caller must carry) to an [Identity]:
//     allow, unauthenticated (401) or forbidden (403).
//  3. Limits. [Limiter] is a per-client token bucket keyed by the token
//     subject, else by the client address ([Proxies.ClientAddress] believes
//     X-Forwarded-For only from trusted proxies), held in a bounded LRU.
//  4. Record. [Auditor] writes one JSON line per decision (never a token);
//     [Metrics] counts decisions by view and result.
//
// [ProtectedResourceMetadata] and [WWWAuthenticate] build the RFC 9728
// document and the challenge that points clients to it.
//
// Tokens never enter an error message, a log line, an audit record, a
// metric or a cache key: errors carry fixed reasons ([Reason]).
package auth
