package jwtverify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"
)

// OpenID Connect Discovery 1.0: an issuer configured with no keys of its
// own publishes where they are in its discovery document,
// <issuer>/.well-known/openid-configuration, as jwks_uri. The document is
// fetched by the JWKS cache before the JWKS (so never at start, never
// blocking a request longer than one fetch), again when the keys are
// refreshed (JWKSRefresh), and while the issuer is down the jwks_uri and
// keys fetched before keep serving.

// DiscoveryPath is where an issuer publishes its discovery document,
// relative to the issuer URL.
const DiscoveryPath = "/.well-known/openid-configuration"

// DiscoveryURL is the discovery document's URL of issuer.
func DiscoveryURL(issuer string) string {
	return strings.TrimSuffix(issuer, "/") + DiscoveryPath
}

// MaxDiscoverySize bounds a discovery document.
const MaxDiscoverySize = 1 << 20

// jwksURL returns the URL to fetch the keys from: Config.JWKSURL, else the
// discovery document's jwks_uri (fetched when stale; the one fetched
// before when that fails).
func (c *jwksCache) jwksURL(ctx context.Context) (string, error) {
	if c.cfg.JWKSURL != "" {
		return c.cfg.JWKSURL, nil
	}
	c.mu.Lock()
	known, at := c.discovered, c.discoveredAt
	c.mu.Unlock()
	if known != "" && c.now().Sub(at) < c.cfg.JWKSRefresh {
		return known, nil
	}
	u, err := c.discover(ctx)
	if err != nil {
		if known != "" {
			c.cfg.Logger.Warn("OpenID discovery failed; still using the jwks_uri found before",
				zap.String("issuer", c.cfg.Issuer), zap.String("discovery", c.cfg.DiscoveryURL), zap.Error(err))
			return known, nil
		}
		return "", err
	}
	if u != known {
		c.cfg.Logger.Info("OpenID discovery: jwks_uri", zap.String("issuer", c.cfg.Issuer), zap.String("jwks_uri", u))
	}
	c.mu.Lock()
	c.discovered, c.discoveredAt = u, c.now()
	c.mu.Unlock()
	return u, nil
}

// discover fetches the discovery document and returns its jwks_uri. The
// document's issuer must be the configured one, exactly (OpenID Connect
// Discovery 1.0, section 4.3).
func (c *jwksCache) discover(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.DiscoveryURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("OpenID discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("OpenID discovery: GET %s: status %d", c.cfg.DiscoveryURL, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxDiscoverySize+1))
	if err != nil {
		return "", fmt.Errorf("OpenID discovery: GET %s: %v", c.cfg.DiscoveryURL, err)
	}
	if len(body) > MaxDiscoverySize {
		return "", fmt.Errorf("OpenID discovery: GET %s: larger than %d bytes", c.cfg.DiscoveryURL, MaxDiscoverySize)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("OpenID discovery: GET %s: not a JSON document: %v", c.cfg.DiscoveryURL, err)
	}
	if doc.Issuer != c.cfg.Issuer {
		return "", fmt.Errorf("OpenID discovery: %s names issuer %q, not %q: set the jwt block's issuer to the iss of the tokens, exactly", c.cfg.DiscoveryURL, doc.Issuer, c.cfg.Issuer)
	}
	if err := checkHTTPURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("OpenID discovery: %s: jwks_uri: %v", c.cfg.DiscoveryURL, err)
	}
	return doc.JWKSURI, nil
}

// checkHTTPURL checks that s is an absolute http or https URL.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q: want an http or https URL", s)
	}
	return nil
}
