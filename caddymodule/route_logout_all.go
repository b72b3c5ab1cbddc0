package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
)

// kindLogoutAll logs a user out everywhere: the caller's own token,
// verified, cuts off every token of its user.
var kindLogoutAll = &routeKind{
	methods:  []string{http.MethodPost},
	read:     readLogoutAll,
	respond:  respondNoContent,
	verifies: true,
}

// readLogoutAll reads a "log out everywhere" call: the caller's own token,
// verified, revokes every token of its user issued until now.
func readLogoutAll(e *routeEnv, r *http.Request, c *routeCall) error {
	raw, err := e.callerToken(r)
	if err != nil {
		return err
	}
	v, err := e.verify(r.Context(), raw, jwtverify.Options{WaitForNewKey: true})
	switch {
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		return errKeysUnavailable
	case err != nil:
		return &oauthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the token could not be verified", Bearer: true}
	case v.Claims.Subject == "":
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the token names no user (sub)"}
	}
	c.Cutoffs = []engine.Cutoff{{Kind: denylist.KindUser, Issuer: v.Claims.Issuer, ID: v.Claims.Subject, At: e.now()}}
	return nil
}
