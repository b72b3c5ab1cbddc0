package profile

// ProfileConfig is a preset that fronts one API as it is (the Caddyfile's
// `profile` subdirective, in JSON): it expands, when the config is
// provisioned, into the same routes and settings as
// `profile <api> [<prefix>] [{ mode ...; <settings> }]` does in a
// Caddyfile. A route the profile adds must not share a path with a route
// of Routes.
type ProfileConfig struct {
	// API is the API fronted: "keycloak", "usergrid" or "meshydb".
	API string `json:"api"`

	// Prefix is the path prefix the API is served under (e.g. "/auth"
	// for a Keycloak before version 17): every route of the profile is
	// under it. Default: none.
	Prefix string `json:"prefix,omitempty"`

	// Mode of the profile's revocation routes: "forward" (default: the
	// API answers, the gateway records what it confirmed) or "respond".
	// Routes that observe token endpoints always forward.
	Mode string `json:"mode,omitempty"`

	// Settings are the API's own options, by name: for meshydb,
	// default_tenant (the tenant of a request without the tenant header;
	// default "default") and tenant_header (default "tenant").
	Settings map[string]string `json:"settings,omitempty"`
}
