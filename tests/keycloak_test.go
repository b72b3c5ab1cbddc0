package tests

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// keycloak is a stand-in for Keycloak's OIDC endpoints and for an API that
// trusts its access tokens, as a resource server validating JWTs does: by
// signature and expiry only, so a logged-out session's access tokens still
// work there until they expire. Every token is a JWT with iss
// http://<host>/realms/<realm>, sub, sid, jti and typ (Bearer or Refresh),
// signed HS256 (Keycloak signs refresh tokens so; access tokens would be
// RS256, which changes nothing here). Session and jti numbering restarts
// in each realm, so two realms hand out the same sid and jti values.
type keycloak struct {
	*Upstream
	secret []byte
	// base is the path prefix it serves under: "" (Keycloak 17 and later)
	// or "/auth" (before 17, and HyperID).
	base string

	mu       sync.Mutex
	next     map[string]int  // per realm: last jti and sid number
	sessions map[string]bool // "<realm> <sid>": live
	revoked  map[string]bool // "<realm> <jti>": access tokens revoked
}

// keycloakClients are the confidential clients and their secrets.
var keycloakClients = map[string]string{"app": "app-secret", "other": "other-secret"}

func startKeycloak(t *testing.T) *keycloak { return startKeycloakAt(t, "") }

// startKeycloakAt is startKeycloak serving under the path prefix base.
func startKeycloakAt(t *testing.T, base string) *keycloak {
	k := &keycloak{base: base, secret: []byte("stand-in keycloak realm key, 32 bytes or more"), next: map[string]int{}, sessions: map[string]bool{}, revoked: map[string]bool{}}
	k.Upstream = startUpstreamHandler(t, http.HandlerFunc(k.serve))
	return k
}

func (k *keycloak) serve(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, k.base), "/"), "/")
	if len(segs) == 5 && segs[0] == "realms" && segs[2] == "protocol" && segs[3] == "openid-connect" {
		if r.Method == http.MethodOptions { // CORS preflight, as Keycloak answers it
			w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			w.WriteHeader(http.StatusOK)
			return
		}
		realm := segs[1]
		_ = r.ParseForm()
		switch segs[4] {
		case "token":
			k.token(w, r, realm)
		case "logout":
			k.logout(w, r, realm)
		case "revoke":
			k.revoke(w, r, realm)
		default:
			http.NotFound(w, r)
		}
		return
	}
	// The API: any unexpired access token Keycloak signed.
	claims, ok := k.verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if !ok || claims["typ"] != "Bearer" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": claims["sub"], "path": r.URL.Path})
}

func (k *keycloak) verify(tok string) (map[string]any, bool) {
	claims, ok := verifyHS256(k.secret, tok)
	if !ok {
		return nil, false
	}
	exp, _ := claims["exp"].(float64)
	return claims, int64(exp) > time.Now().Unix()
}

// issue hands out an access and a refresh token of session sid.
func (k *keycloak) issue(host, realm, user, client, sid string) map[string]any {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now().Unix()
	claims := func(typ string, life int64) map[string]any {
		k.next[realm+" jti"]++
		return map[string]any{
			"iss": "http://" + host + k.base + "/realms/" + realm, "sub": "user-" + user, "typ": typ, "azp": client,
			"sid": sid, "session_state": sid, "jti": fmt.Sprintf("jti-%d", k.next[realm+" jti"]),
			"iat": now, "exp": now + life,
		}
	}
	return map[string]any{
		"access_token": hs256(k.secret, claims("Bearer", 300)), "expires_in": 300,
		"refresh_token": hs256(k.secret, claims("Refresh", 1800)), "refresh_expires_in": 1800,
		"token_type": "Bearer", "not-before-policy": 0, "session_state": sid, "scope": "profile email",
	}
}

func (k *keycloak) clientOK(r *http.Request) bool {
	secret, ok := keycloakClients[r.PostForm.Get("client_id")]
	return ok && secret == r.PostForm.Get("client_secret")
}

