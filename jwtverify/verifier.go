// Package jwtverify verifies JSON Web Tokens (signed, compact JWS) for
// caddy-token-revocation, so that their claims (jti, sid, sub) may be
// trusted to revoke more than the token itself.
//
// A Verifier checks the tokens of one issuer: signature against the
// issuer's keys (a JWKS URL, static public keys, HMAC secrets), algorithm
// against an allow-list, then iss, aud, exp, nbf and iat. A Set holds the
// Verifiers of several issuers and picks one by the token's iss.
//
// Key confusion is ruled out by construction: an HMAC algorithm (HS*) is
// verified only with a configured HMAC secret, never with a public key or a
// key from a JWKS; an asymmetric algorithm only with a public key of the
// matching type (RSA for RS*/PS*, the curve for ES*, Ed25519 for EdDSA).
// "none" is never accepted.
package jwtverify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/zap"
)

// Why a token failed verification. Every error Verify returns wraps one.
var (
	// ErrMalformed: not a compact JWS with a JSON payload.
	ErrMalformed = errors.New("malformed token")
	// ErrUnknownIssuer: no Verifier is configured for the token's iss.
	ErrUnknownIssuer = errors.New("unknown issuer")
	// ErrAlgorithm: the token's alg is not on the allow-list.
	ErrAlgorithm = errors.New("algorithm not allowed")
	// ErrNoKey: no configured key fits the token's alg and kid.
	ErrNoKey = errors.New("no matching key")
	// ErrSignature: the signature does not verify with any matching key.
	ErrSignature = errors.New("invalid signature")
	// ErrIssuer: iss is not the configured issuer.
	ErrIssuer = errors.New("wrong issuer")
	// ErrAudience: aud holds none of the configured audiences.
	ErrAudience = errors.New("wrong audience")
	// ErrExpired: exp has passed (beyond the clock skew).
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid: nbf or iat is in the future (beyond the clock skew).
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrClaims: a claim is missing or has the wrong type.
	ErrClaims = errors.New("invalid claims")
	// ErrKeysUnavailable: the token names a key that may exist, but the
	// JWKS could not be fetched. Not the token's fault: try again later.
	ErrKeysUnavailable = errors.New("signing keys unavailable")
)

// Defaults of a Config.
const (
	DefaultJWKSRefresh    = time.Hour
	DefaultJWKSMinRefresh = 10 * time.Second
	DefaultJWKSTimeout    = 5 * time.Second
	DefaultClockSkew      = time.Minute
	// MaxJWKSSize bounds a JWKS document.
	MaxJWKSSize = 1 << 20
	// MinHMACSecret is the shortest HMAC secret accepted (RFC 7518 section
	// 3.2: at least the hash size, 256 bits for HS256).
	MinHMACSecret = 32
)

// Config configures a Verifier: the issuer, its keys and what the tokens
// must satisfy.
type Config struct {
	// Issuer is the iss claim the tokens must carry, exactly. Required.
	Issuer string
	// Audiences: when set, a token's aud must hold at least one of them.
	Audiences []string
	// JWKSURL is where the issuer publishes its keys (http or https).
	JWKSURL string
	// DiscoveryURL, when JWKSURL is empty, is the issuer's OpenID Connect
	// discovery document (see DiscoveryURL), whose jwks_uri says where the
	// keys are.
	DiscoveryURL string
	// HTTPClient fetches the JWKS and the discovery document (its TLS
	// settings: a private CA, say). Default: a plain client with
	// JWKSTimeout.
	HTTPClient *http.Client
	// PublicKeys are static keys, each PEM (one or more PUBLIC KEY, RSA
	// PUBLIC KEY or CERTIFICATE blocks) or JSON (a JWK or a JWKS).
	PublicKeys [][]byte
	// HMACSecrets are shared secrets for HS256/HS384/HS512.
	HMACSecrets [][]byte
	// Algorithms is the allow-list. Default: every asymmetric algorithm
	// that fits the configured keys (all of them with a JWKS URL), and
	// HS256/384/512 when an HMAC secret is set. "none" is never allowed.
	Algorithms []string
	// ClockSkew is the leeway on exp, nbf and iat. Default: 1m.
	ClockSkew time.Duration
	// JWKSRefresh is the age after which the JWKS is fetched again before
	// it is used. Default: 1h.
	JWKSRefresh time.Duration
	// JWKSMinRefresh is the least time between two fetches of the JWKS,
	// also when a token names an unknown kid. Default: 10s.
	JWKSMinRefresh time.Duration
	// JWKSTimeout bounds one fetch of the JWKS. Default: 5s.
	JWKSTimeout time.Duration
	// Logger receives warnings about the JWKS. Default: none.
	Logger *zap.Logger
}

