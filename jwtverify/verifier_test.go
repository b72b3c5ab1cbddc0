package jwtverify

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
)

const issuer = "https://idp.test/realms/demo"

var (
	keyOnce sync.Once
	rsaA    *rsa.PrivateKey
	rsaB    *rsa.PrivateKey
)

// rsaKeys returns two RSA keys, generated once per test binary.
func rsaKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keyOnce.Do(func() {
		rsaA, _ = rsa.GenerateKey(rand.Reader, 2048)
		rsaB, _ = rsa.GenerateKey(rand.Reader, 2048)
	})
	return rsaA, rsaB
}

// sign returns a compact JWS of claims signed with priv under kid.
func sign(t *testing.T, alg jose.SignatureAlgorithm, priv any, kid string, claims map[string]any) string {
	t.Helper()
	return jwttest.Sign(t, alg, priv, kid, "JWT", claims)
}

// unsigned builds a token with the given header and claims and a junk
// signature.
func unsigned(header, claims map[string]any) string {
	h, _ := json.Marshal(header)
	return jwttest.Unsigned(string(h), claims, "c2ln")
}

func claims(extra map[string]any) map[string]any {
	now := time.Now().Unix()
	return jwttest.Claims(map[string]any{"iss": issuer, "sub": "u1", "aud": "api", "iat": now, "exp": now + 300, "jti": "j1"}, extra)
}

// jwksServer serves a JWKS whose keys the test can change, and counts the
// fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	status  int
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	s := &jwksServer{keys: keys, status: 200}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != 200 {
			w.WriteHeader(s.status)
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, keys ...jose.JSONWebKey) {
	s.mu.Lock()
	s.status, s.keys = status, keys
	s.mu.Unlock()
}

