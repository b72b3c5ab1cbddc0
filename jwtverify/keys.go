package jwtverify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"go.uber.org/zap"
)

// parsePublicKeys reads static keys: PEM (PUBLIC KEY, RSA PUBLIC KEY or
// CERTIFICATE blocks) or JSON (a JWK, or a JWKS with "keys").
func parsePublicKeys(data []byte) ([]key, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(data, &set); err != nil {
			return nil, fmt.Errorf("not a JWK or JWKS: %v", err)
		}
		if set.Keys == nil {
			set.Keys = []json.RawMessage{data}
		}
		var out []key
		for i, raw := range set.Keys {
			k, err := parseJWK(raw)
			if err != nil {
				return nil, fmt.Errorf("JWK %d: %w", i+1, err)
			}
			out = append(out, k)
		}
		if len(out) == 0 {
			return nil, errors.New("the JWKS holds no keys")
		}
		return out, nil
	}
	var out []key
	for rest := data; len(bytes.TrimSpace(rest)) > 0; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("neither PEM nor JSON (JWK/JWKS)")
		}
		pub, err := parsePEMBlock(block)
		if err != nil {
			return nil, err
		}
		out = append(out, key{pub: pub})
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}

func parsePEMBlock(b *pem.Block) (any, error) {
	var pub any
	var err error
	switch b.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE (never a private key)", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("PEM block %q: %v", b.Type, err)
	}
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return pub, nil
	}
	return nil, fmt.Errorf("PEM block %q: unsupported key type %T (want RSA, ECDSA or Ed25519)", b.Type, pub)
}

