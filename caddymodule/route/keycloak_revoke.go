package route

import (
	"bytes"
	"net/http"
)

// kindKeycloakRevoke is Keycloak's revocation endpoint (keycloak.go).
var kindKeycloakRevoke = &Kind{
	Methods:             []string{http.MethodPost},
	Read:                keycloakRealmOnly(readFormTokens([]string{"token"}, false)),
	Respond:             respondOK,
	Upstream:            keycloakRevokeConfirms,
	PassUnreadable:      true,
	revokesRefused:      true,
	ClientAuthByDefault: true,
}

// keycloakRevokeConfirms vouches for the revoked token when Keycloak's answer
// is an empty 200, its answer to a token it decoded and verified, whose
// client and user it found. Any body (Keycloak's {"error":"invalid_token"}
// or anything else) confirms nothing: the token is then revoked by its own
// identity only.
func keycloakRevokeConfirms(_ *Env, _ *http.Request, c *Call, res *UpstreamAnswer) error {
	if res.Status != http.StatusOK {
		return nil
	}
	if body, err := res.Body(); err == nil && len(bytes.TrimSpace(body)) == 0 {
		c.Vouched = true
	}
	return nil
}
