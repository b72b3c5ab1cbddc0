package caddymodule

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

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
)

const testIssuer = "https://idp.test/realms/demo"

var (
	testKeysOnce     sync.Once
	idpKey, otherKey *rsa.PrivateKey
)

// idp is a test identity provider: an RSA key published as a JWKS.
type idp struct {
	t    *testing.T
	key  *rsa.PrivateKey
	jwks *httptest.Server
}

func newIdP(t *testing.T) *idp {
	testKeysOnce.Do(func() {
		idpKey, _ = rsa.GenerateKey(rand.Reader, 2048)
		otherKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	})
	p := &idp{t: t, key: idpKey}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &idpKey.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	body, _ := json.Marshal(set)
	p.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(p.jwks.Close)
	return p
}

// handler is a test handler with routes, verifying p's tokens for the
// audience "gw".
func (p *idp) handler(routes ...*route.Route) *Handler {
	return newTestHandler(p.t, &Handler{Routes: routes, JWT: []*gateway.JWTConfig{{Issuer: testIssuer, JWKSURL: p.jwks.URL, Audiences: []string{"gw"}}}}, nil)
}

// sign signs claims (with iss, aud, iat and exp filled in unless given;
// a nil value drops a claim) with key under kid k1, typ typ.
func sign(t *testing.T, key *rsa.PrivateKey, typ string, claims map[string]any) string {
	t.Helper()
	now := time.Now().Unix()
	return jwttest.Sign(t, jose.RS256, key, "k1", typ, jwttest.Claims(map[string]any{"iss": testIssuer, "aud": "gw", "iat": now, "exp": now + 300}, claims))
}

// algNone is claims as an unsigned JWT (alg none).
func algNone(claims map[string]any) string {
	return jwttest.Unsigned(`{"alg":"none","kid":"k1"}`, claims, "")
}

func entries(t *testing.T, h *Handler) int {
	t.Helper()
	return h.gw.Store.Status(context.Background()).Entries
}

func status(t *testing.T, h *Handler, tok string) int {
	t.Helper()
	return serve(t, h, &upstream{}, bearer("/api", tok)).status
}

func TestVerifiedLogoutRevokesSession(t *testing.T) {
	p := newIdP(t)
	h := p.handler(&route.Route{Type: "logout", Path: "/logout"}, &route.Route{Type: "revoke", Path: "/revoke"})
	now := time.Now().Unix()
	accessS := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "S", "jti": "a1", "iat": now - 5})
	accessT := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "T", "jti": "a2", "iat": now - 5})
	refreshS := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "S", "typ": "Refresh", "jti": "r1", "iat": now - 10})

	if res := serve(t, h, &upstream{}, formRequest("POST", "/logout", url.Values{"refresh_token": {refreshS}})); res.status != 204 {
		t.Fatalf("logout: %d %s", res.status, res.body)
	}
	if s := status(t, h, accessS); s != 401 {
		t.Errorf("access token of the logged-out session: %d, want 401", s)
	}
	if s := status(t, h, accessT); s != 200 {
		t.Errorf("access token of another session: %d, want 200", s)
	}

	// RFC 7009: revoking a verified refresh token ends its session too,
	// whether its typ or the caller's hint says it is one.
	accessT2 := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "T", "jti": "a3", "iat": now - 5})
	refreshT := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "T", "typ": "Refresh", "jti": "r2", "iat": now - 10})
	serve(t, h, &upstream{}, formRequest("POST", "/revoke", url.Values{"token": {refreshT}}))
	if s := status(t, h, accessT2); s != 401 {
		t.Errorf("after revoking the refresh token of T: %d, want 401", s)
	}
	accessU1 := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "U", "jti": "a4", "iat": now - 5})
	accessU2 := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "U", "jti": "a5", "iat": now - 5})
	serve(t, h, &upstream{}, formRequest("POST", "/revoke", url.Values{"token": {accessU1}, "token_type_hint": {"refresh_token"}}))
	if s := status(t, h, accessU2); s != 401 {
		t.Errorf("after a revoke hinted refresh_token: %d, want 401", s)
	}

	// A plain revoke of a verified access token revokes its jti, not its
	// session.
	accessV1 := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "V", "jti": "a6", "iat": now - 5})
	accessV2 := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "V", "jti": "a7", "iat": now - 5})
	sameJTI := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "V", "jti": "a6", "iat": now - 4})
	serve(t, h, &upstream{}, formRequest("POST", "/revoke", url.Values{"token": {accessV1}}))
	if s := status(t, h, accessV2); s != 200 {
		t.Errorf("other token of the session after revoking an access token: %d, want 200", s)
	}
	if s := status(t, h, sameJTI); s != 401 {
		t.Errorf("another copy of the revoked jti: %d, want 401", s)
	}
}

