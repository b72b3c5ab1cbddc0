package caddymodule

// routeKinds are the kinds of route (Route.Type) this build knows, each
// an adapter from an API's wire format to the engine: what it reads (its
// file: route_<kind>.go), how it answers, and what it needs.
var routeKinds = map[string]*routeKind{
	"revoke":                kindRevoke,
	"logout":                kindLogout,
	"logout_all":            kindLogoutAll,
	"backchannel_logout":    kindBackchannelLogout,
	"caep":                  kindCAEP,
	"browser_logout":        kindBrowserLogout,
	"keycloak_logout":       kindKeycloakLogout,
	"keycloak_revoke":       kindKeycloakRevoke,
	"keycloak_admin":        kindKeycloakAdmin,
	"oauth_token":           kindOAuthToken,
	"usergrid_token":        kindUsergridToken,
	"usergrid_revoketoken":  kindUsergridRevokeToken,
	"usergrid_revoketokens": kindUsergridRevokeTokens,
}
