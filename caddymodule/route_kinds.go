package caddymodule

import "net/http"

// routeKinds are the kinds of route (Route.Type) this build knows, each
// an adapter from an API's wire format to the engine: what it reads (its
// file: route_<kind>.go), how it answers, and what it needs.
var routeKinds = map[string]*routeKind{
	// RFC 7009 (route.go).
	"revoke": {
		methods:             []string{http.MethodPost},
		read:                readFormTokens([]string{"token"}, false),
		respond:             respondOK,
		revokesRefused:      true,
		clientAuthByDefault: true,
		warnsOpen:           true,
	},
	// OpenID Connect / Keycloak logout (route.go).
	"logout": {
		methods: []string{http.MethodPost},
		// The identity provider checks refresh_token, so its 2xx confirms
		// it; id_token_hint is a hint it need not check.
		read:                readFormTokensAndHints([]string{"refresh_token"}, []string{"id_token_hint"}, true),
		respond:             respondNoContent,
		upstreamConfirms:    true,
		clientAuthByDefault: true,
		revokesSessions:     true,
		sessionNeedsJWT:     true,
	},
	"logout_all": {
		methods:  []string{http.MethodPost},
		read:     readLogoutAll,
		respond:  respondNoContent,
		verifies: true,
	},
	"backchannel_logout": {
		methods:         []string{http.MethodPost},
		read:            readLogoutToken,
		respond:         respondOK,
		verifies:        true,
		needsAudience:   true,
		revokesSessions: true,
	},
	"caep": {
		methods:         []string{http.MethodPost},
		read:            readSET,
		respond:         respondAccepted,
		verifies:        true,
		needsAudience:   true,
		revokesSessions: true,
	},
	"browser_logout": {
		methods:  []string{http.MethodGet, http.MethodPost},
		read:     readBrowserLogout,
		respond:  respondBrowserLogout,
		recorded: recordedBrowserLogout,
		// An application's sign-out usually redirects the browser.
		redirectConfirms: true,
		browserLogout:    true,
	},
	"keycloak_logout": {
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
	},
	"keycloak_revoke": {
		methods:             []string{http.MethodPost},
		read:                keycloakRealmOnly(readFormTokens([]string{"token"}, false)),
		respond:             respondOK,
		upstream:            keycloakRevokeConfirms,
		passUnreadable:      true,
		revokesRefused:      true,
		clientAuthByDefault: true,
	},
	"keycloak_admin": {
		methods:  []string{http.MethodPost},
		read:     readKeycloakAdmin,
		respond:  respondEmpty204,
		verifies: true,
	},
	"oauth_token": {
		methods:        []string{http.MethodPost},
		read:           readOAuthTokenRequest,
		upstream:       observeOAuthToken,
		forwardOnly:    true,
		passUnreadable: true,
		recordsGrants:  true,
	},
	"usergrid_token": {
		methods:        []string{http.MethodPost, http.MethodGet},
		read:           readUsergridToken,
		upstream:       observeUsergridToken,
		forwardOnly:    true,
		passUnreadable: true,
	},
	"usergrid_revoketoken": {
		methods:        []string{http.MethodPut, http.MethodPost},
		read:           readUsergridRevokeToken,
		respond:        respondUsergridRevokeToken,
		passUnreadable: true,
	},
	"usergrid_revoketokens": {
		methods: []string{http.MethodPut, http.MethodPost},
		read:    readUsergridRevokeTokens,
		respond: respondUsergridRevokeTokens,
		// Usergrid revokes a user's tokens only for a caller allowed to.
		upstreamConfirms: true,
		passUnreadable:   true,
		holderProves:     true,
	},
}

// respondOK answers an empty 200, not to be cached (RFC 7009).
func respondOK(_ *routeEnv, w http.ResponseWriter, _ *http.Request, _ *routeCall) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// respondNoContent answers 204, not to be cached (a logout).
func respondNoContent(_ *routeEnv, w http.ResponseWriter, _ *http.Request, _ *routeCall) error {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// respondEmpty204 answers a bare 204 (a Keycloak admin action).
func respondEmpty204(_ *routeEnv, w http.ResponseWriter, _ *http.Request, _ *routeCall) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// respondAccepted answers an empty 202 (RFC 8935 section 2.2).
func respondAccepted(_ *routeEnv, w http.ResponseWriter, _ *http.Request, _ *routeCall) error {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
