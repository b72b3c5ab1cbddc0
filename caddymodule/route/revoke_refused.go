package route

import (
	"fmt"
	"strconv"
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

// compileRevokeRefused checks rc.RevokeRefused against the route's kind and
// mode and compiles it.
func compileRevokeRefused(rc *Route, kind *Kind) (*refusalMatcher, error) {
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
