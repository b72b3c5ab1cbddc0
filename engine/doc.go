// Package engine is the revocation engine of caddy-token-revocation,
// free of Caddy: a Checker answers whether a token is revoked, a Recorder
// decides what a revocation stores and for how long, and Keys, which both
// use, names what they look up and store.
//
// A request's trip: the glue finds the request's tokens (token.Sources),
// evaluates its namespace, and asks Checker.Check for each; the Checker
// builds the token's denylist.Query with Keys (cached for JWTs) and asks
// the store. A revocation's trip: a route kind reads its wire format into
// a Revocation; Recorder.Entries turns it into denylist entries (the
// tokens' identities; their jti and sessions when their claims are
// trusted; cut-offs; what owners and grants hold; a replay guard) and
// Recorder.Store stores them, through the outbox when confirmed.
//
// Neither reads a request, writes an answer, logs a token or counts a
// metric: those are the glue's (package caddymodule).
package engine