func pubJWK(priv any, kid string) jose.JSONWebKey {
	k := jose.JSONWebKey{Key: priv, KeyID: kid, Use: "sig"}
	return k.Public()
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newVerifier(t *testing.T, cfg Config) (*Verifier, *clock) {
	t.Helper()
	if cfg.Issuer == "" {
		cfg.Issuer = issuer
	}
	cfg.Logger = zaptest.NewLogger(t)
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	c := &clock{t: time.Now()}
	v.now = c.now
	return v, c
}

func TestVerifyJWKS(t *testing.T) {
	a, _ := rsaKeys(t)
	srv := newJWKSServer(t, pubJWK(a, "k1"))
	v, _ := newVerifier(t, Config{JWKSURL: srv.URL, Audiences: []string{"api"}})
	tok, err := v.Verify(context.Background(), sign(t, jose.RS256, a, "k1", claims(map[string]any{"sid": "S1"})), Options{RequireExpiry: true, RequireIssuedAt: true, RequireAudience: true})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Claims.Subject != "u1" || tok.Claims.SessionID != "S1" || tok.Claims.ID != "j1" || tok.KeyID != "k1" || tok.Type != "JWT" || tok.Algorithm != "RS256" {
		t.Errorf("verified token: %+v", tok)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1", n)
	}
	if _, err := v.Verify(context.Background(), sign(t, jose.PS256, a, "k1", claims(nil)), Options{}); err != nil {
		t.Errorf("PS256 with the same RSA key: %v", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches after a second token, want 1 (cached)", n)
	}
}

func TestJWKSRotation(t *testing.T) {
	a, b := rsaKeys(t)
	srv := newJWKSServer(t, pubJWK(a, "k1"))
	v, clk := newVerifier(t, Config{JWKSURL: srv.URL, JWKSMinRefresh: 10 * time.Second})
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, jose.RS256, a, "k1", claims(nil)), Options{}); err != nil {
		t.Fatal(err)
	}
	srv.set(200, pubJWK(a, "k1"), pubJWK(b, "k2"))
	clk.add(11 * time.Second)
	if _, err := v.Verify(ctx, sign(t, jose.RS256, b, "k2", claims(nil)), Options{}); err != nil {
		t.Fatalf("token signed by a newly published key: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}

	// Within the floor, unknown kids do not make it fetch again.
	for i := 0; i < 5; i++ {
		_, err := v.Verify(ctx, sign(t, jose.RS256, b, "k-unknown", claims(nil)), Options{})
		if !errors.Is(err, ErrNoKey) {
			t.Fatalf("unknown kid: %v, want ErrNoKey", err)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches after unknown kids within the floor, want 2", n)
	}
	// A key published while the floor holds is found once it has passed.
	srv.set(200, pubJWK(b, "k2"), pubJWK(a, "k3"))
	if _, err := v.Verify(ctx, sign(t, jose.RS256, a, "k3", claims(nil)), Options{}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("new key within the floor: %v, want ErrNoKey", err)
	}
	clk.add(11 * time.Second)
	if _, err := v.Verify(ctx, sign(t, jose.RS256, a, "k3", claims(nil)), Options{}); err != nil {
		t.Fatalf("new key after the floor: %v", err)
	}
	// k1 was withdrawn by the last fetch.
	if _, err := v.Verify(ctx, sign(t, jose.RS256, a, "k1", claims(nil)), Options{}); !errors.Is(err, ErrNoKey) {
		t.Errorf("withdrawn key: %v, want ErrNoKey", err)
	}
}

func TestJWKSPeriodicRefreshAndStale(t *testing.T) {
	a, b := rsaKeys(t)
	srv := newJWKSServer(t, pubJWK(a, "k1"))
	v, clk := newVerifier(t, Config{JWKSURL: srv.URL, JWKSRefresh: time.Hour})
	ctx := context.Background()
	// The clock moves hours: tokens without exp or iat.
	timeless := map[string]any{"exp": nil, "iat": nil}
	if _, err := v.Verify(ctx, sign(t, jose.RS256, a, "k1", claims(timeless)), Options{}); err != nil {
		t.Fatal(err)
	}
	// The IdP goes down: after the refresh interval the old keys still serve.
	srv.set(http.StatusServiceUnavailable)
	clk.add(2 * time.Hour)
	if _, err := v.Verify(ctx, sign(t, jose.RS256, a, "k1", claims(timeless)), Options{}); err != nil {
		t.Fatalf("stale keys with the IdP down: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (one refresh attempt)", n)
	}
	// A kid it does not know may be new: the answer is "unavailable", not
	// "invalid".
	clk.add(time.Minute)
	if _, err := v.Verify(ctx, sign(t, jose.RS256, b, "k2", claims(timeless)), Options{}); !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("unknown kid with the IdP down: %v, want ErrKeysUnavailable", err)
	}
	// Back up: the periodic refresh replaces the keys.
	srv.set(200, pubJWK(b, "k2"))
	clk.add(2 * time.Hour)
	if _, err := v.Verify(ctx, sign(t, jose.RS256, b, "k2", claims(timeless)), Options{}); err != nil {
		t.Fatalf("after the IdP is back: %v", err)
	}
}

func TestIdPDownAtStart(t *testing.T) {
	srv := newJWKSServer(t)
	srv.set(http.StatusInternalServerError)
	v, _ := newVerifier(t, Config{JWKSURL: srv.URL})
	done := make(chan struct{})
	go func() { v.Start(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Start blocked")
	}
	a, _ := rsaKeys(t)
	if _, err := v.Verify(context.Background(), sign(t, jose.RS256, a, "k1", claims(nil)), Options{}); !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("IdP down: %v, want ErrKeysUnavailable", err)
	}

	// An address nothing listens on: fails fast, does not hang.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	v2, _ := newVerifier(t, Config{JWKSURL: dead.URL, JWKSTimeout: time.Second})
	if _, err := v2.Verify(context.Background(), sign(t, jose.RS256, a, "k1", claims(nil)), Options{}); !errors.Is(err, ErrKeysUnavailable) {
		t.Errorf("IdP unreachable: %v, want ErrKeysUnavailable", err)
	}
}

func TestRejected(t *testing.T) {
	a, b := rsaKeys(t)
	srv := newJWKSServer(t, pubJWK(a, "k1"))
	secret := []byte(strings.Repeat("s", 32))
	v, _ := newVerifier(t, Config{JWKSURL: srv.URL, Audiences: []string{"api"}})
	withHMAC, _ := newVerifier(t, Config{JWKSURL: srv.URL, HMACSecrets: [][]byte{secret}})
	now := time.Now().Unix()

	pubDER, _ := x509.MarshalPKIXPublicKey(&a.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	jwkJSON, _ := json.Marshal(pubJWK(a, "k1"))

	cases := []struct {
		name string
		v    *Verifier
		tok  string
		opts Options
		want error
	}{
		{"other key, same kid", v, sign(t, jose.RS256, b, "k1", claims(nil)), Options{}, ErrSignature},
		{"other key, no kid", v, sign(t, jose.RS256, b, "", claims(nil)), Options{}, ErrSignature},
		{"alg none", v, unsigned(map[string]any{"alg": "none", "kid": "k1"}, claims(nil)), Options{}, ErrAlgorithm},
		{"alg none, empty signature", v, strings.TrimSuffix(unsigned(map[string]any{"alg": "none"}, claims(nil)), "c2ln"), Options{}, ErrAlgorithm},
		{"HS256 keyed with the RSA public key (PEM)", v, sign(t, jose.HS256, pubPEM, "k1", claims(nil)), Options{}, ErrAlgorithm},
		{"HS256 keyed with the RSA public key (JWK)", v, sign(t, jose.HS256, jwkJSON, "k1", claims(nil)), Options{}, ErrAlgorithm},
		{"HS256 keyed with the public key, HMAC configured", withHMAC, sign(t, jose.HS256, pubPEM, "k1", claims(nil)), Options{}, ErrSignature},
		{"wrong aud", v, sign(t, jose.RS256, a, "k1", claims(map[string]any{"aud": "other"})), Options{}, ErrAudience},
		{"no aud", v, sign(t, jose.RS256, a, "k1", claims(map[string]any{"aud": nil})), Options{}, ErrAudience},
		{"aud required, none configured", withHMAC, sign(t, jose.RS256, a, "k1", claims(nil)), Options{RequireAudience: true}, ErrAudience},
		{"wrong iss", v, sign(t, jose.RS256, a, "k1", claims(map[string]any{"iss": "https://evil"})), Options{}, ErrIssuer},
		{"expired", v, sign(t, jose.RS256, a, "k1", claims(map[string]any{"exp": now - 120})), Options{}, ErrExpired},
		{"not yet valid", v, sign(t, jose.RS256, a, "k1", claims(map[string]any{"nbf": now + 600})), Options{}, ErrNotYetValid},
		{"issued in the future", v, sign(t, jose.RS256, a, "k1", claims(map[string]any{"iat": now + 600})), Options{}, ErrNotYetValid},
		{"exp required", v, sign(t, jose.RS256, a, "k1", claims(map[string]any{"exp": nil})), Options{RequireExpiry: true}, ErrClaims},
		{"iat required", v, sign(t, jose.RS256, a, "k1", claims(map[string]any{"iat": nil})), Options{RequireIssuedAt: true}, ErrClaims},
		{"exp not a number", v, sign(t, jose.RS256, a, "k1", claims(map[string]any{"exp": "tomorrow"})), Options{}, ErrClaims},
		{"ES256 with no EC key", v, sign(t, jose.ES256, mustEC(t), "k1", claims(nil)), Options{}, ErrNoKey},
		{"not a JWS", v, "opaque-token", Options{}, ErrMalformed},
	}
	for _, c := range cases {
		_, err := c.v.Verify(context.Background(), c.tok, c.opts)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := withHMAC.Verify(context.Background(), sign(t, jose.HS256, secret, "", claims(nil)), Options{}); err != nil {
		t.Errorf("HS256 with the configured secret: %v", err)
	}
	// Skew: expired 30s ago is still within the default minute.
	if _, err := v.Verify(context.Background(), sign(t, jose.RS256, a, "k1", claims(map[string]any{"exp": now - 30})), Options{}); err != nil {
		t.Errorf("expired within the skew: %v", err)
	}
}

func mustEC(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestStaticKeys(t *testing.T) {
	a, _ := rsaKeys(t)
	ec := mustEC(t)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	rsaPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&a.PublicKey)})
	both := append(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}), rsaPKCS1...)
	edJWK, _ := json.Marshal(pubJWK(ed, "ed1"))

	v, _ := newVerifier(t, Config{PublicKeys: [][]byte{both, edJWK}})
	if got := strings.Join(v.Algorithms(), " "); got != "RS256 RS384 RS512 PS256 PS384 PS512 ES256 EdDSA" {
		t.Errorf("default algorithms %q", got)
	}
	for name, tok := range map[string]string{
		"RS256 (PKCS#1 PEM)": sign(t, jose.RS256, a, "", claims(nil)),
		"ES256 (PKIX PEM)":   sign(t, jose.ES256, ec, "any-kid", claims(nil)),
		"EdDSA (JWK)":        sign(t, jose.EdDSA, ed, "ed1", claims(nil)),
	} {
		if _, err := v.Verify(context.Background(), tok, Options{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := v.Verify(context.Background(), sign(t, jose.EdDSA, ed, "ed2", claims(nil)), Options{}); !errors.Is(err, ErrNoKey) {
		t.Errorf("EdDSA with another kid: %v, want ErrNoKey", err)
	}

	only, _ := newVerifier(t, Config{PublicKeys: [][]byte{both}, Algorithms: []string{"ES256"}})
	if _, err := only.Verify(context.Background(), sign(t, jose.RS256, a, "", claims(nil)), Options{}); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("RS256 outside the allow-list: %v, want ErrAlgorithm", err)
	}
}

func TestConfigErrors(t *testing.T) {
	a, _ := rsaKeys(t)
	privDER, _ := x509.MarshalPKCS8PrivateKey(a)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: a})
	octJWK := []byte(`{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI"}`)
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"no issuer":       {Config{JWKSURL: "https://x/jwks"}, "issuer is required"},
		"no keys":         {Config{Issuer: issuer}, "no keys"},
		"bad url":         {Config{Issuer: issuer, JWKSURL: "file:///etc/passwd"}, "http or https"},
		"alg none":        {Config{Issuer: issuer, JWKSURL: "https://x/jwks", Algorithms: []string{"none"}}, `"none" is never allowed`},
		"HS without key":  {Config{Issuer: issuer, JWKSURL: "https://x/jwks", Algorithms: []string{"HS256"}}, "needs an hmac secret"},
		"unknown alg":     {Config{Issuer: issuer, JWKSURL: "https://x/jwks", Algorithms: []string{"RS1"}}, "unknown algorithm"},
		"short secret":    {Config{Issuer: issuer, HMACSecrets: [][]byte{[]byte("short")}}, "at least 32"},
		"private PEM":     {Config{Issuer: issuer, PublicKeys: [][]byte{privPEM}}, "never a private key"},
		"private JWK":     {Config{Issuer: issuer, PublicKeys: [][]byte{privJWK}}, "a private key"},
		"symmetric JWK":   {Config{Issuer: issuer, PublicKeys: [][]byte{octJWK}}, "symmetric"},
		"garbage":         {Config{Issuer: issuer, PublicKeys: [][]byte{[]byte("hello")}}, "neither PEM nor JSON"},
		"empty JWKS JSON": {Config{Issuer: issuer, PublicKeys: [][]byte{[]byte(`{"keys":[]}`)}}, "no keys"},
	}
	for name, c := range cases {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
}

