package tests

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
)

// The end-to-end tests of trusted claims (issue 3): session, user and
// back-channel logouts, CAEP, forged tokens and JWKS rotation, against the
// real Caddy binary and a real redis-server.

const (
	claimsIssuer   = "https://idp.test/realms/demo"
	claimsAudience = "gw"
	bclEvent       = "http://schemas.openid.net/event/backchannel-logout"
	caepRevoked    = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
)

// testIdP is an identity provider: RSA keys by kid, published as a JWKS
// that the test can change while Caddy runs.
type testIdP struct {
	*httptest.Server
	mu        sync.Mutex
	keys      map[string]*rsa.PrivateKey
	published []string // kids in the JWKS
}

func startIdP(t *testing.T) *testIdP {
	p := &testIdP{keys: map[string]*rsa.PrivateKey{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		var set jose.JSONWebKeySet
		for _, kid := range p.published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &p.keys[kid].PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
		}
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(p.Close)
	return p
}

// key returns the key of kid, generating it on first use.
func (p *testIdP) key(t *testing.T, kid string) *rsa.PrivateKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k, ok := p.keys[kid]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.keys[kid] = k
	return k
}

// publish adds kid's key to the JWKS.
func (p *testIdP) publish(t *testing.T, kid string) {
	p.key(t, kid)
	p.mu.Lock()
	p.published = append(p.published, kid)
	p.mu.Unlock()
}

// sign signs claims with kid's key. iss, aud, iat, exp and jti are filled
// in unless given; a nil value drops the claim.
func (p *testIdP) sign(t *testing.T, kid, typ string, claims map[string]any) string {
	t.Helper()
	now := time.Now().Unix()
	return jwttest.Sign(t, jose.RS256, p.key(t, kid), kid, typ, jwttest.Claims(map[string]any{
		"iss": claimsIssuer, "aud": claimsAudience, "iat": now, "exp": now + 300, "jti": randomString()}, claims))
}

// unsignedJWT is claims under header with no signature (alg none).
func unsignedJWT(header string, claims map[string]any) string {
	return jwttest.Unsigned(header, claims, "")
}

func randomString() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// redisEntries counts the denylist entries in r: the fields of its hashes.
func redisEntries(t *testing.T, r *redis.Client) int64 {
	t.Helper()
	ctx := context.Background()
	keys, err := r.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, k := range keys {
		if typ, _ := r.Type(ctx, k).Result(); typ == "hash" {
			n += r.HLen(ctx, k).Val()
		}
	}
	return n
}

// storesNothing runs call and fails the test if it changed the number of
// denylist entries in Redis.
func (g *claimsGateway) storesNothing(t *testing.T, what string, call func()) {
	t.Helper()
	n := redisEntries(t, g.redis)
	call()
	if got := redisEntries(t, g.redis); got != n {
		t.Errorf("%s stored %d entries", what, got-n)
	}
}

// claimsGateway is Caddy with every claims route, Redis, the IdP and an
// upstream that stands for the API and for Keycloak's logout endpoint.
type claimsGateway struct {
	caddy *Caddy
	idp   *testIdP
	redis *redis.Client
	up    *Upstream
}

func startClaimsGateway(t *testing.T) *claimsGateway {
	g := &claimsGateway{idp: startIdP(t)}
	g.idp.publish(t, "k1")
	rs := startRedis(t)
	g.redis = rs.Client()
	g.up = startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/protocol/openid-connect/logout") {
			w.WriteHeader(http.StatusNoContent) // Keycloak: logged out
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	g.caddy = startCaddy(t, `http:// {
	token_revocation {
		store redis {
			address %s
		}
		jwt %s {
			jwks_url %s
			audience %s
			jwks_min_refresh 100ms
		}
		revoke /revoke
		logout /logout
		logout /realms/demo/protocol/openid-connect/logout forward
		logout_all /logout-all
		backchannel_logout /backchannel-logout
		caep /caep
	}
	reverse_proxy %s
}`, rs.Addr, claimsIssuer, g.idp.URL, claimsAudience, g.up.Addr())
	return g
}

// status is what the API answers a request with tok.
func (g *claimsGateway) status(t *testing.T, tok string) int {
	t.Helper()
	return get(t, g.caddy.URL("/api/me"), "Authorization: Bearer "+tok).Status
}

