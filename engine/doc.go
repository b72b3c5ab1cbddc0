// Package engine is the revocation engine of caddy-token-revocation,
// free of Caddy: a Checker answers whether a token is revoked, a Recorder
// decides what a revocation stores and for how long, and Keys, which both
// use, names what they look up and store.
//
// # Key-bound tokens (issue 25, item 4)
//
// Below the glue: token.Claims.Confirmation
// reads cnf (jkt: a DPoP key's RFC 7638 thumbprint, RFC 9449 §6.1;
// x5t#S256: a client certificate's, RFC 8705 §3.1); the Checker looks up
// denylist.KindKey for each thumbprint in a JWT's query (so live
// connections of such a token end too: the live Registry registers the
// same keys); Revocation.BoundKeys and Recorder.BoundKeyEntry store one,
// absolute (denylist.CutoffAlways: a leaked key can still be used to get
// new tokens bound to it) until BoundKey.Until, by default
// max_token_lifetime. What caddymodule adds (the first three are done;
// the last two are not, yet):
//
//   - The admin API (admin_wire.go, admin.go target): two AdminRequest
//     fields, `JKT string json:"jkt,omitempty"` and `X5TS256 string
//     json:"x5t#S256,omitempty"`, and `Until *Timestamp
//     json:"until,omitempty"`. The wire is {"jkt": "<43 base64url>"} or
//     {"x5t#S256": "<43 base64url>"}, with "namespace" and "until" as
//     options; no "issuer" (a key is one key whoever issued the tokens
//     bound to it: refuse it) and no "cutoff" (refuse it: the entry is not
//     a cut-off). In target, given names "jkt" and "x5t#S256" join the
//     one-of list; t.kind = denylist.KindKey, t.key =
//     h.keys.Bound(ns, engine.BoundKey{Method: denylist.MethodJKT or
//     MethodX5TS256, Thumbprint: ...}); check and unrevoke need nothing
//     else. revoke builds engine.Revocation{Namespace: ns, BoundKeys:
//     []engine.BoundKey{{Method, Thumbprint, Until}}} and calls
//     Recorder.Entries and Store as for a cut-off; Entries' error (a
//     thumbprint that is not 43 base64url characters, an unknown method,
//     an until past) is the 400's text, prefixed "token_revocation: ".
//     The wording, a kind "key", is taken: AdminRequest.Key is
//     already the storage key of unrevoke and check ("k:<hex>" is now one
//     such key). The entry's kind, in the entries list and answers, is
//     denylist.KindKey.String(): "cnf".
//   - The CLI (command.go, command_help.go): --jkt and --x5t-s256 (and
//     --until, parsed as --cutoff is), mapped onto those fields, with an
//     example: revoke --jkt 0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I.
//     Until is refused without a bound key, issuer and cutoff with one.
//   - Metrics (metrics.go): "cnf" in the list of rejection reasons shown
//     from the start (the reason is the matching entry's kind), and in
//     docs/operations-metrics.md; docs/operations-admin.md gains the two
//     fields and the kind; docs/security.md a line saying the cnf of an
//     unverified JWT only rejects its own token.
//   - Introspection (quota_introspect.go) may decode an RFC 7662 answer's
//     cnf into a token.Confirmation field of its answer struct (the same
//     JSON); the check itself never introspects, so an opaque bound
//     token is found by its key only if the glue also reads the request's
//     key (below).
//   - Optional, for opaque bound tokens and for any token presented with
//     a revoked key: the request's DPoP proof (token.DPoPProofKey of its
//     DPoP header: the RFC 7638 thumbprint of the proof's jwk) and the TLS
//     client certificate Caddy terminated
//     (token.CertificateThumbprint(r.TLS.PeerCertificates[0].Raw)) name
//     the key of this request; adding their keys (Keys.Bound) to the
//     token's query rejects the request whatever its token says.
//     Unverified, as every claim: it can only reject. (Per request, not
//     per cached query: the query cache is keyed by the token alone.)
//
// The end-to-end test, TestGatewayRevokesDPoPKey, is in
// tests/dpop_oidcprovider_test.go, beside the test that runs these layers against panva's oidc-provider as the other tests run
// it (tests/idp/oidc-provider/op.mjs, pinned 9.13.3, features.dPoP on):
// its newDPoPKey and oidcProvider.dpopClientCredentials get a
// client_credentials JWT (RFC 9068, resource=https://api.test) bound by a
// DPoP proof signed with go-jose (typ dpop+jwt, jwk of a P-256 key, htm
// POST, htu the token endpoint, iat, jti), so the token carries cnf.jkt.
// The glue's test puts Caddy in front of an upstream, as TestOIDCProvider
// does: the token is presented as "Authorization: DPoP <token>" with a
// proof (a scheme the handler reads by default) to instance B, revoked
// through instance A's admin API and CLI by the thumbprint go-jose
// computes, then refused by B (401, reason cnf), while a token bound to
// another key and an unbound one pass; on the embedded store and on
// Redis. It fails on 5278a12 (no "jkt" field: 400).
//
// # Trips
//
// A request's trip: the glue finds the request's tokens (token.Sources),
// evaluates its namespace, and asks Checker.Check for each; the Checker
// builds the token's denylist.Query with Keys (cached for JWTs) and asks
// the store. A revocation's trip: a route kind reads its wire format into
// a Revocation; Recorder.Entries turns it into denylist entries (the
// tokens' identities; their jti and sessions when their claims are
// trusted; cut-offs; bound keys; what owners and grants hold; a replay
// guard) and Recorder.Store stores them, through the outbox when
// confirmed.
//
// Neither reads a request, writes an answer, logs a token or counts a
// metric: those are the glue's (package caddymodule).
package engine
