package caddymodule

import (
	"net/http"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// kindUsergridToken observes Apache Usergrid's token endpoints (forward
// only; usergrid.go).
var kindUsergridToken = &routeKind{
	methods:        []string{http.MethodPost, http.MethodGet},
	read:           readUsergridToken,
	upstream:       observeUsergridToken,
	forwardOnly:    true,
	passUnreadable: true,
}

// readUsergridToken reads a call to a token endpoint. The call is an API
// call too (/users/{user}/token is called with a token): a revoked token
// is rejected as on any other request.
func readUsergridToken(e *routeEnv, r *http.Request, c *routeCall) error {
	if err := e.checkRequest(r); err != nil {
		return err
	}
	r.Header.Del("Accept-Encoding") // so that the answer can be read
	c.scope = usergridScope(r)
	return nil
}

// observeUsergridToken records the token of a 2xx answer as its user's.
func observeUsergridToken(e *routeEnv, r *http.Request, c *routeCall, res *upstreamAnswer) error {
	a, ok, err := readTokenAnswer(res)
	if err != nil || !ok || a.User == nil {
		e.logUnreadAnswer(r, err) // client credentials: no user to hold the token
		return nil
	}
	var owners []denylist.Digest
	for _, id := range usergridUserIDs(a.User.UUID, a.User.Username, a.User.Email) {
		owners = append(owners, e.keys.UserOwner(c.Namespace, c.scope, id))
	}
	return e.observationFailed(e.recorder.RecordOwned(r.Context(), a.AccessToken, a.expiresIn(), owners...))
}
