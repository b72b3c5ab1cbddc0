package caddymodule

import "net/http"

// kindLogout is OpenID Connect / Keycloak logout: the form fields
// refresh_token and id_token_hint.
var kindLogout = &routeKind{
	methods: []string{http.MethodPost},
	// The identity provider checks refresh_token, so its 2xx confirms
	// it; id_token_hint is a hint it need not check.
	read:                readFormTokensAndHints([]string{"refresh_token"}, []string{"id_token_hint"}, true),
	respond:             respondNoContent,
	upstreamConfirms:    true,
	clientAuthByDefault: true,
	revokesSessions:     true,
	sessionNeedsJWT:     true,
}
