package tests

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// meshydb is a stand-in for MeshyDB (IdentityServer underneath): per
// account and tenant (the `tenant` header, the default tenant without it),
// POST /{account}/connect/token hands out a JWT access token (an hour) and
// an opaque refresh token, rotated on every refresh; POST
// /{account}/connect/revocation revokes a refresh token (RFC 7009: 200 with
// an empty body, also for an unknown token). The API takes an unexpired
// access token of the request's tenant: access tokens cannot be revoked
// there, they "expire within an hour", as MeshyDB's docs say.
type meshydb struct {
	*Upstream
	secret        []byte
	defaultTenant string
	revocation    bool

	mu      sync.Mutex
	refresh map[string]string // live refresh token -> "<account> <tenant> <user>"
}

const meshyPublicKey = "pk-5c78cc81dd870827a8e7b6c4"

func startMeshyDB(t *testing.T, defaultTenant string, revocation bool) *meshydb {
	m := &meshydb{secret: []byte("stand-in meshydb signing key, long enough"), defaultTenant: defaultTenant,
		revocation: revocation, refresh: map[string]string{}}
	m.Upstream = startUpstreamHandler(t, http.HandlerFunc(m.serve))
	return m
}

func (m *meshydb) tenant(r *http.Request) string {
	if t := r.Header.Get("tenant"); t != "" {
		return t
	}
	return m.defaultTenant
}

