package caddymodule

import "net/http"

// kindKeycloakLogout is Keycloak's logout endpoint (keycloak.go).
var kindKeycloakLogout = &routeKind{
	methods: []string{http.MethodPost},
	// Keycloak reads refresh_token and, when it is there, ignores
	// id_token_hint: a hint beside it is not confirmed by the answer.
	read:                keycloakRealmOnly(readFormTokens([]string{"refresh_token"}, true)),
	respond:             respondNoContent,
	upstreamConfirms:    true,
	passUnreadable:      true,
	clientAuthByDefault: true,
	revokesSessions:     true,
	sessionNeedsJWT:     true,
}