// rejectedSoon polls until the API answers tok 401, failing the test after a
// deadline.
func (g *claimsGateway) rejectedSoon(t *testing.T, what, tok string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := g.status(t, tok)
		if s == http.StatusUnauthorized {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: status %d, want 401", what, s)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *claimsGateway) passes(t *testing.T, what, tok string) {
	t.Helper()
	if s := g.status(t, tok); s != http.StatusOK {
		t.Errorf("%s: status %d, want 200", what, s)
	}
}

// access is an access token of user sub in session sid, issued at iat.
func (g *claimsGateway) access(t *testing.T, sub, sid string, iat int64) string {
	return g.idp.sign(t, "k1", "JWT", map[string]any{"sub": sub, "sid": sid, "typ": "Bearer", "iat": iat})
}

func TestClaims(t *testing.T) {
	g := startClaimsGateway(t)
	now := time.Now().Unix()

	t.Run("logout with a refresh token ends its session", func(t *testing.T) {
		s1 := g.access(t, "alice", "S1", now-30)
		s1b := g.access(t, "alice", "S1", now-10)
		other := g.access(t, "alice", "S2", now-30)
		refresh := g.idp.sign(t, "k1", "JWT", map[string]any{"sub": "alice", "sid": "S1", "typ": "Refresh", "iat": now - 40, "exp": now + 1800})
		if res := postForm(t, g.caddy.URL("/logout"), url.Values{"refresh_token": {refresh}, "client_id": {"app"}}); res.Status != 204 {
			t.Fatalf("logout: %d %s", res.Status, res.Body)
		}
		g.rejectedSoon(t, "access token of S1", s1)
		g.rejectedSoon(t, "second access token of S1", s1b)
		g.passes(t, "access token of alice's other session", other)

		// Keycloak's own refresh tokens are HMAC-signed with a key it never
		// publishes: unverifiable here, their session is trusted once
		// Keycloak answers the forwarded logout 204.
		s3 := g.access(t, "alice", "S3", now-30)
		hs := unsignedJWT(`{"alg":"HS512","typ":"JWT","kid":"kc-hmac"}`, map[string]any{"iss": claimsIssuer, "sub": "alice", "sid": "S3", "typ": "Refresh", "iat": now - 40, "exp": now + 1800}) + "c2lnbmF0dXJl"
		if res := postForm(t, g.caddy.URL("/realms/demo/protocol/openid-connect/logout"), url.Values{"refresh_token": {hs}, "client_id": {"app"}}); res.Status != 204 {
			t.Fatalf("forwarded logout: %d %s", res.Status, res.Body)
		}
		if last := g.up.Last(t); last.Path != "/realms/demo/protocol/openid-connect/logout" {
			t.Errorf("the logout did not reach Keycloak (upstream saw %s)", last.Path)
		}
		g.rejectedSoon(t, "access token of S3 after Keycloak confirmed", s3)
		g.passes(t, "access token of S2", other)
	})

	t.Run("log out everywhere", func(t *testing.T) {
		old := g.access(t, "bob", "B1", now-600)
		recent := g.access(t, "bob", "B2", now-1)
		carol := g.access(t, "carol", "C1", now-600)
		if res := do(t, "POST", g.caddy.URL("/logout-all"), nil, "Authorization: Bearer "+old); res.Status != 204 {
			t.Fatalf("logout_all: %d %s", res.Status, res.Body)
		}
		g.rejectedSoon(t, "bob's token of session B1", old)
		g.rejectedSoon(t, "bob's token of session B2", recent)
		g.passes(t, "carol's token", carol)
		// Within clock_skew (5m) of the cut-off a token counts as issued
		// before it (its issuer's clock may run ahead); past it, after.
		ahead := g.access(t, "bob", "B4", time.Now().Unix()+60)
		g.rejectedSoon(t, "bob's token issued 60 s after the cut-off (within the clock skew)", ahead)
		after := g.access(t, "bob", "B3", time.Now().Unix()+6*60)
		g.passes(t, "bob's token issued after the cut-off and the clock skew", after)

		forged := g.idp.sign(t, "evil", "JWT", map[string]any{"sub": "carol"})
		g.storesNothing(t, "a refused logout_all", func() {
			if res := postForm(t, g.caddy.URL("/logout-all"), url.Values{"token": {forged}}); res.Status != 401 {
				t.Errorf("logout_all with a forged token: %d, want 401", res.Status)
			}
		})
		g.passes(t, "carol's token after a forged logout_all", carol)
	})

	t.Run("back-channel logout", func(t *testing.T) {
		d1 := g.access(t, "dave", "D1", now-30)
		d2 := g.access(t, "dave", "D2", now-30)
		logoutToken := func(kid string, claims map[string]any) string {
			c := map[string]any{"sub": "dave", "sid": "D1", "events": map[string]any{bclEvent: map[string]any{}}}
			for k, v := range claims {
				c[k] = v
			}
			return g.idp.sign(t, kid, "logout+jwt", c)
		}
		post := func(tok string) Response {
			return postForm(t, g.caddy.URL("/backchannel-logout"), url.Values{"logout_token": {tok}})
		}
		good := logoutToken("k1", nil)
		bad := map[string]string{
			"signed by another key": logoutToken("other", nil),
			"alg none": unsignedJWT(`{"alg":"none","typ":"logout+jwt"}`, map[string]any{"iss": claimsIssuer, "aud": claimsAudience,
				"iat": now, "exp": now + 120, "jti": "none-1", "sid": "D1", "events": map[string]any{bclEvent: map[string]any{}}}),
			"wrong aud":  logoutToken("k1", map[string]any{"aud": "another-client"}),
			"expired":    logoutToken("k1", map[string]any{"iat": now - 7200, "exp": now - 3600}),
			"with nonce": logoutToken("k1", map[string]any{"nonce": "n-1"}),
		}
		g.storesNothing(t, "refused logout tokens", func() {
			for name, tok := range bad {
				res := post(tok)
				if res.Status != 400 || !strings.Contains(res.Body, `"error":"invalid_request"`) {
					t.Errorf("%s: %d %s, want 400 invalid_request", name, res.Status, res.Body)
				}
			}
		})
		g.passes(t, "D1 after refused logout tokens", d1)

		res := post(good)
		if res.Status != 200 || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("logout token of the IdP: %d %q %s, want 200 no-store", res.Status, res.Header.Get("Cache-Control"), res.Body)
		}
		g.rejectedSoon(t, "D1 after the back-channel logout", d1)
		g.passes(t, "D2 after D1's back-channel logout", d2)

		g.storesNothing(t, "a replay", func() {
			if res := post(good); res.Status != 400 {
				t.Errorf("replayed logout token: %d %s, want 400", res.Status, res.Body)
			}
		})
		g.passes(t, "D2 after the replay", d2)
	})

	t.Run("CAEP session-revoked", func(t *testing.T) {
		e1 := g.access(t, "erin", "E1", now-30)
		e2 := g.access(t, "erin", "E2", now-30)
		push := func(tok string) Response {
			return do(t, "POST", g.caddy.URL("/caep"), strings.NewReader(tok), "Content-Type: application/secevent+jwt")
		}
		subject := map[string]any{"format": "opaque", "id": "E1"}
		wrongAud := g.idp.sign(t, "k1", "secevent+jwt", map[string]any{"aud": "x", "sub_id": subject, "events": map[string]any{caepRevoked: map[string]any{}}})
		if res := push(wrongAud); res.Status != 400 || !strings.Contains(res.Body, `"err":"invalid_audience"`) {
			t.Errorf("SET for another audience: %d %s, want 400 invalid_audience", res.Status, res.Body)
		}
		g.passes(t, "E1 after a refused SET", e1)
		set := g.idp.sign(t, "k1", "secevent+jwt", map[string]any{"sub_id": subject, "events": map[string]any{caepRevoked: map[string]any{"event_timestamp": now}}})
		if res := push(set); res.Status != 202 {
			t.Fatalf("session-revoked SET: %d %s, want 202", res.Status, res.Body)
		}
		g.rejectedSoon(t, "E1 after session-revoked", e1)
		g.passes(t, "E2 after E1's session-revoked", e2)
	})

	t.Run("forged tokens revoke nothing of the victim", func(t *testing.T) {
		victim := g.idp.sign(t, "k1", "JWT", map[string]any{"sub": "victor", "sid": "V1", "jti": "victim-jti", "iat": now - 30})
		claims := map[string]any{"iss": claimsIssuer, "aud": claimsAudience, "sub": "victor", "sid": "V1", "jti": "victim-jti",
			"typ": "Refresh", "iat": now, "exp": now + 300, "sub_id": map[string]any{"format": "opaque", "id": "V1"},
			"events": map[string]any{bclEvent: map[string]any{}, caepRevoked: map[string]any{}}}
		forgeries := map[string]string{
			"another key":                 g.idp.sign(t, "attacker", "JWT", claims),
			"kid of the IdP, another key": jwttest.Sign(t, jose.RS256, g.idp.key(t, "attacker"), "k1", "JWT", claims),
			"alg none":                    unsignedJWT(`{"alg":"none","kid":"k1"}`, claims),
			"HS256 forged":                unsignedJWT(`{"alg":"HS256","kid":"k1"}`, claims) + "c2lnbmF0dXJl",
		}
		n := redisEntries(t, g.redis)
		for name, f := range forgeries {
			for _, send := range []func() Response{
				func() Response {
					return postForm(t, g.caddy.URL("/revoke"), url.Values{"token": {f}, "token_type_hint": {"refresh_token"}})
				},
				func() Response {
					return postForm(t, g.caddy.URL("/logout"), url.Values{"refresh_token": {f}, "id_token_hint": {f}})
				},
				func() Response { return do(t, "POST", g.caddy.URL("/logout-all"), nil, "Authorization: Bearer "+f) },
				func() Response {
					return postForm(t, g.caddy.URL("/backchannel-logout"), url.Values{"logout_token": {f}})
				},
				func() Response {
					return do(t, "POST", g.caddy.URL("/caep"), strings.NewReader(f), "Content-Type: application/secevent+jwt")
				},
			} {
				if res := send(); res.Status >= 500 {
					t.Errorf("%s: a route answered %d", name, res.Status)
				}
			}
		}
		g.passes(t, "the victim's token after every forgery on every route", victim)
		// What the forgeries did store is their own identity: one entry each
		// from /revoke and /logout, nothing more.
		if got := redisEntries(t, g.redis) - n; got > int64(len(forgeries)) {
			t.Errorf("forgeries stored %d entries, want at most %d (their own identities)", got, len(forgeries))
		}
	})

	t.Run("JWKS rotation without restart", func(t *testing.T) {
		frank := func(kid string) string {
			return g.idp.sign(t, kid, "JWT", map[string]any{"sub": "frank", "sid": "F1", "iat": now - 30})
		}
		newKey := frank("k2")
		if res := do(t, "POST", g.caddy.URL("/logout-all"), nil, "Authorization: Bearer "+newKey); res.Status != 401 {
			t.Fatalf("token of an unpublished key: %d, want 401", res.Status)
		}
		g.passes(t, "frank before the rotation", frank("k1"))
		g.idp.publish(t, "k2")
		logoutAllSoon(t, g.caddy, newKey, "token of the newly published key")
		g.rejectedSoon(t, "frank's token signed by the old key", frank("k1"))
		if !strings.Contains(g.caddy.Logs(), "caddy start #1") || strings.Contains(g.caddy.Logs(), "caddy start #2") {
			t.Error("caddy was restarted")
		}
	})
}