func TestLogoutAll(t *testing.T) {
	p := newIdP(t)
	h := p.handler(&route.Route{Type: "logout_all", Path: "/logout-all"})
	now := time.Now()
	h.gw.Now = func() time.Time { return now }
	before := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "S", "iat": now.Unix() - 60})
	before2 := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "T", "iat": now.Unix() - 1})
	other := sign(t, p.key, "JWT", map[string]any{"sub": "u2", "sid": "X", "iat": now.Unix() - 60})

	r := bearer("/logout-all", before)
	r.Method = http.MethodPost
	if res := serve(t, h, &upstream{}, r); res.status != 204 {
		t.Fatalf("logout_all: %d %s", res.status, res.body)
	}
	for name, tok := range map[string]string{"the caller's token": before, "another session of the user": before2} {
		if s := status(t, h, tok); s != 401 {
			t.Errorf("%s: %d, want 401", name, s)
		}
	}
	if s := status(t, h, other); s != 200 {
		t.Errorf("another user: %d, want 200", s)
	}
	// A token issued within clock_skew after the cut-off may come from an
	// issuer whose clock runs ahead: it counts as issued before it.
	skew := int64(time.Duration(h.ClockSkew) / time.Second)
	ahead := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "A", "iat": now.Unix() + skew - 5})
	if s := status(t, h, ahead); s != 401 {
		t.Errorf("token issued %ds after the cut-off (clock skew %ds): %d, want 401", skew-5, skew, s)
	}
	after := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "N", "iat": now.Unix() + skew + 1})
	if s := status(t, h, after); s != 200 {
		t.Errorf("token issued after the cut-off and the clock skew: %d, want 200", s)
	}

	// The form field token works too; unverifiable tokens get 401 and
	// revoke nothing.
	n := entries(t, h)
	forged := sign(t, otherKey, "JWT", map[string]any{"sub": "u2", "iat": now.Unix() - 60})
	for name, req := range map[string]*http.Request{
		"forged in the form": formRequest("POST", "/logout-all", url.Values{"token": {forged}}),
		"alg none":           formRequest("POST", "/logout-all", url.Values{"token": {algNone(map[string]any{"iss": testIssuer, "sub": "u2"})}}),
		"opaque":             formRequest("POST", "/logout-all", url.Values{"token": {"opaque"}}),
		"expired":            formRequest("POST", "/logout-all", url.Values{"token": {sign(t, p.key, "JWT", map[string]any{"sub": "u2", "exp": now.Unix() - 3600})}}),
		"wrong aud":          formRequest("POST", "/logout-all", url.Values{"token": {sign(t, p.key, "JWT", map[string]any{"sub": "u2", "aud": "elsewhere"})}}),
	} {
		res := serve(t, h, &upstream{}, req)
		if res.status != 401 || !strings.Contains(res.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q, want 401 invalid_token", name, res.status, res.header.Get("WWW-Authenticate"))
		}
	}
	if res := serve(t, h, &upstream{}, formRequest("POST", "/logout-all", url.Values{})); res.status != 400 {
		t.Errorf("no token: %d, want 400", res.status)
	}
	if got := entries(t, h); got != n {
		t.Errorf("failed calls stored %d entries", got-n)
	}
	if s := status(t, h, other); s != 200 {
		t.Errorf("u2 after forged calls: %d, want 200", s)
	}
}

