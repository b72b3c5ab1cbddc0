package route

import (
	"errors"
	"net/http"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
)

// kindLogoutAll logs a user out everywhere: the caller's own token,
// verified, cuts off every token of its user.
var kindLogoutAll = &Kind{
	Methods:  []string{http.MethodPost},
	Read:     readLogoutAll,
	Respond:  respondNoContent,
	Verifies: true,
}

// readLogoutAll reads a "log out everywhere" call: the caller's own token,
// verified, revokes every token of its user issued until now.
func readLogoutAll(e *Env, r *http.Request, c *Call) error {
	raw, err := e.callerToken(r)
	if err != nil {
		return err
	}
	v, err := e.Verify(r.Context(), raw, jwtverify.Options{WaitForNewKey: true})
	switch {
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		return ErrKeysUnavailable
	case err != nil:
		return &OAuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the token could not be verified", Bearer: true}
	case v.Claims.Subject == "":
		return &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the token names no user (sub)"}
	}
	c.Cutoffs = []engine.Cutoff{{Kind: denylist.KindUser, Issuer: v.Claims.Issuer, ID: v.Claims.Subject, At: e.Now()}}
	return nil
}