// Options are per-call requirements on top of the Config.
type Options struct {
	// RequireExpiry fails a token without exp.
	RequireExpiry bool
	// RequireIssuedAt fails a token without iat.
	RequireIssuedAt bool
	// RequireAudience fails when the Config has no Audiences (protocols
	// such as Back-Channel Logout must check aud).
	RequireAudience bool
	// WaitForNewKey: a token whose kid is not in the JWKS, when the JWKS
	// was fetched less than JWKSMinRefresh ago (so the unknown kid cannot
	// fetch it again now), waits until JWKSMinRefresh has passed since
	// that fetch and fetches once more, rather than fail: the issuer may
	// have just published the key, and a pushed message (a Back-Channel
	// Logout token, a SET) is not sent again. One wait per kid: calls
	// naming the same kid meanwhile share it, and a kid still unknown
	// after it is not waited for again. The wait ends early with ctx.
	WaitForNewKey bool
}

// Claims are the verified registered claims, and sid.
type Claims struct {
	josejwt.Claims
	// SessionID is the OIDC sid claim.
	SessionID string `json:"sid,omitempty"`
}

// Token is a verified token.
type Token struct {
	// Algorithm and KeyID are the alg and kid header parameters.
	Algorithm, KeyID string
	// Type is the typ header parameter ("" when absent).
	Type string
	// Payload is the verified payload, JSON.
	Payload []byte
	// Claims are the registered claims read from Payload.
	Claims Claims
}

// key is one verification key.
type key struct {
	kid string
	alg string // the JWK's alg, "" when any fitting alg may use it
	pub any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// Verifier verifies the tokens of one issuer. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	algs   []jose.SignatureAlgorithm
	static []key
	hmac   [][]byte
	jwks   *jwksCache // nil without a JWKS URL
	now    func() time.Time
}

var (
	asymmetric = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
	symmetric  = []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512}
)

// New checks cfg and builds a Verifier. It does not fetch the JWKS: call
// Start to fetch it in the background, or let the first Verify fetch it.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{cfg: cfg, now: time.Now}
	if cfg.Issuer == "" {
		return nil, errors.New("issuer is required: the iss claim of the tokens to verify")
	}
	if v.cfg.ClockSkew == 0 {
		v.cfg.ClockSkew = DefaultClockSkew
	}
	if v.cfg.Logger == nil {
		v.cfg.Logger = zap.NewNop()
	}
	for i, pk := range cfg.PublicKeys {
		keys, err := parsePublicKeys(pk)
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w", i+1, err)
		}
		v.static = append(v.static, keys...)
	}
	for i, s := range cfg.HMACSecrets {
		if len(s) < MinHMACSecret {
			return nil, fmt.Errorf("hmac secret %d is %d bytes: use at least %d", i+1, len(s), MinHMACSecret)
		}
		v.hmac = append(v.hmac, s)
	}
	switch {
	case cfg.JWKSURL != "":
		if err := checkHTTPURL(cfg.JWKSURL); err != nil {
			return nil, fmt.Errorf("jwks_url %w", err)
		}
		v.jwks = newJWKSCache(&v.cfg, func() time.Time { return v.now() })
	case cfg.DiscoveryURL != "":
		if err := checkHTTPURL(cfg.DiscoveryURL); err != nil {
			return nil, fmt.Errorf("discovery %w", err)
		}
		v.jwks = newJWKSCache(&v.cfg, func() time.Time { return v.now() })
	}
	if len(v.static) == 0 && len(v.hmac) == 0 && v.jwks == nil {
		return nil, errors.New("no keys: set jwks_url, discovery, a public key or an hmac secret")
	}
	algs, err := v.allowList(cfg.Algorithms)
	if err != nil {
		return nil, err
	}
	v.algs = algs
	return v, nil
}

// allowList checks the configured algorithms, or builds the default list.
func (v *Verifier) allowList(names []string) ([]jose.SignatureAlgorithm, error) {
	if len(names) == 0 {
		var out []jose.SignatureAlgorithm
		for _, a := range asymmetric {
			if v.jwks != nil || slices.ContainsFunc(v.static, func(k key) bool { return fits(a, k) }) {
				out = append(out, a)
			}
		}
		if len(v.hmac) > 0 {
			out = append(out, symmetric...)
		}
		return out, nil
	}
	var out []jose.SignatureAlgorithm
	for _, n := range names {
		a := jose.SignatureAlgorithm(n)
		switch {
		case strings.EqualFold(n, "none"):
			return nil, errors.New(`algorithm "none" is never allowed`)
		case slices.Contains(symmetric, a):
			if len(v.hmac) == 0 {
				return nil, fmt.Errorf("algorithm %s needs an hmac secret", n)
			}
		case !slices.Contains(asymmetric, a):
			return nil, fmt.Errorf("unknown algorithm %q (known: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA HS256 HS384 HS512)", n)
		}
		out = append(out, a)
	}
	return out, nil
}

