package token

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// This file names the key a request itself is made with, as a bound
// token's cnf names it: the public key of its DPoP proof (RFC 9449) and
// its TLS client certificate (RFC 8705). The glue may look them up as it
// looks up a token's cnf: a request made with a revoked key is then
// refused whatever its token, opaque tokens included. Nothing here
// verifies: a forged proof can only get its own request refused.

// JWKThumbprint returns the RFC 7638 SHA-256 thumbprint of the public JWK
// jwk (a JSON object), base64url without padding, as cnf.jkt spells it: the
// digest of the key's required members (EC: crv, kty, x, y; RSA: e, kty,
// n; OKP: crv, kty, x; oct: k, kty), in that order, without whitespace.
// ok is false for JSON that is not an object, an unknown kty or a
// required member that is missing or not a string.
func JWKThumbprint(jwk []byte) (thumbprint string, ok bool) {
	var members map[string]json.RawMessage
	if json.Unmarshal(jwk, &members) != nil {
		return "", false
	}
	var kty string
	if json.Unmarshal(members["kty"], &kty) != nil {
		return "", false
	}
	var required []string // sorted, as RFC 7638 §3.3 orders them
	switch kty {
	case "EC":
		required = []string{"crv", "kty", "x", "y"}
	case "RSA":
		required = []string{"e", "kty", "n"}
	case "OKP":
		required = []string{"crv", "kty", "x"}
	case "oct":
		required = []string{"k", "kty"}
	default:
		return "", false
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range required {
		var v string
		if json.Unmarshal(members[name], &v) != nil {
			return "", false
		}
		if i > 0 {
			b.WriteByte(',')
		}
		q, _ := json.Marshal(v) // a string: never fails
		b.WriteString(`"` + name + `":`)
		b.Write(q)
	}
	b.WriteByte('}')
	sum := sha256.Sum256([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:]), true
}

// DPoPProofKey returns the RFC 7638 thumbprint of the public key in the
// JOSE header of the DPoP proof proof (the value of a request's DPoP
// header, RFC 9449 §4.2: a compact JWS whose header's typ is dpop+jwt and
// whose jwk is the key the proof is signed with): the cnf.jkt of the
// tokens bound to that key. The proof is not verified. ok is false when
// proof is not such a JWS.
func DPoPProofKey(proof string) (jkt string, ok bool) {
	h, _, ok := splitJWS(strings.TrimSpace(proof))
	if !ok {
		return "", false
	}
	header, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "="))
	if err != nil {
		return "", false
	}
	var v struct {
		Typ string          `json:"typ"`
		JWK json.RawMessage `json:"jwk"`
	}
	if json.Unmarshal(header, &v) != nil || !strings.EqualFold(v.Typ, "dpop+jwt") || v.JWK == nil {
		return "", false
	}
	return JWKThumbprint(v.JWK)
}

// CertificateThumbprint returns the SHA-256 thumbprint of the DER
// certificate der (a TLS client certificate's Raw), base64url without
// padding, as an mTLS-bound token's cnf.x5t#S256 spells it (RFC 8705
// §3.1).
func CertificateThumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