func logoutToken(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"jti": randomID(), "sid": "S", "sub": "u1",
		"events": map[string]any{route.BackchannelLogoutEvent: map[string]any{}}}
	for k, v := range claims {
		c[k] = v
	}
	return sign(t, key, "logout+jwt", c)
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestBackchannelLogout(t *testing.T) {
	p := newIdP(t)
	h := p.handler(&route.Route{Type: "backchannel_logout", Path: "/bcl"})
	now := time.Now().Unix()
	accessS := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "S", "iat": now - 5})
	accessT := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "T", "iat": now - 5})
	post := func(tok string) result {
		return serve(t, h, &upstream{}, formRequest("POST", "/bcl", url.Values{"logout_token": {tok}}))
	}

	bad := map[string]string{
		"other key":       logoutToken(t, otherKey, nil),
		"alg none":        algNone(map[string]any{"iss": testIssuer, "aud": "gw", "iat": now, "exp": now + 60, "jti": "n1", "sid": "S", "events": map[string]any{route.BackchannelLogoutEvent: map[string]any{}}}),
		"wrong aud":       logoutToken(t, p.key, map[string]any{"aud": "other-client"}),
		"wrong iss":       logoutToken(t, p.key, map[string]any{"iss": "https://evil.test"}),
		"expired":         logoutToken(t, p.key, map[string]any{"exp": now - 3600, "iat": now - 3700}),
		"no exp":          logoutToken(t, p.key, map[string]any{"exp": nil}),
		"no iat":          logoutToken(t, p.key, map[string]any{"iat": nil}),
		"nonce":           logoutToken(t, p.key, map[string]any{"nonce": "n"}),
		"no events":       logoutToken(t, p.key, map[string]any{"events": nil}),
		"event not obj":   logoutToken(t, p.key, map[string]any{"events": map[string]any{route.BackchannelLogoutEvent: "yes"}}),
		"other event":     logoutToken(t, p.key, map[string]any{"events": map[string]any{"urn:x": map[string]any{}}}),
		"no sid nor sub":  logoutToken(t, p.key, map[string]any{"sid": nil, "sub": nil}),
		"no jti":          logoutToken(t, p.key, map[string]any{"jti": nil}),
		"typ access":      sign(t, p.key, "at+jwt", map[string]any{"jti": "j", "sid": "S", "events": map[string]any{route.BackchannelLogoutEvent: map[string]any{}}}),
		"an access token": accessS,
		"empty":           "",
	}
	for name, tok := range bad {
		res := post(tok)
		if res.status != 400 || !strings.Contains(res.body, `"error":"invalid_request"`) {
			t.Errorf("%s: %d %s, want 400 invalid_request", name, res.status, res.body)
		}
	}
	if n := entries(t, h); n != 0 {
		t.Errorf("failed logouts stored %d entries", n)
	}
	if s := status(t, h, accessS); s != 200 {
		t.Fatalf("session S after failed logouts: %d, want 200", s)
	}

	good := logoutToken(t, p.key, nil)
	res := post(good)
	if res.status != 200 || res.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("logout: %d %q %s, want 200 no-store", res.status, res.header.Get("Cache-Control"), res.body)
	}
	if s := status(t, h, accessS); s != 401 {
		t.Errorf("session S after the logout: %d, want 401", s)
	}
	if s := status(t, h, accessT); s != 200 {
		t.Errorf("session T after S's logout: %d, want 200", s)
	}
	n := entries(t, h)
	if res := post(good); res.status != 400 || !strings.Contains(res.body, "replay") {
		t.Errorf("replayed logout token: %d %s, want 400", res.status, res.body)
	}
	if entries(t, h) != n {
		t.Error("a replay stored entries")
	}

	// sub only: every session of the user.
	if res := post(logoutToken(t, p.key, map[string]any{"sid": nil})); res.status != 200 {
		t.Fatalf("sub-only logout: %d %s", res.status, res.body)
	}
	if s := status(t, h, accessT); s != 401 {
		t.Errorf("session T after a sub-only logout: %d, want 401", s)
	}
}