// Issuer returns the issuer this Verifier checks.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// Algorithms returns the allow-list.
func (v *Verifier) Algorithms() []string {
	out := make([]string, len(v.algs))
	for i, a := range v.algs {
		out[i] = string(a)
	}
	return out
}

// Start fetches the JWKS in the background, so the first token does not
// wait for it. A failure is logged as a warning and retried when a token
// needs the keys. It never blocks.
func (v *Verifier) Start() {
	if v.jwks != nil {
		v.jwks.start()
	}
}

// Close stops a JWKS fetch in progress. The Verifier still verifies with
// the keys it holds.
func (v *Verifier) Close() {
	if v.jwks != nil {
		v.jwks.close()
	}
}

// Verify checks raw (a compact JWS) and returns its verified content. The
// error wraps one of the Err* values and never contains the token.
func (v *Verifier) Verify(ctx context.Context, raw string, opts Options) (*Token, error) {
	t, err := v.verifySigned(ctx, raw, opts.WaitForNewKey)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(t.Payload, &t.Claims); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	if err := v.checkClaims(&t.Claims, opts); err != nil {
		return nil, err
	}
	return t, nil
}

// VerifySignature checks raw's signature alone and returns its payload,
// for signed content that is not a JWT of this issuer (no iss, no exp:
// Keycloak's admin actions); the caller checks what the payload says. Of
// opts only WaitForNewKey applies.
func (v *Verifier) VerifySignature(ctx context.Context, raw string, opts Options) ([]byte, error) {
	t, err := v.verifySigned(ctx, raw, opts.WaitForNewKey)
	if err != nil {
		return nil, err
	}
	return t.Payload, nil
}

// verifySigned parses raw and verifies its signature: a Token with its
// header fields and payload, claims not read. wait: see
// Options.WaitForNewKey.
func (v *Verifier) verifySigned(ctx context.Context, raw string, wait bool) (*Token, error) {
	jws, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) {
			return nil, fmt.Errorf("%w: %s (allowed: %s)", ErrAlgorithm, algErr.Got, strings.Join(v.Algorithms(), " "))
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want exactly one signature", ErrMalformed)
	}
	hdr := jws.Signatures[0].Header
	alg := jose.SignatureAlgorithm(hdr.Algorithm)
	t := &Token{Algorithm: hdr.Algorithm, KeyID: hdr.KeyID}
	if typ, ok := hdr.ExtraHeaders[jose.HeaderType]; ok {
		s, ok := typ.(string)
		if !ok {
			return nil, fmt.Errorf("%w: typ header is not a string", ErrMalformed)
		}
		t.Type = s
	}

	payload, err := v.verifySignature(ctx, jws, alg, hdr.KeyID, wait)
	if err != nil {
		return nil, err
	}
	t.Payload = payload
	return t, nil
}

