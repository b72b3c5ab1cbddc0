package tests

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Configurations that do less than their name suggests say so (issue 11):
// a respond-mode logout without jwt at start; a Keycloak logout under a
// prefix the profile does not route (HyperID's /auth with a profile given
// another prefix) when it is seen; tokens without sid while sessions are
// revoked.
func TestConfigWarnings(t *testing.T) {
	up := startKeycloakish(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		profile keycloak /kc
		logout /logout
		backchannel_logout /backchannel
		jwt https://idp.test {
			hmac_secret 0123456789abcdef0123456789abcdef
			audience gw
		}
	}
	reverse_proxy %s
}`, up.Addr())
	res := postForm(t, c.URL("/auth/realms/demo/protocol/openid-connect/logout"), url.Values{"refresh_token": {"x"}})
	if res.Status != http.StatusNoContent {
		t.Fatalf("the unrouted logout: %d (the upstream answers it)", res.Status)
	}
	now := time.Now().Unix()
	get(t, c.URL("/api"), "Authorization: Bearer "+unsignedToken(map[string]any{"iss": "https://idp.test", "sub": "u", "iat": now, "exp": now + 60}))
	pollUntil(t, 5*time.Second, func() string {
		logs := c.Logs()
		for _, want := range []string{"matched none", "a token carries no sid"} {
			if !strings.Contains(logs, want) {
				return "no log line " + want
			}
		}
		return ""
	})
	m := get(t, c.AdminURL("/metrics")).Body
	for _, want := range []string{
		`caddy_token_revocation_route_near_misses_total{route="keycloak_logout /kc/realms/{realm}/protocol/openid-connect/logout"} 1`,
		`caddy_token_revocation_tokens_without_sid_total{issuer="https://idp.test"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// respond-mode logout without jwt: warned at start.
	c2 := startCaddy(t, "http:// {\n\ttoken_revocation {\n\t\tlogout /logout\n\t}\n\trespond 200\n}")
	if !strings.Contains(c2.Logs(), "without a jwt block revokes only the tokens presented") {
		t.Errorf("no warning for a respond-mode logout without jwt:\n%s", c2.Logs())
	}
}
