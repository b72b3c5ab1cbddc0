package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"go.uber.org/zap"
)

// Revoking what the upstream cannot.
//
// An identity provider may refuse to revoke a self-contained (JWT) access
// token: RFC 7009 section 2.2.1 lets it answer
// 400 {"error":"unsupported_token_type"}, and panva's oidc-provider does so
// for every JWT access token. In forward mode the gateway then records the
// revocation itself and answers as a server that supports it would (200),
// so the token the caller asked to end is refused at the API from now on.
// The token is revoked by its own identity (only its holder can present
// it: no trust needed), and by its jti (and for a refresh token, its
// session) only when a jwt block verifies it: the upstream's refusal
// confirms nothing. Opaque tokens are left to the upstream's answer: only
// their issuer knows what they are.

// DefaultRevokeRefused is what Route.RevokeRefused holds when unset: the
// RFC 7009 error code of a server that does not revoke the token's type.
var DefaultRevokeRefused = []string{"unsupported_token_type"}

// refusalMatcher is a compiled Route.RevokeRefused: the OAuth error codes
// (in a 400 answer) and the statuses on which the gateway revokes a token
// itself. Nil: never.
type refusalMatcher struct {
	codes    []string
	statuses []int
}

// compileRevokeRefused checks rc.RevokeRefused against the route's kind and
// mode and compiles it.
func compileRevokeRefused(rc *Route, kind *routeKind) (*refusalMatcher, error) {
	list := rc.RevokeRefused
	explicit := len(list) > 0
	if !kind.revokesRefused || rc.Mode != ModeForward {
		if explicit && !(len(list) == 1 && list[0] == Off) {
			return nil, fmt.Errorf("revoke_refused applies to revoke and keycloak_revoke routes in mode %s only", ModeForward)
		}
		return nil, nil
	}
	if !explicit {
		list = DefaultRevokeRefused
	}
	if len(list) == 1 && list[0] == Off {
		return nil, nil
	}
	m := &refusalMatcher{}
	for _, v := range list {
		if v == Off {
			return nil, fmt.Errorf("revoke_refused: off stands alone")
		}
		if n, err := strconv.Atoi(v); err == nil {
			if n < 300 || n > 599 {
				return nil, fmt.Errorf("revoke_refused: status %d: want an error status (300-599)", n)
			}
			m.statuses = append(m.statuses, n)
			continue
		}
		m.codes = append(m.codes, v)
	}
	return m, nil
}

// refused reports whether res is an answer on which the gateway revokes
// the tokens itself.
func (m *refusalMatcher) refused(res *upstreamAnswer) bool {
	if m == nil || res.Status < 300 {
		return false
	}
	if slices.Contains(m.statuses, res.Status) {
		return true
	}
	if res.Status != http.StatusBadRequest || len(m.codes) == 0 {
		return false
	}
	body, err := res.Body()
	if err != nil {
		return false
	}
	var e struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(body, &e) == nil && slices.Contains(m.codes, e.Error)
}

// revokeRefused handles an upstream's refusal to revoke (see above):
// when rt revokes on res and every token of rev is a JWT, it records them
// and answers as the kind would have in respond mode (or the store's
// failure, a 503). handled false leaves the upstream's answer to be sent.
func (h *Handler) revokeRefused(w http.ResponseWriter, r *http.Request, rt *route, c *routeCall, res *upstreamAnswer) (handled bool, err error) {
	if !rt.refusal.refused(res) || len(c.Tokens) == 0 {
		return false, nil
	}
	for _, t := range c.Tokens {
		if !t.JWT {
			return false, nil // the upstream's to judge
		}
	}
	c.Vouched, c.Confirmed = false, false
	// The upstream's headers are w's (the recorder shares them): its
	// refusal's body is not sent, so neither are the headers describing it.
	for _, k := range []string{"Content-Type", "Content-Encoding", "Content-Length", "Content-Language", "ETag", "Last-Modified", "WWW-Authenticate"} {
		w.Header().Del(k)
	}
	h.logger.Info("the upstream does not revoke this token; the gateway revokes it itself",
		zap.String("route", rt.label()), zap.Int("upstream_status", res.Status))
	if err := h.recordCall(r.Context(), c); err != nil {
		return true, h.writeError(w, err)
	}
	return true, rt.kind.respond(h.env, w, r, c)
}
