package gateway

import (
	"net/http"

	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// The keys a request is made with, looked up with its opaque tokens
// (requestCheck.check reads them once per request, requestKeys in
// serve.go): a key revoked through the admin API or the CLI (jkt,
// x5t#S256) then stops the opaque tokens bound to it, whose cnf the
// gateway cannot read, as it stops a bound JWT by its cnf.
//
// Looked up: the jkt of the public key in the request's DPoP header (RFC
// 9449 §4.2; the first one, unverified: a forged proof can only get its
// own request refused) and the x5t#S256 of the TLS client certificate the
// connection to Caddy was made with (RFC 8705; a site with client_auth).
// A live connection (live_connections.go) of such a request is
// registered under the same keys: revoking the key ends it.
// Not looked up: for JWTs (a JWT names its key in cnf, and one without
// cnf is bound to none), for strings found outside the named channels,
// for WebSocket first messages, and a certificate a proxy in front of
// Caddy terminated TLS for (a header carrying it is not read).

// requestKeysOf reads the keys r is made with: its DPoP proof's and its
// TLS client certificate's.
func requestKeysOf(r *http.Request) token.Confirmation {
	var k token.Confirmation
	if proofs := r.Header["Dpop"]; len(proofs) > 0 {
		k.JKT, _ = token.DPoPProofKey(proofs[0])
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		k.X5TS256 = token.CertificateThumbprint(r.TLS.PeerCertificates[0].Raw)
	}
	return k
}
