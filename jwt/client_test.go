package jwt

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRootCAsTrustAPrivateCA: the JWKS client trusts RootCAs, and without
// them refuses a certificate the system pool does not know.
func TestRootCAsTrustAPrivateCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer srv.Close()

	if _, err := (&Config{}).httpClient().Get(srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without RootCAs: %v, want a certificate error", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	res, err := (&Config{RootCAs: pool}).httpClient().Get(srv.URL)
	if err != nil {
		t.Fatalf("with the server's CA in RootCAs: %v", err)
	}
	res.Body.Close()
}
