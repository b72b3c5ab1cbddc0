package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
)

// The connection to an identity provider: OpenID Connect discovery of its
// keys, and the CAs its TLS certificate is checked against.

// setConnection sets how cfg reaches the issuer, as a jwt block's
// discovery, jwks_url and ca_file say: discovery, when no key is
// configured (or discovery names the document), and the CAs of caFiles.
func setConnection(cfg *jwtverify.Config, discovery, jwksURL string, caFiles []string, expand func(what, v string) (string, error)) error {
	switch {
	case discovery != "" && jwksURL != "":
		return fmt.Errorf("set jwks_url or discovery, not both")
	case discovery != "":
		u, err := expand("discovery", discovery)
		if err != nil {
			return err
		}
		cfg.DiscoveryURL = u
	case cfg.JWKSURL == "" && len(cfg.PublicKeys) == 0 && len(cfg.HMACSecrets) == 0:
		cfg.DiscoveryURL = jwtverify.DiscoveryURL(cfg.Issuer)
	}
	if len(caFiles) == 0 {
		return nil
	}
	tr, err := caTransport(caFiles, expand)
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
