package tests

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
)

// Keycloak's revocation pushes to a client's Admin URL, as Keycloak sends
// them (ResourceAdminManager: POST <admin URL>/k_push_not_before, body
// text/plain, a JWS of the PushNotBeforeAction signed with the realm's
// key), received by a keycloak_admin route on two gateways sharing Redis.
const keycloakAdminCaddyfile = `http:// {
	token_revocation {
		store redis {
			address %s
		}
		keycloak_admin /kc-admin/*
		jwt https://kc.test/realms/demo {
			public_key_file %s
		}
	}
	respond "api ok" 200
}`

func TestKeycloakAdminPush(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pemFile := filepath.Join(t.TempDir(), "realm.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	redis := startRedis(t).Addr
	a := startCaddy(t, keycloakAdminCaddyfile, redis, pemFile)
	b := startCaddy(t, keycloakAdminCaddyfile, redis, pemFile)

	now := time.Now().Unix()
	access := func(azp string, iat int64) string {
		return jwttest.Sign(t, jose.RS256, key, "realm-key", "JWT", map[string]any{"iss": "https://kc.test/realms/demo", "sub": "u1", "azp": azp, "typ": "Bearer", "iat": iat, "exp": now + 3600, "jti": randomString()})
	}
	old, otherClient, fresh := access("app", now-3600), access("other", now-3600), access("app", now)
	push := func(notBefore int64, sig *rsa.PrivateKey) Response {
		action := jwttest.Sign(t, jose.RS256, sig, "realm-key", "JWT", map[string]any{
			"id": randomString(), "expiration": time.Now().Unix() + 30, "resource": "app", "action": "PUSH_NOT_BEFORE", "notBefore": notBefore})
		return do(t, http.MethodPost, a.URL("/kc-admin/k_push_not_before"), strings.NewReader(action), "Content-Type: text/plain")
	}

	forger, _ := rsa.GenerateKey(rand.Reader, 2048)
	if res := push(now, forger); res.Status != http.StatusForbidden {
		t.Fatalf("a push not signed by the realm: %d %s, want 403", res.Status, res.Body)
	}
	apiStatus(t, "token after a forged push", old, http.StatusOK, a, b)
	// "Set to now" then Push, 30 minutes ago (past clock_skew).
	if res := push(now-1800, key); res.Status != http.StatusNoContent {
		t.Fatalf("push: %d %s", res.Status, res.Body)
	}
	apiStatus(t, "the client's token issued before not-before", old, http.StatusUnauthorized, a, b)
	apiStatus(t, "another client's token", otherClient, http.StatusOK, a, b)
	apiStatus(t, "a token issued since", fresh, http.StatusOK, a, b)
	if strings.Contains(a.Logs(), old) {
		t.Error("a raw token is in Caddy's log")
	}
}