// verifySignature finds the keys that fit alg and kid and returns the
// payload once one of them verifies the signature. wait: see
// Options.WaitForNewKey.
func (v *Verifier) verifySignature(ctx context.Context, jws *jose.JSONWebSignature, alg jose.SignatureAlgorithm, kid string, wait bool) ([]byte, error) {
	if slices.Contains(symmetric, alg) {
		// Only the configured secrets: never a public key used as an HMAC
		// secret.
		for _, s := range v.hmac {
			if p, err := jws.Verify(s); err == nil {
				return p, nil
			}
		}
		return nil, fmt.Errorf("%w (%s)", ErrSignature, alg)
	}
	var jwksKeys []key
	var jwksErr error
	if v.jwks != nil {
		jwksKeys, jwksErr = v.jwks.get(ctx, false)
	}
	cands := candidates(alg, kid, v.static, jwksKeys)
	if len(cands) == 0 && v.jwks != nil {
		// An unknown kid may be a key the issuer has just published.
		jwksKeys, jwksErr = v.jwks.get(ctx, true)
		cands = candidates(alg, kid, v.static, jwksKeys)
		if len(cands) == 0 && wait && v.jwks.awaitFloor(ctx, kid) {
			jwksKeys, jwksErr = v.jwks.get(ctx, false)
			cands = candidates(alg, kid, v.static, jwksKeys)
		}
	}
	if len(cands) == 0 {
		if jwksErr != nil {
			return nil, fmt.Errorf("%w: no key for kid %q and %v", ErrKeysUnavailable, kid, jwksErr)
		}
		return nil, fmt.Errorf("%w for alg %s and kid %q", ErrNoKey, alg, kid)
	}
	for _, k := range cands {
		if p, err := jws.Verify(k.pub); err == nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w (%s, kid %q)", ErrSignature, alg, kid)
}

// candidates are the keys of lists that fit alg and kid: a key with a kid
// fits a token with the same kid or none; a key without one fits any.
func candidates(alg jose.SignatureAlgorithm, kid string, lists ...[]key) []key {
	var out []key
	for _, l := range lists {
		for _, k := range l {
			if (kid == "" || k.kid == "" || k.kid == kid) && fits(alg, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// fits reports whether k may verify a signature made with alg.
func fits(alg jose.SignatureAlgorithm, k key) bool {
	if k.alg != "" && k.alg != string(alg) {
		return false
	}
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		switch alg {
		case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
			return true
		}
	case *ecdsa.PublicKey:
		return alg == jose.ES256 && pub.Curve == elliptic.P256() ||
			alg == jose.ES384 && pub.Curve == elliptic.P384() ||
			alg == jose.ES512 && pub.Curve == elliptic.P521()
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// checkClaims checks iss, aud, exp, nbf and iat.
func (v *Verifier) checkClaims(c *Claims, opts Options) error {
	if c.Issuer != v.cfg.Issuer {
		return fmt.Errorf("%w: iss %q, want %q", ErrIssuer, c.Issuer, v.cfg.Issuer)
	}
	switch {
	case len(v.cfg.Audiences) > 0:
		if !slices.ContainsFunc(v.cfg.Audiences, func(a string) bool { return slices.Contains(c.Audience, a) }) {
			return fmt.Errorf("%w: aud %q holds none of %q", ErrAudience, []string(c.Audience), v.cfg.Audiences)
		}
	case opts.RequireAudience:
		return fmt.Errorf("%w: no audience configured for issuer %q to check aud against", ErrAudience, v.cfg.Issuer)
	}
	now := v.now()
	skew := v.cfg.ClockSkew
	switch {
	case c.Expiry != nil:
		if now.After(c.Expiry.Time().Add(skew)) {
			return fmt.Errorf("%w at %s", ErrExpired, c.Expiry.Time().UTC().Format(time.RFC3339))
		}
	case opts.RequireExpiry:
		return fmt.Errorf("%w: exp is missing", ErrClaims)
	}
	if c.NotBefore != nil && now.Add(skew).Before(c.NotBefore.Time()) {
		return fmt.Errorf("%w: nbf %s", ErrNotYetValid, c.NotBefore.Time().UTC().Format(time.RFC3339))
	}
	switch {
	case c.IssuedAt != nil:
		if now.Add(skew).Before(c.IssuedAt.Time()) {
			return fmt.Errorf("%w: iat %s is in the future", ErrNotYetValid, c.IssuedAt.Time().UTC().Format(time.RFC3339))
		}
	case opts.RequireIssuedAt:
		return fmt.Errorf("%w: iat is missing", ErrClaims)
	}
	return nil
}

// Set holds the Verifiers of several issuers.
type Set struct {
	byIssuer map[string]*Verifier
}

// NewSet builds a Set; two Verifiers may not share an issuer.
func NewSet(vs ...*Verifier) (*Set, error) {
	s := &Set{byIssuer: make(map[string]*Verifier, len(vs))}
	for _, v := range vs {
		if _, dup := s.byIssuer[v.Issuer()]; dup {
			return nil, fmt.Errorf("issuer %q configured twice", v.Issuer())
		}
		s.byIssuer[v.Issuer()] = v
	}
	return s, nil
}

// Len returns the number of issuers.
func (s *Set) Len() int { return len(s.byIssuer) }

// Verifier returns the Verifier of issuer, or nil.
func (s *Set) Verifier(issuer string) *Verifier { return s.byIssuer[issuer] }

// Start starts every Verifier (see Verifier.Start).
func (s *Set) Start() {
	for _, v := range s.byIssuer {
		v.Start()
	}
}

// Close closes every Verifier.
func (s *Set) Close() {
	for _, v := range s.byIssuer {
		v.Close()
	}
}

// Verify picks the Verifier by raw's (unverified) iss and verifies raw with
// it: the Verifier then checks iss again, on the verified payload.
func (s *Set) Verify(ctx context.Context, raw string, opts Options) (*Token, error) {
	iss, err := UnverifiedIssuer(raw)
	if err != nil {
		return nil, err
	}
	v := s.byIssuer[iss]
	if v == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownIssuer, iss)
	}
	return v.Verify(ctx, raw, opts)
}

// UnverifiedIssuer reads the iss claim of a compact JWS without verifying
// anything: good only for choosing the keys to verify it with.
func UnverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	var c struct {
		Issuer *string `json:"iss"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("%w: payload is not a JSON object with a string iss", ErrMalformed)
	}
	if c.Issuer == nil {
		return "", fmt.Errorf("%w: iss is missing", ErrClaims)
	}
	return *c.Issuer, nil
}
