// Package denylist is the storage-agnostic core of caddy-token-revocation:
// what a revocation is (an Entry), how it is keyed (a Digest), the Store
// interface with its optional capabilities (store.go), the in-memory Index,
// and the stores that wrap another (Resilient, with its Outbox). The
// backends are packages of their own: redisstore (Redis, its mirror) and
// boltstore (an embedded bbolt file); storetest is the contract they keep.
//
// Every revocation is reduced to a fixed-size Digest of what it revokes, so
// values from tokens (jti, sub, sid, tenant) never appear in a storage key
// and cannot inject anything into one. An entry carries a cut-off time:
// a token matches the entry when it was issued at or before the cut-off.
// Entries that revoke one token or one jti use CutoffAlways, so they match
// whatever the token's issue time.
package denylist

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind says what an entry revokes.
type Kind byte

// The kinds of entry. The byte values are part of the storage format.
const (
	// KindToken revokes one token, by the digest of its identity
	// (an opaque token's raw string, a JWT's decoded header and payload).
	KindToken Kind = 't'
	// KindJTI revokes one JWT by its issuer and jti.
	KindJTI Kind = 'j'
	// KindSession revokes every token of a session (sid) issued at or
	// before the cut-off.
	KindSession Kind = 's'
	// KindUser revokes every token of a user (sub) issued at or before
	// the cut-off.
	KindUser Kind = 'u'
	// KindClient revokes every token of an issuer's client (azp) issued at
	// or before a cut-off; with an empty client, every token of the
	// issuer (Keycloak's not-before policies of a client and a realm).
	KindClient Kind = 'c'
	// KindKey revokes every token bound to one key (RFC 7800 cnf): a
	// DPoP key by its JWK thumbprint (cnf.jkt, RFC 9449) or a client
	// certificate by its thumbprint (cnf.x5t#S256, RFC 8705), whatever the
	// token's issuer and issue time, until the entry expires.
	//
	// It is no cut-off, unlike KindUser and KindClient: a key is revoked
	// because it leaked or its client instance is gone, and whoever holds
	// a leaked key can have tokens bound to it issued after the revocation
	// (a DPoP-bound refresh token of a public client is refreshed with the
	// key itself, RFC 9449 §5), so a cut-off would let those through. A
	// DPoP key usually lives as long as its client instance, a certificate
	// until its notAfter: the entry lasts as long as the revocation says
	// (engine.BoundKey.Until), by default max_token_lifetime, after which
	// every token bound to the key before the revocation has expired.
	KindKey Kind = 'k'
	// KindOwner is not an entry kind: it names an owner (a user, a grant)
	// in the owner index (see Owners), which no request check reads.
	// Valid reports false for it, so it can never be stored as an entry.
	KindOwner Kind = 'o'
)

// String returns the kind's name as used in logs, metrics and the admin API.
func (k Kind) String() string {
	switch k {
	case KindToken:
		return "token"
	case KindJTI:
		return "jti"
	case KindSession:
		return "session"
	case KindUser:
		return "user"
	case KindClient:
		return "client"
	case KindKey:
		return "cnf"
	case KindOwner:
		return "owner"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// IsCutoff reports whether entries of kind k revoke what was issued at or
// before a cut-off (session, user, client), rather than one token.
func (k Kind) IsCutoff() bool { return k == KindSession || k == KindUser || k == KindClient }

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	return k == KindToken || k == KindJTI || k == KindSession || k == KindUser || k == KindClient || k == KindKey
}

// DigestSize is the size of a Digest in bytes.
const DigestSize = 16

// Digest identifies what an entry revokes: the first 128 bits of
// SHA-256 (or HMAC-SHA-256, when a key is configured) over the entry's kind,
// namespace and subject, whose first byte is then replaced by the kind, so
// that an in-memory entry knows its kind at no cost (120 bits of hash
// remain). See Hasher.
type Digest [DigestSize]byte

// Kind returns the kind the digest was made for.
func (d Digest) Kind() Kind { return Kind(d[0]) }

// String returns the digest in lower-case hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Short returns the first 12 hex characters of the digest: enough to find an
// entry in logs, too little to confirm a guessed token.
func (d Digest) Short() string { return hex.EncodeToString(d[:6]) }

// Key names one entry: its kind and digest. The digest already covers the
// kind; the kind is kept beside it to report why a token was rejected.
type Key struct {
	Kind   Kind
	Digest Digest
}

// String returns the key in its storage form, "<kind letter>:<hex digest>".
func (k Key) String() string { return string(k.Kind) + ":" + k.Digest.String() }

// ParseKey is the inverse of Key.String.
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2+2*DigestSize || s[1] != ':' {
		return k, fmt.Errorf("malformed entry key %q", s)
	}
	k.Kind = Kind(s[0])
	if !k.Kind.Valid() {
		return k, fmt.Errorf("malformed entry key %q: unknown kind", s)
	}
	if _, err := hex.Decode(k.Digest[:], []byte(s[2:])); err != nil {
		return k, fmt.Errorf("malformed entry key %q: %v", s, err)
	}
	return k, nil
}

