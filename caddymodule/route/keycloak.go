package route

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Keycloak (and Keycloak-based identity providers).
//
// Keycloak's logout answers 204 only for a refresh token it verified, of
// its realm: that confirms the token's claims, so the gateway ends its whole
// session (sid). Its revocation endpoint answers 200 also for an invalid
// token, then with {"error":"invalid_token"} in the body; only an empty
// 200 confirms the token. Every key built from claims holds the issuer,
// which holds the realm, so one realm's revocations never match another
// realm's tokens; and a route with {realm} in its path records only tokens
// of that realm.

// keycloakRealmOnly wraps read so that a JWT issued by another realm than
// the path's {realm} is dropped: it is not Keycloak's to confirm (Keycloak
// answers such a call with an error), and its claims must not be recorded
// under this realm's route. Opaque tokens are kept: they are revoked by
// their own identity only.
func keycloakRealmOnly(read func(*Env, *http.Request, *Call) error) func(*Env, *http.Request, *Call) error {
	return func(e *Env, r *http.Request, c *Call) error {
		if err := read(e, r, c); err != nil {
			return err
		}
		realm, _ := caddyhttp.GetVar(r.Context(), "realm").(string)
		if realm == "" {
			return nil
		}
		kept := c.Tokens[:0]
		for _, t := range c.Tokens {
			if t.JWT && !issuedByRealm(&t, realm) {
				if ce := e.Logger.Check(zapcore.DebugLevel, "token of another realm ignored"); ce != nil {
					ce.Write(zap.String("realm", realm), zap.String("iss", t.Claims.Issuer))
				}
				continue
			}
			kept = append(kept, t)
		}
		c.Tokens = kept
		return nil
	}
}

// issuedByRealm reports whether t's iss is Keycloak's issuer of realm:
// <base URL>/realms/<realm>.
func issuedByRealm(t *token.Token, realm string) bool {
	return strings.HasSuffix(t.Claims.Issuer, "/realms/"+realm)
}
