// Package jwttest builds JWTs for tests: signed with go-jose, or unsigned
// and forged.
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Sign returns claims as a compact JWS signed with key under alg. key is
// an *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey or an HMAC
// secret ([]byte); kid and typ become header parameters when not empty.
func Sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	return signWith(t, jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts, claims)
}

// signWith returns claims as a compact JWS signed with key and opts.
func signWith(t testing.TB, key jose.SigningKey, opts *jose.SignerOptions, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// DPoPKey is a client's DPoP key (RFC 9449), a P-256 key: it signs DPoP
// proofs, and JKT, its RFC 7638 thumbprint as go-jose computes it, is the
// cnf.jkt of the tokens bound to it.
type DPoPKey struct {
	Key *ecdsa.PrivateKey
	JKT string
}

// NewDPoPKey returns a new DPoP key.
func NewDPoPKey(t testing.TB) *DPoPKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: &k.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &DPoPKey{Key: k, JKT: base64.RawURLEncoding.EncodeToString(tp)}
}

// Proof returns a DPoP proof (RFC 9449 §4.2) of a request of method to
// target, issued now, with typ as its typ header ("dpop+jwt" for a proof;
// another to test a JWS that is none) and the public key in its jwk
// header when embed is set.
func (k *DPoPKey) Proof(t testing.TB, method, target, typ string, embed bool) string {
	t.Helper()
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	opts := &jose.SignerOptions{EmbedJWK: embed, ExtraHeaders: map[jose.HeaderKey]any{"typ": typ}}
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(id[:]), "htm": method, "htu": target, "iat": time.Now().Unix()}
	return signWith(t, jose.SigningKey{Algorithm: jose.ES256, Key: k.Key}, opts, claims)
}

// Unsigned returns header (JSON) and claims as a compact JWS with the
// signature part sig (base64url; "" for alg none): a token nobody signed.
func Unsigned(header string, claims map[string]any, sig string) string {
	b, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(b) + "." + sig
}

// Claims returns defaults with overrides applied: a nil value in
// overrides removes the claim.
func Claims(defaults, overrides map[string]any) map[string]any {
	out := make(map[string]any, len(defaults)+len(overrides))
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range overrides {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}
