package profile

// keycloakRoutes are the routes of profile keycloak, under its prefix.
var keycloakRoutes = []profileRoute{
	{"keycloak_logout", "/realms/{realm}/protocol/openid-connect/logout"},
	{"keycloak_revoke", "/realms/{realm}/protocol/openid-connect/revoke"},
}

// keycloakLegacyPrefix adds the routes under /auth too when the profile
// names no prefix: Keycloak before 17 (WildFly) and Keycloak-based
// providers such as HyperID serve /auth/realms/..., Keycloak 17 and later
// /realms/... unless started with --http-relative-path. Given a prefix,
// the profile routes that one alone.
func keycloakLegacyPrefix(t Target, p *profileConfig) error {
	if p.Prefix != "" {
		return nil
	}
	legacy := *p
	legacy.Prefix = keycloakLegacyPath
	return legacy.expand(t, &apiProfile{Routes: keycloakRoutes})
}

// keycloakLegacyPath is the path prefix of Keycloak before 17.
const keycloakLegacyPath = "/auth"
