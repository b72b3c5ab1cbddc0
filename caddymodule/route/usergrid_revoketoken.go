package route

import (
	"net/http"

	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// kindUsergridRevokeToken is Usergrid's revoketoken: the query parameter
// token (usergrid.go).
var kindUsergridRevokeToken = &Kind{
	Methods:        []string{http.MethodPut, http.MethodPost},
	Read:           readUsergridRevokeToken,
	Respond:        respondUsergridRevokeToken,
	PassUnreadable: true,
}

// readUsergridRevokeToken reads .../users/{user}/revoketoken?token=<token>.
func readUsergridRevokeToken(e *Env, r *http.Request, c *Call) error {
	p, err := e.ReadParams(r)
	if err != nil {
		return err
	}
	raw, _ := p.Get("token")
	if raw == "" {
		return unreadable(&usergridError{Status: http.StatusBadRequest, Code: "illegal_argument", Description: "missing the query parameter token", start: c.Started, Now: e.Now})
	}
	if len(raw) > e.MaxTokenSize {
		return &usergridError{Status: http.StatusBadRequest, Code: "illegal_argument", Description: "token too large", start: c.Started, Now: e.Now}
	}
	c.Tokens = []token.Token{token.Parse(raw)}
	c.scope = usergridScope(r)
	return nil
}

// respondUsergridRevokeToken answers a revoketoken call as Usergrid does.
func respondUsergridRevokeToken(e *Env, w http.ResponseWriter, _ *http.Request, c *Call) error {
	action := usergridRevokedToken
	if c.scope == "management" {
		action = usergridRevokedTokens // as Usergrid's management API says
	}
	return writeUsergridAnswer(w, action, c.Started, e.Now())
}