// TestClaimsIdPDownAtStart: Caddy starts while the JWKS cannot be fetched,
// and verifies tokens once the IdP is up.
func TestClaimsIdPDownAtStart(t *testing.T) {
	idp := startIdP(t)
	var up sync.Mutex
	down := true
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up.Lock()
		d := down
		up.Unlock()
		if d {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		idp.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)
	idp.publish(t, "k1")
	rs := startRedis(t)
	api := startUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		store redis {
			address %s
		}
		jwt %s {
			jwks_url %s
			jwks_min_refresh 100ms
		}
		logout_all /logout-all
	}
	reverse_proxy %s
}`, rs.Addr, claimsIssuer, gate.URL, api.Addr())
	tok := idp.sign(t, "k1", "JWT", map[string]any{"sub": "gina", "iat": time.Now().Unix() - 30})
	if res := do(t, "POST", c.URL("/logout-all"), nil, "Authorization: Bearer "+tok); res.Status != 503 {
		t.Errorf("logout_all with the IdP down: %d %s, want 503", res.Status, res.Body)
	}
	up.Lock()
	down = false
	up.Unlock()
	logoutAllSoon(t, c, tok, "IdP back up")
	if s := get(t, c.URL("/api"), "Authorization: Bearer "+tok).Status; s != 401 {
		t.Errorf("gina's token after logout_all: %d, want 401", s)
	}
	if !strings.Contains(c.Logs(), "JWKS fetch failed") {
		t.Errorf("no warning logged about the JWKS:\n%s", c.Logs())
	}
}

// logoutAllSoon posts tok to /logout-all until it is answered 204, failing
// the test after a deadline.
func logoutAllSoon(t *testing.T, c *Caddy, tok, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := do(t, "POST", c.URL("/logout-all"), nil, "Authorization: Bearer "+tok)
		if res.Status == http.StatusNoContent {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: logout_all still answers %d %s", what, res.Status, res.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
