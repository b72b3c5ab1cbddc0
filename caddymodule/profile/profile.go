package profile

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Profiles: Caddyfile shorthand that fronts one API as it is.
//
//	profile <api> [<path prefix>] [{
//	    mode respond|forward       # default: forward
//	    <the API's own options>
//	}]
//
// expands into the routes that API's clients call (with their paths under
// the prefix), and into the settings the API needs (a namespace, say). It is
// shorthand only: the JSON config holds the routes it expanded to. Each API
// has its entry in profiles, its code in its own file.

// Profiles are the known presets, by name.
var Profiles = map[string]*apiProfile{
	// keycloak.go
	"keycloak": {Routes: keycloakRoutes, apply: keycloakLegacyPrefix},
	// route/usergrid.go
	"usergrid": {
		Routes: []profileRoute{
			{"usergrid_token", "/management/token"},
			{"usergrid_token", "/{org}/{app}/token"},
			{"usergrid_token", "/{org}/{app}/users/{user}/token"},
			{"usergrid_revoketoken", "/management/users/{user}/revoketoken"},
			{"usergrid_revoketokens", "/management/users/{user}/revoketokens"},
			{"usergrid_revoketoken", "/{org}/{app}/users/{user}/revoketoken"},
			{"usergrid_revoketokens", "/{org}/{app}/users/{user}/revoketokens"},
		},
	},
	// meshydb.go
	"meshydb": {
		Routes: []profileRoute{
			{"revoke", "/{account}/connect/revocation"},
			{"oauth_token", "/{account}/connect/token"},
		},
		options: map[string]func(p *profileConfig, d *caddyfile.Dispenser) error{
			"default_tenant": profileSetting,
			"tenant_header":  profileSetting,
		},
		apply: applyMeshyDB,
		// MeshyDB is ASP.NET Core: paths route without regard to case.
		caseInsensitive: true,
	},
}

func profileNames() []string {
	var out []string
	for k := range Profiles {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// UnmarshalProfile parses `profile <api> [<prefix>] [{ ... }]` and expands
// it into t, a handler's routes and settings, at once (the JSON config
// holds what it expanded to).
func UnmarshalProfile(t Target, d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.Errf("token_revocation: profile: name the API (one of %s)", strings.Join(profileNames(), ", "))
	}
	pc := &ProfileConfig{API: d.Val(), Settings: map[string]string{}}
	prof, ok := Profiles[pc.API]
	if !ok {
		return gateway.UnknownName(d, "profile", "API", pc.API, profileNames())
	}
	if d.NextArg() {
		pc.Prefix = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if opt == "mode" {
			if err := gateway.OneArg(d, &pc.Mode); err != nil {
				return err
			}
			continue
		}
		parse, ok := prof.options[opt]
		if !ok {
			return gateway.UnknownName(d, "profile "+pc.API, "option", opt, prof.OptionNames())
		}
		if err := parse(&profileConfig{Settings: pc.Settings}, d); err != nil {
			return err
		}
	}
	if err := pc.expand(t); err != nil {
		return d.Errf("token_revocation: %v", err)
	}
	return nil
}

// compile validates pc and returns the use of a profile it stands for.
func (pc *ProfileConfig) compile() (*profileConfig, *apiProfile, error) {
	prof, ok := Profiles[pc.API]
	if !ok {
		return nil, nil, fmt.Errorf("profile %q: unknown API (known: %s)", pc.API, strings.Join(profileNames(), ", "))
	}
	p := &profileConfig{Name: pc.API, Mode: route.ModeForward, Settings: map[string]string{}}
	if pc.Prefix != "" {
		if !strings.HasPrefix(pc.Prefix, "/") || strings.ContainsAny(pc.Prefix, "{}*") {
			return nil, nil, fmt.Errorf("profile %s: path prefix %q must start with / and hold no placeholder", pc.API, pc.Prefix)
		}
		p.Prefix = strings.TrimSuffix(path.Clean(pc.Prefix), "/")
	}
	if pc.Mode != "" {
		if pc.Mode != route.ModeForward && pc.Mode != route.ModeRespond {
			return nil, nil, fmt.Errorf("profile %s: mode %q: want %s or %s", pc.API, pc.Mode, route.ModeForward, route.ModeRespond)
		}
		p.Mode = pc.Mode
	}
	for k, v := range pc.Settings {
		if _, ok := prof.options[k]; !ok {
			return nil, nil, fmt.Errorf("profile %s: unknown option %q", pc.API, k)
		}
		p.Settings[k] = v
	}
	return p, prof, nil
}

// expand adds the routes and settings of the profile pc names to t.
func (pc *ProfileConfig) expand(t Target) error {
	p, prof, err := pc.compile()
	if err != nil {
		return err
	}
	if err := p.expand(t, prof); err != nil {
		return fmt.Errorf("profile %s: %v", p.Name, err)
	}
	return nil
}

// Expand adds the routes and settings of profiles to t.
func Expand(profiles []*ProfileConfig, t Target) error {
	for i, pc := range profiles {
		if pc == nil {
			continue
		}
		if err := pc.expand(t); err != nil {
			return fmt.Errorf("token_revocation: profiles %d: %w", i, err)
		}
	}
	return nil
}
