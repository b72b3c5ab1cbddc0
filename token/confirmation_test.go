package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
)

// TestJWKThumbprintIsRFC7638: the thumbprint of EC, RSA and OKP public
// keys is go-jose's, and RFC 7638 §3.1's example key gives the RFC's
// thumbprint.
func TestJWKThumbprintIsRFC7638(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ed, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, pub := range map[string]any{"EC": &ec.PublicKey, "RSA": &rs.PublicKey, "OKP": ed} {
		jwk := jose.JSONWebKey{Key: pub, KeyID: "k1", Use: "sig", Algorithm: "x"} // members a thumbprint leaves out
		raw, err := jwk.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := JWKThumbprint(raw); !ok || got != base64.RawURLEncoding.EncodeToString(tp) {
			t.Errorf("%s key: JWKThumbprint = %q, %v; want go-jose's %q", name, got, ok, base64.RawURLEncoding.EncodeToString(tp))
		}
	}
	rfc := `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	if got, ok := JWKThumbprint([]byte(rfc)); !ok || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Errorf("RFC 7638 §3.1's key: %q, %v; want NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", got, ok)
	}
	for _, bad := range []string{``, `[]`, `{"kty":"EC","crv":"P-256","x":"a"}`, `{"kty":"XX","k":"a"}`, `{"kty":"oct","k":1}`, `{"kty":7}`} {
		if got, ok := JWKThumbprint([]byte(bad)); ok {
			t.Errorf("JWKThumbprint(%s) = %q, want not ok", bad, got)
		}
	}
}

// TestDPoPProofKey: a DPoP proof as a client signs it (typ dpop+jwt, its
// public key in the header) names the key's RFC 7638 thumbprint, the
// cnf.jkt of the tokens bound to it; a JWS of another typ, or without a
// jwk, names none.
func TestDPoPProofKey(t *testing.T) {
	k := jwttest.NewDPoPKey(t)
	proof := func(typ string, embed bool) string { return k.Proof(t, "GET", "https://api.test/r", typ, embed) }
	if got, ok := DPoPProofKey(proof("dpop+jwt", true)); !ok || got != k.JKT {
		t.Errorf("DPoPProofKey = %q, %v; want %q", got, ok, k.JKT)
	}
	for name, p := range map[string]string{"typ JWT": proof("JWT", true), "no jwk": proof("dpop+jwt", false), "not a JWS": "abc"} {
		if got, ok := DPoPProofKey(p); ok {
			t.Errorf("%s: DPoPProofKey = %q, want not ok", name, got)
		}
	}
}

// TestCertificateThumbprint: the thumbprint of a real certificate is the
// base64url SHA-256 of its DER, 43 characters, as x5t#S256 holds it.
func TestCertificateThumbprint(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Raw)
	if got := CertificateThumbprint(cert.Raw); got != base64.RawURLEncoding.EncodeToString(sum[:]) || len(got) != 43 {
		t.Errorf("CertificateThumbprint = %q", got)
	}
}
