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
// max_token_lifetime; Checker.CheckMadeWith also looks up the keys a
// request is made with, for an opaque token (whose cnf the gateway cannot
// read). The glue (caddymodule):
//
//   - The admin API (caddymodule/admin/wire.go, api.go target): {"jkt": ...} or
//     {"x5t#S256": ...}, with "namespace" and "until"; no "issuer" (a key
//     is one key whoever issued the tokens bound to it) and no "cutoff".
//     The entry's kind is denylist.KindKey.String(): "cnf". The CLI
//     (caddymodule/command/command.go): --jkt, --x5t-s256, --until.
//   - Metrics (caddymodule/gateway/metrics.go): requests rejected by such an entry count as
//     reason "cnf".
//   - The request's own keys (caddymodule/gateway/request_keys.go): for an opaque
//     token of a named channel, the jkt of the request's DPoP proof
//     (token.DPoPProofKey of its DPoP header) and the x5t#S256 of the TLS
//     client certificate Caddy terminated
//     (token.CertificateThumbprint(r.TLS.PeerCertificates[0].Raw)) are
//     looked up in the token's own store call (CheckMadeWith), and a live
//     connection of the request is registered under the same query
//     (FillQueryMadeWith), so the key's revocation ends it. Unverified,
//     as every claim: it can only reject. Not for JWTs (their cnf names
//     their key; one without cnf is bound to none), not for strings the
//     whole-request scan finds, not for a certificate a proxy in front
//     terminated. Per request, not per cached query: the query cache is
//     keyed by the token alone.
//
// The end-to-end tests put a real Caddy in front of an upstream, with
// panva's oidc-provider (tests/idp/oidc-provider/op.mjs, pinned 9.13.3):
// TestGatewayRevokesDPoPKey (tests/dpop_oidcprovider_test.go; DPoP-bound
// JWT and opaque tokens, "Authorization: DPoP" with a proof signed with
// go-jose) and TestGatewayRevokesCertificateBoundTokens
// (tests/mtls_oidcprovider_test.go; the OP over HTTPS binds tokens to the
// client certificate, features.mTLS; Caddy requires client certificates).
// Each revokes the key through instance A's admin API and CLI and sees it
// refused by B (401, reason cnf), a token bound to another key passing; on
// the embedded store and on Redis, and after a restart.
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
