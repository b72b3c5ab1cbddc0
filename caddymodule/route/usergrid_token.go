package route

import (
	"net/http"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// kindUsergridToken observes Apache Usergrid's token endpoints (forward
// only; usergrid.go).
var kindUsergridToken = &Kind{
	Methods:        []string{http.MethodPost, http.MethodGet},
	Read:           readUsergridToken,
	Upstream:       observeUsergridToken,
	ForwardOnly:    true,
	PassUnreadable: true,
}

// readUsergridToken reads a call to a token endpoint. The call is an API
// call too (/users/{user}/token is called with a token): a revoked token
// is rejected as on any other request.
func readUsergridToken(e *Env, r *http.Request, c *Call) error {
	if err := e.CheckRequest(r); err != nil {
		return err
	}
	r.Header.Del("Accept-Encoding") // so that the answer can be read
	c.scope = usergridScope(r)
	return nil
}

// observeUsergridToken records the token of a 2xx answer as its user's.
func observeUsergridToken(e *Env, r *http.Request, c *Call, res *UpstreamAnswer) error {
	a, ok, err := readTokenAnswer(res)
	if err != nil || !ok || a.User == nil {
		e.logUnreadAnswer(r, err) // client credentials: no user to hold the token
		return nil
	}
	var owners []denylist.Digest
	for _, id := range usergridUserIDs(a.User.UUID, a.User.Username, a.User.Email) {
		owners = append(owners, e.Keys.UserOwner(c.Namespace, c.scope, id))
	}
	return e.observationFailed(e.Recorder.RecordOwned(r.Context(), a.AccessToken, a.expiresIn(), owners...))
}