func (m *meshydb) serve(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	account, tenant := segs[0], m.tenant(r)
	if len(segs) == 3 && segs[1] == "connect" {
		_ = r.ParseForm()
		if r.PostForm.Get("client_id") != meshyPublicKey {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client"})
			return
		}
		switch segs[2] {
		case "token":
			m.token(w, r, account, tenant)
			return
		case "revocation":
			if !m.revocation {
				http.NotFound(w, r)
				return
			}
			if r.PostForm.Get("token") == "" {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
				return
			}
			m.mu.Lock()
			if m.refresh[r.PostForm.Get("token")] != "" && strings.HasPrefix(m.refresh[r.PostForm.Get("token")], account+" "+tenant+" ") {
				delete(m.refresh, r.PostForm.Get("token"))
			}
			m.mu.Unlock()
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	claims, ok := verifyHS256(m.secret, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if exp, _ := claims["exp"].(float64); !ok || int64(exp) < time.Now().Unix() || claims["tenant"] != tenant ||
		claims["iss"] != "https://auth.meshydb.com/"+account {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": claims["sub"], "username": claims["name"], "isActive": true})
}

func (m *meshydb) token(w http.ResponseWriter, r *http.Request, account, tenant string) {
	var user string
	switch r.PostForm.Get("grant_type") {
	case "password":
		if r.PostForm.Get("password") != "pw" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		user = r.PostForm.Get("username")
	case "refresh_token":
		m.mu.Lock()
		who := m.refresh[r.PostForm.Get("refresh_token")]
		delete(m.refresh, r.PostForm.Get("refresh_token")) // one-time use
		m.mu.Unlock()
		if !strings.HasPrefix(who, account+" "+tenant+" ") {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		user = strings.TrimPrefix(who, account+" "+tenant+" ")
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	refresh := hex.EncodeToString(b)
	m.mu.Lock()
	m.refresh[refresh] = account + " " + tenant + " " + user
	m.mu.Unlock()
	now := time.Now().Unix()
	access := hs256(m.secret, map[string]any{"iss": "https://auth.meshydb.com/" + account, "sub": tenant + ":" + user,
		"name": user, "tenant": tenant, "scope": []string{"meshy.api", "offline_access"}, "jti": hex.EncodeToString(b[:8]),
		"iat": now, "exp": now + 3600})
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "expires_in": 3600, "token_type": "Bearer", "refresh_token": refresh})
}

func TestMeshyDB(t *testing.T) {
	for _, sv := range storeVariants() {
		t.Run("forward/"+sv.name, func(t *testing.T) {
			m := startMeshyDB(t, "main", true)
			c := startExample(t, "meshydb", sv.block(t), "MESHYDB_UPSTREAM="+m.Addr(), "MESHYDB_DEFAULT_TENANT=main")
			meshyFlows(t, c, m, false)
		})
	}
	t.Run("respond/embedded", func(t *testing.T) {
		m := startMeshyDB(t, "main", false)
		c := startExample(t, "meshydb", "store embedded", "MESHYDB_UPSTREAM="+m.Addr(), "MESHYDB_DEFAULT_TENANT=main", "MESHYDB_MODE=respond")
		meshyFlows(t, c, m, true)
	})
}

type meshySession struct{ access, refresh string }

func meshyFlows(t *testing.T, c *Caddy, m *meshydb, respond bool) {
	const account = "acme"
	tenantHeader := func(tenant string) []string {
		if tenant == "" {
			return nil
		}
		return []string{"tenant: " + tenant}
	}
	// The calls as MeshyDB's docs show them.
	token := func(tenant string, form url.Values) (meshySession, Response) {
		t.Helper()
		form.Set("client_id", meshyPublicKey)
		res := postForm(t, c.URL("/"+account+"/connect/token"), form, tenantHeader(tenant)...)
		if res.Status != http.StatusOK {
			return meshySession{}, res
		}
		j := jsonBody(t, "token", res)
		return meshySession{j["access_token"].(string), j["refresh_token"].(string)}, res
	}
	login := func(tenant, user string) meshySession {
		t.Helper()
		s, res := token(tenant, url.Values{"grant_type": {"password"}, "username": {user}, "password": {"pw"}, "scope": {"meshy.api offline_access"}})
		if s.access == "" {
			t.Fatalf("login %s/%s: %d %s", tenant, user, res.Status, res.Body)
		}
		return s
	}
	refresh := func(tenant string, s meshySession) meshySession {
		t.Helper()
		n, res := token(tenant, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.refresh}})
		if n.access == "" {
			t.Fatalf("refresh: %d %s", res.Status, res.Body)
		}
		return n
	}
	signOut := func(tenant, refreshToken string) {
		t.Helper()
		before := m.Count()
		res := postForm(t, c.URL("/"+account+"/connect/revocation"), url.Values{"token": {refreshToken},
			"token_type_hint": {"refresh_token"}, "client_id": {meshyPublicKey}}, tenantHeader(tenant)...)
		if respond {
			// The gateway answers as an RFC 7009 server: 200, empty.
			if res.Status != http.StatusOK || res.Body != "" || res.Header.Get("Content-Length") != "0" || m.Count() != before {
				t.Errorf("sign out (respond): %d %q, Content-Length %q, upstream reached %d times", res.Status, res.Body, res.Header.Get("Content-Length"), m.Count()-before)
			}
			return
		}
		sameAnswer(t, "sign out", res, http.StatusOK, "", "")
	}
	me := func(tenant, tok string) Response {
		return get(t, c.URL("/"+account+"/users/me"), append(tenantHeader(tenant), "Authorization: Bearer "+tok)...)
	}
	works := func(what, tenant, tok string) {
		t.Helper()
		if res := me(tenant, tok); res.Status != http.StatusOK {
			t.Errorf("%s: status %d, want 200", what, res.Status)
		}
	}
	rejected := func(what, tenant, tok string) {
		t.Helper()
		before := m.Count()
		gatewayRejected(t, what, me(tenant, tok), m.Upstream, before)
	}

	first := login("", "mctesterton")
	second := refresh("", first)
	other := login("t2", "mctesterton")
	works("the first access token", "", first.access)
	works("the refreshed access token, tenant named", "main", second.access)
	works("the user in tenant t2", "t2", other.access)

	t.Run("sign out revokes the refresh token and its grant's access tokens", func(t *testing.T) {
		signOut("", second.refresh)
		for what, tok := range map[string]string{"first access token": first.access, "refreshed access token": second.access} {
			rejected(what, "", tok)
			rejected(what+", default tenant named", "main", tok)
		}
		// The refresh tokens of the grant are refused at the token
		// endpoint, as MeshyDB refuses them, before it sees them.
		for what, rt := range map[string]string{"signed-out refresh token": second.refresh, "its rotated predecessor": first.refresh} {
			before := m.Count()
			_, res := token("", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
			sameAnswer(t, what, res, http.StatusBadRequest, "application/json", `{"error":"invalid_grant"}`)
			if m.Count() != before {
				t.Errorf("%s reached the token endpoint", what)
			}
		}
		works("the user in tenant t2", "t2", other.access)
		works("a new login", "", login("", "mctesterton").access)
	})

	t.Run("a revoked token is revoked in every tenant", func(t *testing.T) {
		// The tenant header is the caller's to write: a token revoked
		// under the default tenant is rejected whatever tenant it is sent
		// with (issue 9), before the API sees it.
		before := m.Count()
		for _, tenant := range []string{"t2", "DEFAULT", "Default"} {
			if res := me(tenant, second.access); res.Status != http.StatusUnauthorized {
				t.Errorf("the revoked token sent with tenant %q: status %d, want 401", tenant, res.Status)
			}
		}
		if m.Count() != before {
			t.Errorf("the revoked token reached the API %d times", m.Count()-before)
		}
		signOut("t2", other.refresh)
		rejected("tenant t2's signed-out grant", "t2", other.access)
		works("the default tenant's new login", "", login("", "mctesterton").access)
	})

	for _, tok := range []string{first.access, first.refresh, second.access, second.refresh, other.refresh} {
		if strings.Contains(c.Logs(), tok) {
			t.Errorf("a raw token is in Caddy's log")
			break
		}
	}
}