func set(t *testing.T, key *rsa.PrivateKey, events map[string]any, claims map[string]any) *http.Request {
	t.Helper()
	c := map[string]any{"jti": randomID(), "events": events}
	for k, v := range claims {
		c[k] = v
	}
	r := httptest.NewRequest("POST", "/caep", strings.NewReader(sign(t, key, "secevent+jwt", c)))
	r.Header.Set("Content-Type", "application/secevent+jwt")
	return r
}

func TestCAEP(t *testing.T) {
	p := newIdP(t)
	h := p.handler(&route.Route{Type: "caep", Path: "/caep"})
	now := time.Now().Unix()
	tok := func(sub, sid string) string {
		return sign(t, p.key, "JWT", map[string]any{"sub": sub, "sid": sid, "iat": now - 5})
	}
	revoked := func(subject map[string]any) map[string]any {
		ev := map[string]any{"event_timestamp": now}
		if subject != nil {
			ev["subject"] = subject
		}
		return map[string]any{route.CAEPSessionRevoked: ev}
	}

	bad := []struct {
		name, err string
		req       *http.Request
	}{
		{"other key", "invalid_key", set(t, otherKey, revoked(nil), map[string]any{"sid": "S1"})},
		{"wrong aud", "invalid_audience", set(t, p.key, revoked(nil), map[string]any{"sid": "S1", "aud": "x"})},
		{"unknown issuer", "invalid_issuer", set(t, p.key, revoked(nil), map[string]any{"sid": "S1", "iss": "https://evil.test"})},
		{"no events", "invalid_request", set(t, p.key, nil, map[string]any{"sid": "S1"})},
		{"email subject", "invalid_request", set(t, p.key, revoked(nil), map[string]any{"sub_id": map[string]any{"format": "email", "email": "a@b"}})},
		{"other issuer's user", "invalid_request", set(t, p.key, revoked(nil), map[string]any{"sub_id": map[string]any{"format": "iss_sub", "iss": "https://other", "sub": "u1"}})},
		{"no subject", "invalid_request", set(t, p.key, revoked(nil), nil)},
		{"wrong content type", "invalid_request", func() *http.Request {
			r := set(t, p.key, revoked(nil), map[string]any{"sid": "S1"})
			r.Header.Set("Content-Type", "application/jwt")
			return r
		}()},
	}
	for _, c := range bad {
		res := serve(t, h, &upstream{}, c.req)
		var body struct{ Err, Description string }
		_ = json.Unmarshal([]byte(res.body), &body)
		if res.status != 400 || body.Err != c.err || body.Description == "" {
			t.Errorf("%s: %d %s, want 400 err=%s", c.name, res.status, res.body, c.err)
		}
	}
	if n := entries(t, h); n != 0 {
		t.Fatalf("failed SETs stored %d entries", n)
	}

	ok := []struct {
		name    string
		req     *http.Request
		revoked []string // tokens that must then be rejected
		kept    []string
	}{
		{"sub_id opaque (a session)", set(t, p.key, revoked(nil), map[string]any{"sub_id": map[string]any{"format": "opaque", "id": "S1"}}),
			[]string{tok("u1", "S1")}, []string{tok("u1", "S2")}},
		{"legacy event subject", set(t, p.key, revoked(map[string]any{"subject_type": "opaque", "id": "S2"}), nil),
			[]string{tok("u1", "S2")}, []string{tok("u1", "S3")}},
		{"complex with a session", set(t, p.key, revoked(nil), map[string]any{"sub_id": map[string]any{"format": "complex",
			"session": map[string]any{"format": "opaque", "id": "S3"}, "user": map[string]any{"format": "iss_sub", "iss": testIssuer, "sub": "u1"}}}),
			[]string{tok("u1", "S3")}, []string{tok("u1", "S4")}},
		{"iss_sub (a user)", set(t, p.key, revoked(nil), map[string]any{"sub_id": map[string]any{"format": "iss_sub", "iss": testIssuer, "sub": "u2"}}),
			[]string{tok("u2", "A"), tok("u2", "B")}, []string{tok("u3", "A")}},
		{"top-level sid", set(t, p.key, revoked(nil), map[string]any{"sid": "S5"}),
			[]string{tok("u4", "S5")}, []string{tok("u4", "S6")}},
	}
	for _, c := range ok {
		if res := serve(t, h, &upstream{}, c.req); res.status != 202 {
			t.Errorf("%s: %d %s, want 202", c.name, res.status, res.body)
			continue
		}
		for _, tk := range c.revoked {
			if s := status(t, h, tk); s != 401 {
				t.Errorf("%s: revoked token answered %d, want 401", c.name, s)
			}
		}
		for _, tk := range c.kept {
			if s := status(t, h, tk); s != 200 {
				t.Errorf("%s: unrelated token answered %d, want 200", c.name, s)
			}
		}
	}

	n := entries(t, h)
	if res := serve(t, h, &upstream{}, set(t, p.key, map[string]any{"https://example.com/other-event": map[string]any{}}, map[string]any{"sid": "S9"})); res.status != 202 {
		t.Errorf("unknown event: %d, want 202", res.status)
	}
	if entries(t, h) != n {
		t.Error("an unknown event stored entries")
	}

	replayed := set(t, p.key, revoked(nil), map[string]any{"sid": "S7", "jti": "same"})
	serve(t, h, &upstream{}, replayed)
	again := set(t, p.key, revoked(nil), map[string]any{"sid": "S8", "jti": "same"})
	if res := serve(t, h, &upstream{}, again); res.status != 400 || !strings.Contains(res.body, `"err":"invalid_request"`) {
		t.Errorf("replayed jti: %d %s, want 400 invalid_request", res.status, res.body)
	}
	if s := status(t, h, tok("u1", "S8")); s != 200 {
		t.Errorf("the replay revoked its session: %d, want 200", s)
	}
}

