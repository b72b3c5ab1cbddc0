package route

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// kindBackchannelLogout is an OpenID Connect Back-Channel Logout 1.0
// receiver.
var kindBackchannelLogout = &Kind{
	Methods:         []string{http.MethodPost},
	Read:            readLogoutToken,
	Respond:         respondOK,
	Verifies:        true,
	NeedsAudience:   true,
	RevokesSessions: true,
}

// BackchannelLogoutEvent is the event a logout token must carry (OpenID
// Connect Back-Channel Logout 1.0, section 2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// readLogoutToken reads a Back-Channel Logout request and validates its
// logout token as section 2.6 says: signature, iss, aud, iat and exp; typ
// logout+jwt if present (or the generic JWT, which some IdPs send; any
// other explicit type, such as an access token's at+jwt, is refused); an
// events claim holding the back-channel logout
// event as an object; sid and/or sub; no nonce; a jti not seen before.
// It revokes the session (sid) with a cut-off of now, or, when the token
// names no sid, every token of the user (sub). Any failure is 400
// invalid_request (section 2.8); keys that cannot be fetched are 503.
func readLogoutToken(e *Env, r *http.Request, rc *Call) error {
	fail := func(desc string) error {
		return &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
	}
	p, err := e.ReadParams(r)
	if err != nil {
		return err
	}
	if p.Body != token.BodyForm {
		return fail("the body must be application/x-www-form-urlencoded")
	}
	raw, _ := p.Get("logout_token")
	switch {
	case raw == "":
		return fail("missing logout_token")
	case len(raw) > e.MaxTokenSize:
		return fail("logout_token too large")
	}
	v, err := e.Verify(r.Context(), raw, jwtverify.Options{RequireExpiry: true, RequireIssuedAt: true, RequireAudience: true,
		WaitForNewKey: true}) // the OP does not send it again
	switch {
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		return ErrKeysUnavailable
	case err != nil:
		return fail("logout_token: " + err.Error())
	case !typIs(v.Type, "logout+jwt"):
		return fail("logout_token: typ header " + v.Type + ", want logout+jwt")
	}
	var claims struct {
		Events map[string]json.RawMessage `json:"events"`
		Nonce  json.RawMessage            `json:"nonce"`
	}
	if err := json.Unmarshal(v.Payload, &claims); err != nil {
		return fail("logout_token: events is not a JSON object")
	}
	switch {
	case claims.Nonce != nil:
		return fail("logout_token: must not contain nonce")
	case !isJSONObject(claims.Events[BackchannelLogoutEvent]):
		return fail("logout_token: events must hold " + BackchannelLogoutEvent + " as an object")
	case v.Claims.SessionID == "" && v.Claims.Subject == "":
		return fail("logout_token: needs sid or sub")
	}
	guard, err := e.Recorder.NewReplay(v, func(d string) error { return fail("logout_token: " + d) })
	if err != nil {
		return err
	}
	c := engine.Cutoff{Kind: denylist.KindSession, Issuer: v.Claims.Issuer, ID: v.Claims.SessionID, At: e.Now()}
	if c.ID == "" {
		c.Kind, c.ID = denylist.KindUser, v.Claims.Subject
	}
	rc.Cutoffs, rc.Replay = []engine.Cutoff{c}, guard
	return nil
}
