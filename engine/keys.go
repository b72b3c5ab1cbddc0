package engine

import (
	"time"
	"unsafe"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Keys names what a check looks up and a revocation stores: the denylist
// keys of a token's identity, its claims (in a namespace) and the owners of
// the owner index. A Keys is read-only once built and safe for concurrent
// use.
type Keys struct {
	// Hasher digests what a key names (HMAC when the handler has a key).
	Hasher *denylist.Hasher
	// ClockSkew is subtracted from a token's iat when it is compared with
	// cut-offs: a token whose issuer's clock runs ahead still counts as
	// issued before a cut-off set at the same moment.
	ClockSkew time.Duration
	// ClientCutoffs makes queries look up client- and realm-wide cut-offs
	// too (the caddymodule sets it: keycloak_admin routes and the admin API store them).
	ClientCutoffs bool
}

// Token is the key that revokes t by its identity: the digest of
// t.Identity(), computed without allocating. It has no namespace: a
// namespace comes from the request (a tenant header, a path segment),
// which whoever presents a revoked token spells as they like.
func (k *Keys) Token(t *token.Token) denylist.Key {
	return k.tokenIn("", t)
}

// tokenIn is the key of t's identity in namespace ns: Token in namespace
// "", and what releases up to 0.1 stored (see addLegacy).
func (k *Keys) tokenIn(ns string, t *token.Token) denylist.Key {
	if t.JWT {
		return k.Hasher.Key(denylist.KindToken, ns, []byte(token.JWTMarker), t.Header, t.Payload)
	}
	return k.opaque(ns, t.Raw)
}

// opaque is the identity key of the opaque string s in namespace ns.
func (k *Keys) opaque(ns, s string) denylist.Key {
	return k.Hasher.KeyStrings(denylist.KindToken, ns, token.OpaqueMarker, s)
}

// Folded is the key of the opaque token raw spelled in lower case, its
// skeleton's (token.Skeleton) when it has characters outside ASCII or
// control characters, and whether that differs from raw. An upstream that
// looks opaque tokens up in a database with a case-insensitive collation
// (MySQL's default, SQL Server's, SQLite's NOCASE columns) accepts every
// case variant of a revoked token, and one that compares at the primary
// level (MySQL 8's default, PostgreSQL with ICU) every spelling with
// accents, other widths or ignorable characters too: a revocation stores
// this key beside the token's identity (a derived entry: Recorder), and a
// check looks it up beside the identity of what it reads, so a string is
// revoked when the lower-case spelling of its skeleton is a revoked
// token's. White space at either end is trimmed first: Laravel's
// TrimStrings middleware and PHP's trim() read " T\t" as T, and a MySQL
// PAD SPACE collation compares "T " as T. It is a token identity key (the
// identity of that spelling): a lower-case ASCII token needs no second
// key.
func (k *Keys) Folded(raw string) (denylist.Key, bool) {
	s, _ := token.Skeleton(raw) // raw itself, after one pass, for nearly every token
	s = trimASCIISpace(s)
	i := 0
	for i < len(s) && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		if s == raw || s == "" {
			return denylist.Key{}, false
		}
		return k.opaque("", s), true
	}
	var stack [256]byte
	b := stack[:0]
	if len(s) > len(stack) {
		b = make([]byte, 0, len(s))
	}
	b = append(b, s...)
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return k.opaque("", unsafe.String(unsafe.SliceData(b), len(b))), true // b is not kept
}