// TestForgedTokensRevokeOnlyThemselves sends tokens carrying a victim's
// sid, sub and jti, signed by another key or not at all, to every route.
func TestForgedTokensRevokeOnlyThemselves(t *testing.T) {
	p := newIdP(t)
	h := p.handler(
		&route.Route{Type: "revoke", Path: "/revoke"},
		&route.Route{Type: "logout", Path: "/logout"},
		&route.Route{Type: "logout_all", Path: "/logout-all"},
		&route.Route{Type: "backchannel_logout", Path: "/bcl"},
		&route.Route{Type: "caep", Path: "/caep"},
	)
	now := time.Now().Unix()
	victim := sign(t, p.key, "JWT", map[string]any{"sub": "victim", "sid": "VS", "jti": "VJ", "iat": now - 30})
	victimClaims := map[string]any{"sub": "victim", "sid": "VS", "jti": "VJ", "typ": "Refresh", "iat": now,
		"events": map[string]any{route.BackchannelLogoutEvent: map[string]any{}, route.CAEPSessionRevoked: map[string]any{}}}
	forgeries := []string{sign(t, otherKey, "JWT", victimClaims), algNone(victimClaims)}
	for _, f := range forgeries {
		for _, req := range []*http.Request{
			formRequest("POST", "/revoke", url.Values{"token": {f}, "token_type_hint": {"refresh_token"}}),
			formRequest("POST", "/logout", url.Values{"refresh_token": {f}, "id_token_hint": {f}}),
			formRequest("POST", "/logout-all", url.Values{"token": {f}}),
			formRequest("POST", "/bcl", url.Values{"logout_token": {f}}),
			func() *http.Request {
				r := httptest.NewRequest("POST", "/caep", strings.NewReader(f))
				r.Header.Set("Content-Type", "application/secevent+jwt")
				return r
			}(),
		} {
			res := serve(t, h, &upstream{}, req)
			if res.status >= 500 {
				t.Errorf("%s: %d", req.URL.Path, res.status)
			}
		}
	}
	if s := status(t, h, victim); s != 200 {
		t.Errorf("victim's token after the forgeries: %d, want 200", s)
	}
	if s := status(t, h, forgeries[0]); s != 401 {
		t.Errorf("forged token itself: %d, want 401 (revoked by its identity)", s)
	}
}

