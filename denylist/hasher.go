package denylist

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// Hasher turns what a revocation names (a token, an issuer and jti, an
// issuer and session, an issuer and user) into a Digest. With a key it uses
// HMAC-SHA-256, so that a copy of the denylist cannot be used to confirm a
// guessed token; without one, plain SHA-256.
//
// The input is the kind byte, then the namespace and each part, each
// preceded by its length, so no two different inputs hash alike.
type Hasher struct {
	key []byte
}

// NewHasher returns a Hasher; key may be empty for plain SHA-256.
func NewHasher(key []byte) *Hasher { return &Hasher{key: append([]byte(nil), key...)} }

func (h *Hasher) newHash() hash.Hash {
	if len(h.key) > 0 {
		return hmac.New(sha256.New, h.key)
	}
	return sha256.New()
}

// Digest returns the digest of kind, namespace and parts.
func (h *Hasher) Digest(kind Kind, namespace string, parts ...[]byte) Digest {
	hh := h.newHash()
	var lenBuf [binary.MaxVarintLen64 + 1]byte
	lenBuf[0] = byte(kind)
	hh.Write(lenBuf[:1])
	n := binary.PutUvarint(lenBuf[:], uint64(len(namespace)))
	hh.Write(lenBuf[:n])
	hh.Write([]byte(namespace))
	for _, p := range parts {
		n := binary.PutUvarint(lenBuf[:], uint64(len(p)))
		hh.Write(lenBuf[:n])
		hh.Write(p)
	}
	var sum [sha256.Size]byte
	var d Digest
	copy(d[:], hh.Sum(sum[:0]))
	d[0] = byte(kind) // the kind travels with the digest: see Digest.Kind
	return d
}

// Key returns the entry key of kind for namespace and parts.
func (h *Hasher) Key(kind Kind, namespace string, parts ...[]byte) Key {
	return Key{Kind: kind, Digest: h.Digest(kind, namespace, parts...)}
}

// TokenKey is the key that revokes one token by its identity bytes
// (see the token package: an opaque token's raw string, a JWT's decoded
// header and payload).
func (h *Hasher) TokenKey(namespace string, identity []byte) Key {
	return h.Key(KindToken, namespace, identity)
}

// JTIKey is the key that revokes the JWT with this issuer and jti.
func (h *Hasher) JTIKey(namespace, issuer, jti string) Key {
	return h.Key(KindJTI, namespace, []byte(issuer), []byte(jti))
}

// SessionKey is the key that revokes the session sid of issuer.
func (h *Hasher) SessionKey(namespace, issuer, sid string) Key {
	return h.Key(KindSession, namespace, []byte(issuer), []byte(sid))
}

// UserKey is the key that revokes the user sub of issuer.
func (h *Hasher) UserKey(namespace, issuer, sub string) Key {
	return h.Key(KindUser, namespace, []byte(issuer), []byte(sub))
}
