package denylist

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"testing"
)

func TestHasherDistinctInputs(t *testing.T) {
	h := NewHasher(nil)
	seen := map[Digest]string{}
	add := func(name string, d Digest) {
		t.Helper()
		if prev, dup := seen[d]; dup {
			t.Errorf("%s and %s share digest %s", name, prev, d)
		}
		seen[d] = name
	}
	for _, k := range []Kind{KindToken, KindJTI, KindSession, KindUser} {
		add("kind "+k.String(), h.Digest(k, "ns", []byte("iss"), []byte("x")))
	}
	add("namespace ns2", h.Digest(KindSession, "ns2", []byte("iss"), []byte("x")))
	add("namespace empty", h.Digest(KindSession, "", []byte("iss"), []byte("x")))
	add("part y", h.Digest(KindSession, "ns", []byte("iss"), []byte("y")))
	add("issuer iss2", h.Digest(KindSession, "ns", []byte("iss2"), []byte("x")))
	add("one part", h.Digest(KindSession, "ns", []byte("issx")))
	add("three parts", h.Digest(KindSession, "ns", []byte("iss"), []byte("x"), nil))

	// The typed helpers differ though their strings are the same.
	j, s, u := h.JTIKey("ns", "iss", "v"), h.SessionKey("ns", "iss", "v"), h.UserKey("ns", "iss", "v")
	if j.Kind != KindJTI || s.Kind != KindSession || u.Kind != KindUser || h.Key(KindToken, "ns", []byte("v")).Kind != KindToken {
		t.Fatal("helpers set the wrong kind")
	}
	if j.Digest == s.Digest || s.Digest == u.Digest || j.Digest == u.Digest {
		t.Fatal("jti, session and user keys of the same value collide")
	}
	if h.SessionKey("ns", "iss", "v") != s {
		t.Fatal("digest not deterministic")
	}
}

func TestHasherLengthPrefix(t *testing.T) {
	h := NewHasher(nil)
	if h.Digest(KindJTI, "ns", []byte("ab"), []byte("c")) == h.Digest(KindJTI, "ns", []byte("a"), []byte("bc")) {
		t.Fatal(`("ab","c") and ("a","bc") collide`)
	}
	if h.JTIKey("ns", "ab", "c") == h.JTIKey("ns", "a", "bc") {
		t.Fatal("issuer/jti boundary is ambiguous")
	}
	if h.Digest(KindToken, "nsa", []byte("b")) == h.Digest(KindToken, "ns", []byte("ab")) {
		t.Fatal("namespace/part boundary is ambiguous")
	}
}

func TestHasherKnownAnswer(t *testing.T) {
	// Without a key: SHA-256 over kind, uvarint(len)+namespace, uvarint(len)+part.
	in := []byte{byte(KindToken)}
	in = binary.AppendUvarint(in, 2)
	in = append(in, "ns"...)
	in = binary.AppendUvarint(in, 3)
	in = append(in, "tok"...)
	sum := sha256.Sum256(in)
	var want Digest
	copy(want[:], sum[:])
	want[0] = byte(KindToken) // the first byte carries the kind
	if got := NewHasher(nil).Key(KindToken, "ns", []byte("tok")).Digest; got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
}

func TestDigestCarriesItsKind(t *testing.T) {
	h := NewHasher(nil)
	for _, k := range []Key{h.Key(KindToken, "", []byte("x")), h.JTIKey("", "i", "j"), h.SessionKey("", "i", "s"), h.UserKey("", "i", "u")} {
		if k.Digest.Kind() != k.Kind {
			t.Errorf("digest of a %s key says %s", k.Kind, k.Digest.Kind())
		}
	}
}

func TestHasherKeyChangesDigests(t *testing.T) {
	plain := NewHasher(nil).Key(KindToken, "ns", []byte("tok"))
	k1 := []byte("secret-1")
	h1 := NewHasher(k1)
	a := h1.Key(KindToken, "ns", []byte("tok"))
	b := NewHasher([]byte("secret-2")).Key(KindToken, "ns", []byte("tok"))
	if a == plain || b == plain || a == b {
		t.Fatal("an HMAC key does not change the digest")
	}
	if NewHasher([]byte("secret-1")).Key(KindToken, "ns", []byte("tok")) != a {
		t.Fatal("same key, different digest")
	}
	k1[0] ^= 0xff // NewHasher keeps its own copy of the key
	if h1.Key(KindToken, "ns", []byte("tok")) != a {
		t.Fatal("mutating the caller's key slice changed the hasher")
	}
	if NewHasher([]byte{}).Key(KindToken, "ns", []byte("tok")) != plain {
		t.Fatal("an empty key is not plain SHA-256")
	}
}

// referenceDigest is the digest computed the straightforward way, with
// crypto/hmac: Hasher's precomputed states must agree.
func referenceDigest(key []byte, kind Kind, namespace string, parts ...[]byte) Digest {
	var hh hash.Hash = sha256.New()
	if len(key) > 0 {
		hh = hmac.New(sha256.New, key)
	}
	hh.Write([]byte{byte(kind)})
	hh.Write(binary.AppendUvarint(nil, uint64(len(namespace))))
	hh.Write([]byte(namespace))
	for _, p := range parts {
		hh.Write(binary.AppendUvarint(nil, uint64(len(p))))
		hh.Write(p)
	}
	var d Digest
	copy(d[:], hh.Sum(nil))
	d[0] = byte(kind)
	return d
}

func TestHasherMatchesReferenceHMAC(t *testing.T) {
	long := bytes.Repeat([]byte("p"), 3000) // many blocks
	for _, keyLen := range []int{0, 1, 32, sha256.BlockSize, sha256.BlockSize + 1, 200} {
		key := bytes.Repeat([]byte{0xa5}, keyLen)
		h := NewHasher(key)
		for _, parts := range [][][]byte{nil, {[]byte("tok")}, {[]byte("iss"), []byte("")}, {long}, {[]byte("o"), long, long}} {
			want := referenceDigest(key, KindSession, "tenant", parts...)
			if got := h.Digest(KindSession, "tenant", parts...); got != want {
				t.Errorf("key %d bytes, %d parts: Digest %s, want %s", keyLen, len(parts), got, want)
			}
			strs := make([]string, len(parts))
			for i, p := range parts {
				strs[i] = string(p)
			}
			if got := h.DigestStrings(KindSession, "tenant", strs...); got != want {
				t.Errorf("key %d bytes, %d parts: DigestStrings %s, want %s", keyLen, len(parts), got, want)
			}
		}
	}
}

func TestHasherAllocatesNothing(t *testing.T) {
	ident := bytes.Repeat([]byte("x"), 900)
	for _, key := range [][]byte{nil, []byte("secret")} {
		h := NewHasher(key)
		n := testing.AllocsPerRun(100, func() {
			h.Key(KindToken, "ns", []byte("j"), ident, ident)
			h.KeyStrings(KindToken, "ns", "o", "opaque-token")
			h.JTIKey("ns", "https://idp", "jti")
		})
		if n != 0 {
			t.Errorf("key %q: %v allocations per digest set, want 0", key, n)
		}
	}
}
