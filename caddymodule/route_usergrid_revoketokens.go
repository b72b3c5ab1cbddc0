package caddymodule

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// kindUsergridRevokeTokens is Usergrid's revoketokens: every token of the
// path's user (usergrid.go).
var kindUsergridRevokeTokens = &routeKind{
	methods: []string{http.MethodPut, http.MethodPost},
	read:    readUsergridRevokeTokens,
	respond: respondUsergridRevokeTokens,
	// Usergrid revokes a user's tokens only for a caller allowed to.
	upstreamConfirms: true,
	passUnreadable:   true,
	holderProves:     true,
}

// readUsergridRevokeTokens reads .../users/{user}/revoketokens: every
// token recorded for the user in the path's org/app is revoked. In
// respond mode the caller must show one of those tokens (in the
// Authorization header or the access_token parameter): no one else is
// known to be allowed to log the user out. In forward mode Usergrid
// decides, and its 2xx vouches for the caller.
func readUsergridRevokeTokens(e *routeEnv, r *http.Request, c *routeCall) error {
	user, _ := caddyhttp.GetVar(r.Context(), "user").(string)
	user = strings.ToLower(user)
	c.scope = usergridScope(r)
	callers, err := e.sources.Extract(r, nil)
	if err != nil {
		return extractError(err)
	}
	for _, f := range callers {
		c.Holding = append(c.Holding, token.Parse(f.Raw))
	}
	c.Owners = []denylist.Digest{e.keys.UserOwner(c.Namespace, c.scope, user)}
	c.NotHolder = &usergridError{Status: http.StatusUnauthorized, Code: "unauthorized",
		Description: "revoking every token of " + user + " needs one of the user's own tokens", start: c.started, now: e.now}
	return nil
}

// respondUsergridRevokeTokens answers a revoketokens call as Usergrid does.
func respondUsergridRevokeTokens(e *routeEnv, w http.ResponseWriter, _ *http.Request, c *routeCall) error {
	return writeUsergridAnswer(w, usergridRevokedTokens, c.started, e.now())
}
