package engine

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Revocation is what one call asks to revoke, as a route kind reads it
// from its wire format (or the admin API from its request). It is plain
// data: Recorder.Entries decides what it stores.
type Revocation struct {
	// Namespace scopes the entries of claims (jti, session, user, client).
	Namespace string

	// Tokens are revoked by their identity, and by their claims (jti, and
	// sid when the call ends a session) when those are trusted: verified,
	// or Vouched.
	Tokens []token.Token

	// Hints are tokens the caller names beside the ones the upstream checks
	// (a logout's id_token_hint): revoked by their identity, their claims
	// trusted only when verified, never by Vouched, which vouches for
	// Tokens alone.
	Hints []token.Token

	// SessionWide revokes the session of each token whose claims are
	// trusted (a logout).
	SessionWide bool

	// RefreshHint is set when the caller said the tokens are refresh tokens
	// (token_type_hint=refresh_token): trusted, they end their session.
	RefreshHint bool

	// Vouched is set when the upstream identity provider accepted the call
	// (forward mode, 2xx) and the route kind says that proves Tokens
	// genuine: their claims are trusted.
	Vouched bool

	// Confirmed is set when the upstream answered the call 2xx (forward
	// mode): it has revoked what the call names, so the entries must never
	// be lost, and are stored through the outbox when the store has one.
	Confirmed bool

	// Cutoffs are cut-offs a route kind verified itself (logout_all,
	// backchannel_logout, caep, keycloak_admin) or an operator asked for.
	Cutoffs []Cutoff

	// BoundKeys are keys every token bound to which is revoked (an
	// operator's call: the admin API, the CLI), whatever the tokens'
	// issuer and issue time (see denylist.KindKey).
	BoundKeys []BoundKey

	// Replay, when set, makes the verified token the call carries single
	// use.
	Replay *Replay

	// Owners are owners in the owner index (a user of an org/app) every
	// token of which is revoked: the records that the token endpoints
	// were seen to hand out.
	Owners []denylist.Digest

	// Holding are the tokens the caller presented as its own. When
	// NotHolder is set and the call is not Vouched, Owners are revoked only
	// if one of these is among their records; else Entries returns
	// NotHolder.
	Holding []token.Token

	// NotHolder is the error to answer when the caller holds none of the
	// Owners' tokens (see Holding).
	NotHolder error
}

// Cutoff revokes every token of one session, user or client of an issuer
// that was issued at or before At.
type Cutoff struct {
	Kind   denylist.Kind // KindSession, KindUser or KindClient
	Issuer string
	ID     string // the sid, the sub, or the azp ("": the whole issuer)
	At     time.Time
}

// BoundKey names a key tokens are bound to (RFC 7800 cnf): a DPoP key
// (RFC 9449) by its JWK SHA-256 thumbprint, or a client certificate (RFC
// 8705) by its SHA-256 thumbprint. Revoking it revokes every token whose
// cnf names it, issued before or after, until Until.
type BoundKey struct {
	// Method is denylist.MethodJKT or denylist.MethodX5TS256: the cnf
	// member that names the key.
	Method string
	// Thumbprint is the base64url (unpadded) SHA-256 thumbprint, as the
	// tokens' cnf spells it.
	Thumbprint string
	// Until is when the revocation may be forgotten (zero: after
	// max_token_lifetime, when every token bound to the key before it has
	// expired). A key that may be used longer (a DPoP key for as long as
	// its client instance lives, a certificate until its notAfter) is
	// revoked until then.
	Until time.Time
}

// Check reports what is wrong with b, in words that say what to give.
func (b BoundKey) Check() error {
	switch b.Method {
	case denylist.MethodJKT, denylist.MethodX5TS256:
	default:
		return fmt.Errorf("a bound key is named by %q or %q, not %q", denylist.MethodJKT, denylist.MethodX5TS256, b.Method)
	}
	if n, err := base64.RawURLEncoding.DecodeString(b.Thumbprint); err != nil || len(n) != sha256.Size {
		return fmt.Errorf("%s %q is not a SHA-256 thumbprint: give the 43 base64url characters (no padding) the tokens' cnf claim holds", b.Method, b.Thumbprint)
	}
	return nil
}

// Replay refuses a token seen before: its jti is looked up in the denylist
// before anything is stored, and stored with the rest, under a namespace of
// its own.
type Replay struct {
	Issuer, JTI string
	// Expires is when the replay entry may be forgotten: once the token
	// can no longer be accepted.
	Expires time.Time
	// Err is the answer to a replay, in the route's own format.
	Err error
}

// replayNamespace prefixes the namespace of replay entries. The NUL bytes
// keep it apart from any configured namespace, so a replay entry never
// revokes a token.
const replayNamespace = "\x00replay\x00"