// trimASCIISpace is s without the ASCII white space (space, \t, \n, \v,
// \f, \r) at either end.
func trimASCIISpace(s string) string {
	for len(s) > 0 && isASCIISpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isASCIISpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isASCIISpace(c byte) bool { return c == ' ' || '\t' <= c && c <= '\r' }

// addFolded adds to q the key of the opaque string s in lower case, when
// that differs from s (Folded).
func (k *Keys) addFolded(q *denylist.Query, s string) {
	if f, ok := k.Folded(s); ok {
		q.Add(f)
	}
}

// DerivedIdentities are the identity keys a revocation of the opaque token
// raw stores beside its own (as derived entries): its lower-case
// spelling's (Folded), and each of its parts' (CandidateParts) and their
// lower-case spellings'. An unrevocation of raw removes them with it.
func (k *Keys) DerivedIdentities(raw string) []denylist.Key {
	var out []denylist.Key
	folded := func(s string) {
		if f, ok := k.Folded(s); ok {
			out = append(out, f)
		}
	}
	folded(raw)
	for _, p := range CandidateParts(raw) {
		out = append(out, k.opaque("", p))
		folded(p)
	}
	return out
}

// TokenOrLegacy reports whether key is t's identity key, or the key a
// release up to 0.1 stored it under in namespace ns.
func (k *Keys) TokenOrLegacy(key denylist.Key, ns string, t *token.Token) bool {
	return key == k.Token(t) || key == k.tokenIn(ns, t)
}

// addLegacy adds to q the keys under which releases up to 0.1 stored a
// revocation of t, where they differ from Token: a token's identity in the
// request's namespace ns, and a JWT with a claim of an odd type
// (Token.LegacyOpaque) by its raw string, as an opaque token. Such an
// entry lives at most max_token_lifetime (plus clock_skew) after it was
// stored, so these keys find nothing once that long has passed since the
// upgrade; until then a token revoked before the upgrade stays revoked.
func (k *Keys) addLegacy(q *denylist.Query, ns string, t *token.Token) {
	if ns != "" {
		q.Add(k.tokenIn(ns, t))
	}
	if t.LegacyOpaque {
		q.Add(k.opaque(ns, t.Raw))
	}
}

// Query is the denylist query for t in namespace ns: t's identity (in no
// namespace), the keys of its claims in ns, and its iat less the clock
// skew. Its first key is always t's identity.
func (k *Keys) Query(ns string, t *token.Token) denylist.Query {
	var q denylist.Query
	k.FillQuery(&q, ns, t)
	return q
}

// FillQuery sets q to Query(ns, t) without allocating.
func (k *Keys) FillQuery(q *denylist.Query, ns string, t *token.Token) {
	k.fillQuery(q, ns, t, nil)
}

// fillQuery is FillQuery with the keys of claims that come back (sub, sid,
// client) from memo when it has them (memo may be nil).
func (k *Keys) fillQuery(q *denylist.Query, ns string, t *token.Token, memo *claimKeys) {
	*q = denylist.Query{}
	q.Add(k.Token(t))
	k.addLegacy(q, ns, t)
	if !t.JWT {
		k.addFolded(q, t.Raw)
		return
	}
	c := &t.Claims
	if c.ID != "" {
		q.Add(k.Hasher.JTIKey(ns, c.Issuer, c.ID))
	}
	if c.SessionID != "" {
		q.Add(k.claimKey(memo, denylist.KindSession, ns, c.Issuer, c.SessionID))
	}
	if c.Subject != "" {
		q.Add(k.claimKey(memo, denylist.KindUser, ns, c.Issuer, c.Subject))
	}
	if k.ClientCutoffs {
		k.addClient(q, ns, c, memo)
	}
	k.addBound(q, ns, &c.Confirmation, memo)
	if c.IssuedAt > 0 {
		q.IssuedAt = int64(c.IssuedAt) - int64(k.ClockSkew/time.Second)
	}
}

// addClient adds to q the keys of the client- and realm-wide cut-offs
// that can revoke a token with claims c (from memo when it has them).
func (k *Keys) addClient(q *denylist.Query, ns string, c *token.Claims, memo *claimKeys) {
	if c.Issuer == "" {
		return
	}
	q.Add(k.claimKey(memo, denylist.KindClient, ns, c.Issuer, ""))
	if client := c.Client(); client != "" {
		q.Add(k.claimKey(memo, denylist.KindClient, ns, c.Issuer, client))
	}
}

// addBound adds to q the keys of the keys a token is bound to (its cnf
// claim: a DPoP key's jkt, a certificate's x5t#S256), from memo when it
// has them: a client instance's every token carries the same thumbprint.
// Unbound tokens (no cnf) add nothing and cost nothing. The claim is
// unverified, as every claim a check reads: a forged cnf can only get its
// own token rejected.
func (k *Keys) addBound(q *denylist.Query, ns string, cnf *token.Confirmation, memo *claimKeys) {
	if cnf.JKT != "" {
		q.Add(k.claimKey(memo, denylist.KindKey, ns, denylist.MethodJKT, cnf.JKT))
	}
	if cnf.X5TS256 != "" {
		q.Add(k.claimKey(memo, denylist.KindKey, ns, denylist.MethodX5TS256, cnf.X5TS256))
	}
}

// Bound is the key of bound key b in namespace ns: what a check of a token
// whose cnf names b looks up.
func (k *Keys) Bound(ns string, b BoundKey) denylist.Key {
	return k.Hasher.KeyKey(ns, b.Method, b.Thumbprint)
}

// Cutoff is the key of cut-off c in namespace ns.
func (k *Keys) Cutoff(ns string, c Cutoff) denylist.Key {
	switch c.Kind {
	case denylist.KindUser:
		return k.Hasher.UserKey(ns, c.Issuer, c.ID)
	case denylist.KindClient:
		return k.Hasher.ClientKey(ns, c.Issuer, c.ID)
	}
	return k.Hasher.SessionKey(ns, c.Issuer, c.ID)
}

// GrantOwner names the grant of refresh token t in the owner index.
func (k *Keys) GrantOwner(ns string, t *token.Token) denylist.Digest {
	parts := append([][]byte{[]byte("grant")}, t.Identity()...)
	return k.Hasher.Digest(denylist.KindOwner, ns, parts...)
}

// UserOwner names user id of scope (an org/app) in the owner index.
func (k *Keys) UserOwner(ns, scope, id string) denylist.Digest {
	return k.Hasher.Digest(denylist.KindOwner, ns, []byte("user"), []byte(scope), []byte(id))
}
