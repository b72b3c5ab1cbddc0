package route

import (
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// kindUsergridRevokeTokens is Usergrid's revoketokens: every token of the
// path's user (usergrid.go).
var kindUsergridRevokeTokens = &Kind{
	Methods: []string{http.MethodPut, http.MethodPost},
	Read:    readUsergridRevokeTokens,
	Respond: respondUsergridRevokeTokens,
	// Usergrid revokes a user's tokens only for a caller allowed to.
	UpstreamConfirms: true,
	PassUnreadable:   true,
	HolderProves:     true,
}

// readUsergridRevokeTokens reads .../users/{user}/revoketokens: every
// token recorded for the user in the path's org/app is revoked. In
// respond mode the caller must show one of those tokens (in the
// Authorization header or the access_token parameter): no one else is
// known to be allowed to log the user out. In forward mode Usergrid
// decides, and its 2xx vouches for the caller.
func readUsergridRevokeTokens(e *Env, r *http.Request, c *Call) error {
	user, _ := caddyhttp.GetVar(r.Context(), "user").(string)
	user = strings.ToLower(user)
	c.scope = usergridScope(r)
	callers, err := e.Sources.Extract(r, nil)
	if err != nil {
		return ExtractError(err)
	}
	for _, f := range callers {
		c.Holding = append(c.Holding, token.Parse(f.Raw))
	}
	c.Owners = []denylist.Digest{e.Keys.UserOwner(c.Namespace, c.scope, user)}
	c.NotHolder = &usergridError{Status: http.StatusUnauthorized, Code: "unauthorized",
		Description: "revoking every token of " + user + " needs one of the user's own tokens", start: c.Started, Now: e.Now}
	return nil
}

// respondUsergridRevokeTokens answers a revoketokens call as Usergrid does.
func respondUsergridRevokeTokens(e *Env, w http.ResponseWriter, _ *http.Request, c *Call) error {
	return writeUsergridAnswer(w, usergridRevokedTokens, c.Started, e.Now())
}