// CutoffAlways is the cut-off of entries that match a token whatever its
// issue time (KindToken, KindJTI, KindKey).
const CutoffAlways int64 = math.MaxUint32

// Entry is one revocation.
type Entry struct {
	Key
	// Cutoff is a Unix time in seconds: a token issued at or before it is
	// revoked. CutoffAlways for KindToken, KindJTI and KindKey.
	Cutoff int64
	// Expires is the Unix time in seconds after which the entry may be
	// forgotten, because every token it can match has expired by then.
	Expires int64
	// Derived is set (in memory only: stores neither keep nor return it)
	// on an entry a revocation adds only so that its token is found
	// anywhere in a request: the marker of an opaque token's length, a
	// token's part (see engine.CandidateParts). Logs, metrics and answers
	// that list what was revoked leave such entries out.
	Derived bool
}

// Live reports whether the entry is still in force at Unix time now.
func (e Entry) Live(now int64) bool { return now < e.Expires }

// Matches reports whether the entry, live at now, revokes a token issued at
// issuedAt (Unix seconds; 0 when unknown, which every cut-off matches).
func (e Entry) Matches(issuedAt, now int64) bool {
	return e.Live(now) && issuedAt <= e.Cutoff
}

// Merge returns the entry that holds both e and o (same key): the later
// cut-off and the later expiry. Writing an entry twice never shortens it.
func (e Entry) Merge(o Entry) Entry {
	if o.Cutoff > e.Cutoff {
		e.Cutoff = o.Cutoff
	}
	if o.Expires > e.Expires {
		e.Expires = o.Expires
	}
	return e
}

// Value encodes the entry's cut-off and expiry as "<expires>:<cutoff>",
// the form stored beside its key.
func (e Entry) Value() string { return fmt.Sprintf("%d:%d", e.Expires, e.Cutoff) }

// ParseValue decodes what Entry.Value encoded into e's Cutoff and Expires.
// (strconv rather than fmt.Sscanf: a mirror parses a million at start.)
func (e *Entry) ParseValue(v string) error {
	exp, cut, ok := strings.Cut(v, ":")
	expires, err1 := strconv.ParseInt(exp, 10, 64)
	cutoff, err2 := strconv.ParseInt(cut, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("malformed entry value %q: want <expires>:<cut-off>, two integers", v)
	}
	e.Expires, e.Cutoff = expires, cutoff
	return nil
}

// NewEntry builds an entry for key that revokes tokens issued at or before
// cutoff and is kept until expires.
func NewEntry(key Key, cutoff, expires time.Time) Entry {
	c := CutoffAlways
	if key.Kind.IsCutoff() {
		c = cutoff.Unix()
	}
	return Entry{Key: key, Cutoff: c, Expires: expires.Unix()}
}

// MaxQueryKeys is the largest number of keys one Query holds: a JWT is
// checked by its identity, its jti, its session, its user, its client and
// its issuer, by the keys it is bound to (cnf.jkt, cnf.x5t#S256), and by
// up to two keys of its identity as earlier releases derived them.
const MaxQueryKeys = 10

// Query asks whether one token is revoked: any of its keys matching a live
// entry with a cut-off at or after IssuedAt. It is a value type with a fixed
// array so a check allocates nothing.
type Query struct {
	Keys     [MaxQueryKeys]Key
	N        int   // how many of Keys are set
	IssuedAt int64 // the token's iat, Unix seconds; 0 when unknown
	// Now, when set, is the time the request's check read the clock at:
	// a store judges expiry, and its own freshness, at it rather than
	// reading the clock again (a read costs 35-65 ns on a KVM guest).
	// Zero: the store reads the clock.
	Now time.Time
}

// Time is q.Now, or the clock when q.Now is not set.
func (q *Query) Time() time.Time {
	if q.Now.IsZero() {
		return time.Now()
	}
	return q.Now
}

// Add appends a key to the query; keys past MaxQueryKeys are ignored.
func (q *Query) Add(k Key) {
	if q.N < MaxQueryKeys {
		q.Keys[q.N] = k
		q.N++
	}
}

// Match is the answer to a Query: whether the token is revoked and, if so,
// by which entry.
type Match struct {
	Revoked bool
	Entry   Entry
}
