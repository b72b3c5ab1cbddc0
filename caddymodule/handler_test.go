package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
)

// upstream is the next handler in tests: it records what reached it and
// answers with status (200 by default).
type upstream struct {
	mu     sync.Mutex
	status int
	body   string
	seen   []string // "METHOD path body"
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, r.Method+" "+r.URL.Path+" "+string(b))
	status, body := u.status, u.body
	u.mu.Unlock()
	if status == 0 {
		status = http.StatusOK
	}
	w.Header().Set("X-Upstream", "yes")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
	return nil
}

func (u *upstream) reached() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// brokenStore fails every call as an unreachable backend does.
type brokenStore struct{ denylist.Store }

func (brokenStore) Revoke(context.Context, ...denylist.Entry) error { return denylist.ErrUnavailable }
func (brokenStore) Check(context.Context, *denylist.Query) (denylist.Match, error) {
	return denylist.Match{}, fmt.Errorf("%w: test", denylist.ErrUnavailable)
}

// newTestHandler sets h up like Provision does, on a fresh embedded store
// (or the given one).
func newTestHandler(t *testing.T, h *Handler, store denylist.Store) *Handler {
	t.Helper()
	h.logger = zaptest.NewLogger(t)
	if err := h.setup(); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if store == nil {
		s, err := boltstore.OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		store = s
	}
	h.useStore(store)
	t.Cleanup(func() {
		if h.gw.Verifier != nil {
			h.gw.Verifier.Close() // the JWKS fetch started logs to t: done before t is
		}
	})
	return h
}

type result struct {
	status int
	header http.Header
	body   string
}

func serve(t *testing.T, h *Handler, next caddyhttp.Handler, r *http.Request) result {
	t.Helper()
	return serveWith(t, h, next, r, caddy.NewReplacer())
}

// serveWith runs h on r with repl as the request's replacer and an empty
// vars map, and records the answer.
func serveWith(t *testing.T, h *Handler, next caddyhttp.Handler, r *http.Request, repl *caddy.Replacer) result {
	t.Helper()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	r = r.WithContext(ctx)
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return result{w.Code, w.Header(), w.Body.String()}
}

func formRequest(method, target string, form url.Values) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func bearer(target, tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// jwt builds an unsigned-looking compact JWS with the given claims.
func jwt(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + ".c2lnbmF0dXJl"
}

func respondRoutes() *Handler {
	return &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/oauth/revoke"}, {Type: "logout", Path: "/logout"}}}
}

func TestRevokeThenRejectedOnEveryChannel(t *testing.T) {
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/oauth/revoke"}}, Cookies: []string{"session"}, Headers: []string{"X-Api-Token"}}, nil)
	up := &upstream{}
	if res := serve(t, h, up, bearer("/api", "tok-1")); res.status != 200 {
		t.Fatalf("before revocation: status %d, want 200", res.status)
	}
	res := serve(t, h, up, formRequest("POST", "/oauth/revoke", url.Values{"token": {"tok-1"}, "token_type_hint": {"access_token"}}))
	if res.status != 200 || res.body != "" {
		t.Fatalf("revoke: %d %q, want 200 and an empty body", res.status, res.body)
	}
	channels := map[string]*http.Request{
		"header": bearer("/api", "tok-1"),
		"lower-case scheme": func() *http.Request {
			r := bearer("/api", "")
			r.Header.Set("Authorization", "bearer   tok-1")
			return r
		}(),
		"query": httptest.NewRequest("GET", "/api?access_token=tok-1", nil),
		"form":  formRequest("POST", "/api", url.Values{"access_token": {"tok-1"}}),
		"cookie": func() *http.Request {
			r := httptest.NewRequest("GET", "/api", nil)
			r.AddCookie(&http.Cookie{Name: "session", Value: "tok-1"})
			return r
		}(),
		"custom header": func() *http.Request {
			r := httptest.NewRequest("GET", "/api", nil)
			r.Header.Set("X-Api-Token", "tok-1")
			return r
		}(),
		"second of two headers": func() *http.Request {
			r := bearer("/api", "other")
			r.Header.Add("Authorization", "Bearer tok-1")
			return r
		}(),
	}
	before := up.reached()
	for name, r := range channels {
		res := serve(t, h, up, r)
		if res.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, res.status)
			continue
		}
		if got := res.header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token", error_description="token revoked"` {
			t.Errorf("%s: WWW-Authenticate %q", name, got)
		}
		if !strings.Contains(res.body, `"error":"invalid_token"`) {
			t.Errorf("%s: body %q", name, res.body)
		}
	}
	if up.reached() != before {
		t.Errorf("a request with a revoked token reached the upstream")
	}
	if res := serve(t, h, up, bearer("/api", "tok-2")); res.status != 200 {
		t.Errorf("another token: status %d, want 200", res.status)
	}
}

