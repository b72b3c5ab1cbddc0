package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Route is one revocation or logout endpoint the handler intercepts.
type Route struct {
	// Type is what the endpoint is:
	//
	//   - "revoke": OAuth 2.0 Token Revocation (RFC 7009): POST, form
	//     field `token`, optional `token_type_hint`. Answers 200, also for
	//     a token it cannot parse; 400 invalid_request without a token. A
	//     verified refresh token (claim typ Refresh or Offline, or
	//     token_type_hint=refresh_token) revokes its session (sid) too.
	//   - "logout": OpenID Connect / Keycloak logout: POST, form fields
	//     `refresh_token` and/or `id_token_hint`. Answers 204. When a
	//     token is verified (see Handler.JWT), or in forward mode when the
	//     upstream answers 2xx (which confirms the tokens were valid), its
	//     session (sid) is revoked as well.
	//   - "logout_all": log out everywhere: POST with the caller's own
	//     token in the Authorization header or the form field `token`.
	//     The token must verify (else 401 invalid_token); every token of
	//     its user (iss and sub) issued until now is revoked. Answers 204.
	//   - "backchannel_logout": OpenID Connect Back-Channel Logout 1.0
	//     receiver: POST, form field `logout_token`, verified as section 2.6
	//     says, replays refused. Revokes the session (sid) it names, or
	//     every session of the user (sub) when it names no sid. Answers 200;
	//     400 invalid_request on any failure.
	//   - "caep": receiver of CAEP session-revoked Security Event Tokens
	//     (RFC 8417) pushed per RFC 8935: POST with Content-Type
	//     application/secevent+jwt. Answers 202; 400 with {"err",
	//     "description"} on failure; other event types are acknowledged
	//     and ignored. See readSET for how subjects map to sessions and
	//     users.
	//   - "keycloak_logout": Keycloak's logout,
	//     /realms/{realm}/protocol/openid-connect/logout: POST, form field
	//     `refresh_token` (with client_id, client_secret). Like logout, but
	//     only the refresh token is read (Keycloak ignores id_token_hint
	//     when one is sent), and a token issued by another realm than the
	//     path's {realm} is not recorded. Answers 204.
	//   - "keycloak_revoke": Keycloak's revocation,
	//     /realms/{realm}/protocol/openid-connect/revoke: POST, form field
	//     `token`. Keycloak answers 200 also for an invalid token, with an
	//     error in the body: only an empty 200 confirms the token, so that
	//     its jti (and for a refresh token, its session) is revoked too;
	//     otherwise only the token itself. Realm-checked like
	//     keycloak_logout. Answers 200 (respond mode: empty).
	//   - "browser_logout": a browser's sign-out link or button: GET or
	//     POST, no body needed. Revokes the caller's own tokens (the
	//     handler's cookies and the Authorization header; a verified one's
	//     session too), expires the cookies and redirects (303) to
	//     BrowserLogout.Redirect, or answers 204 (forward mode: the
	//     upstream's 2xx or 3xx answer, which confirms the sign-out,
	//     with the cookies expired). Cross-site calls are
	//     refused (403), and so is a GET that does not show it is
	//     same-site (no Sec-Fetch-Site, Origin or Referer: curl); see
	//     route_browser_logout.go.
	//   - "keycloak_admin": a Keycloak client's Admin URL (path ending
	//     in "/*"): the realm-signed k_push_not_before and k_logout
	//     actions become client-wide (azp) or, with realm_wide,
	//     realm-wide cut-offs on iat. Needs Handler.JWT. Answers 204. See
	//     route_keycloak_admin.go.
	//   - "oauth_token": an OAuth 2.0 token endpoint, observed (forward
	//     only). A refresh token revoked here is refused
	//     (400 invalid_grant) before the upstream sees it; from each 2xx
	//     answer the gateway learns which access tokens a refresh token's
	//     grant holds, so that revoking the refresh token (through any
	//     route) revokes them too (RFC 7009 section 2.1), opaque or not.
	//   - "usergrid_token": Apache Usergrid's token endpoints
	//     (/{org}/{app}/token, /management/token,
	//     /{org}/{app}/users/{user}/token), observed (forward only): each
	//     2xx answer names the user its access_token belongs to, which is
	//     recorded per org/app (or management) for usergrid_revoketokens.
	//   - "usergrid_revoketoken": Usergrid's
	//     /{org}/{app}/users/{user}/revoketoken?token=<token> (and under
	//     /management/users/{user}/): PUT or POST. Revokes the token of
	//     the query parameter `token`. Answers as Usergrid,
	//     {"action":"revoked user token","timestamp":<ms>,"duration":<ms>}.
	//   - "usergrid_revoketokens": Usergrid's
	//     /{org}/{app}/users/{user}/revoketokens (and under
	//     /management/users/{user}/): PUT or POST. Revokes every token of
	//     the user that usergrid_token saw handed out, in that org/app
	//     only. In respond mode the caller must present one of the user's
	//     own tokens (else 401). Answers as Usergrid, action "revoked user
	//     tokens".
	//
	// Mode forward suits an API with revocation of its own (Keycloak,
	// Usergrid, MeshyDB); the profile subdirective (see
	// UnmarshalCaddyfile) sets up the routes of each.
	//
	// logout_all, backchannel_logout and caep need Handler.JWT;
	// backchannel_logout and caep also need the issuer's audiences.
	Type string `json:"type"`

	// Path is the request path to intercept. A segment "{name}" matches
	// any one segment and is available as the placeholder
	// `{http.vars.name}` (in Namespace, say); a final "*" matches the rest.
	Path string `json:"path"`

	// Mode is "respond" (default): the gateway answers the call itself, for
	// APIs with no revocation endpoint of their own; or "forward": the call
	// goes on to the next handler (the upstream) unchanged, and the
	// revocation is recorded once the upstream answers 2xx.
	Mode string `json:"mode,omitempty"`

	// Namespace overrides the handler's namespace for revocations made
	// through this route. Placeholders allowed.
	Namespace string `json:"namespace,omitempty"`

	// RevokeRefused (forward revoke and keycloak_revoke routes): the
	// upstream answers on which the gateway revokes the JWTs of the call
	// itself and answers 200 — OAuth error codes of a 400 answer, or
	// statuses. Default: unsupported_token_type (RFC 7009 section 2.2.1);
	// ["off"]: never. See revoke_refused.go.
	RevokeRefused []string `json:"revoke_refused,omitempty"`

	// BrowserLogout holds the settings of a browser_logout route.
	BrowserLogout *BrowserLogout `json:"browser_logout,omitempty"`

	// KeycloakAdmin holds the settings of a keycloak_admin route.
	KeycloakAdmin *KeycloakAdmin `json:"keycloak_admin,omitempty"`

	// ClientAuth is "required" (callers authenticate as one of
	// Handler.Clients, else 401 invalid_client; a verified JWT of another
	// client, by azp or client_id, is 400 unauthorized_client) or "off". Default:
	// required on respond-mode routes of kind revoke, logout,
	// keycloak_revoke and keycloak_logout when the handler has clients,
	// else off. Respond mode only.
	ClientAuth string `json:"client_auth,omitempty"`

	// VerifiedOnly records only tokens that verify against Handler.JWT: a
	// token that does not (opaque, forged, another issuer's) is answered as
	// an invalid token (RFC 7009: 200) and not stored. Respond mode only;
	// needs Handler.JWT.
	VerifiedOnly bool `json:"verified_only,omitempty"`

	// CaseInsensitive matches the path's literal segments without regard
	// to ASCII case, for an upstream that routes so (ASP.NET Core, say):
	// "/OAUTH/REVOKE" is then this route too, not a revocation that
	// reaches the upstream unrecorded. Default: false (the meshydb profile
	// sets it).
	CaseInsensitive bool `json:"case_insensitive,omitempty"`
}

