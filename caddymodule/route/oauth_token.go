package route

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
)

// kindOAuthToken observes an OAuth 2.0 token endpoint (forward only).
var kindOAuthToken = &Kind{
	Methods:        []string{http.MethodPost},
	Read:           readOAuthTokenRequest,
	Upstream:       observeOAuthToken,
	ForwardOnly:    true,
	PassUnreadable: true,
	RecordsGrants:  true,
}

// Token endpoints: an oauth_token route forwards token endpoint calls and
// reads each 2xx answer, so that the engine records which tokens the grant
// holds (engine.Recorder.RecordGrant; why fan out at revocation time rather
// than check per-user cut-offs: see engine/owners.go).

// readOAuthTokenRequest reads a call to a token endpoint. A refresh token
// that is revoked is refused here, before the upstream sees it, as the
// upstream would (400 invalid_grant): in respond mode the upstream does not
// know of the revocation. The parameters are read from a form, multipart
// or JSON body (and the query) as lenient upstreams read them; a repeated
// grant_type, refresh_token or client_id is refused (400), and a body the
// gateway cannot read (and so cannot check) too. A call without a
// refresh token goes on.
func readOAuthTokenRequest(e *Env, r *http.Request, c *Call) error {
	r.Header.Del("Accept-Encoding") // so that the answer can be read
	p, err := e.ReadParams(r)
	if err != nil {
		return err
	}
	t, err := e.paramToken(p, "refresh_token")
	if err != nil || t == nil {
		return err
	}
	m, err := e.Checker.CheckToken(r.Context(), c.Namespace, t)
	if err != nil {
		e.ErrLog.Error("denylist check failed", zap.String("fail_mode", e.FailMode), zap.Error(err))
		if !e.FailOpen {
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
var errRefreshRevoked = &OAuthError{Status: http.StatusBadRequest, Code: "invalid_grant"}

// observeOAuthToken records, from a token endpoint's 2xx answer, which
// tokens the grant holds: the grant of the new refresh token holds the
// access token, and what the grant of the presented refresh token held
// (refresh token rotation); the presented refresh token's grant holds the
// new tokens too. Revoking any of the grant's refresh tokens then revokes
// them all (see engine.Recorder.RecordGrant).
func observeOAuthToken(e *Env, r *http.Request, c *Call, res *UpstreamAnswer) error {
	a, ok, err := readTokenAnswer(res)
	if err != nil || !ok {
		e.logUnreadAnswer(r, err)
		return nil
	}
	g := engine.Grant{Presented: c.refresh, Access: a.AccessToken, Refresh: a.RefreshToken, ExpiresIn: a.expiresIn()}
	err = e.Recorder.RecordGrant(r.Context(), c.Namespace, g)
	if err != nil && c.refresh != nil {
		// The upstream may have rotated the presented refresh token: the
		// client needs this answer, or it loses its grant. Without the
		// record, revoking the new refresh token misses this access token
		// until it expires.
		e.ErrLog.Error("token owners not recorded; answer passed on", zap.Error(err))
		return nil
	}
	return e.observationFailed(err)
}
