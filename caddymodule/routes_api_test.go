package caddymodule

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// apiUpstream is a next handler that answers as the function says.
type apiUpstream func(w http.ResponseWriter, r *http.Request)

func (f apiUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	f(w, r)
	return nil
}

// serveHTTP is serve with Caddy's HTTP placeholders available (headers,
// path segments), as in a running server.
func serveHTTP(t *testing.T, h *Handler, next caddyhttp.Handler, r *http.Request) result {
	t.Helper()
	return serveWith(t, h, next, r, caddyhttp.NewTestReplacer(r))
}

func profileHandler(t *testing.T, caddyfile string) *Handler {
	t.Helper()
	h, err := parseHandler(t, caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	return newTestHandler(t, h, nil)
}

var okUpstream = apiUpstream(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })

func TestNamespaceCleanPathAndDefaults(t *testing.T) {
	h := newTestHandler(t, &Handler{
		Namespace:         "{http.request.uri.path.0}/{http.request.header.Tenant}",
		NamespaceDefaults: map[string]string{"http.request.header.Tenant": "main"},
	}, nil)
	ns := func(h *Handler, target string, tenants ...string) (string, error) {
		r := httptest.NewRequest("GET", target, nil)
		for _, tenant := range tenants {
			r.Header.Add("Tenant", tenant)
		}
		repl := caddyhttp.NewTestReplacer(r)
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		return h.gw.Namespace(r, "")
	}
	for _, tt := range []struct {
		target  string
		tenants []string
		want    string
	}{
		{"/acct/users/me", nil, "acct/main"},
		{"/acct/users/me", []string{"main"}, "acct/main"},
		{"/acct/users/me", []string{"t2"}, "acct/t2"},
		{"/acct/users/me", []string{"t2", "t2"}, "acct/t2"}, // one value, repeated
		{"/acct/users/me", []string{" t2 "}, "acct/t2"},
		{"//acct/users/me", nil, "acct/main"},
		{"/./acct/../acct/users/me", nil, "acct/main"},
		{"/acct;x=1/users/me", nil, "acct/main"}, // matrix parameters are not part of the segment
		{"/", nil, "/main"},
	} {
		if got, err := ns(h, tt.target, tt.tenants...); err != nil || got != tt.want {
			t.Errorf("namespace of %s (tenants %q) = %q, %v; want %q", tt.target, tt.tenants, got, err, tt.want)
		}
	}
	// Two different tenants are ambiguous: upstreams bind the first or the
	// last; refused rather than a namespace of their own ("t1,t2").
	if got, err := ns(h, "/acct/x", "t1", "t2"); err == nil {
		t.Errorf("two tenant headers: namespace %q, want an error", got)
	}
	if _, err := ns(h, "/acct/x", "T1", "t1"); err == nil {
		t.Errorf("tenants T1 and t1 without namespace_fold_case: want an error")
	}
	// With namespace_fold_case, tenants and accounts compare without case.
	fold := newTestHandler(t, &Handler{
		Namespace:         "{http.request.uri.path.0}/{http.request.header.Tenant}",
		NamespaceDefaults: map[string]string{"http.request.header.Tenant": "main"},
		NamespaceFoldCase: true,
	}, nil)
	for _, tt := range [][]string{{"/ACCT/x", "T1"}, {"/acct/x", "t1"}, {"/Acct/x", "T1", "t1"}} {
		if got, err := ns(fold, tt[0], tt[1:]...); err != nil || got != "acct/t1" {
			t.Errorf("fold case: namespace of %s (tenants %q) = %q, %v; want acct/t1", tt[0], tt[1:], got, err)
		}
	}
}

