package caddymodule

import (
	"errors"
	"net/http"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// readLogoutAll reads a "log out everywhere" call: the caller's own token,
// verified, revokes every token of its user issued until now.
func readLogoutAll(h *Handler, r *http.Request, c *routeCall) error {
	raw, err := h.callerToken(r)
	if err != nil {
		return err
	}
	v, err := h.verify(r.Context(), raw, jwtverify.Options{WaitForNewKey: true})
	switch {
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		return errKeysUnavailable
	case err != nil:
		return &oauthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the token could not be verified", Bearer: true}
	case v.Claims.Subject == "":
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the token names no user (sub)"}
	}
	c.Cutoffs = []engine.Cutoff{{Kind: denylist.KindUser, Issuer: v.Claims.Issuer, ID: v.Claims.Subject, At: h.now()}}
	return nil
}

// callerToken returns the token of the Authorization header, or else of
// the form field `token`.
func (h *Handler) callerToken(r *http.Request) (string, error) {
	src := token.Sources{Schemes: h.Schemes, MaxTokenSize: h.MaxTokenSize}
	found, err := src.Extract(r, nil)
	if err != nil {
		return "", extractError(err)
	}
	if len(found) > 0 {
		return found[0].Raw, nil
	}
	if token.IsForm(r) {
		p, err := h.readParams(r)
		if err != nil {
			return "", err
		}
		t, err := h.paramToken(p, "token")
		if err != nil {
			return "", err
		}
		if t != nil {
			return t.Raw, nil
		}
	}
	return "", &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "missing token: send it in the Authorization header or the form field token"}
}
