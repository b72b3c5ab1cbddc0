package jwtverify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// discoveryServer is an issuer's discovery document, pointing at a JWKS.
type discoveryServer struct {
	*httptest.Server
	mu      sync.Mutex
	issuer  string
	jwksURI string
	status  int
	fetches atomic.Int32
}

func newDiscoveryServer(t *testing.T, issuer, jwksURI string, start func(*httptest.Server)) *discoveryServer {
	s := &discoveryServer{issuer: issuer, jwksURI: jwksURI, status: 200}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if r.URL.Path != DiscoveryPath {
			http.NotFound(w, r)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != 200 {
			w.WriteHeader(s.status)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": s.issuer, "jwks_uri": s.jwksURI})
	}))
	start(s.Server)
	t.Cleanup(s.Close)
	return s
}

func (s *discoveryServer) set(status int, jwksURI string) {
	s.mu.Lock()
	s.status, s.jwksURI = status, jwksURI
	s.mu.Unlock()
}

func TestDiscovery(t *testing.T) {
	a, b := rsaKeys(t)
	keysA := newJWKSServer(t, pubJWK(a, "k1"))
	keysB := newJWKSServer(t, pubJWK(b, "k2"))
	disc := newDiscoveryServer(t, issuer, keysA.URL, (*httptest.Server).Start)
	v, clk := newVerifier(t, Config{DiscoveryURL: disc.URL + DiscoveryPath, JWKSRefresh: time.Hour})
	ctx := context.Background()
	timeless := map[string]any{"exp": nil, "iat": nil}
	if _, err := v.Verify(ctx, sign(t, jose.RS256, a, "k1", claims(timeless)), Options{}); err != nil {
		t.Fatalf("key found through discovery: %v", err)
	}
	if disc.fetches.Load() != 1 || keysA.fetches.Load() != 1 {
		t.Errorf("fetches: discovery %d, jwks %d; want 1 and 1", disc.fetches.Load(), keysA.fetches.Load())
	}
	// The issuer is down (discovery and JWKS): the keys found before serve.
	disc.set(http.StatusServiceUnavailable, "")
	keysA.set(http.StatusServiceUnavailable)
	clk.add(2 * time.Hour)
	if _, err := v.Verify(ctx, sign(t, jose.RS256, a, "k1", claims(timeless)), Options{}); err != nil {
		t.Fatalf("stale keys with the issuer down: %v", err)
	}
	// Back, with the keys moved elsewhere: the refresh follows jwks_uri.
	disc.set(200, keysB.URL)
	clk.add(2 * time.Hour)
	if _, err := v.Verify(ctx, sign(t, jose.RS256, b, "k2", claims(timeless)), Options{}); err != nil {
		t.Fatalf("after jwks_uri moved: %v", err)
	}
}

func TestDiscoveryRefused(t *testing.T) {
	a, _ := rsaKeys(t)
	keys := newJWKSServer(t, pubJWK(a, "k1"))
	for name, doc := range map[string]struct{ issuer, jwks string }{
		"another issuer":    {"https://evil.example", keys.URL},
		"no jwks_uri":       {issuer, ""},
		"jwks_uri not http": {issuer, "file:///etc/passwd"},
	} {
		t.Run(name, func(t *testing.T) {
			disc := newDiscoveryServer(t, doc.issuer, doc.jwks, (*httptest.Server).Start)
			v, _ := newVerifier(t, Config{DiscoveryURL: disc.URL + DiscoveryPath})
			if _, err := v.Verify(context.Background(), sign(t, jose.RS256, a, "k1", claims(nil)), Options{}); !errors.Is(err, ErrKeysUnavailable) {
				t.Errorf("%v, want ErrKeysUnavailable", err)
			}
			if keys.fetches.Load() != 0 {
				t.Errorf("the JWKS was fetched")
			}
		})
	}
}

func TestDiscoveryOverTLSWithACA(t *testing.T) {
	a, _ := rsaKeys(t)
	keys := newJWKSServer(t, pubJWK(a, "k1"))
	disc := newDiscoveryServer(t, issuer, keys.URL, (*httptest.Server).StartTLS)
	// Without the CA: refused.
	v, _ := newVerifier(t, Config{DiscoveryURL: disc.URL + DiscoveryPath})
	if _, err := v.Verify(context.Background(), sign(t, jose.RS256, a, "k1", claims(nil)), Options{}); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("unknown CA: %v, want ErrKeysUnavailable", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(disc.Certificate())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	v, _ = newVerifier(t, Config{DiscoveryURL: disc.URL + DiscoveryPath, HTTPClient: client})
	if _, err := v.Verify(context.Background(), sign(t, jose.RS256, a, "k1", claims(nil)), Options{}); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
}