func TestForwardPassesOnWhatItCannotRead(t *testing.T) {
	h := profileHandler(t, "token_revocation {\n profile keycloak\n}")
	var seen []string
	up := apiUpstream(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Method)
		w.WriteHeader(http.StatusNoContent)
	})
	logout := "/realms/a/protocol/openid-connect/logout"
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodOptions, logout, nil),                                // CORS preflight
		httptest.NewRequest(http.MethodGet, logout+"?id_token_hint=x", nil),                 // RP-initiated logout
		formRequest(http.MethodPost, logout, url.Values{"post_logout_redirect_uri": {"/"}}), // no refresh token
	} {
		if res := serveHTTP(t, h, up, r); res.status != http.StatusNoContent {
			t.Errorf("%s %s: status %d, want the upstream's 204", r.Method, r.URL, res.status)
		}
	}
	if strings.Join(seen, ",") != "OPTIONS,GET,POST" {
		t.Errorf("upstream saw %v", seen)
	}
	if n := entries(t, h); n != 0 {
		t.Errorf("%d entries recorded from calls that revoke nothing", n)
	}
	// What is passed on is checked like any request.
	serveHTTP(t, h, up, formRequest(http.MethodPost, "/realms/a/protocol/openid-connect/revoke", url.Values{"token": {"tok-r"}}))
	r := httptest.NewRequest(http.MethodGet, logout, nil)
	r.Header.Set("Authorization", "Bearer tok-r")
	if res := serveHTTP(t, h, up, r); res.status != http.StatusUnauthorized {
		t.Errorf("a passed-on request with a revoked token: status %d, want 401", res.status)
	}
	// In respond mode the gateway still answers them itself.
	hr := profileHandler(t, "token_revocation {\n profile keycloak {\n mode respond\n }\n}")
	if res := serveHTTP(t, hr, up, httptest.NewRequest(http.MethodOptions, logout, nil)); res.status != http.StatusMethodNotAllowed {
		t.Errorf("respond mode OPTIONS: status %d, want 405", res.status)
	}
}

