package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
)

// adminAction is a Keycloak admin action as Keycloak's TokenManager
// encodes it: a JWS (typ JWT) of the action, signed with the realm's key.
func adminAction(t *testing.T, p *idp, action string, notBefore int64, extra map[string]any) string {
	t.Helper()
	a := map[string]any{"id": randomID(), "expiration": time.Now().Unix() + 30, "resource": "app", "action": action, "notBefore": notBefore}
	for k, v := range extra {
		a[k] = v
	}
	return jwttest.Sign(t, jose.RS256, p.key, "k1", "JWT", a)
}

func postAction(t *testing.T, h *Handler, target, body string) result {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "text/plain")
	return serve(t, h, &upstream{}, r)
}

func TestKeycloakAdminPushNotBefore(t *testing.T) {
	p := newIdP(t)
	h := p.handler(&route.Route{Type: "keycloak_admin", Path: "/kc-admin/*"})
	now := time.Now().Unix()
	before := sign(t, p.key, "Bearer", map[string]any{"sub": "u1", "azp": "app", "jti": "b1", "iat": now - 2000})
	otherClient := sign(t, p.key, "Bearer", map[string]any{"sub": "u1", "azp": "other", "jti": "b2", "iat": now - 2000})
	after := sign(t, p.key, "Bearer", map[string]any{"sub": "u1", "azp": "app", "jti": "b3", "iat": now - 2})

	// More than clock_skew apart: a token's iat counts as that much
	// earlier.
	push := adminAction(t, p, "PUSH_NOT_BEFORE", now-1000, nil)
	if res := postAction(t, h, "/kc-admin/k_push_not_before", push); res.status != 204 {
		t.Fatalf("push: %d %s", res.status, res.body)
	}
	if s := status(t, h, before); s != 401 {
		t.Errorf("the client's token issued before notBefore: %d, want 401", s)
	}
	if s := status(t, h, otherClient); s != 200 {
		t.Errorf("another client's token: %d, want 200 (client-wide)", s)
	}
	if s := status(t, h, after); s != 200 {
		t.Errorf("a token issued after notBefore: %d, want 200", s)
	}
	if res := postAction(t, h, "/kc-admin/k_push_not_before", push); res.status != 400 {
		t.Errorf("replayed action: %d, want 400", res.status)
	}

	realm := p.handler(&route.Route{Type: "keycloak_admin", Path: "/kc-admin/*", KeycloakAdmin: &route.KeycloakAdmin{RealmWide: true}})
	if res := postAction(t, realm, "/kc-admin/k_logout", adminAction(t, p, "LOGOUT", now-1000, nil)); res.status != 204 {
		t.Fatalf("logout all, realm-wide: %d %s", res.status, res.body)
	}
	if s := status(t, realm, otherClient); s != 401 {
		t.Errorf("another client's token after a realm-wide cut-off: %d, want 401", s)
	}
}

func TestKeycloakAdminRefused(t *testing.T) {
	p := newIdP(t)
	h := p.handler(&route.Route{Type: "keycloak_admin", Path: "/kc-admin/*"})
	now := time.Now().Unix()
	for _, c := range []struct {
		name, target, body string
		want               int
	}{
		{"forged", "/kc-admin/k_push_not_before", jwttest.Sign(t, jose.RS256, otherKey, "k1", "JWT", map[string]any{"id": "f", "expiration": now + 30, "action": "PUSH_NOT_BEFORE", "notBefore": now}), 403},
		{"action of another URL", "/kc-admin/k_logout", adminAction(t, p, "PUSH_NOT_BEFORE", now, nil), 400},
		{"expired", "/kc-admin/k_push_not_before", adminAction(t, p, "PUSH_NOT_BEFORE", now, map[string]any{"expiration": now - 600}), 400},
		{"adapter sessions", "/kc-admin/k_logout", adminAction(t, p, "LOGOUT", now, map[string]any{"adapterSessionIds": []string{"x"}}), 400},
		{"unknown action", "/kc-admin/k_version", "x", 404},
		{"test available", "/kc-admin/k_test_available", "", 204},
	} {
		if res := postAction(t, h, c.target, c.body); res.status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, res.status, res.body, c.want)
		}
	}
	if n := entries(t, h); n != 0 {
		t.Errorf("%d entries stored by refused actions, want 0", n)
	}
}
