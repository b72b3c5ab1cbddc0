package caddymodule

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
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
// request's own keys were not looked up: every request passed. A request
// whose token no named channel holds (X-Access-Token) has its keys looked
// up alone: at 02f1027 it passed.
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
	// ownHeader moves r's token to X-Access-Token, a header no named
	// channel reads (an API's own).
	ownHeader := func(r *http.Request) *http.Request {
		_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		r.Header.Del("Authorization")
		r.Header.Set("X-Access-Token", tok)
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
		// No named token: the keys are looked up alone.
		{"opaque in X-Access-Token, DPoP proof of the revoked key", ownHeader(withProof(opaque, dpop)), http.StatusUnauthorized},
		{"opaque in X-Access-Token, the revoked certificate", ownHeader(withCert(opaque, cert)), http.StatusUnauthorized},
		{"opaque in X-Access-Token, DPoP proof of another key", ownHeader(withProof(opaque, otherDPoP)), http.StatusOK},
		{"opaque in X-Access-Token, another certificate", ownHeader(withCert(opaque, otherCert)), http.StatusOK},
		{"nothing token-shaped, the revoked certificate", withCert("", cert), http.StatusOK},
	} {
		res := serve(t, h, &upstream{}, tc.r)
		if res.status != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, res.status, tc.want)
		}
	}
}

// TestKeysAloneStoreDownPasses: a request made with a key and no named
// token passes while the store cannot be read, even under fail_mode
// closed (it may carry no token at all), counted as a string unchecked;
// with a named opaque token it is refused 503, as before.
func TestKeysAloneStoreDownPasses(t *testing.T) {
	h := newTestHandler(t, &Handler{FailMode: "closed"}, brokenStore{})
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	r.Header.Set("X-Access-Token", "opaque-access-token-0123456789")
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: []byte("DER")}}}
	if res := serve(t, h, &upstream{}, r); res.status != http.StatusOK {
		t.Errorf("keys alone, store down: %d, want 200", res.status)
	}
	named := bearer("/api", "opaque-access-token-0123456789")
	named.TLS = r.TLS
	if res := serve(t, h, &upstream{}, named); res.status != http.StatusServiceUnavailable {
		t.Errorf("named opaque token, store down: %d, want 503", res.status)
	}
}