func TestKeycloakRevokeConfirmsOnlyAnEmpty200(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	refresh := jwt(map[string]any{"iss": "http://kc/realms/a", "typ": "Refresh", "sid": "s1", "jti": "r1", "exp": exp})
	access := jwt(map[string]any{"iss": "http://kc/realms/a", "typ": "Bearer", "sid": "s1", "jti": "a1", "iat": time.Now().Unix() - 5, "exp": exp})
	revoke := "/realms/a/protocol/openid-connect/revoke"
	for _, tt := range []struct {
		name          string
		body          string
		accessRevoked bool
	}{
		{"empty 200: confirmed, the session ends", "", true},
		{"200 with an error: the token only", `{"error":"invalid_token","error_description":"Invalid token"}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := profileHandler(t, "token_revocation {\n profile keycloak\n}")
			up := apiUpstream(func(w http.ResponseWriter, r *http.Request) {
				if tt.body != "" {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte(tt.body))
			})
			res := serveHTTP(t, h, up, formRequest("POST", revoke, url.Values{"token": {refresh}, "client_id": {"app"}}))
			if res.status != 200 || res.body != tt.body {
				t.Fatalf("revoke: %d %q, want the upstream's answer unchanged", res.status, res.body)
			}
			if s := serveHTTP(t, h, up, bearer("/api", refresh)).status; s != 401 {
				t.Errorf("the revoked token itself: status %d, want 401", s)
			}
			want := 200
			if tt.accessRevoked {
				want = 401
			}
			if s := serveHTTP(t, h, up, bearer("/api", access)).status; s != want {
				t.Errorf("an access token of the session: status %d, want %d", s, want)
			}
		})
	}
}

func TestKeycloakRoutesIgnoreOtherRealms(t *testing.T) {
	h := profileHandler(t, "token_revocation {\n profile keycloak\n}")
	exp := time.Now().Add(time.Hour).Unix()
	refreshB := jwt(map[string]any{"iss": "http://kc/realms/b", "typ": "Refresh", "sid": "s1", "exp": exp})
	up := apiUpstream(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	serveHTTP(t, h, up, formRequest("POST", "/realms/a/protocol/openid-connect/logout", url.Values{"refresh_token": {refreshB}}))
	if n := entries(t, h); n != 0 {
		t.Fatalf("a realm b token logged out through realm a's route recorded %d entries", n)
	}
}

func usergridToken(user, uuid, tok string) apiUpstream {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": tok, "expires_in": 604800,
			"user": map[string]any{"uuid": uuid, "username": user, "email": user + "@example.com"},
		})
	}
}

func TestUsergridRevokeTokensRespondMode(t *testing.T) {
	h := profileHandler(t, "token_revocation {\n profile usergrid {\n mode respond\n }\n}")
	login := func(org, user, uuid, tok string) {
		t.Helper()
		res := serveHTTP(t, h, usergridToken(user, uuid, tok), httptest.NewRequest("POST", "/"+org+"/app/token",
			strings.NewReader(`{"grant_type":"password","username":"`+user+`","password":"pw"}`)))
		if res.status != 200 {
			t.Fatalf("login: %d %s", res.status, res.body)
		}
	}
	login("org1", "someUser", "u-1", "tok-a")
	login("org1", "someUser", "u-1", "tok-b")
	login("org1", "other", "u-2", "tok-c")
	login("org2", "someUser", "u-9", "tok-d")

	// Without one of the user's own tokens: 401, nothing revoked.
	res := serveHTTP(t, h, okUpstream, httptest.NewRequest("PUT", "/org1/app/users/someUser/revoketokens", nil))
	if res.status != 401 || !strings.Contains(res.body, `"error":"unauthorized"`) {
		t.Fatalf("revoketokens without a token: %d %s, want 401 unauthorized", res.status, res.body)
	}
	res = serveHTTP(t, h, okUpstream, httptest.NewRequest("PUT", "/org1/app/users/someUser/revoketokens?access_token=tok-c", nil))
	if res.status != 401 {
		t.Fatalf("revoketokens with another user's token: %d, want 401", res.status)
	}
	// With one (user named by uuid, case as Usergrid allows).
	res = serveHTTP(t, h, okUpstream, httptest.NewRequest("PUT", "/ORG1/app/users/SOMEUSER/revoketokens?access_token=tok-a", nil))
	var answer map[string]any
	if err := json.Unmarshal([]byte(res.body), &answer); err != nil || res.status != 200 || answer["action"] != "revoked user tokens" ||
		res.header.Get("Content-Type") != "application/json" {
		t.Fatalf("revoketokens: %d %s %q", res.status, res.body, res.header.Get("Content-Type"))
	}
	for tok, want := range map[string]int{"tok-a": 401, "tok-b": 401, "tok-c": 200, "tok-d": 200} {
		if s := serveHTTP(t, h, okUpstream, bearer("/org1/app/users/me", tok)).status; s != want {
			t.Errorf("%s after someUser's revoketokens in org1: status %d, want %d", tok, s, want)
		}
	}
}

func TestUsergridTokenAnswerGzipped(t *testing.T) {
	h := profileHandler(t, "token_revocation {\n profile usergrid\n}")
	up := apiUpstream(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write([]byte(`{"access_token":"tok-z","expires_in":60,"user":{"uuid":"u","username":"zed"}}`))
		zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(buf.Bytes())
	})
	serveHTTP(t, h, up, httptest.NewRequest("GET", "/o/a/token?grant_type=password&username=zed&password=x", nil))
	revoked := apiUpstream(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"action":"revoked user tokens"}`))
	})
	serveHTTP(t, h, revoked, httptest.NewRequest("PUT", "/o/a/users/zed/revoketokens", nil))
	if s := serveHTTP(t, h, okUpstream, bearer("/o/a/things", "tok-z")).status; s != 401 {
		t.Fatalf("token from a gzipped answer after revoketokens: status %d, want 401", s)
	}
}

