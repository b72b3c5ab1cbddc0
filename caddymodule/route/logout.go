package route

import "net/http"

// kindLogout is OpenID Connect / Keycloak logout: the form fields
// refresh_token and id_token_hint.
var kindLogout = &Kind{
	Methods: []string{http.MethodPost},
	// The identity provider checks refresh_token, so its 2xx confirms
	// it; id_token_hint is a hint it need not check.
	Read:                readFormTokensAndHints([]string{"refresh_token"}, []string{"id_token_hint"}, true),
	Respond:             respondNoContent,
	UpstreamConfirms:    true,
	ClientAuthByDefault: true,
	RevokesSessions:     true,
	SessionNeedsJWT:     true,
}