// refreshToken returns the claims of a live refresh token of realm issued
// to the calling client.
func (k *keycloak) refreshToken(r *http.Request, realm, tok string) (map[string]any, bool) {
	claims, ok := k.verify(tok)
	if !ok || claims["typ"] != "Refresh" || !strings.HasSuffix(claims["iss"].(string), "/realms/"+realm) ||
		claims["azp"] != r.PostForm.Get("client_id") {
		return nil, false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return claims, k.sessions[realm+" "+claims["sid"].(string)]
}

func (k *keycloak) token(w http.ResponseWriter, r *http.Request, realm string) {
	if !k.clientOK(r) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"})
		return
	}
	client := r.PostForm.Get("client_id")
	switch r.PostForm.Get("grant_type") {
	case "password":
		k.mu.Lock()
		k.next[realm+" sid"]++
		sid := fmt.Sprintf("sid-%d", k.next[realm+" sid"])
		k.sessions[realm+" "+sid] = true
		k.mu.Unlock()
		writeJSON(w, http.StatusOK, k.issue(r.Host, realm, r.PostForm.Get("username"), client, sid))
	case "refresh_token":
		claims, ok := k.refreshToken(r, realm, r.PostForm.Get("refresh_token"))
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Invalid refresh token"})
			return
		}
		user := strings.TrimPrefix(claims["sub"].(string), "user-")
		writeJSON(w, http.StatusOK, k.issue(r.Host, realm, user, client, claims["sid"].(string)))
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"})
	}
}

// logout ends the refresh token's session: 204, or 400 invalid_grant.
func (k *keycloak) logout(w http.ResponseWriter, r *http.Request, realm string) {
	if !k.clientOK(r) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"})
		return
	}
	claims, ok := k.refreshToken(r, realm, r.PostForm.Get("refresh_token"))
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "Invalid refresh token"})
		return
	}
	k.mu.Lock()
	delete(k.sessions, realm+" "+claims["sid"].(string))
	k.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// revoke answers as Keycloak's TokenRevocationEndpoint: an empty 200 for a
// token it revoked, a 200 with invalid_token for one it cannot use.
func (k *keycloak) revoke(w http.ResponseWriter, r *http.Request, realm string) {
	if !k.clientOK(r) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"})
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Token not provided"})
		return
	}
	invalid := func() {
		writeJSON(w, http.StatusOK, map[string]string{"error": "invalid_token", "error_description": "Invalid token"})
	}
	claims, ok := k.verify(tok)
	if !ok || !strings.HasSuffix(claims["iss"].(string), "/realms/"+realm) {
		invalid()
		return
	}
	if claims["azp"] != r.PostForm.Get("client_id") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Unmatching clients"})
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	sid := realm + " " + claims["sid"].(string)
	if !k.sessions[sid] {
		invalid()
		return
	}
	if claims["typ"] == "Refresh" {
		delete(k.sessions, sid) // the client's session; its only client here
	} else {
		k.revoked[realm+" "+claims["jti"].(string)] = true
	}
	w.WriteHeader(http.StatusOK)
}

// kcSession is what a login returned.
type kcSession struct{ access, refresh string }

func TestKeycloak(t *testing.T) {
	for _, sv := range storeVariants() {
		t.Run(sv.name, func(t *testing.T) {
			kc := startKeycloak(t)
			c := startExample(t, "keycloak", sv.block(t), "KEYCLOAK_UPSTREAM="+kc.Addr(), "API_UPSTREAM="+kc.Addr())
			keycloakFlows(t, c, kc)
		})
	}
}

// TestKeycloakLegacyPaths: Keycloak before 17 and HyperID serve
// /auth/realms/...; the one-line profile (no prefix) routes those too.
func TestKeycloakLegacyPaths(t *testing.T) {
	kc := startKeycloakAt(t, "/auth")
	c := startExample(t, "keycloak", "store embedded", "KEYCLOAK_UPSTREAM="+kc.Addr(), "API_UPSTREAM="+kc.Addr())
	keycloakFlows(t, c, kc)
}