// parseJWK reads one public signing key. Symmetric keys, private keys and
// encryption keys are refused: a JWK never becomes an HMAC secret.
func parseJWK(raw []byte) (key, error) {
	var probe struct {
		Kty string  `json:"kty"`
		Use string  `json:"use"`
		D   *string `json:"d"`
		K   *string `json:"k"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return key{}, err
	}
	switch {
	case probe.Kty == "oct" || probe.K != nil:
		return key{}, errors.New("a symmetric (oct) key: configure HMAC secrets as hmac_secret")
	case probe.D != nil:
		return key{}, errors.New("a private key: publish only the public part")
	case probe.Use != "" && probe.Use != "sig":
		return key{}, fmt.Errorf("use %q: not a signing key", probe.Use)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return key{}, err
	}
	if !jwk.Valid() || !jwk.IsPublic() {
		return key{}, fmt.Errorf("kty %q: not a valid RSA, EC or OKP public key", probe.Kty)
	}
	return key{kid: jwk.KeyID, alg: jwk.Algorithm, pub: jwk.Key}, nil
}

// parseJWKS reads a fetched JWKS, skipping the keys it cannot use
// (encryption keys, unsupported types) so one odd key does not hide the rest.
func parseJWKS(body []byte) (keys []key, skipped int, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, 0, fmt.Errorf("not a JWKS: %v", err)
	}
	for _, raw := range set.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			skipped++
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("no usable signing key among %d", len(set.Keys))
	}
	return keys, skipped, nil
}

// jwksCache holds the keys fetched from a JWKS URL. It fetches when the
// keys are older than JWKSRefresh or a token names an unknown kid, never
// more than once per JWKSMinRefresh, and keeps serving the keys it has when
// a fetch fails.
type jwksCache struct {
	cfg    *Config
	now    func() time.Time
	client *http.Client
	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	// started is the first fetch start began, done once it returned:
	// close waits for it, so nothing logs after its owner is gone.
	started sync.WaitGroup

	fetchMu sync.Mutex // one fetch at a time

	mu        sync.Mutex
	keys      []key
	loaded    bool      // keys were fetched at least once
	fetched   time.Time // last successful fetch
	attempted time.Time // last fetch, successful or not
	err       error     // the last fetch's error; nil after a success

	discovered   string    // the jwks_uri of the discovery document
	discoveredAt time.Time // when it was fetched

	// Options.WaitForNewKey: the waits in progress, by kid (closed once
	// the fetch after the floor is done), and the kids still unknown
	// after one (not waited for again).
	waits  map[string]chan struct{}
	missed map[string]bool
}

// maxMissedKids bounds jwksCache.missed: beyond it, it starts again
// (kids made up by a caller cost one wait each, then).
const maxMissedKids = 1024

func newJWKSCache(cfg *Config, now func() time.Time) *jwksCache {
	if cfg.JWKSRefresh <= 0 {
		cfg.JWKSRefresh = DefaultJWKSRefresh
	}
	if cfg.JWKSMinRefresh < 0 {
		cfg.JWKSMinRefresh = 0
	} else if cfg.JWKSMinRefresh == 0 {
		cfg.JWKSMinRefresh = DefaultJWKSMinRefresh
	}
	if cfg.JWKSTimeout <= 0 {
		cfg.JWKSTimeout = DefaultJWKSTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &jwksCache{
		cfg:    cfg,
		now:    now,
		client: httpClient(cfg),
		ctx:    ctx,
		cancel: cancel,
		waits:  map[string]chan struct{}{},
		missed: map[string]bool{},
	}
}

func (c *jwksCache) start() { c.started.Go(func() { c.refresh(c.ctx) }) }

// close cancels a fetch in progress and waits for the one start began.
func (c *jwksCache) close() {
	c.cancel()
	c.started.Wait()
}

// get returns the current keys, fetching first when they are stale or
// force is set (and the floor allows). err is the last fetch's error: the
// keys may then be stale, or none.
func (c *jwksCache) get(ctx context.Context, force bool) ([]key, error) {
	c.mu.Lock()
	stale := !c.loaded || c.now().Sub(c.fetched) >= c.cfg.JWKSRefresh
	c.mu.Unlock()
	if force || stale {
		c.refresh(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys, c.err
}

// awaitFloor waits until JWKSMinRefresh has passed since the last fetch
// (at most that long) and fetches once more, for a token naming kid that
// no key fits (Options.WaitForNewKey). Calls for the same kid share one
// wait; a kid still unknown after it is not waited for again. It reports
// whether the fetch was made (false: kid was waited for before, or ctx
// ended first).
func (c *jwksCache) awaitFloor(ctx context.Context, kid string) bool {
	c.mu.Lock()
	if c.missed[kid] {
		c.mu.Unlock()
		return false
	}
	done, ok := c.waits[kid]
	if !ok {
		done = make(chan struct{})
		c.waits[kid] = done
		wait := c.cfg.JWKSMinRefresh
		if !c.attempted.IsZero() {
			wait -= c.now().Sub(c.attempted)
		}
		go c.fetchAfter(kid, min(wait, c.cfg.JWKSMinRefresh), done)
	}
	c.mu.Unlock()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// fetchAfter waits d, fetches the JWKS (the cache's own context: a caller
// that gives up does not cancel it for the others) and closes done. A
// cache closed meanwhile fetches nothing.
func (c *jwksCache) fetchAfter(kid string, d time.Duration, done chan struct{}) {
	defer close(done)
	t := time.NewTimer(max(d, 0))
	select {
	case <-t.C:
		c.refresh(c.ctx)
	case <-c.ctx.Done():
		t.Stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.waits, kid)
	if c.ctx.Err() != nil {
		return
	}
	for _, k := range c.keys {
		if k.kid == kid {
			return
		}
	}
	if len(c.missed) >= maxMissedKids {
		clear(c.missed)
	}
	c.missed[kid] = true
	c.cfg.Logger.Info("JWKS fetched again after jwks_min_refresh for a token's unknown kid; it is still unknown",
		zap.String("issuer", c.cfg.Issuer), zap.String("kid", kid))
}

// refresh fetches the JWKS unless the last fetch was less than
// JWKSMinRefresh ago. A caller that arrives while another fetches waits for
// that fetch and uses its result.
func (c *jwksCache) refresh(ctx context.Context) {
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	now := c.now()
	c.mu.Lock()
	if !c.attempted.IsZero() && now.Sub(c.attempted) < c.cfg.JWKSMinRefresh {
		c.mu.Unlock()
		return
	}
	c.attempted = now
	hadErr := c.err != nil
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, c.cfg.JWKSTimeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	keys, skipped, err := c.fetch(ctx)

	c.mu.Lock()
	loaded, fetched := c.loaded, c.fetched
	if err == nil {
		c.keys, c.loaded, c.fetched, c.err = keys, true, now, nil
	} else {
		c.err = err
	}
	c.mu.Unlock()

	log := c.cfg.Logger.With(zap.String("issuer", c.cfg.Issuer), zap.String("jwks_url", c.cfg.JWKSURL))
	switch {
	case err != nil && loaded:
		log.Warn("JWKS fetch failed; still using the keys fetched before",
			zap.Time("fetched", fetched), zap.Error(err))
	case err != nil:
		log.Warn("JWKS fetch failed; tokens of this issuer cannot be verified until it succeeds (retried when a token needs it)",
			zap.Error(err))
	case hadErr:
		log.Info("JWKS fetched again", zap.Int("keys", len(keys)), zap.Int("skipped", skipped))
	default:
		log.Debug("JWKS fetched", zap.Int("keys", len(keys)), zap.Int("skipped", skipped))
	}
}

func (c *jwksCache) fetch(ctx context.Context) ([]key, int, error) {
	jwksURL, err := c.jwksURL(ctx)
	if err != nil {
		return nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: status %d", jwksURL, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %v", jwksURL, err)
	}
	if len(body) > MaxJWKSSize {
		return nil, 0, fmt.Errorf("GET %s: the JWKS is larger than %d bytes", jwksURL, MaxJWKSSize)
	}
	return parseJWKS(body)
}

// httpClient is the client of the JWKS and discovery fetches:
// Config.HTTPClient (with JWKSTimeout unless it has a timeout), or a
// default one.
func httpClient(cfg *Config) *http.Client {
	if cfg.HTTPClient == nil {
		return &http.Client{Timeout: cfg.JWKSTimeout}
	}
	c := *cfg.HTTPClient
	if c.Timeout == 0 {
		c.Timeout = cfg.JWKSTimeout
	}
	return &c
}
