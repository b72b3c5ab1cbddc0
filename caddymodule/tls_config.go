package caddymodule

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/caddyserver/caddy/v2"
)

// config builds the tls.Config of the Redis connections.
func (t *RedisTLS) config(repl *caddy.Replacer) (*tls.Config, error) {
	tc := &tls.Config{ServerName: repl.ReplaceAll(t.ServerName, ""), InsecureSkipVerify: t.InsecureSkipVerify}
	var err error
	if tc.MinVersion, err = tlsMinVersion(t.MinVersion); err != nil {
		return nil, fmt.Errorf("token_revocation: redis tls: %w", err)
	}
	if t.CAFile != "" {
		if tc.RootCAs, err = certPool(repl.ReplaceAll(t.CAFile, "")); err != nil {
			return nil, fmt.Errorf("token_revocation: redis tls ca_file: %w", err)
		}
	}
	certFile, keyFile := repl.ReplaceAll(t.CertFile, ""), repl.ReplaceAll(t.KeyFile, "")
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("token_revocation: redis tls cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case certFile != "" || keyFile != "":
		return nil, fmt.Errorf("token_revocation: redis tls: give both cert_file and key_file (the client certificate and its key)")
	}
	return tc, nil
}

// tlsMinVersion parses a minimum TLS version: "" (1.2), "1.2" or "1.3".
func tlsMinVersion(v string) (uint16, error) {
	switch v {
	case "", "1.2", "tls1.2":
		return tls.VersionTLS12, nil
	case "1.3", "tls1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("min_version %q: want 1.2 or 1.3", v)
}

// certPool reads a PEM file of CA certificates.
func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%q holds no PEM certificate", file)
	}
	return pool, nil
}
