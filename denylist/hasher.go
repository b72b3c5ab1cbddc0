package denylist

import (
	"crypto/sha256"
	"encoding/binary"
)

// Hasher turns what a revocation names (a token, an issuer and jti, an
// issuer and session, an issuer and user) into a Digest. With a key it uses
// HMAC-SHA-256, so that a copy of the denylist cannot be used to confirm a
// guessed token; without one, plain SHA-256.
//
// The input is the kind byte, then the namespace and each part, each
// preceded by its length, so no two different inputs hash alike.
//
// A Hasher is safe for concurrent use, and a digest of up to
// digestStackInput bytes of input allocates nothing: the request check
// computes several per request.
type Hasher struct {
	keyed bool
	// ipad and opad are the HMAC key block XORed with 0x36 and 0x5c
	// (RFC 2104), precomputed so a digest needs no hmac.New.
	ipad, opad [sha256.BlockSize]byte
}

// digestStackInput is how much digest input (kind, lengths, namespace and
// parts) is assembled on the stack; longer input is hashed from the heap.
// A JWT's identity (its decoded header and payload) is usually well under.
const digestStackInput = 2048

// NewHasher returns a Hasher; key may be empty for plain SHA-256.
func NewHasher(key []byte) *Hasher {
	h := &Hasher{keyed: len(key) > 0}
	if h.keyed {
		if len(key) > sha256.BlockSize { // RFC 2104: long keys are hashed first
			sum := sha256.Sum256(key)
			key = sum[:]
		}
		copy(h.ipad[:], key)
		copy(h.opad[:], key)
		for i := range h.ipad {
			h.ipad[i] ^= 0x36
			h.opad[i] ^= 0x5c
		}
	}
	return h
}

// Digest returns the digest of kind, namespace and parts.
func (h *Hasher) Digest(kind Kind, namespace string, parts ...[]byte) Digest {
	var buf [sha256.BlockSize + digestStackInput]byte
	in := h.begin(buf[:0], kind, namespace)
	for _, p := range parts {
		in = binary.AppendUvarint(in, uint64(len(p)))
		in = append(in, p...)
	}
	return h.sum(in, kind)
}

// DigestStrings is Digest with the parts given as strings: the digest of
// the same bytes is the same.
func (h *Hasher) DigestStrings(kind Kind, namespace string, parts ...string) Digest {
	var buf [sha256.BlockSize + digestStackInput]byte
	in := h.begin(buf[:0], kind, namespace)
	for _, p := range parts {
		in = binary.AppendUvarint(in, uint64(len(p)))
		in = append(in, p...)
	}
	return h.sum(in, kind)
}

// begin appends the start of a digest's input to buf: the HMAC inner pad
// when keyed, then the kind and the namespace. The caller appends the parts
// (append moves the input to the heap only if it outgrows buf) and calls
// sum.
func (h *Hasher) begin(buf []byte, kind Kind, namespace string) []byte {
	if h.keyed {
		buf = append(buf, h.ipad[:]...)
	}
	buf = append(buf, byte(kind))
	buf = binary.AppendUvarint(buf, uint64(len(namespace)))
	return append(buf, namespace...)
}

// sum finishes a digest: SHA-256 of the input, or HMAC-SHA-256 as
// H(opad || H(ipad || input)) with a key, with the kind in the first byte.
func (h *Hasher) sum(in []byte, kind Kind) Digest {
	sum := sha256.Sum256(in)
	if h.keyed {
		var outer [sha256.BlockSize + sha256.Size]byte
		copy(outer[:], h.opad[:])
		copy(outer[sha256.BlockSize:], sum[:])
		sum = sha256.Sum256(outer[:])
	}
	var d Digest
	copy(d[:], sum[:])
	d[0] = byte(kind) // the kind travels with the digest: see Digest.Kind
	return d
}

// Key returns the entry key of kind for namespace and parts.
func (h *Hasher) Key(kind Kind, namespace string, parts ...[]byte) Key {
	return Key{Kind: kind, Digest: h.Digest(kind, namespace, parts...)}
}

// KeyStrings is Key with the parts given as strings.
func (h *Hasher) KeyStrings(kind Kind, namespace string, parts ...string) Key {
	return Key{Kind: kind, Digest: h.DigestStrings(kind, namespace, parts...)}
}

// JTIKey is the key that revokes the JWT with this issuer and jti.
func (h *Hasher) JTIKey(namespace, issuer, jti string) Key {
	return h.KeyStrings(KindJTI, namespace, issuer, jti)
}

// SessionKey is the key that revokes the session sid of issuer.
func (h *Hasher) SessionKey(namespace, issuer, sid string) Key {
	return h.KeyStrings(KindSession, namespace, issuer, sid)
}

// UserKey is the key that revokes the user sub of issuer.
func (h *Hasher) UserKey(namespace, issuer, sub string) Key {
	return h.KeyStrings(KindUser, namespace, issuer, sub)
}

// ClientKey is the key that revokes the tokens issued by issuer to client
// (azp); client "" stands for every token of the issuer.
func (h *Hasher) ClientKey(namespace, issuer, client string) Key {
	return h.KeyStrings(KindClient, namespace, issuer, client)
}
