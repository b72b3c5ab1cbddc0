package route

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/subjectid"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// kindGlobalTokenRevocation is a Global Token Revocation endpoint
// (draft-parecki-oauth-global-token-revocation, what Okta's Universal
// Logout calls).
var kindGlobalTokenRevocation = &Kind{
	Methods:        []string{http.MethodPost},
	Read:           readGlobalTokenRevocation,
	Respond:        respondNoContent,
	Verifies:       true,
	PassUnreadable: true,
}

// global_token_revocation: an identity provider or a security tool asks
// the gateway to revoke every token of one user.
//
// The request (draft section 3.2) is a POST with a JSON body holding one
// member, sub_id, an RFC 9493 subject identifier:
//
//	POST /global-token-revocation
//	Content-Type: application/json
//	Authorization: Bearer <JWT>
//
//	{"sub_id": {"format": "iss_sub", "iss": "https://issuer.example.com/", "sub": "af19c476f1dc4470fa3d0d9a25"}}
//
// The subject is read by subjectid as the SSF receiver reads a user's
// (ScopeUser): iss_sub names the user iss/sub; opaque the user whose sub is
// its id, of the caller's issuer; complex its user member. It becomes a
// user-wide cut-off at the time of the call (as logout_all and a
// back-channel logout naming no session do): every token of the user
// issued until now is refused, at every instance sharing the store.
//
// Authentication (the draft requires one and leaves it open; respond
// mode): by default a bearer JWT (RFC 6750) that verifies against a jwt
// block (signature, iss, exp required, the block's audience when it has
// one) and was issued for this endpoint: its scope (or scp) holds
// global_token_revocation (the draft's "single scope"), or its aud is this
// endpoint's URL (Okta's signed JWT). The caller revokes users of its own
// issuer only. With client_auth required, the caller authenticates as one
// of the handler's clients instead (client_secret_basic), and may name a
// user of any jwt block's issuer. In forward mode the upstream
// authenticates: what it accepts (2xx) is recorded, and a request the
// gateway cannot map goes on to it unread.
//
// Answers (draft section 3.4): 204 once the cut-off is stored durably
// (503 otherwise, never 2xx); 400 for a request that is not the draft's
// (not JSON, no sub_id object) or a subject format that names no token
// claim (phone_number, account, did, uri, unknown); 401 invalid_token
// (WWW-Authenticate: Bearer) without a bearer JWT or with one that does
// not verify, 401 invalid_client with client_auth required; 403
// insufficient_scope for a verified JWT not issued for this endpoint, or
// naming a user of another issuer than its own; 404 for an iss_sub of an
// issuer the gateway has no jwt block for, the one case in which it knows
// the user cannot be found here (it keeps no directory of users: any user
// of a known issuer is revoked, existing or not, an entry that costs
// nothing and answers the draft's "MUST revoke" for a user it has not seen
// yet); 422 for a well-formed subject it cannot turn into a user (an email
// subject, unless the route says email_is_sub: the gateway's keys are iss
// and sub, not the e-mail address; a complex subject naming no user; an
// opaque or email one when several jwt blocks leave its issuer unknown).

// gtrScope is the scope a bearer JWT carries to call the route: the
// draft's "single scope that enables it to perform only the revocation
// request", spelled as Janssen's authorization server spells it.
const gtrScope = "global_token_revocation"

// gtrError is an answer of the route: an OAuth error body, which the draft
// leaves open.
func gtrError(status int, code, desc string) error {
	return &OAuthError{Status: status, Code: code, Description: desc}
}

func readGlobalTokenRevocation(e *Env, r *http.Request, c *Call) error {
	// anyIssuer: the upstream (forward mode), or the guard (client_auth
	// required, gateway/client_auth.go), authenticated the caller, which may name
	// a user of any issuer the gateway verifies; a bearer JWT's caller
	// names users of its own issuer only.
	anyIssuer := c.Route.Mode == ModeForward || c.Route.Authenticate
	subjects := subjectid.Subjects{TokenIssuers: []string{e.SoleIssuer}, EmailIsSub: c.Route.EmailIsSub}
	if !anyIssuer {
		iss, err := gtrBearer(e, r)
		if err != nil {
			return err
		}
		subjects.TokenIssuers = []string{iss}
	}
	subID, err := gtrSubject(e, r)
	if err != nil {
		return unreadable(err)
	}
	cut, err := subjects.Cutoff(subID, subjectid.ScopeUser)
	var unknown *subjectid.UnknownIssuerError
	if anyIssuer && errors.As(err, &unknown) && e.Verifier.Verifier(unknown.Issuer) != nil {
		subjects.TokenIssuers = append(subjects.TokenIssuers, unknown.Issuer)
		cut, err = subjects.Cutoff(subID, subjectid.ScopeUser)
	}
	if err != nil {
		return unreadable(gtrSubjectError(e, subjects, err, anyIssuer))
	}
	if cut.Issuer == "" {
		return unreadable(gtrError(http.StatusUnprocessableEntity, "invalid_request", "the subject carries no issuer and the handler has several jwt blocks: name the user with an iss_sub subject"))
	}
	cut.At = e.Now()
	c.Cutoffs = []engine.Cutoff{cut}
	return nil
}

