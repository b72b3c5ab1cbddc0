package caddymodule

import (
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestGlobalTokenRevocation: each answer of the route, and that only the
// 204 stores anything (the end-to-end test, tests/, runs the draft's
// examples through Caddy and Redis).
func TestGlobalTokenRevocation(t *testing.T) {
	p := newIdP(t)
	h := p.handler(&route.Route{Type: "global_token_revocation", Path: "/gtr"},
		&route.Route{Type: "global_token_revocation", Path: "/gtr-email", EmailIsSub: true})
	now := time.Now().Unix()
	user := func(sub string) string { return sign(t, p.key, "JWT", map[string]any{"sub": sub, "iat": now - 60}) }
	scoped := sign(t, p.key, "JWT", map[string]any{"sub": "tool", "scope": "openid global_token_revocation"})
	scp := sign(t, p.key, "JWT", map[string]any{"sub": "tool", "scp": []string{"global_token_revocation"}})
	endpoint := sign(t, p.key, "JWT", map[string]any{"sub": "okta", "aud": []string{"gw", "https://example.com/gtr"}})
	noExp := sign(t, p.key, "JWT", map[string]any{"sub": "tool", "scope": "global_token_revocation", "exp": nil})
	forged := sign(t, otherKey, "JWT", map[string]any{"sub": "tool", "scope": "global_token_revocation"})
	issSub := func(sub string) string {
		return `{"sub_id":{"format":"iss_sub","iss":"` + testIssuer + `","sub":"` + sub + `"}}`
	}
	call := func(path, auth, ct, body string) result {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return serve(t, h, &upstream{}, r)
	}
	const js = "application/json"

	stored := entries(t, h)
	for _, c := range []struct {
		name, path, auth, ct, body string
		status                     int
	}{
		{"no credential", "/gtr", "", js, issSub("u1"), 401},
		{"an opaque bearer", "/gtr", "Bearer f5641763544a7b24b08e4f74045", js, issSub("u1"), 401},
		{"a forged JWT", "/gtr", "Bearer " + forged, js, issSub("u1"), 401},
		{"a JWT without exp", "/gtr", "Bearer " + noExp, js, issSub("u1"), 401},
		{"a user's own token", "/gtr", "Bearer " + user("u9"), js, issSub("u1"), 403},
		{"another issuer's user", "/gtr", "Bearer " + scoped, js, `{"sub_id":{"format":"iss_sub","iss":"https://other.test","sub":"u1"}}`, 404},
		{"a form body", "/gtr", "Bearer " + scoped, "application/x-www-form-urlencoded", "sub_id=u1", 400},
		{"not JSON", "/gtr", "Bearer " + scoped, js, `{"sub_id":`, 400},
		{"sub_id a string", "/gtr", "Bearer " + scoped, js, `{"sub_id":"u1"}`, 400},
		{"phone_number", "/gtr", "Bearer " + scoped, js, `{"sub_id":{"format":"phone_number","phone_number":"+1"}}`, 400},
		{"opaque without id", "/gtr", "Bearer " + scoped, js, `{"sub_id":{"format":"opaque"}}`, 400},
		{"email", "/gtr", "Bearer " + scoped, js, `{"sub_id":{"format":"email","email":"a@example.com"}}`, 422},
		{"complex without user", "/gtr", "Bearer " + scoped, js, `{"sub_id":{"format":"complex","session":{"format":"opaque","id":"s"}}}`, 422},
	} {
		res := call(c.path, c.auth, c.ct, c.body)
		if res.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, res.status, res.body, c.status)
		}
		if c.status == 401 && !strings.Contains(res.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate %q", c.name, res.header.Get("WWW-Authenticate"))
		}
	}
	if got := entries(t, h); got != stored {
		t.Errorf("refused calls stored %d entries", got-stored)
	}
	if res := serve(t, h, &upstream{}, bearer("/gtr", scoped)); res.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", res.status)
	}

	for _, c := range []struct{ name, path, auth, body, sub string }{
		{"scope", "/gtr", scoped, issSub("u1"), "u1"},
		{"scp", "/gtr", scp, `{"sub_id":{"format":"opaque","id":"u2"}}`, "u2"},
		{"aud the endpoint", "/gtr", endpoint, `{"sub_id":{"format":"complex","user":{"format":"opaque","id":"u3"}}}`, "u3"},
		{"email_is_sub", "/gtr-email", scoped, `{"sub_id":{"format":"email","email":"a@example.com"}}`, "a@example.com"},
	} {
		tok, bystander := user(c.sub), user("bystander")
		if res := call(c.path, "Bearer "+c.auth, js, c.body); res.status != http.StatusNoContent {
			t.Errorf("%s: %d %s, want 204", c.name, res.status, res.body)
		}
		if s := status(t, h, tok); s != 401 {
			t.Errorf("%s: the user's token: %d, want 401", c.name, s)
		}
		if s := status(t, h, bystander); s != 200 {
			t.Errorf("%s: another user's token: %d, want 200", c.name, s)
		}
	}
}
