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
// A request with no token in a named channel (its token in a header or a
// body the scan reads, or one the gateway does not recognize at all) has
// its keys looked up alone, once, when it carries a token-shaped string
// anywhere (a DPoP proof is one): a revoked key refuses it, source
// "keys" (checkKeysAlone).
// Not looked up: with a JWT of a named channel (a JWT names its key in
// cnf, and one without cnf is bound to none), for WebSocket first
// messages, and a certificate a proxy in front of Caddy terminated TLS
// for (a header carrying it is not read).

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

// checkKeysAlone looks up the keys the request is made with when no token
// of a named channel was checked and the request carries a token-shaped
// string elsewhere (see above). A store that cannot answer passes it, as
// it passes the strings the scan found (requestCheck.check): the request
// may carry no token at all (an API that authenticates by certificate
// alone), and refusing it would refuse every such request while the store
// is down; the mirror's memory still answers.
func (c *requestCheck) checkKeysAlone() error {
	if c.keysLooked || !c.tokenShaped {
		return nil
	}
	made := c.requestKeys()
	if made == nil {
		return nil
	}
	if err := c.begin(); err != nil {
		return err
	}
	m, err := c.h.Checker.CheckKeysAt(c.ctx(), c.Start, c.ns, made)
	c.noteStoreError(err)
	if err != nil {
		countCandidateUnchecked()
		return nil
	}
	if m.Revoked {
		c.refuse(&m, "keys")
	}
	return nil
}
