package route

import "net/http"

// kindKeycloakLogout is Keycloak's logout endpoint (keycloak.go).
var kindKeycloakLogout = &Kind{
	Methods: []string{http.MethodPost},
	// Keycloak reads refresh_token and, when it is there, ignores
	// id_token_hint: a hint beside it is not confirmed by the answer.
	Read:                keycloakRealmOnly(readFormTokens([]string{"refresh_token"}, true)),
	Respond:             respondNoContent,
	UpstreamConfirms:    true,
	PassUnreadable:      true,
	ClientAuthByDefault: true,
	RevokesSessions:     true,
	SessionNeedsJWT:     true,
}
