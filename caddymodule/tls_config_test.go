package caddymodule

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// writeCertPEM writes the test server's certificate and key as PEM files
// and returns their paths.
func writeCertPEM(t *testing.T, srv *httptest.Server) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	cert := srv.TLS.Certificates[0]
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestRedisTLSConfig(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	certFile, keyFile := writeCertPEM(t, srv)
	repl := caddy.NewReplacer()

	tc, err := (&RedisTLS{CAFile: certFile, CertFile: certFile, KeyFile: keyFile, MinVersion: "1.3", ServerName: "redis.internal"}).config(repl)
	if err != nil {
		t.Fatal(err)
	}
	if len(tc.Certificates) != 1 || tc.MinVersion != tls.VersionTLS13 || tc.RootCAs == nil || tc.ServerName != "redis.internal" {
		t.Fatalf("tls config: %d certificates, min version %x, RootCAs %v, server name %q", len(tc.Certificates), tc.MinVersion, tc.RootCAs != nil, tc.ServerName)
	}
	if tc, err := (&RedisTLS{}).config(repl); err != nil || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("default: %v, min version %x, want TLS 1.2", err, tc.MinVersion)
	}
	for name, bad := range map[string]*RedisTLS{
		"min_version": {MinVersion: "1.1"},
		"cert_file":   {CertFile: certFile},
		"ca_file":     {CAFile: keyFile},
		"key_file":    {CertFile: certFile, KeyFile: certFile},
	} {
		if _, err := bad.config(repl); err == nil || !strings.HasPrefix(err.Error(), "token_revocation: redis tls") {
			t.Errorf("bad %s: %v", name, err)
		}
	}
}

func TestRedisTLSCaddyfile(t *testing.T) {
	h, err := parseHandler(t, `token_revocation {
	store redis {
		tls {
			cert_file /c.pem
			key_file /k.pem
			min_version 1.3
		}
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Store.Redis.TLS; got.CertFile != "/c.pem" || got.KeyFile != "/k.pem" || got.MinVersion != "1.3" {
		t.Fatalf("parsed %+v", got)
	}
}
