package profile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// What a profile of one API is (profile.go lists them, one file each
// for those with code of their own: keycloak.go,
// meshydb.go), and what it expands into.

// Target is what a profile expands into: a handler's routes and
// Namespace settings (Handler.profileTarget).
type Target struct {
	Routes            *[]*route.Route
	Namespace         *string
	NamespaceFoldCase *bool
	NamespaceDefaults *map[string]string
}

// apiProfile is the preset of one API.
type apiProfile struct {
	// Routes are the API's routes, paths relative to the prefix.
	Routes []profileRoute
	// options parse the profile's own block options (mode is common).
	options map[string]func(p *profileConfig, d *caddyfile.Dispenser) error
	// apply sets up what the API needs besides its routes.
	apply func(t Target, p *profileConfig) error
	// caseInsensitive: the API routes paths without regard to case.
	caseInsensitive bool
}

// OptionNames are the options a profile's block takes: mode, and the
// API's own.
func (p *apiProfile) OptionNames() []string {
	out := []string{"mode"}
	for k := range p.options {
		out = append(out, k)
	}
	slices.Sort(out[1:])
	return out
}

// profileRoute is one route of a profile.
type profileRoute struct {
	Type, Path string
}

// profileConfig is one use of a profile in a Caddyfile.
type profileConfig struct {
	Name string
	// Prefix is the path prefix, "" or "/a/b" (no trailing slash).
	Prefix string
	// Mode of the revocation routes; observing routes always forward.
	Mode string
	// Settings are the profile's own options.
	Settings map[string]string
}

// segments is how many path segments the prefix has.
func (p *profileConfig) segments() int {
	if p.Prefix == "" {
		return 0
	}
	return strings.Count(p.Prefix, "/")
}

// expand adds the profile's routes and settings to t.
func (p *profileConfig) expand(t Target, prof *apiProfile) error {
	for _, pr := range prof.Routes {
		rc := &route.Route{Type: pr.Type, Path: p.Prefix + pr.Path, Mode: p.Mode, CaseInsensitive: prof.caseInsensitive}
		if route.Kinds[pr.Type].ForwardOnly {
			rc.Mode = route.ModeForward
		}
		if _, err := route.Compile(rc); err != nil {
			return fmt.Errorf("route %s %s: %v", rc.Type, rc.Path, err)
		}
		for _, have := range *t.Routes {
			if have.Path == rc.Path {
				return fmt.Errorf("route %s %s: the path is routed already (%s)", rc.Type, rc.Path, have.Type)
			}
		}
		*t.Routes = append(*t.Routes, rc)
	}
	if prof.apply != nil {
		return prof.apply(t, p)
	}
	return nil
}