func TestJWKSSkipsUnusableKeys(t *testing.T) {
	a, _ := rsaKeys(t)
	good, _ := json.Marshal(pubJWK(a, "k1"))
	enc := jose.JSONWebKey{Key: &a.PublicKey, KeyID: "e1", Use: "enc"}
	encJSON, _ := json.Marshal(enc)
	body := `{"keys":[{"kty":"weird","kid":"w"},{"kty":"oct","k":"AAAA","kid":"s"},` + string(encJSON) + `,` + string(good) + `]}`
	keys, skipped, err := parseJWKS([]byte(body))
	if err != nil || len(keys) != 1 || skipped != 3 || keys[0].kid != "k1" {
		t.Errorf("parseJWKS: %d keys, %d skipped, %v; want 1 and 3", len(keys), skipped, err)
	}
}

func TestSet(t *testing.T) {
	a, b := rsaKeys(t)
	va, _ := newVerifier(t, Config{Issuer: "https://a", PublicKeys: [][]byte{mustJSON(pubJWK(a, "k"))}})
	vb, _ := newVerifier(t, Config{Issuer: "https://b", PublicKeys: [][]byte{mustJSON(pubJWK(b, "k"))}})
	s, err := NewSet(va, vb)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Verify(ctx, sign(t, jose.RS256, b, "k", claims(map[string]any{"iss": "https://b"})), Options{}); err != nil {
		t.Errorf("issuer b: %v", err)
	}
	// b's token claiming to be a's is checked with a's key.
	if _, err := s.Verify(ctx, sign(t, jose.RS256, b, "k", claims(map[string]any{"iss": "https://a"})), Options{}); !errors.Is(err, ErrSignature) {
		t.Errorf("b's key posing as a: %v, want ErrSignature", err)
	}
	if _, err := s.Verify(ctx, sign(t, jose.RS256, a, "k", claims(map[string]any{"iss": "https://c"})), Options{}); !errors.Is(err, ErrUnknownIssuer) {
		t.Errorf("unknown issuer: %v", err)
	}
	if _, err := NewSet(va, va); err == nil {
		t.Error("duplicate issuer accepted")
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestWaitForNewKey: a key published within JWKSMinRefresh of the last
// fetch is found by a call with Options.WaitForNewKey (after the floor,
// one fetch shared by every call naming that kid meanwhile), while a call
// without it fails at once; a kid still unknown after the wait is not
// waited for again.
func TestWaitForNewKey(t *testing.T) {
	a, b := rsaKeys(t)
	srv := newJWKSServer(t, pubJWK(a, "k1"))
	v, _ := newVerifier(t, Config{JWKSURL: srv.URL, JWKSMinRefresh: 300 * time.Millisecond})
	v.now = time.Now // the wait is on the real clock
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, jose.RS256, a, "k1", claims(nil)), Options{}); err != nil {
		t.Fatal(err)
	}
	srv.set(200, pubJWK(a, "k1"), pubJWK(b, "k2"))
	k2 := sign(t, jose.RS256, b, "k2", claims(nil))
	wait := Options{WaitForNewKey: true}

	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			_, err := v.Verify(ctx, k2, wait)
			errs <- err
		}()
	}
	// Without the option: not held back by the waits under way (which
	// would make it succeed).
	for {
		v.jwks.mu.Lock()
		waiting := v.jwks.waits["k2"] != nil
		v.jwks.mu.Unlock()
		if waiting {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := v.Verify(ctx, k2, Options{}); !errors.Is(err, ErrNoKey) {
		t.Errorf("without WaitForNewKey, during the wait: %v, want ErrNoKey", err)
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("with WaitForNewKey: %v", err)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (one after the floor, shared)", n)
	}

	// A made-up kid: one wait, one fetch, then no more waits for it.
	bogus := sign(t, jose.RS256, b, "k-bogus", claims(nil))
	if _, err := v.Verify(ctx, bogus, wait); !errors.Is(err, ErrNoKey) {
		t.Fatalf("unknown kid after the wait: %v, want ErrNoKey", err)
	}
	v.jwks.mu.Lock()
	missed := v.jwks.missed["k-bogus"]
	v.jwks.mu.Unlock()
	if !missed {
		t.Error("the kid still unknown after the wait is not remembered")
	}
	before := srv.fetches.Load()
	v.jwks.mu.Lock()
	v.jwks.attempted = time.Now() // within the floor: only a wait could fetch
	v.jwks.mu.Unlock()
	if _, err := v.Verify(ctx, bogus, wait); !errors.Is(err, ErrNoKey) {
		t.Fatalf("the same unknown kid again: %v, want ErrNoKey", err)
	}
	if n := srv.fetches.Load(); n != before {
		t.Errorf("the same unknown kid waited and fetched again (%d fetches, want %d)", n, before)
	}

	// A caller that gives up does not wait out the floor.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := v.Verify(cctx, sign(t, jose.RS256, b, "k-other", claims(nil)), wait); !errors.Is(err, ErrNoKey) {
		t.Errorf("cancelled caller: %v, want ErrNoKey", err)
	}
}
