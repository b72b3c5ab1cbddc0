package caddymodule

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
)

// The connection to an identity provider: OpenID Connect discovery of its
// keys, and the CAs its TLS certificate is checked against.

// jwtConnOptions parse the jwt block's options about the connection.
var jwtConnOptions = map[string]func(jc *JWTConfig, d *caddyfile.Dispenser) error{
	"discovery": func(jc *JWTConfig, d *caddyfile.Dispenser) error { return oneArg(d, &jc.Discovery) },
	"ca_file":   func(jc *JWTConfig, d *caddyfile.Dispenser) error { return atLeastOneArg(d, &jc.CAFiles) },
}

// setConnection sets how cfg reaches the issuer: discovery, when no key is
// configured (or Discovery names the document), and the CAs of CAFiles.
func (jc *JWTConfig) setConnection(cfg *jwtverify.Config, expand func(what, v string) (string, error)) error {
	switch {
	case jc.Discovery != "" && jc.JWKSURL != "":
		return fmt.Errorf("set jwks_url or discovery, not both")
	case jc.Discovery != "":
		u, err := expand("discovery", jc.Discovery)
		if err != nil {
			return err
		}
		cfg.DiscoveryURL = u
	case cfg.JWKSURL == "" && len(cfg.PublicKeys) == 0 && len(cfg.HMACSecrets) == 0:
		cfg.DiscoveryURL = jwtverify.DiscoveryURL(cfg.Issuer)
	}
	if len(jc.CAFiles) == 0 {
		return nil
	}
	tr, err := caTransport(jc.CAFiles, expand)
	if err != nil {
		return err
	}
	cfg.HTTPClient = &http.Client{Transport: tr}
	return nil
}

// caTransport returns a transport that trusts the CA certificates of
// files (PEM; their names expanded by expand) besides the system's: the
// ca_file of a jwt or ssf block.
func caTransport(files []string, expand func(what, v string) (string, error)) (*http.Transport, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	for _, f := range files {
		f, err := expand("ca_file", f)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %v", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", f)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}
