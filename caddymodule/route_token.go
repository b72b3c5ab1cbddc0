package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
)

// Token endpoints: an oauth_token route forwards token endpoint calls and
// reads each 2xx answer, so that the engine records which tokens the grant
// holds (engine.Recorder.RecordGrant; why fan out at revocation time rather
// than check per-user cut-offs: see engine/owners.go).

// tokenAnswer is what a token endpoint answers (RFC 6749 section 5.1; Usergrid
// adds the user).
type tokenAnswer struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	User         *struct {
		UUID     string `json:"uuid"`
		Username string `json:"username"`
		Email    string `json:"email"`
	} `json:"user"`
}

// expiresIn returns expires_in in seconds (a JSON number or a string of
// one), 0 when absent or malformed.
func (a *tokenAnswer) expiresIn() int64 {
	s := string(bytes.Trim(a.ExpiresIn, `"`))
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return int64(n)
}

// readTokenAnswer reads a token endpoint's 2xx answer. ok is false when it
// holds no access token (not JSON, another kind of answer).
func readTokenAnswer(res *upstreamAnswer) (a tokenAnswer, ok bool, err error) {
	body, err := res.Body()
	if err != nil {
		return a, false, err
	}
	if json.Unmarshal(body, &a) != nil || a.AccessToken == "" {
		return a, false, nil
	}
	return a, true, nil
}

// readOAuthTokenRequest reads a call to a token endpoint. A refresh token
// that is revoked is refused here, before the upstream sees it, as the
// upstream would (400 invalid_grant): in respond mode the upstream does not
// know of the revocation. The parameters are read from a form, multipart
// or JSON body (and the query) as lenient upstreams read them; a repeated
// grant_type, refresh_token or client_id is refused (400), and a body the
// gateway cannot read (and so cannot check) too. A call without a
// refresh token goes on.
func readOAuthTokenRequest(e *routeEnv, r *http.Request, c *routeCall) error {
	r.Header.Del("Accept-Encoding") // so that the answer can be read
	p, err := e.readParams(r)
	if err != nil {
		return err
	}
	t, err := e.paramToken(p, "refresh_token")
	if err != nil || t == nil {
		return err
	}
	m, err := e.checker.CheckToken(r.Context(), c.Namespace, t)
	if err != nil {
		e.errLog.Error("denylist check failed", zap.String("fail_mode", e.failMode), zap.Error(err))
		if e.failMode != FailOpen {
			return err
		}
	}
	if m.Revoked {
		return errRefreshRevoked
	}
	if grant, _ := p.Get("grant_type"); grant == "refresh_token" {
		c.refresh = t
	}
	return nil
}

// errRefreshRevoked answers a token endpoint call with a revoked refresh
// token, as OAuth 2.0 servers do (RFC 6749 section 5.2).
var errRefreshRevoked = &oauthError{Status: http.StatusBadRequest, Code: "invalid_grant"}

// observeOAuthToken records, from a token endpoint's 2xx answer, which
// tokens the grant holds: the grant of the new refresh token holds the
// access token, and what the grant of the presented refresh token held
// (refresh token rotation); the presented refresh token's grant holds the
// new tokens too. Revoking any of the grant's refresh tokens then revokes
// them all (see engine.Recorder.RecordGrant).
func observeOAuthToken(e *routeEnv, r *http.Request, c *routeCall, res *upstreamAnswer) error {
	a, ok, err := readTokenAnswer(res)
	if err != nil || !ok {
		e.logUnreadAnswer(r, err)
		return nil
	}
	g := engine.Grant{Presented: c.refresh, Access: a.AccessToken, Refresh: a.RefreshToken, ExpiresIn: a.expiresIn()}
	err = e.recorder.RecordGrant(r.Context(), c.Namespace, g)
	if err != nil && c.refresh != nil {
		// The upstream may have rotated the presented refresh token: the
		// client needs this answer, or it loses its grant. Without the
		// record, revoking the new refresh token misses this access token
		// until it expires.
		e.errLog.Error("token owners not recorded; answer passed on", zap.Error(err))
		return nil
	}
	return e.observationFailed(err)
}

// recordsGrants reports whether an oauth_token route records grants, so
// that revoking a refresh token revokes what its grant holds.
func (h *Handler) recordsGrants() bool {
	return slices.ContainsFunc(h.routes, func(rt *route) bool { return rt.kind.recordsGrants })
}
