package tests

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
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

// realmKey is a realm's signing key and a PEM file of its public key,
// for the jwt block's public_key_file.
func realmKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pemFile := filepath.Join(t.TempDir(), "realm.pem")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return key, pemFile
}

func TestKeycloakAdminPush(t *testing.T) {
	key, pemFile := realmKey(t)
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

// keycloakAdminOrdersCaddyfile: realms, each with a keycloak_admin route
// (realm_wide for those named wide-N), their actions POSTed to
// /kc/<realm>/k_push_not_before. %s: Redis, the realm key.
func keycloakAdminOrdersCaddyfile(realms []string) string {
	var routes, jwts strings.Builder
	for _, r := range realms {
		wide := ""
		if strings.HasPrefix(r, "wide") {
			wide = "\n\t\t\trealm_wide"
		}
		fmt.Fprintf(&routes, "\t\tkeycloak_admin /kc/%s/* {\n\t\t\tissuer https://kc.test/realms/%s%s\n\t\t}\n", r, r, wide)
		fmt.Fprintf(&jwts, "\t\tjwt https://kc.test/realms/%s {\n\t\t\tpublic_key_file %%[2]s\n\t\t}\n", r)
	}
	return "http:// {\n\ttoken_revocation {\n\t\tstore redis {\n\t\t\taddress %[1]s\n\t\t}\n" + routes.String() + jwts.String() + "\t}\n\trespond \"api ok\" 200\n}"
}

// TestKeycloakAdminNotBeforeOrders: Keycloak keeps a realm-wide and a
// client-wide not-before and refuses a token issued before either
// (TokenManager: iat < max of the two). "Push" for the realm sends the
// realm's not-before to the Admin URL of every client of the realm
// (resource: that client); "Push" for a client sends the client's
// (ResourceAdminManager.pushRealmRevocationPolicy and
// pushClientRevocationPolicy). Pushed in either order, the later one
// earlier or later than the first, a token issued between the two
// not-befores must stay refused: each combination, against the model of
// Keycloak's rule, on two gateways sharing Redis. With realm_wide every
// push cuts off the whole realm: the model is the latest not-before of
// any push (issue 25, item 5).
func TestKeycloakAdminNotBeforeOrders(t *testing.T) {
	key, pemFile := realmKey(t)
	// Client-wide pushes share one realm (each case its own clients); a
	// realm_wide case has a realm of its own.
	realms := []string{"demo", "wide-0", "wide-1", "wide-2", "wide-3"}
	redis := startRedis(t).Addr
	a := startCaddy(t, keycloakAdminOrdersCaddyfile(realms), redis, pemFile)
	b := startCaddy(t, keycloakAdminOrdersCaddyfile(realms), redis, pemFile)

	// Not-befores an hour apart: far past clock_skew (5 minutes), which
	// widens each cut-off by that much.
	now := time.Now().Unix()
	early, late := now-5400, now-1800
	iats := map[string]int64{"old": now - 7200, "between": now - 3600, "fresh": now - 600}
	final := map[string]int{} // each token's status once its case is done
	type push struct {
		realm bool  // realm push: one action per client of the realm
		nb    int64 // not-before
	}
	for i, tc := range []struct {
		name   string
		pushes []push
	}{
		{"client then realm, realm later", []push{{false, early}, {true, late}}},
		{"client then realm, realm earlier", []push{{false, late}, {true, early}}},
		{"realm then client, client later", []push{{true, early}, {false, late}}},
		{"realm then client, client earlier", []push{{true, late}, {false, early}}},
	} {
		for _, realmWide := range []bool{false, true} {
			name, realm := tc.name, "demo"
			if realmWide {
				name, realm = tc.name+", realm_wide", fmt.Sprintf("wide-%d", i)
			}
			iss, prefix := "https://kc.test/realms/"+realm, "/kc/"+realm+"/"
			t.Run(name, func(t *testing.T) {
				// The realm's clients whose Admin URL is the gateway: the
				// pushes of a client are for the first; each case its own.
				clients := []string{"app-" + randomString(), "api-" + randomString()}
				toks := map[string]map[string]string{} // client, iat name
				for _, c := range clients {
					toks[c] = map[string]string{}
					for n, iat := range iats {
						toks[c][n] = jwttest.Sign(t, jose.RS256, key, "realm-key", "JWT", map[string]any{
							"iss": iss, "sub": "u1", "azp": c, "typ": "Bearer", "iat": iat, "exp": now + 3600, "jti": randomString()})
					}
				}
				send := func(resource string, nb int64) {
					t.Helper()
					action := jwttest.Sign(t, jose.RS256, key, "realm-key", "JWT", map[string]any{
						"id": randomString(), "expiration": time.Now().Unix() + 30, "resource": resource, "action": "PUSH_NOT_BEFORE", "notBefore": nb})
					if res := do(t, http.MethodPost, a.URL(prefix+"k_push_not_before"), strings.NewReader(action), "Content-Type: text/plain"); res.Status != http.StatusNoContent {
						t.Fatalf("push %s %d: %d %s", resource, nb, res.Status, res.Body)
					}
				}
				var realmNB, anyNB int64
				clientNB := map[string]int64{}
				for i, p := range tc.pushes {
					if p.realm {
						realmNB = p.nb
						for _, c := range clients {
							send(c, p.nb)
						}
					} else {
						clientNB[clients[0]] = p.nb
						send(clients[0], p.nb)
					}
					anyNB = max(anyNB, p.nb)
					for _, c := range clients {
						for n, iat := range iats {
							effective := max(realmNB, clientNB[c]) // Keycloak's rule
							if realmWide {
								effective = anyNB
							}
							want := http.StatusOK
							if iat < effective {
								want = http.StatusUnauthorized
							}
							apiStatus(t, fmt.Sprintf("after push %d: client %s, token %s", i+1, c[:3], n), toks[c][n], want, a, b)
							final[toks[c][n]] = want
						}
					}
				}
			})
		}
	}
	// A third instance, started now, reads what Redis holds (not a
	// mirror's merge of what it saw pushed).
	c := startCaddy(t, keycloakAdminOrdersCaddyfile(realms), redis, pemFile)
	for tok, want := range final {
		apiStatus(t, "a new instance", tok, want, c)
	}
}
