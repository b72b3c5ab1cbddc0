package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// testPKI is a CA and the certificates it signed, as PEM files.
type testPKI struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	// OtherClientCert, OtherClientKey: a second client certificate.
	OtherClientCert, OtherClientKey string
}

// newTestPKI writes a CA, a server certificate for 127.0.0.1 and localhost and two
// client certificates into dir.
func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalPKCS8PrivateKey(k)
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "PRIVATE KEY", kder)
	}
	p := testPKI{CA: write("ca.crt", "CERTIFICATE", caDER)}
	p.ServerCert, p.ServerKey = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	p.ClientCert, p.ClientKey = leaf(3, "client", x509.ExtKeyUsageClientAuth)
	p.OtherClientCert, p.OtherClientKey = leaf(4, "client2", x509.ExtKeyUsageClientAuth)
	return p
}

// TestRedisMutualTLS: the Redis store over TLS with a client certificate
// (cert_file, key_file), the server's CA (ca_file) and min_version 1.3,
// against a redis-server that requires client certificates.
func TestRedisMutualTLS(t *testing.T) {
	pki := newTestPKI(t, t.TempDir())
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	startRedis(t, "--tls-port", strconv.Itoa(ports[0]), "--tls-cert-file", pki.ServerCert, "--tls-key-file", pki.ServerKey,
		"--tls-ca-cert-file", pki.CA, "--tls-auth-clients", "yes", "--tls-protocols", "TLSv1.2 TLSv1.3")

	// The server refuses a client without a certificate: a connection
	// that works below is one that presented cert_file.
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(pki.CA)
	pool.AppendCertsFromPEM(b)
	if conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}); err == nil {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = conn.Write([]byte("PING\r\n"))
		buf := make([]byte, 64)
		if n, err := conn.Read(buf); err == nil {
			t.Fatalf("redis answered a client without a certificate: %q", buf[:n])
		}
		conn.Close()
	}

	up := startUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		store redis {
			address %s
			tls {
				ca_file %q
				cert_file %q
				key_file %q
				min_version 1.3
			}
		}
		revoke /oauth/revoke
	}
	reverse_proxy %s
}`, tlsAddr, pki.CA, pki.ClientCert, pki.ClientKey, up.Addr())
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"tls-1"}}); res.Status != http.StatusOK {
		t.Fatalf("revoke over mutual TLS: %d %s", res.Status, res.Body)
	}
	pollUntil(t, 5*time.Second, func() string {
		if res := get(t, c.URL("/api"), "Authorization: Bearer tls-1"); res.Status != http.StatusUnauthorized {
			return "the token revoked over TLS: " + strconv.Itoa(res.Status)
		}
		return ""
	})
	if res := get(t, c.URL("/api"), "Authorization: Bearer tls-2"); res.Status != http.StatusOK {
		t.Fatalf("a live token: %d", res.Status)
	}
}

// TestIdPOnPrivateCA: a jwt block's ca_file makes the JWKS fetch trust an
// identity provider whose certificate a private CA signed; without it the
// fetch fails and a call that needs verified claims answers 503.
func TestIdPOnPrivateCA(t *testing.T) {
	pki := newTestPKI(t, t.TempDir())
	idp := startIdP(t)
	idp.publish(t, "k1")
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	httpsIdP := httptest.NewUnstartedServer(idp.Config.Handler)
	httpsIdP.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	httpsIdP.StartTLS()
	t.Cleanup(httpsIdP.Close)
	up := startUpstream(t)
	gateway := func(caLine string) *Caddy {
		return startCaddy(t, `http:// {
	token_revocation {
		jwt %s {
			jwks_url %s
			jwks_min_refresh 100ms
			%s
		}
		logout_all /logout-all
	}
	reverse_proxy %s
}`, claimsIssuer, httpsIdP.URL, caLine, up.Addr())
	}

	without := gateway("")
	tok := idp.sign(t, "k1", "JWT", map[string]any{"sub": "hana", "iat": time.Now().Unix() - 30})
	if res := do(t, "POST", without.URL("/logout-all"), nil, "Authorization: Bearer "+tok); res.Status != http.StatusServiceUnavailable {
		t.Errorf("logout_all, the IdP's CA not trusted: %d %s, want 503", res.Status, res.Body)
	}
	without.Stop()

	with := gateway(fmt.Sprintf("ca_file %q", pki.CA))
	logoutAllSoon(t, with, tok, "IdP on a private CA, ca_file given")
	if s := get(t, with.URL("/api"), "Authorization: Bearer "+tok).Status; s != http.StatusUnauthorized {
		t.Errorf("hana's token after logout_all: %d, want 401", s)
	}
}