// gtrBearer authenticates the caller by its bearer JWT and returns its
// issuer, or the answer: 401 when it is missing or does not verify, 403
// when it was not issued for this endpoint.
func gtrBearer(e *Env, r *http.Request) (string, error) {
	unauthorized := func(desc string) error {
		return &OAuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: desc, Bearer: true}
	}
	src := token.Sources{Schemes: []string{"Bearer"}, MaxTokenSize: e.MaxTokenSize}
	found, err := src.Extract(r, nil)
	if err != nil {
		return "", ExtractError(err)
	}
	if len(found) != 1 {
		return "", unauthorized("authenticate with a bearer JWT of a configured issuer, scope " + gtrScope)
	}
	v, err := e.Verify(r.Context(), found[0].Raw, jwtverify.Options{RequireExpiry: true})
	switch {
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		return "", ErrKeysUnavailable
	case err != nil:
		return "", unauthorized("the bearer token could not be verified")
	}
	var claims struct {
		Scope string          `json:"scope"`
		Scp   json.RawMessage `json:"scp"`
	}
	_ = json.Unmarshal(v.Payload, &claims)
	if slices.Contains(strings.Fields(claims.Scope), gtrScope) || scpHolds(claims.Scp, gtrScope) ||
		slices.ContainsFunc(v.Claims.Audience, func(aud string) bool { return isEndpointURL(r, aud) }) {
		return v.Claims.Issuer, nil
	}
	return "", &OAuthError{Status: http.StatusForbidden, Code: "insufficient_scope", Bearer: true,
		Description: "the bearer token was not issued for this endpoint: want scope " + gtrScope + ", or aud this endpoint's URL"}
}

// scpHolds reports whether an scp claim (a list, or a space-separated
// string) holds scope.
func scpHolds(raw json.RawMessage, scope string) bool {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return slices.Contains(list, scope)
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && slices.Contains(strings.Fields(s), scope)
}

// isEndpointURL reports whether aud is the URL r was sent to, over https
// or http (TLS may end in front of the gateway).
func isEndpointURL(r *http.Request, aud string) bool {
	rest, ok := strings.CutPrefix(aud, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(aud, "http://")
	}
	return ok && strings.EqualFold(strings.TrimSuffix(rest, "/"), strings.TrimSuffix(r.Host+r.URL.Path, "/"))
}

// gtrSubject reads the request's sub_id.
func gtrSubject(e *Env, r *http.Request) (json.RawMessage, error) {
	bad := func(desc string) error { return gtrError(http.StatusBadRequest, "invalid_request", desc) }
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, bad("Content-Type must be application/json")
	}
	body, err := token.ReadBody(r, e.MaxBodySize)
	if err != nil {
		return nil, bad("unreadable body, or larger than max_body_size")
	}
	var req struct {
		SubID json.RawMessage `json:"sub_id"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, bad("the body is not a JSON object")
	}
	if !isJSONObject(req.SubID) {
		return nil, bad("sub_id must be an RFC 9493 subject identifier object")
	}
	return req.SubID, nil
}

// gtrSubjectError is the answer to a subject that maps to no cut-off.
// anyIssuer: the caller may name a user of any jwt block's issuer.
func gtrSubjectError(e *Env, s subjectid.Subjects, err error, anyIssuer bool) error {
	var nm *subjectid.NotMappedError
	var unknown *subjectid.UnknownIssuerError
	switch {
	case errors.As(err, &nm) && nm.UnsupportedFormat:
		return gtrError(http.StatusBadRequest, "invalid_request", nm.Reason+": use iss_sub, opaque or complex")
	case errors.As(err, &nm):
		return gtrError(http.StatusUnprocessableEntity, "invalid_request", nm.Reason+": name the user with iss_sub or opaque (its sub)")
	case errors.As(err, &unknown) && !anyIssuer && e.Verifier.Verifier(unknown.Issuer) != nil:
		return &OAuthError{Status: http.StatusForbidden, Code: "insufficient_scope", Bearer: true,
			Description: "the caller (issuer " + s.TokenIssuers[0] + ") revokes only its own users"}
	case errors.As(err, &unknown):
		return gtrError(http.StatusNotFound, "invalid_request", "no jwt block for issuer "+unknown.Issuer+": no user of it is known here")
	}
	return gtrError(http.StatusBadRequest, "invalid_request", err.Error())
}
