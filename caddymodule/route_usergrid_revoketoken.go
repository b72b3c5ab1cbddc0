package caddymodule

import (
	"net/http"

	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// kindUsergridRevokeToken is Usergrid's revoketoken: the query parameter
// token (usergrid.go).
var kindUsergridRevokeToken = &routeKind{
	methods:        []string{http.MethodPut, http.MethodPost},
	read:           readUsergridRevokeToken,
	respond:        respondUsergridRevokeToken,
	passUnreadable: true,
}

// readUsergridRevokeToken reads .../users/{user}/revoketoken?token=<token>.
func readUsergridRevokeToken(e *routeEnv, r *http.Request, c *routeCall) error {
	p, err := e.readParams(r)
	if err != nil {
		return err
	}
	raw, _ := p.Get("token")
	if raw == "" {
		return unreadable(&usergridError{Status: http.StatusBadRequest, Code: "illegal_argument", Description: "missing the query parameter token", start: c.started, now: e.now})
	}
	if len(raw) > e.maxTokenSize {
		return &usergridError{Status: http.StatusBadRequest, Code: "illegal_argument", Description: "token too large", start: c.started, now: e.now}
	}
	c.Tokens = []token.Token{token.Parse(raw)}
	c.scope = usergridScope(r)
	return nil
}

// respondUsergridRevokeToken answers a revoketoken call as Usergrid does.
func respondUsergridRevokeToken(e *routeEnv, w http.ResponseWriter, _ *http.Request, c *routeCall) error {
	action := usergridRevokedToken
	if c.scope == "management" {
		action = usergridRevokedTokens // as Usergrid's management API says
	}
	return writeUsergridAnswer(w, action, c.started, e.now())
}
