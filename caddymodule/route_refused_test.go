package caddymodule

import (
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"net/url"
	"testing"
	"time"
)

const unsupported = `{"error":"unsupported_token_type","error_description":"Structured JWT Tokens cannot be revoked via the revocation_endpoint"}`

func forwardRevoke(refused ...string) *Handler {
	return &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/revoke", Mode: route.ModeForward, RevokeRefused: refused}}}
}

func TestUpstreamRefusalOfAJWTIsRevokedByTheGateway(t *testing.T) {
	h := newTestHandler(t, forwardRevoke(), nil)
	now := time.Now().Unix()
	access := jwt(map[string]any{"iss": "idp", "sub": "u1", "jti": "j1", "iat": now, "exp": now + 300})
	sameJTI := jwt(map[string]any{"iss": "idp", "sub": "u1", "jti": "j1", "iat": now, "exp": now + 300, "x": 1})
	up := &upstream{status: 400, body: unsupported}
	res := serve(t, h, up, formRequest("POST", "/revoke", url.Values{"token": {access}}))
	if res.status != 200 || res.body != "" || res.header.Get("Content-Type") != "" || res.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("upstream refused a JWT: %d %q %v, want an empty 200 with no-store", res.status, res.body, res.header)
	}
	if up.reached() != 1 {
		t.Fatalf("the upstream was asked %d times, want 1", up.reached())
	}
	if res := serve(t, h, &upstream{}, bearer("/api", access)); res.status != 401 {
		t.Errorf("refused JWT at the API: %d, want 401", res.status)
	}
	// Unverified: its claims (jti) are not trusted.
	if res := serve(t, h, &upstream{}, bearer("/api", sameJTI)); res.status != 200 {
		t.Errorf("another token with the same jti (no jwt block): %d, want 200", res.status)
	}
}

func TestUpstreamRefusalLeftAlone(t *testing.T) {
	now := time.Now().Unix()
	access := jwt(map[string]any{"iss": "idp", "sub": "u1", "iat": now, "exp": now + 300})
	for _, c := range []struct {
		name    string
		h       *Handler
		status  int
		body    string
		token   string
		revoked bool
	}{
		{"opaque token", forwardRevoke(), 400, unsupported, "opaque-token", false},
		{"other error", forwardRevoke(), 400, `{"error":"invalid_client"}`, access, false},
		{"unreadable body", forwardRevoke(), 400, `unsupported_token_type`, access, false},
		{"off", forwardRevoke("off"), 400, unsupported, access, false},
		{"configured status", forwardRevoke("501"), 501, "not implemented", access, true},
		{"configured code", forwardRevoke("invalid_request"), 400, `{"error":"invalid_request"}`, access, true},
		{"configured code, default dropped", forwardRevoke("invalid_request"), 400, unsupported, access, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHandler(t, c.h, nil)
			res := serve(t, h, &upstream{status: c.status, body: c.body}, formRequest("POST", "/revoke", url.Values{"token": {c.token}}))
			wantStatus, wantBody := c.status, c.body
			if c.revoked {
				wantStatus, wantBody = 200, ""
			}
			if res.status != wantStatus || res.body != wantBody {
				t.Fatalf("answer %d %q, want %d %q", res.status, res.body, wantStatus, wantBody)
			}
			want := 200
			if c.revoked {
				want = 401
			}
			if res := serve(t, h, &upstream{}, bearer("/api", c.token)); res.status != want {
				t.Errorf("token at the API: %d, want %d", res.status, want)
			}
		})
	}
}

func TestUpstreamRefusalNotStoredIs503(t *testing.T) {
	h := newTestHandler(t, forwardRevoke(), brokenStore{})
	now := time.Now().Unix()
	access := jwt(map[string]any{"iss": "idp", "sub": "u1", "iat": now, "exp": now + 300})
	res := serve(t, h, &upstream{status: 400, body: unsupported}, formRequest("POST", "/revoke", url.Values{"token": {access}}))
	if res.status != 503 || res.header.Get("Retry-After") == "" {
		t.Errorf("refused JWT, store down: %d, want 503 with Retry-After", res.status)
	}
}

func TestRevokeRefusedConfigChecked(t *testing.T) {
	for _, rc := range []*route.Route{
		{Type: "revoke", Path: "/r", Mode: route.ModeRespond, RevokeRefused: []string{"unsupported_token_type"}},
		{Type: "logout", Path: "/r", Mode: route.ModeForward, RevokeRefused: []string{"unsupported_token_type"}},
		{Type: "revoke", Path: "/r", Mode: route.ModeForward, RevokeRefused: []string{"200"}},
		{Type: "revoke", Path: "/r", Mode: route.ModeForward, RevokeRefused: []string{"off", "x"}},
	} {
		if _, err := route.Compile(rc); err == nil {
			t.Errorf("%s %s revoke_refused %v: accepted", rc.Type, rc.Mode, rc.RevokeRefused)
		}
	}
}

func TestUpstreamRefusalOfAVerifiedJWTRevokesItsJTIAndRefreshSession(t *testing.T) {
	p := newIdP(t)
	h := p.handler(&route.Route{Type: "revoke", Path: "/revoke", Mode: route.ModeForward})
	now := time.Now().Unix()
	access := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "S", "jti": "a1", "iat": now - 5})
	sameJTI := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "S", "jti": "a1", "iat": now - 4})
	refresh := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "T", "typ": "Refresh", "jti": "r1", "iat": now - 5})
	ofT := sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "T", "jti": "a2", "iat": now - 5})
	up := &upstream{status: 400, body: unsupported}
	for _, tok := range []string{access, refresh} {
		if res := serve(t, h, up, formRequest("POST", "/revoke", url.Values{"token": {tok}})); res.status != 200 {
			t.Fatalf("refused, verified: %d %q", res.status, res.body)
		}
	}
	if s := status(t, h, sameJTI); s != 401 {
		t.Errorf("verified JWT's jti after a refusal: %d, want 401", s)
	}
	if s := status(t, h, ofT); s != 401 {
		t.Errorf("session of a verified refresh token after a refusal: %d, want 401", s)
	}
}