func TestOAuthTokenGrant(t *testing.T) {
	h := profileHandler(t, "token_revocation {\n profile meshydb\n}")
	n := 0
	tokenEndpoint := apiUpstream(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"access_token": "at-" + string(rune('0'+n)), "expires_in": 3600, "token_type": "Bearer",
			"refresh_token": "rt-" + string(rune('0'+n)),
		})
	})
	tok := func(form url.Values) {
		t.Helper()
		if res := serveHTTP(t, h, tokenEndpoint, formRequest("POST", "/acct/connect/token", form)); res.status != 200 {
			t.Fatalf("token: %d %s", res.status, res.body)
		}
	}
	tok(url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}, "client_id": {"pk"}}) // at-1, rt-1
	tok(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-1"}, "client_id": {"pk"}})       // at-2, rt-2
	res := serveHTTP(t, h, okUpstream, formRequest("POST", "/acct/connect/revocation",
		url.Values{"token": {"rt-2"}, "token_type_hint": {"refresh_token"}, "client_id": {"pk"}}))
	if res.status != 200 {
		t.Fatalf("revocation: %d", res.status)
	}
	for _, tk := range []string{"at-1", "at-2", "rt-1", "rt-2"} {
		if s := serveHTTP(t, h, okUpstream, bearer("/acct/users/me", tk)).status; s != 401 {
			t.Errorf("%s of the revoked grant: status %d, want 401", tk, s)
		}
	}
	// The revoked refresh token is refused at the token endpoint.
	before := n
	res = serveHTTP(t, h, tokenEndpoint, formRequest("POST", "/acct/connect/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt-2"}}))
	if res.status != 400 || res.body != `{"error":"invalid_grant"}` || n != before {
		t.Errorf("refresh with a revoked token: %d %s (upstream called %d times), want 400 invalid_grant, not forwarded", res.status, res.body, n-before)
	}
	// Another tenant, account or spelling of them: the token is still
	// revoked (a token's identity has no namespace: the request names the
	// tenant, and its holder writes the request).
	for _, tt := range []struct{ path, tenant string }{
		{"/acct/users/me", "other"}, {"/ACCT/users/me", ""}, {"/acct/users/me", "DEFAULT"}, {"/other/users/me", ""},
	} {
		r := bearer(tt.path, "at-1")
		if tt.tenant != "" {
			r.Header.Set("Tenant", tt.tenant)
		}
		if s := serveHTTP(t, h, okUpstream, r).status; s != 401 {
			t.Errorf("the revoked token at %s, tenant %q: status %d, want 401", tt.path, tt.tenant, s)
		}
	}
}

func TestUsergridRevokeTokenRespondAnswer(t *testing.T) {
	h := profileHandler(t, "token_revocation {\n profile usergrid {\n mode respond\n }\n}")
	res := serveHTTP(t, h, okUpstream, httptest.NewRequest("PUT", "/org/app/users/someUser/revoketoken?token=tok-1", nil))
	var a route.UsergridAnswer
	dec := json.NewDecoder(strings.NewReader(res.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || res.status != 200 || a.Action != "revoked user token" || a.Timestamp < time.Now().Add(-time.Minute).UnixMilli() || a.Duration < 0 {
		t.Fatalf("revoketoken: %d %s (%v)", res.status, res.body, err)
	}
	if !strings.HasPrefix(res.body, `{"action":"revoked user token","timestamp":`) {
		t.Errorf("body %s: want Usergrid's field order", res.body)
	}
	if s := serveHTTP(t, h, okUpstream, httptest.NewRequest("GET", "/org/app/users/me?access_token=tok-1", nil)).status; s != 401 {
		t.Errorf("revoked token in access_token: status %d, want 401", s)
	}
	res = serveHTTP(t, h, okUpstream, httptest.NewRequest("PUT", "/org/app/users/someUser/revoketoken", nil))
	if res.status != 400 || !strings.Contains(res.body, `"error":"illegal_argument"`) {
		t.Errorf("revoketoken without token: %d %s", res.status, res.body)
	}
	res = serveHTTP(t, h, okUpstream, httptest.NewRequest("POST", "/management/users/admin/revoketoken?token=tok-2", nil))
	if !strings.Contains(res.body, `"action":"revoked user tokens"`) {
		t.Errorf("management revoketoken: %s, want Usergrid's management action", res.body)
	}
}
