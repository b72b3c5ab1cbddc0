package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// A route kind (Route.Type) is one routeKind value, in the file named
// after it (route_<kind>.go), listed in routeKinds (route_kinds.go): its
// reader turns a call into a routeCall, its answer answers it, and its
// fields say what else it needs; it works with a routeEnv (route_env.go),
// never the Handler. This file holds what every kind shares: the compiled
// route, the call, the kind's shape, the form readers and plain answers.

// compiledRoute is a compiled Route.
type compiledRoute struct {
	*Route
	pattern      *pathPattern
	kind         *routeKind
	refusal      *refusalMatcher
	authenticate bool // callers must authenticate as a client (see setupClients)
}

// routeCall is one call to a revocation route: what its kind read from
// the request, for the engine to record, and what the kind's answer needs.
type routeCall struct {
	engine.Revocation
	// route is the route called.
	route *compiledRoute
	// started is when the call came in (Usergrid's answer says it).
	started time.Time
	// refresh is the refresh token an oauth_token call presents with
	// grant_type refresh_token, whose grant the answer's tokens join.
	refresh *token.Token
	// scope is the org/app of a Usergrid call ("management" for its
	// management API).
	scope string
	// quota is the caller's quota what the call stores is charged to
	// (quota.go).
	quota callerQuota
}

// targets are the tokens the call revokes: the whole-request scan does not
// refuse the call for carrying them (see checkRequestExcept).
func (c *routeCall) targets() []token.Token {
	if len(c.Hints) == 0 {
		return c.Tokens
	}
	return append(slices.Clip(c.Tokens), c.Hints...)
}

// routeKind is the behaviour of one Route.Type.
type routeKind struct {
	methods []string
	// read parses the request into c (whose namespace and start are set),
	// or returns an *oauthError to answer with.
	read func(e *routeEnv, r *http.Request, c *routeCall) error
	// respond writes the respond-mode answer after the revocation is stored.
	respond func(e *routeEnv, w http.ResponseWriter, r *http.Request, c *routeCall) error
	// upstreamConfirms is true when an upstream 2xx proves the presented
	// tokens genuine (their claims may then be trusted).
	upstreamConfirms bool
	// upstream, when set, reads the upstream's 2xx answer (forward mode)
	// before anything is recorded: it may vouch for the tokens, add to c
	// or record what the answer says; an error is answered instead.
	upstream func(e *routeEnv, r *http.Request, c *routeCall, res *upstreamAnswer) error
	// recorded, when set, adds to the upstream's confirming answer
	// (forward mode) once its revocation is recorded, before the answer
	// goes out.
	recorded func(e *routeEnv, header http.Header, r *http.Request, c *routeCall)
	// redirectConfirms: a 3xx answer confirms as a 2xx does (a sign-out
	// page that redirects the browser).
	redirectConfirms bool
	// forwardOnly kinds observe what the upstream answers: forward is
	// their only mode, and their default.
	forwardOnly bool
	// passUnreadable: in forward mode a request this kind cannot read (a
	// method it does not handle, such as a CORS preflight; no token) goes
	// on to the upstream unchanged, and nothing is recorded.
	passUnreadable bool
	// revokesRefused kinds may revoke a token the upstream refuses to
	// (Route.RevokeRefused).
	revokesRefused bool
	// verifies: the kind verifies its tokens itself, so it needs a jwt
	// block; needsAudience: one with the issuer's audiences.
	verifies, needsAudience bool
	// clientAuthByDefault kinds are those OAuth clients call: with
	// Handler.Clients, their respond-mode routes require client
	// authentication unless a route says client_auth off (client_auth.go).
	clientAuthByDefault bool
	// warnsOpen: a respond-mode route of this kind that anyone may call
	// (no client authentication) is named in a warning at start-up.
	warnsOpen bool
	// revokesSessions kinds revoke sessions (sid), which end only the
	// access tokens that carry it (warnings.go).
	revokesSessions bool
	// sessionNeedsJWT: answered by the gateway (respond mode), the kind
	// trusts a session only from a verified token, so without a jwt block
	// it revokes no session; warned about at start-up (warnings.go).
	sessionNeedsJWT bool
	// holderProves: the caller must hold one of the owners' tokens, so
	// what it admits may take the trusted share of max_entries (quota.go).
	holderProves bool
	// browserLogout: its routes take Route.BrowserLogout settings.
	browserLogout bool
	// recordsGrants: the kind records which tokens a grant holds, so that
	// revoking a refresh token revokes them (engine.RecorderConfig).
	recordsGrants bool
}

// label names rt in logs: its type and path.
func (rt *compiledRoute) label() string { return rt.Type + " " + rt.Path }

// readFormTokens returns a reader of the form fields that carry tokens; at
// least one must be present.
func readFormTokens(fields []string, sessionWide bool) func(*routeEnv, *http.Request, *routeCall) error {
	return readFormTokensAndHints(fields, nil, sessionWide)
}

// readFormTokensAndHints is readFormTokens with hint fields besides: tokens
// in them are Revocation.Hints. At least one field of either must be
// present.
func readFormTokensAndHints(fields, hintFields []string, sessionWide bool) func(*routeEnv, *http.Request, *routeCall) error {
	return func(e *routeEnv, r *http.Request, c *routeCall) error {
		p, err := e.readParams(r)
		if err != nil {
			return err
		}
		if p.Body != token.BodyForm {
			return unreadable(&oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body must be application/x-www-form-urlencoded"})
		}
		hint, _ := p.Get("token_type_hint")
		c.SessionWide, c.RefreshHint = sessionWide, hint == "refresh_token"
		if c.Tokens, err = e.paramTokens(p, fields); err != nil {
			return err
		}
		if c.Hints, err = e.paramTokens(p, hintFields); err != nil {
			return err
		}
		if len(c.Tokens)+len(c.Hints) == 0 {
			return unreadable(&oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "missing " + strings.Join(slices.Concat(fields, hintFields), " or ")})
		}
		return nil
	}
}

// respondOK answers an empty 200, not to be cached (RFC 7009).
func respondOK(_ *routeEnv, w http.ResponseWriter, _ *http.Request, _ *routeCall) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// respondNoContent answers 204, not to be cached (a logout).
func respondNoContent(_ *routeEnv, w http.ResponseWriter, _ *http.Request, _ *routeCall) error {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// respondEmpty204 answers a bare 204 (a Keycloak admin action).
func respondEmpty204(_ *routeEnv, w http.ResponseWriter, _ *http.Request, _ *routeCall) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// respondAccepted answers an empty 202 (RFC 8935 section 2.2).
func respondAccepted(_ *routeEnv, w http.ResponseWriter, _ *http.Request, _ *routeCall) error {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// refusalMatcher is a compiled Route.RevokeRefused: the OAuth error codes
// (in a 400 answer) and the statuses on which the gateway revokes a token
// itself. Nil: never.
type refusalMatcher struct {
	codes    []string
	statuses []int
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

// typIs reports whether a typ header fits the explicit type want: it is
// absent, the generic JWT, or application/<want> (RFC 7515 section 4.1.9:
// the "application/" prefix may be left out; compared case-insensitively).
func typIs(typ, want string) bool {
	t := strings.TrimPrefix(strings.ToLower(typ), "application/")
	return t == "" || t == "jwt" || t == want
}

// isJSONObject reports whether b holds a JSON object (its first byte,
// past white space, is '{').
func isJSONObject(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}