func keycloakFlows(t *testing.T, c *Caddy, kc *keycloak) {
	oidc := func(realm, endpoint string) string {
		return c.URL(kc.base + "/realms/" + realm + "/protocol/openid-connect/" + endpoint)
	}
	// As Keycloak's documentation shows them: form posts with the client's
	// credentials.
	login := func(realm, user string) kcSession {
		t.Helper()
		res := postForm(t, oidc(realm, "token"), url.Values{"grant_type": {"password"}, "client_id": {"app"},
			"client_secret": {"app-secret"}, "username": {user}, "password": {"pw"}})
		m := jsonBody(t, "login", res)
		if res.Status != http.StatusOK {
			t.Fatalf("login %s/%s: %d %s", realm, user, res.Status, res.Body)
		}
		return kcSession{m["access_token"].(string), m["refresh_token"].(string)}
	}
	refresh := func(realm string, s kcSession) kcSession {
		t.Helper()
		res := postForm(t, oidc(realm, "token"), url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"},
			"client_secret": {"app-secret"}, "refresh_token": {s.refresh}})
		m := jsonBody(t, "refresh", res)
		if res.Status != http.StatusOK {
			t.Fatalf("refresh: %d %s", res.Status, res.Body)
		}
		return kcSession{m["access_token"].(string), m["refresh_token"].(string)}
	}
	// revoke is the app's RFC 7009 call at acme; hint "" sends none.
	revoke := func(t *testing.T, tok, hint string) Response {
		t.Helper()
		form := url.Values{"token": {tok}, "client_id": {"app"}, "client_secret": {"app-secret"}}
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		return postForm(t, oidc("acme", "revoke"), form)
	}
	api := func(tok string) Response {
		return get(t, c.URL("/api/orders"), "Authorization: Bearer "+tok)
	}
	works := func(what, tok string) {
		t.Helper()
		if res := api(tok); res.Status != http.StatusOK {
			t.Errorf("%s: status %d, want 200 (%s)", what, res.Status, res.Body)
		}
	}
	rejected := func(what, tok string) {
		t.Helper()
		before := kc.Count()
		gatewayRejected(t, what, api(tok), kc.Upstream, before)
	}

	alice1 := login("acme", "alice")  // acme: sid-1, jti-1 (access), jti-2
	carol := login("globex", "carol") // globex: sid-1, jti-1, jti-2: the same values
	alice1b := refresh("acme", alice1)
	alice2 := login("acme", "alice") // alice's second device: sid-2
	bob := login("acme", "bob")      // sid-3
	for what, tok := range map[string]string{"alice": alice1.access, "alice refreshed": alice1b.access, "alice's 2nd device": alice2.access, "bob": bob.access, "carol": carol.access} {
		works(what+" before any revocation", tok)
	}

	t.Run("revoke an access token: that token only", func(t *testing.T) {
		res := revoke(t, alice1.access, "access_token")
		sameAnswer(t, "revoke", res, http.StatusOK, "", "")
		rejected("the revoked access token", alice1.access)
		works("another access token of the same session", alice1b.access)
		works("globex's token with the same jti and sid", carol.access)
	})

	t.Run("logout ends the whole session", func(t *testing.T) {
		res := postForm(t, oidc("acme", "logout"), url.Values{"client_id": {"app"}, "client_secret": {"app-secret"},
			"refresh_token": {alice1b.refresh}})
		sameAnswer(t, "logout", res, http.StatusNoContent, "", "")
		rejected("access token of the logged-out session", alice1b.access)
		works("alice's other session", alice2.access)
		works("bob", bob.access)
		works("globex's token with the same sid", carol.access)
		// The refresh token is revoked: the gateway refuses it before the
		// token endpoint, as the token endpoint would (RFC 6749 §5.2:
		// 400 invalid_grant), so an IdP that cannot revoke it is covered.
		res = postForm(t, oidc("acme", "token"), url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"},
			"client_secret": {"app-secret"}, "refresh_token": {alice1b.refresh}})
		sameAnswer(t, "refresh after logout", res, http.StatusBadRequest, "application/json", `{"error":"invalid_grant","error_description":"token revoked"}`)
	})

	t.Run("a refused logout passes through and records nothing", func(t *testing.T) {
		// Keycloak refuses a refresh token of another client (400) and bad
		// client credentials (401).
		res := postForm(t, oidc("acme", "logout"), url.Values{"client_id": {"other"}, "client_secret": {"other-secret"},
			"refresh_token": {bob.refresh}})
		sameAnswer(t, "logout by another client", res, http.StatusBadRequest, "application/json", `{"error":"invalid_grant","error_description":"Invalid refresh token"}`)
		res = postForm(t, oidc("acme", "logout"), url.Values{"client_id": {"app"}, "client_secret": {"wrong"},
			"refresh_token": {bob.refresh}})
		sameAnswer(t, "logout with a wrong secret", res, http.StatusUnauthorized, "application/json", `{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}`)
		works("bob after refused logouts", bob.access)
		// Nor does a logout through another realm's endpoint.
		res = postForm(t, oidc("globex", "logout"), url.Values{"client_id": {"app"}, "client_secret": {"app-secret"},
			"refresh_token": {bob.refresh}})
		sameAnswer(t, "logout at another realm", res, http.StatusBadRequest, "application/json", `{"error":"invalid_grant","error_description":"Invalid refresh token"}`)
		works("bob after a logout at globex", bob.access)
	})

	t.Run("revoke of an invalid token: 200 with an error, only that token recorded", func(t *testing.T) {
		res := revoke(t, "not-a-token", "")
		sameAnswer(t, "revoke garbage", res, http.StatusOK, "application/json", `{"error":"invalid_token","error_description":"Invalid token"}`)
		// A forged refresh token naming bob's session: Keycloak says it is
		// invalid, so its claims are not trusted and bob stays logged in.
		forged := hs256([]byte("not keycloak's key, but long enough anyway"), map[string]any{
			"iss": "http://" + strings.TrimPrefix(c.URL(""), "http://") + kc.base + "/realms/acme", "typ": "Refresh", "azp": "app",
			"sid": "sid-3", "sub": "user-bob", "jti": "forged", "exp": time.Now().Add(time.Hour).Unix()})
		res = revoke(t, forged, "refresh_token")
		sameAnswer(t, "revoke a forged token", res, http.StatusOK, "application/json", `{"error":"invalid_token","error_description":"Invalid token"}`)
		works("bob after a forged revocation of his session", bob.access)
	})

	t.Run("revoke a refresh token: its session ends", func(t *testing.T) {
		res := revoke(t, bob.refresh, "refresh_token")
		sameAnswer(t, "revoke refresh token", res, http.StatusOK, "", "")
		rejected("bob's access token after his refresh token was revoked", bob.access)
		works("alice's other session", alice2.access)
		works("carol (globex)", carol.access)
	})

	t.Run("CORS preflights reach Keycloak", func(t *testing.T) {
		for _, ep := range []string{"logout", "revoke"} {
			res := do(t, http.MethodOptions, oidc("acme", ep), nil, "Origin: https://app.example", "Access-Control-Request-Method: POST")
			if res.Status != http.StatusOK || res.Header.Get("Access-Control-Allow-Methods") != "POST, OPTIONS" {
				t.Errorf("OPTIONS %s: %d, Allow-Methods %q; want Keycloak's 200", ep, res.Status, res.Header.Get("Access-Control-Allow-Methods"))
			}
		}
	})

	t.Run("a new login works", func(t *testing.T) {
		works("bob's new session", login("acme", "bob").access)
	})

	for _, s := range []kcSession{alice1, alice1b, alice2, bob, carol} {
		if strings.Contains(c.Logs(), s.access) || strings.Contains(c.Logs(), s.refresh) {
			t.Errorf("a raw token is in Caddy's log")
			break
		}
	}
}
