package caddymodule

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// TestOpaqueTokenRefusedByRequestKey: once a key is revoked (as the admin
// API does: engine.Revocation.BoundKeys), a request carrying an opaque
// token is refused (401, reason cnf) when it is made with that key: a DPoP
// proof signed with it, or a TLS client certificate with that thumbprint;
// the same token made with another key, or none, passes; a JWT without
// cnf made with the revoked key passes (bound to no key). On 5278a12 the
// request's own keys were not looked up: every request passed.
func TestOpaqueTokenRefusedByRequestKey(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	dpop, otherDPoP := jwttest.NewDPoPKey(t), jwttest.NewDPoPKey(t)
	cert, otherCert := []byte("DER of the revoked certificate"), []byte("DER of another certificate")
	x5t := token.CertificateThumbprint(cert)
	es, err := h.gw.Recorder.Entries(context.Background(), &engine.Revocation{BoundKeys: []engine.BoundKey{
		{Method: denylist.MethodJKT, Thumbprint: dpop.JKT}, {Method: denylist.MethodX5TS256, Thumbprint: x5t}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.gw.Recorder.Store(context.Background(), false, es); err != nil {
		t.Fatal(err)
	}
	const opaque = "opaque-access-token-0123456789"
	withProof := func(tok string, k *jwttest.DPoPKey) *http.Request {
		r := bearer("/api", tok)
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", k.Proof(t, http.MethodGet, "http://example.com/api", "dpop+jwt", true))
		return r
	}
	withCert := func(tok string, der []byte) *http.Request {
		r := bearer("/api", tok)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: der}}}
		return r
	}
	unbound := jwt(map[string]any{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()})
	for _, tc := range []struct {
		name string
		r    *http.Request
		want int
	}{
		{"opaque, DPoP proof of the revoked key", withProof(opaque, dpop), http.StatusUnauthorized},
		{"opaque, the revoked certificate", withCert(opaque, cert), http.StatusUnauthorized},
		{"opaque, DPoP proof of another key", withProof(opaque, otherDPoP), http.StatusOK},
		{"opaque, another certificate", withCert(opaque, otherCert), http.StatusOK},
		{"opaque, no key", bearer("/api", opaque), http.StatusOK},
		{"JWT without cnf, DPoP proof of the revoked key", withProof(unbound, dpop), http.StatusOK},
		{"JWT without cnf, the revoked certificate", withCert(unbound, cert), http.StatusOK},
	} {
		res := serve(t, h, &upstream{}, tc.r)
		if res.status != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, res.status, tc.want)
		}
	}
}