// Route modes.
const (
	ModeRespond = "respond"
	ModeForward = "forward"
)

// route is a compiled Route.
type route struct {
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
	route *route
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

// RouteTypes returns the route types this build knows, sorted.
func RouteTypes() []string {
	var out []string
	for k := range routeKinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func compileRoute(rc *Route) (*route, error) {
	kind, ok := routeKinds[rc.Type]
	if !ok {
		return nil, fmt.Errorf("unknown route type %q (known: %s)", rc.Type, strings.Join(RouteTypes(), ", "))
	}
	if rc.Mode == "" {
		rc.Mode = ModeRespond
		if kind.forwardOnly {
			rc.Mode = ModeForward
		}
	}
	if kind.forwardOnly && rc.Mode != ModeForward {
		return nil, fmt.Errorf("mode %q: a %s route observes the upstream's answers; it works in mode %s only", rc.Mode, rc.Type, ModeForward)
	}
	if rc.Mode != ModeRespond && rc.Mode != ModeForward {
		return nil, fmt.Errorf("mode %q: want %s or %s", rc.Mode, ModeRespond, ModeForward)
	}
	p, err := parsePathPattern(rc.Path, rc.CaseInsensitive)
	if err != nil {
		return nil, err
	}
	refusal, err := compileRevokeRefused(rc, kind)
	if err != nil {
		return nil, err
	}
	if err := checkBrowserLogout(rc, kind); err != nil {
		return nil, err
	}
	return &route{Route: rc, pattern: p, kind: kind, refusal: refusal}, nil
}

// matchRoute returns the route r's path matches and how, with its
// captured segments set as request variables.
func (h *Handler) matchRoute(r *http.Request) (*route, *pathMatch) {
	for _, rt := range h.routes {
		if m, ok := rt.pattern.match(r); ok {
			for k, v := range m.vars {
				caddyhttp.SetVar(r.Context(), k, v)
			}
			return rt, m
		}
	}
	return nil, nil
}

// serveRoute handles a call to a revocation route. A call that goes on
// to the upstream (forward mode, or passed on unread) is checked first like
// any other request, since the tokens it carries as credentials reach the
// upstream (what it revokes is its payload, not its credentials), and goes
// with the path the route matched, so that no spelling the gateway cleaned
// ("/api/x/../../revoke") reaches another endpoint of the upstream.
func (h *Handler) serveRoute(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *route, m *pathMatch) error {
	ns, err := h.namespace(r, rt.Namespace)
	if err != nil {
		return h.writeError(w, err)
	}
	if rt.Mode == ModeForward {
		m.setPath(r)
	}
	pass := rt.Mode == ModeForward && rt.kind.passUnreadable
	if !slices.Contains(rt.kind.methods, r.Method) {
		if pass {
			return h.passOn(w, r, next, rt, errMethodNotRead) // not a revocation: the upstream answers it
		}
		w.Header().Set("Allow", strings.Join(rt.kind.methods, ", "))
		return writeOAuthError(w, &oauthError{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "method " + r.Method + " not allowed"})
	}
	if rt.kind.verifies && rt.Mode == ModeRespond {
		// An identity provider's push is not sent again: once read, it
		// is verified and recorded even if the sender hangs up meanwhile
		// (waiting for a new signing key, jwtverify.Options.WaitForNewKey,
		// may outlast its timeout: oidc-provider's is 2.5s).
		r = r.WithContext(context.WithoutCancel(r.Context()))
	}
	client, err := h.guardRoute(r, rt) // rate limits, client authentication, ceiling
	if err != nil {
		return h.writeError(w, err)
	}
	c := &routeCall{Revocation: engine.Revocation{Namespace: ns}, route: rt, started: h.now()}
	bodyRead := h.bodyReadDeadline(w, r) // body_deadline.go
	err = rt.kind.read(h.env, r, c)
	bodyRead.end()
	if err != nil {
		if pass && isUnreadable(err) {
			return h.passOn(w, r, next, rt, err)
		}
		return h.writeError(w, err)
	}
	if err := h.screenRevocation(r.Context(), rt, c); err != nil { // tokens per call, verified_only
		return h.writeError(w, err)
	}
	if rt.Mode == ModeRespond {
		if client != "" { // a client revokes its own tokens only (client_auth.go)
			if err := h.checkOwnTokens(r.Context(), client, c.Tokens); err != nil {
				return h.writeError(w, err)
			}
		}
		if err := h.admitCall(r.Context(), r, c, client); err != nil { // quotas (quota.go)
			return h.writeError(w, err)
		}
		defer c.quota.done()
		if err := h.recordCall(r.Context(), c); err != nil {
			return h.writeError(w, err)
		}
		return rt.kind.respond(h.env, w, r, c)
	}
	if err := h.checkRequestExcept(r, c.targets()); err != nil {
		return h.writeError(w, err)
	}
	if err := h.admitCall(r.Context(), r, c, client); err != nil {
		return h.writeError(w, err)
	}
	defer c.quota.done()
	return h.forward(w, r, next, rt, c) // forward.go
}

// label names rt in logs: its type and path.
func (rt *route) label() string { return rt.Type + " " + rt.Path }

// recordCall stores what the route call c revokes, and charges it to
// the caller's quota (quota.go).
func (h *Handler) recordCall(ctx context.Context, c *routeCall) error {
	entries, err := h.recorder.Entries(ctx, &c.Revocation)
	if err != nil {
		return err
	}
	if err := h.storeEntries(ctx, c.route.label(), c.Namespace, c.Confirmed, entries); err != nil {
		return err
	}
	c.quota.charge(entries, h.now())
	return nil
}

// record stores what rev revokes (through the engine) and logs and counts
// one line per entry, under source (a route's label, or the admin API).
// Like every revocation, an error means nothing may be answered 2xx.
func (h *Handler) record(ctx context.Context, source string, rev *engine.Revocation) error {
	entries, err := h.recorder.Entries(ctx, rev)
	if err != nil {
		return err
	}
	return h.storeEntries(ctx, source, rev.Namespace, rev.Confirmed, entries)
}

// storeEntries stores entries revoked in namespace ns through source,
// and logs and counts one line per entry.
func (h *Handler) storeEntries(ctx context.Context, source, ns string, confirmed bool, entries []denylist.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if err := h.recorder.Store(ctx, confirmed, entries); err != nil {
		countStoreError("revoke")
		h.errLog.Error("revocation not stored", zap.String("route", source), zap.Error(err))
		return err
	}
	kind, _, _ := strings.Cut(source, " ")
	for _, e := range entries {
		if e.Derived {
			continue // a length marker, a token's part: not what was asked
		}
		countRevocation(kind, e.Kind)
		h.logger.Info("revoked",
			zap.String("route", source),
			zap.String("kind", e.Kind.String()),
			zap.String("hash", e.Digest.Short()),
			zap.String("namespace", ns),
			zap.Int64("expires", e.Expires))
	}
	return nil
}
