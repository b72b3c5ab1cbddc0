package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// What a call to a revocation route or token endpoint observer must pass
// before anything is read into the denylist: the rate limits, client
// authentication and the store's ceiling (guardRoute); then a bound on the
// tokens of one call and, on verified_only routes, verification
// (screenRevocation).

// maxCallTokens is the most tokens one call may name (a logout names two:
// refresh_token and id_token_hint). Without it a 64 KiB revoke body could
// name 3,500 tokens, each stored.
const maxCallTokens = 4

// checkVerifiedOnly refuses verified_only where it cannot apply: on a
// forward-mode route, or without a jwt block (hasJWT).
func checkVerifiedOnly(routes []*route.Compiled, hasJWT bool) error {
	for _, rt := range routes {
		if !rt.VerifiedOnly {
			continue
		}
		if rt.Mode != route.ModeRespond {
			return fmt.Errorf("token_revocation: %s %s: verified_only applies to respond mode only (in forward mode the upstream decides which tokens are genuine)", rt.Type, rt.Path)
		}
		if !hasJWT {
			return fmt.Errorf("token_revocation: %s %s: verified_only needs a jwt block for the issuer of the tokens (jwt <issuer> { jwks_url <url> })", rt.Type, rt.Path)
		}
	}
	return nil
}

// guardRoute admits a call to rt, or returns the answer to give: 429 when
// its client's (authenticated) or else its address's bucket is empty, 401
// when rt requires client authentication and it fails, 503 when the store
// is at its ceiling. client is the client the call authenticated as.
func (h *Runtime) guardRoute(r *http.Request, rt *route.Compiled) (client string, err error) {
	if rt.Authenticate {
		id, err := h.Clients.authenticate(h.Env, r) // client_auth.go
		if err != nil {
			// Failures count against the address: guessing secrets is
			// as limited as any other unauthenticated call.
			if lerr := h.Limits.limitAddress(r, h.Exempt); lerr != nil {
				return "", lerr
			}
			var ic *errInvalidClient
			if errors.As(err, &ic) {
				countRefused("invalid_client")
			}
			return "", err
		}
		if err := h.Limits.limitClient(id); err != nil {
			return "", err
		}
		client = id
	} else if err := h.Limits.limitAddress(r, h.Exempt); err != nil {
		return "", err
	}
	return client, h.Ceilings.admit(r.Context(), h.Store, h.ErrLog, rt) // ceiling.go
}

// errTooManyTokens answers a call naming more than maxCallTokens tokens.
var errTooManyTokens = &route.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "too many tokens in one call"}

// screenRevocation bounds the tokens of one call and, on a verified_only
// route (respond mode), drops the tokens that do not verify: they are
// answered as RFC 7009 section 2.2 answers an invalid token (200, nothing
// revoked). A token that cannot be verified because the issuer's keys are
// unavailable is answered 503, never 200: it may be genuine.
func (h *Runtime) screenRevocation(ctx context.Context, rt *route.Compiled, c *route.Call) error {
	if len(c.Tokens)+len(c.Hints) > maxCallTokens {
		countRefused("too_many_tokens")
		return errTooManyTokens
	}
	if !rt.VerifiedOnly {
		return nil
	}
	var err error
	if c.Tokens, err = h.keepVerified(ctx, rt, c.Tokens); err != nil {
		return err
	}
	c.Hints, err = h.keepVerified(ctx, rt, c.Hints)
	return err
}

// keepVerified returns the tokens of ts that verify.
func (h *Runtime) keepVerified(ctx context.Context, rt *route.Compiled, ts []token.Token) ([]token.Token, error) {
	out := ts[:0]
	for i := range ts {
		ok, err := h.Recorder.Verified(ctx, &ts[i])
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, ts[i])
			continue
		}
		metricUnverified.Inc()
		if ce := h.Logger.Check(zapcore.DebugLevel, "token not recorded: it does not verify (verified_only)"); ce != nil {
			ce.Write(zap.String("route", rt.Label()), zap.Bool("jwt", ts[i].JWT))
		}
	}
	return out, nil
}
