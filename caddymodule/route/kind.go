package route

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

// A route kind (Route.Type) is one Kind value, in the file named
// after it (<kind>.go), listed in Kinds (kinds.go): its
// reader turns a call into a Call, its answer answers it, and its
// fields say what else it needs; it works with an Env (env.go),
// never the Handler. This file holds what every kind shares: the compiled
// Route, the call, the kind's shape, the form readers and plain answers.

// Compiled is a compiled Route.
type Compiled struct {
	*Route
	Pattern      *pathPattern
	Kind         *Kind
	Refusal      *refusalMatcher
	Authenticate bool // callers must authenticate as a client (see setupClients)
}

// Call is one call to a revocation route: what its kind read from
// the request, for the engine to record, and what the kind's answer needs.
type Call struct {
	engine.Revocation
	// Route is the route called.
	Route *Compiled
	// Started is when the call came in (Usergrid's answer says it).
	Started time.Time
	// refresh is the refresh token an oauth_token call presents with
	// grant_type refresh_token, whose grant the answer's tokens join.
	refresh *token.Token
	// scope is the org/app of a Usergrid call ("management" for its
	// management API).
	scope string
	// Quota is the caller's quota what the call stores is charged to
	// (gateway/quota.go).
	Quota CallerQuota
}

// Targets are the tokens the call revokes: the whole-request scan does not
// refuse the call for carrying them (see checkRequestExcept).
func (c *Call) Targets() []token.Token {
	if len(c.Hints) == 0 {
		return c.Tokens
	}
	return append(slices.Clip(c.Tokens), c.Hints...)
}

// Kind is the behaviour of one Route.Type.
type Kind struct {
	Methods []string
	// Read parses the request into c (whose namespace and start are set),
	// or returns an *oauthError to answer with.
	Read func(e *Env, r *http.Request, c *Call) error
	// Respond writes the respond-mode answer after the revocation is stored.
	Respond func(e *Env, w http.ResponseWriter, r *http.Request, c *Call) error
	// UpstreamConfirms is true when an upstream 2xx proves the presented
	// tokens genuine (their claims may then be trusted).
	UpstreamConfirms bool
	// Upstream, when set, reads the upstream's 2xx answer (forward mode)
	// before anything is recorded: it may vouch for the tokens, add to c
	// or record what the answer says; an error is answered instead.
	Upstream func(e *Env, r *http.Request, c *Call, res *UpstreamAnswer) error
	// Recorded, when set, adds to the upstream's confirming answer
	// (forward mode) once its revocation is recorded, before the answer
	// goes out.
	Recorded func(e *Env, header http.Header, r *http.Request, c *Call)
	// RedirectConfirms: a 3xx answer confirms as a 2xx does (a sign-out
	// page that redirects the browser).
	RedirectConfirms bool
	// ForwardOnly kinds observe what the upstream answers: forward is
	// their only mode, and their default.
	ForwardOnly bool
	// PassUnreadable: in forward mode a request this kind cannot read (a
	// method it does not handle, such as a CORS preflight; no token) goes
	// on to the upstream unchanged, and nothing is recorded.
	PassUnreadable bool
	// revokesRefused kinds may revoke a token the upstream refuses to
	// (Route.RevokeRefused).
	revokesRefused bool
	// Verifies: the kind verifies its tokens itself, so it needs a jwt
	// block; needsAudience: one with the issuer's audiences.
	Verifies, NeedsAudience bool
	// ClientAuthByDefault kinds are those OAuth clients call: with
	// Handler.Clients, their respond-mode routes require client
	// authentication unless a route says client_auth off (gateway/client_auth.go).
	ClientAuthByDefault bool
	// WarnsOpen: a respond-mode route of this kind that anyone may call
	// (no client authentication) is named in a warning at start-up.
	WarnsOpen bool
	// RevokesSessions kinds revoke sessions (sid), which end only the
	// access tokens that carry it (gateway/warnings.go).
	RevokesSessions bool
	// SessionNeedsJWT: answered by the gateway (respond mode), the kind
	// trusts a session only from a verified token, so without a jwt block
	// it revokes no session; warned about at start-up (gateway/warnings.go).
	SessionNeedsJWT bool
	// HolderProves: the caller must hold one of the owners' tokens, so
	// what it admits may take the trusted share of max_entries (gateway/quota.go).
	HolderProves bool
	// browserLogout: its routes take Route.BrowserLogout settings.
	browserLogout bool
	// RecordsGrants: the kind records which tokens a grant holds, so that
	// revoking a refresh token revokes them (engine.RecorderConfig).
	RecordsGrants bool
}

// Label names rt in logs: its type and path.
func (rt *Compiled) Label() string { return rt.Type + " " + rt.Path }

// readFormTokens returns a reader of the form fields that carry tokens; at
// least one must be present.
func readFormTokens(fields []string, sessionWide bool) func(*Env, *http.Request, *Call) error {
	return readFormTokensAndHints(fields, nil, sessionWide)
}

// readFormTokensAndHints is readFormTokens with hint fields besides: tokens
// in them are Revocation.Hints. At least one field of either must be
// present.
func readFormTokensAndHints(fields, hintFields []string, sessionWide bool) func(*Env, *http.Request, *Call) error {
	return func(e *Env, r *http.Request, c *Call) error {
		p, err := e.ReadParams(r)
		if err != nil {
			return err
		}
		if p.Body != token.BodyForm {
			return unreadable(&OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body must be application/x-www-form-urlencoded"})
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
			return unreadable(&OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "missing " + strings.Join(slices.Concat(fields, hintFields), " or ")})
		}
		return nil
	}
}

// respondOK answers an empty 200, not to be cached (RFC 7009).
func respondOK(_ *Env, w http.ResponseWriter, _ *http.Request, _ *Call) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// respondNoContent answers 204, not to be cached (a logout).
func respondNoContent(_ *Env, w http.ResponseWriter, _ *http.Request, _ *Call) error {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// respondEmpty204 answers a bare 204 (a Keycloak admin action).
func respondEmpty204(_ *Env, w http.ResponseWriter, _ *http.Request, _ *Call) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// respondAccepted answers an empty 202 (RFC 8935 section 2.2).
func respondAccepted(_ *Env, w http.ResponseWriter, _ *http.Request, _ *Call) error {
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

// Refused reports whether res is an answer on which the gateway revokes
// the tokens itself.
func (m *refusalMatcher) Refused(res *UpstreamAnswer) bool {
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