func TestKeysUnavailable(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/revoke"}, {Type: "logout", Path: "/logout"}},
		JWT: []*gateway.JWTConfig{{Issuer: testIssuer, JWKSURL: down.URL}}}, nil)
	newIdP(t)
	refresh := sign(t, idpKey, "JWT", map[string]any{"sid": "S", "typ": "Refresh"})
	if res := serve(t, h, &upstream{}, formRequest("POST", "/logout", url.Values{"refresh_token": {refresh}})); res.status != 503 || res.header.Get("Retry-After") == "" {
		t.Errorf("logout with the IdP's keys unavailable: %d Retry-After=%q, want 503 with Retry-After (the session could not be revoked)", res.status, res.header.Get("Retry-After"))
	}
	access := sign(t, idpKey, "JWT", map[string]any{"sid": "S"})
	if res := serve(t, h, &upstream{}, formRequest("POST", "/revoke", url.Values{"token": {access}})); res.status != 200 {
		t.Errorf("revoke of an access token with the keys unavailable: %d, want 200 (the token itself is revoked)", res.status)
	}
	if s := status(t, h, access); s != 401 {
		t.Errorf("the revoked access token: %d, want 401", s)
	}
}

// revokeCutoffs stores cut-offs as the admin API does, logged with
// source as the route.
func revokeCutoffs(h *Handler, source, ns string, cs ...engine.Cutoff) error {
	return h.gw.Record(context.Background(), source, &engine.Revocation{Namespace: ns, Cutoffs: cs})
}

func TestRevokeCutoffs(t *testing.T) {
	p := newIdP(t)
	h := p.handler()
	now := time.Now()
	if err := revokeCutoffs(h, "admin", "",
		engine.Cutoff{Kind: denylist.KindSession, Issuer: testIssuer, ID: "S", At: now},
		engine.Cutoff{Kind: denylist.KindUser, Issuer: testIssuer, ID: "u9", At: now}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]map[string]any{"session": {"sid": "S", "sub": "x"}, "user": {"sub": "u9"}} {
		c["iat"] = now.Unix() - 1
		if s := status(t, h, sign(t, p.key, "JWT", c)); s != 401 {
			t.Errorf("%s revoked by the admin: %d, want 401", name, s)
		}
	}
	e := h.gw.Recorder.CutoffEntry("", engine.Cutoff{Kind: denylist.KindSession, Issuer: testIssuer, ID: "S", At: now})
	if e.Cutoff != now.Unix() || e.Kind != denylist.KindSession {
		t.Errorf("sessionEntry: %+v", e)
	}
	if e := h.gw.Recorder.CutoffEntry("", engine.Cutoff{Kind: denylist.KindUser, Issuer: testIssuer, ID: "u9", At: now.Add(time.Hour)}); e.Expires < now.Add(time.Hour).Unix() {
		t.Errorf("a future cut-off expires before it: %+v", e)
	}
	if err := revokeCutoffs(newTestHandler(t, &Handler{}, brokenStore{}), "admin", "", engine.Cutoff{Kind: denylist.KindUser, Issuer: "i", ID: "u", At: now}); err == nil {
		t.Error("revokeCutoffs on a broken store: no error")
	}
}

