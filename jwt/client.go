package jwt

import (
	"crypto/tls"
	"net/http"
)

// httpClient is the client that fetches the issuer's documents (the
// JWKS): bounded by JWKSTimeout, trusting RootCAs when they are set.
func (c *Config) httpClient() *http.Client {
	client := &http.Client{Timeout: c.JWKSTimeout}
	if c.RootCAs != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
		client.Transport = tr
	}
	return client
}