func TestRevokedJWTRejectedWhenReencodedOrResigned(t *testing.T) {
	h := newTestHandler(t, respondRoutes(), nil)
	tok := jwt(map[string]any{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	serve(t, h, &upstream{}, formRequest("POST", "/oauth/revoke", url.Values{"token": {tok}}))
	parts := strings.Split(tok, ".")
	variants := map[string]string{
		"same":            tok,
		"other signature": parts[0] + "." + parts[1] + ".b3RoZXI",
		"padded base64":   parts[0] + "==." + parts[1] + "." + parts[2],
		"empty signature": parts[0] + "." + parts[1] + ".",
	}
	for name, v := range variants {
		if res := serve(t, h, &upstream{}, bearer("/api", v)); res.status != 401 {
			t.Errorf("%s: status %d, want 401", name, res.status)
		}
	}
}

func TestRevokeRouteBadInput(t *testing.T) {
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/oauth/revoke"}}, MaxBodySize: 1024}, nil)
	cases := []struct {
		name   string
		req    *http.Request
		status int
		want   string
	}{
		{"missing token", formRequest("POST", "/oauth/revoke", url.Values{"token_type_hint": {"access_token"}}), 400, "invalid_request"},
		{"empty token", formRequest("POST", "/oauth/revoke", url.Values{"token": {""}}), 400, "invalid_request"},
		{"json body", func() *http.Request {
			r := httptest.NewRequest("POST", "/oauth/revoke", strings.NewReader(`{"token":"x"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}(), 400, "application/x-www-form-urlencoded"},
		{"oversized body", formRequest("POST", "/oauth/revoke", url.Values{"token": {strings.Repeat("x", 2000)}}), 413, "larger than"},
		{"wrong method", httptest.NewRequest("GET", "/oauth/revoke?token=x", nil), 405, "not allowed"},
		{"broken JWT is still revoked as opaque", formRequest("POST", "/oauth/revoke", url.Values{"token": {"eyJhbGciOi.broken.jwt"}}), 200, ""},
	}
	for _, c := range cases {
		res := serve(t, h, &upstream{}, c.req)
		if res.status != c.status || !strings.Contains(res.body, c.want) {
			t.Errorf("%s: %d %q, want %d containing %q", c.name, res.status, res.body, c.status, c.want)
		}
	}
}

func TestEnforcementEdgeCases(t *testing.T) {
	h := newTestHandler(t, &Handler{MaxTokenSize: 64}, nil)
	up := &upstream{}
	if res := serve(t, h, up, bearer("/api", strings.Repeat("a", 65))); res.status != 400 {
		t.Errorf("oversized token: status %d, want 400", res.status)
	}
	r := httptest.NewRequest("GET", "/api", nil)
	r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	if res := serve(t, h, up, r); res.status != 200 {
		t.Errorf("Basic credentials: status %d, want 200 (not a bearer token)", res.status)
	}
	if res := serve(t, h, up, bearer("/api", "not.a.jwt")); res.status != 200 {
		t.Errorf("malformed token: status %d, want 200 (passed on)", res.status)
	}
	if up.seen[len(up.seen)-1] != "GET /api " {
		t.Errorf("upstream saw %q", up.seen[len(up.seen)-1])
	}
}

func TestFormBodyReachesUpstreamUnchanged(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	up := &upstream{}
	form := url.Values{"access_token": {"t"}, "other": {"v"}}
	serve(t, h, up, formRequest("POST", "/api", form))
	if got, want := up.seen[0], "POST /api "+form.Encode(); got != want {
		t.Errorf("upstream saw %q, want %q", got, want)
	}
}

func TestForwardModeRecordsOnlyOnUpstream2xx(t *testing.T) {
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/revoke", Mode: route.ModeForward}}}, nil)
	up := &upstream{status: 400, body: `{"error":"invalid_client"}`}
	res := serve(t, h, up, formRequest("POST", "/revoke", url.Values{"token": {"t1"}}))
	if res.status != 400 || res.body != `{"error":"invalid_client"}` || res.header.Get("X-Upstream") != "yes" {
		t.Fatalf("upstream 400 not passed through: %d %q", res.status, res.body)
	}
	if got := up.seen[0]; got != "POST /revoke token=t1" {
		t.Errorf("upstream saw %q, want the body unchanged", got)
	}
	if res := serve(t, h, &upstream{}, bearer("/api", "t1")); res.status != 200 {
		t.Fatalf("after upstream 400: token rejected (%d), want nothing recorded", res.status)
	}
	up.status, up.body = 200, ""
	if res := serve(t, h, up, formRequest("POST", "/revoke", url.Values{"token": {"t1"}})); res.status != 200 {
		t.Fatalf("upstream 200: answered %d", res.status)
	}
	if res := serve(t, h, &upstream{}, bearer("/api", "t1")); res.status != 401 {
		t.Fatalf("after upstream 200: status %d, want 401", res.status)
	}
}

func TestLogoutConfirmedByUpstreamRevokesSession(t *testing.T) {
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "logout", Path: "/realms/{realm}/logout", Mode: route.ModeForward}}}, nil)
	now := time.Now().Unix()
	refresh := jwt(map[string]any{"iss": "idp", "sub": "u1", "sid": "S", "typ": "Refresh", "iat": now - 10, "exp": now + 3600})
	access := jwt(map[string]any{"iss": "idp", "sub": "u1", "sid": "S", "iat": now - 5, "exp": now + 300})
	otherSession := jwt(map[string]any{"iss": "idp", "sub": "u1", "sid": "T", "iat": now - 5, "exp": now + 300})
	res := serve(t, h, &upstream{status: 204}, formRequest("POST", "/realms/demo/logout", url.Values{"refresh_token": {refresh}, "client_id": {"app"}}))
	if res.status != 204 {
		t.Fatalf("logout: %d", res.status)
	}
	if res := serve(t, h, &upstream{}, bearer("/api", access)); res.status != 401 {
		t.Errorf("access token of the logged-out session: %d, want 401", res.status)
	}
	if res := serve(t, h, &upstream{}, bearer("/api", otherSession)); res.status != 200 {
		t.Errorf("access token of another session: %d, want 200", res.status)
	}
}

func TestUnconfirmedLogoutRevokesOnlyThePresentedToken(t *testing.T) {
	h := newTestHandler(t, respondRoutes(), nil)
	now := time.Now().Unix()
	forged := jwt(map[string]any{"iss": "idp", "sub": "victim", "sid": "S", "jti": "j1", "iat": now, "exp": now + 3600})
	victim := jwt(map[string]any{"iss": "idp", "sub": "victim", "sid": "S", "jti": "j1", "iat": now - 5, "exp": now + 300, "x": 1})
	serve(t, h, &upstream{}, formRequest("POST", "/logout", url.Values{"refresh_token": {forged}}))
	serve(t, h, &upstream{}, formRequest("POST", "/oauth/revoke", url.Values{"token": {forged}}))
	if res := serve(t, h, &upstream{}, bearer("/api", victim)); res.status != 200 {
		t.Errorf("victim's token: %d, want 200 (a forged token must not revoke its claims)", res.status)
	}
	if res := serve(t, h, &upstream{}, bearer("/api", forged)); res.status != 401 {
		t.Errorf("forged token itself: %d, want 401", res.status)
	}
}

func TestStoreFailure(t *testing.T) {
	h := newTestHandler(t, respondRoutes(), brokenStore{})
	up := &upstream{}
	res := serve(t, h, up, formRequest("POST", "/oauth/revoke", url.Values{"token": {"t"}}))
	if res.status != 503 || res.header.Get("Retry-After") != "5" {
		t.Errorf("revoke with the store down: %d Retry-After=%q, want 503 and 5", res.status, res.header.Get("Retry-After"))
	}
	if res := serve(t, h, up, bearer("/api", "t")); res.status != 503 {
		t.Errorf("check with the store down, fail closed: %d, want 503", res.status)
	}
	if up.reached() != 0 {
		t.Errorf("fail closed let a request through")
	}
	h.FailMode, h.gw.FailMode, h.gw.FailOpen = FailOpen, FailOpen, true
	if res := serve(t, h, up, bearer("/api", "t")); res.status != 200 {
		t.Errorf("fail open: %d, want 200", res.status)
	}
	fwd := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/revoke", Mode: route.ModeForward}}}, brokenStore{})
	if res := serve(t, fwd, &upstream{}, formRequest("POST", "/revoke", url.Values{"token": {"t"}})); res.status != 503 {
		t.Errorf("forward, upstream 200, store down: %d, want 503 (never 2xx for an unstored revocation)", res.status)
	}
}

// TestNamespacesScopeClaimsNotTokens: a token revoked by its identity is
// revoked in every namespace (the namespace comes from the request, which
// its holder spells), while a revocation by a claim (a session) in one
// namespace does not match a token with the same claim in another.
func TestNamespacesScopeClaimsNotTokens(t *testing.T) {
	store, err := boltstore.OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := newTestHandler(t, &Handler{Namespace: "tenant-a", Routes: []*route.Route{{Type: "revoke", Path: "/revoke"}}}, store)
	b := newTestHandler(t, &Handler{Namespace: "tenant-b"}, store)
	serve(t, a, &upstream{}, formRequest("POST", "/revoke", url.Values{"token": {"shared"}}))
	for name, h := range map[string]*Handler{"tenant-a": a, "tenant-b": b} {
		if res := serve(t, h, &upstream{}, bearer("/api", "shared")); res.status != 401 {
			t.Errorf("%s: %d, want 401", name, res.status)
		}
	}
	now := time.Now()
	if err := revokeCutoffs(a, "test", "tenant-a", engine.Cutoff{Kind: denylist.KindSession, Issuer: "iss", ID: "S", At: now}); err != nil {
		t.Fatal(err)
	}
	tok := jwt(map[string]any{"iss": "iss", "sid": "S", "iat": now.Unix() - 600})
	if res := serve(t, a, &upstream{}, bearer("/api", tok)); res.status != 401 {
		t.Errorf("session S in tenant-a: %d, want 401", res.status)
	}
	if res := serve(t, b, &upstream{}, bearer("/api", tok)); res.status != 200 {
		t.Errorf("session S in tenant-b: %d, want 200 (a claim revoked in another namespace)", res.status)
	}
}

func TestExpiredJWTIsNotStored(t *testing.T) {
	h := newTestHandler(t, respondRoutes(), nil)
	old := jwt(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	if res := serve(t, h, &upstream{}, formRequest("POST", "/oauth/revoke", url.Values{"token": {old}})); res.status != 200 {
		t.Fatalf("revoke of an expired token: %d, want 200", res.status)
	}
	if n := h.gw.Store.Status(context.Background()).Entries; n != 0 {
		t.Errorf("%d entries stored for an expired token, want 0", n)
	}
}

// An upstream 2xx for a logout vouches for the refresh token it checked,
// not for an id_token_hint sent beside it: a forged hint carrying a
// victim's sid must not end the victim's session.
func TestLogoutConfirmationDoesNotCoverTheHint(t *testing.T) {
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "logout", Path: "/logout", Mode: route.ModeForward}}}, nil)
	now := time.Now().Unix()
	own := jwt(map[string]any{"iss": "idp", "sub": "mallory", "sid": "M", "typ": "Refresh", "iat": now - 10, "exp": now + 3600})
	forgedHint := jwt(map[string]any{"iss": "idp", "sub": "victim", "sid": "V", "jti": "vj", "iat": now, "exp": now + 3600})
	victim := jwt(map[string]any{"iss": "idp", "sub": "victim", "sid": "V", "iat": now - 5, "exp": now + 300})
	mallory := jwt(map[string]any{"iss": "idp", "sub": "mallory", "sid": "M", "iat": now - 5, "exp": now + 300})
	res := serve(t, h, &upstream{status: 204}, formRequest("POST", "/logout", url.Values{"refresh_token": {own}, "id_token_hint": {forgedHint}}))
	if res.status != 204 {
		t.Fatalf("logout: %d", res.status)
	}
	if res := serve(t, h, &upstream{}, bearer("/api", victim)); res.status != 200 {
		t.Errorf("victim's session: %d, want 200 (the hint was not confirmed)", res.status)
	}
	if res := serve(t, h, &upstream{}, bearer("/api", mallory)); res.status != 401 {
		t.Errorf("the confirmed refresh token's own session: %d, want 401", res.status)
	}
	if res := serve(t, h, &upstream{}, bearer("/api", forgedHint)); res.status != 401 {
		t.Errorf("the hint itself: %d, want 401 (revoked by its identity)", res.status)
	}
}
