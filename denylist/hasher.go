package denylist

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"unsafe"
)

// Hasher turns what a revocation names (a token, an issuer and jti, an
// issuer and session, an issuer and user) into a Digest. With a key it uses
// HMAC-SHA-256, so that a copy of the denylist cannot be used to confirm a
// guessed token; without one, plain SHA-256.
//
// The input is the kind byte, then the namespace and each part, each
// preceded by its length, so no two different inputs hash alike.
//
// A Hasher is safe for concurrent use, and a digest allocates nothing: the
// request check computes several per request. The input is hashed as it
// comes (no copy), and with a key the SHA-256 states after the HMAC pads
// are computed once (RFC 2104's precomputation), so HMAC costs one block
// more than plain SHA-256 rather than three.
type Hasher struct {
	keyed bool
	// inner and outer are the marshaled SHA-256 states after the HMAC
	// key block XORed with 0x36 and 0x5c (RFC 2104).
	inner, outer []byte
}

// NewHasher returns a Hasher; key may be empty for plain SHA-256.
func NewHasher(key []byte) *Hasher {
	h := &Hasher{keyed: len(key) > 0}
	if h.keyed {
		if len(key) > sha256.BlockSize { // RFC 2104: long keys are hashed first
			sum := sha256.Sum256(key)
			key = sum[:]
		}
		var ipad, opad [sha256.BlockSize]byte
		copy(ipad[:], key)
		copy(opad[:], key)
		for i := range ipad {
			ipad[i] ^= 0x36
			opad[i] ^= 0x5c
		}
		h.inner, h.outer = padState(ipad[:]), padState(opad[:])
	}
	return h
}

// padState is the marshaled SHA-256 state after the block pad.
func padState(pad []byte) []byte {
	d := sha256.New()
	d.Write(pad)
	state, err := d.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic("denylist: sha256 state cannot be saved: " + err.Error())
	}
	return state
}

// Digest returns the digest of kind, namespace and parts.
func (h *Hasher) Digest(kind Kind, namespace string, parts ...[]byte) Digest {
	return h.digest(kind, namespace, parts)
}

// DigestStrings is Digest with the parts given as strings: the digest of
// the same bytes is the same.
func (h *Hasher) DigestStrings(kind Kind, namespace string, parts ...string) Digest {
	var stack [4][]byte
	bs := stack[:0]
	if len(parts) > len(stack) {
		bs = make([][]byte, 0, len(parts))
	}
	for _, p := range parts {
		bs = append(bs, readOnly(p))
	}
	return h.digest(kind, namespace, bs)
}

// digest hashes kind, uvarint(len(namespace)), namespace and each part as
// uvarint(len(part)), part: SHA-256, or HMAC-SHA-256 as
// H(opad || H(ipad || input)) with a key, with the kind in the first byte.
// (One function, so that its sha256 calls are direct and neither the
// digest nor the caller's parts leave the stack.)
func (h *Hasher) digest(kind Kind, namespace string, parts [][]byte) Digest {
	if out, ok := h.digestShort(kind, namespace, parts); ok {
		return out
	}
	d := sha256.New()
	if h.keyed {
		_ = d.(encoding.BinaryUnmarshaler).UnmarshalBinary(h.inner) // padState's: well formed
	}
	var head [1 + binary.MaxVarintLen64]byte
	head[0] = byte(kind)
	d.Write(binary.AppendUvarint(head[:1], uint64(len(namespace))))
	d.Write(readOnly(namespace))
	for _, p := range parts {
		d.Write(binary.AppendUvarint(head[:0], uint64(len(p))))
		d.Write(p)
	}
	var sum [sha256.Size]byte
	d.Sum(sum[:0])
	if h.keyed {
		_ = d.(encoding.BinaryUnmarshaler).UnmarshalBinary(h.outer)
		d.Write(sum[:])
		d.Sum(sum[:0])
	}
	var out Digest
	copy(out[:], sum[:])
	out[0] = byte(kind) // the kind travels with the digest: see Digest.Kind
	return out
}

// shortInput is the longest input digestShort hashes: an opaque token's
// identity, a claim's key and a length marker fit.
const shortInput = 192

// digestShort is digest for an input of at most shortInput bytes, put
// together on the stack and hashed by one Write: each sha256 Write and
// Sum costs about as much as a block of SHA-NI, and an opaque token's
// identity took six Writes. ok is false for a longer input.
func (h *Hasher) digestShort(kind Kind, namespace string, parts [][]byte) (out Digest, ok bool) {
	n := 1 + binary.MaxVarintLen16 + len(namespace)
	for _, p := range parts {
		n += binary.MaxVarintLen16 + len(p)
	}
	if n > shortInput { // (every length is then below 2^14: a 1- or 2-byte uvarint)
		return out, false
	}
	var buf [shortInput]byte
	in := append(buf[:0], byte(kind))
	in = binary.AppendUvarint(in, uint64(len(namespace)))
	in = append(in, namespace...)
	for _, p := range parts {
		in = binary.AppendUvarint(in, uint64(len(p)))
		in = append(in, p...)
	}
	var sum [sha256.Size]byte
	if !h.keyed {
		sum = sha256.Sum256(in)
	} else {
		d := sha256.New()
		_ = d.(encoding.BinaryUnmarshaler).UnmarshalBinary(h.inner) // padState's: well formed
		d.Write(in)
		d.Sum(sum[:0])
		_ = d.(encoding.BinaryUnmarshaler).UnmarshalBinary(h.outer)
		d.Write(sum[:])
		d.Sum(sum[:0])
	}
	copy(out[:], sum[:])
	out[0] = byte(kind) // the kind travels with the digest: see Digest.Kind
	return out, true
}

// readOnly is s's bytes, to be read (hashed) only: nothing is copied.
func readOnly(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
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

// The confirmation methods of a bound key (RFC 7800 cnf members), the
// method part of a KeyKey.
const (
	// MethodJKT names a DPoP key by its JWK SHA-256 thumbprint (RFC 9449).
	MethodJKT = "jkt"
	// MethodX5TS256 names a client certificate by its SHA-256 thumbprint
	// (RFC 8705).
	MethodX5TS256 = "x5t#S256"
)

// KeyKey is the key that revokes every token bound to the key whose
// thumbprint, by method (MethodJKT or MethodX5TS256), is thumbprint, as
// the tokens' cnf claim spells it (base64url). It has no issuer: a key is
// the same key whoever bound a token to it.
func (h *Hasher) KeyKey(namespace, method, thumbprint string) Key {
	return h.KeyStrings(KindKey, namespace, method, thumbprint)
}

// ClientKey is the key that revokes the tokens issued by issuer to client
// (azp); client "" stands for every token of the issuer.
func (h *Hasher) ClientKey(namespace, issuer, client string) Key {
	return h.KeyStrings(KindClient, namespace, issuer, client)
}
