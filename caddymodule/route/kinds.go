package route

import (
	"fmt"
	"slices"
	"strings"
)

// Kinds are the kinds of route (Route.Type) this build knows, each
// an adapter from an API's wire format to the engine: what it reads (its
// file: <kind>.go), how it answers, and what it needs.
var Kinds = map[string]*Kind{
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

	"global_token_revocation": kindGlobalTokenRevocation,
}

// RouteTypes returns the route types this build knows, sorted.
func RouteTypes() []string {
	var out []string
	for k := range Kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Compile compiles rc: its kind, mode (defaulted) and path pattern, the
// options its kind accepts.
func Compile(rc *Route) (*Compiled, error) {
	kind, ok := Kinds[rc.Type]
	if !ok {
		return nil, fmt.Errorf("unknown route type %q (known: %s)", rc.Type, strings.Join(RouteTypes(), ", "))
	}
	if rc.Mode == "" {
		rc.Mode = ModeRespond
		if kind.ForwardOnly {
			rc.Mode = ModeForward
		}
	}
	if kind.ForwardOnly && rc.Mode != ModeForward {
		return nil, fmt.Errorf("mode %q: a %s route observes the upstream's answers; it works in mode %s only", rc.Mode, rc.Type, ModeForward)
	}
	if rc.Mode != ModeRespond && rc.Mode != ModeForward {
		return nil, fmt.Errorf("mode %q: want %s or %s", rc.Mode, ModeRespond, ModeForward)
	}
	p, err := ParsePathPattern(rc.Path, rc.CaseInsensitive)
	if err != nil {
		return nil, err
	}
	refusal, err := compileRevokeRefused(rc, kind)
	if err != nil {
		return nil, err
	}
	if err := checkBrowserLogout(rc, kind); err != nil {
		return nil, err
	}
	return &Compiled{Route: rc, Pattern: p, Kind: kind, Refusal: refusal}, nil
}