func TestJWTConfigValidation(t *testing.T) {
	jwks := "https://idp.test/certs"
	cases := map[string]struct {
		h    *Handler
		want string
	}{
		"backchannel without jwt": {&Handler{Routes: []*route.Route{{Type: "backchannel_logout", Path: "/bcl"}}}, "add a jwt block"},
		"caep without audience":   {&Handler{Routes: []*route.Route{{Type: "caep", Path: "/caep"}}, JWT: []*gateway.JWTConfig{{Issuer: "i", JWKSURL: jwks}}}, "set audience"},
		"logout_all without jwt":  {&Handler{Routes: []*route.Route{{Type: "logout_all", Path: "/all"}}}, "add a jwt block"},
		"no issuer":               {&Handler{JWT: []*gateway.JWTConfig{{JWKSURL: jwks}}}, "jwt 1: issuer is required"},
		"alg none":                {&Handler{JWT: []*gateway.JWTConfig{{Issuer: "i", JWKSURL: jwks, Algorithms: []string{"none"}}}}, `jwt "i": algorithm "none"`},
		"unset secret":            {&Handler{JWT: []*gateway.JWTConfig{{Issuer: "i", HMACSecrets: []string{"{env.TOKEN_REVOCATION_TEST_UNSET}"}}}}, "hmac_secret"},
		"missing key file":        {&Handler{JWT: []*gateway.JWTConfig{{Issuer: "i", PublicKeyFiles: []string{"/nonexistent.pem"}}}}, "public_key_file"},
		"issuer twice":            {&Handler{JWT: []*gateway.JWTConfig{{Issuer: "i", JWKSURL: jwks}, {Issuer: "i", JWKSURL: jwks}}}, "configured twice"},
	}
	for name, c := range cases {
		c.h.logger = newIdP(t).handler().logger
		err := c.h.setup()
		if err == nil {
			err = c.h.Validate()
		}
		if c.h.gw.Verifier != nil {
			c.h.gw.Verifier.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "token_revocation: ") {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
}

func TestJWTCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`token_revocation {
		jwt https://idp.test/realms/a {
			jwks_url https://idp.test/realms/a/protocol/openid-connect/certs
			audience gw account
			public_key_file /etc/keys/a.pem
			public_key ` + "`" + `{"kty":"OKP"}` + "`" + `
			hmac_secret {env.A_SECRET}
			algorithms RS256 ES256
			clock_skew 30s
			jwks_refresh 30m
			jwks_min_refresh 5s
			jwks_timeout 2s
		}
		jwt https://idp.test/realms/b {
			jwks_url https://idp.test/realms/b/certs
		}
		backchannel_logout /bcl
		caep /caep
		logout_all /logout-all forward
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := []*gateway.JWTConfig{{
		Issuer: "https://idp.test/realms/a", JWKSURL: "https://idp.test/realms/a/protocol/openid-connect/certs",
		Audiences: []string{"gw", "account"}, PublicKeyFiles: []string{"/etc/keys/a.pem"}, PublicKeys: []string{`{"kty":"OKP"}`},
		HMACSecrets: []string{"{env.A_SECRET}"}, Algorithms: []string{"RS256", "ES256"},
		ClockSkew: caddy.Duration(30 * time.Second), JWKSRefresh: caddy.Duration(30 * time.Minute),
		JWKSMinRefresh: caddy.Duration(5 * time.Second), JWKSTimeout: caddy.Duration(2 * time.Second),
	}, {Issuer: "https://idp.test/realms/b", JWKSURL: "https://idp.test/realms/b/certs"}}
	got, _ := json.Marshal(h.JWT)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("jwt blocks:\n got %s\nwant %s", got, exp)
	}
	if len(h.Routes) != 3 || h.Routes[2].Type != "logout_all" || h.Routes[2].Mode != route.ModeForward {
		t.Errorf("routes: %+v", h.Routes)
	}
	for input, want := range map[string]string{
		"token_revocation {\n jwt {\n jwks_url x\n }\n }":     "missing issuer",
		"token_revocation {\n jwt i {\n jwks x\n }\n }":       `unknown option "jwks"`,
		"token_revocation {\n jwt i j\n }":                    "jwt i j: one issuer per jwt block, its settings in the block; write three lines: jwt i {, then jwks_url <url>",
		"token_revocation {\n jwt i {\n clock_skew x\n }\n }": "want a duration",
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", input, err, want)
		}
	}
}
