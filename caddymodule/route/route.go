package route

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
	//   - "global_token_revocation": Global Token Revocation
	//     (draft-parecki-oauth-global-token-revocation, Okta's Universal
	//     Logout): POST, JSON body {"sub_id": <RFC 9493 subject>}. The
	//     user it names (iss_sub; opaque: its sub; complex: its user) is
	//     cut off: every token of the user issued until now. The caller
	//     authenticates with a bearer JWT of a jwt block's issuer, scope
	//     global_token_revocation or aud this endpoint's URL, and names
	//     users of its own issuer; or, with client_auth required, as one
	//     of Handler.Clients. Answers 204; 400 (not the draft's request,
	//     a format naming no token claim), 401, 403, 404 (an issuer with
	//     no jwt block), 422 (an email subject without EmailIsSub, no
	//     user); 503 when not stored. See global_token_revocation.go.
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
	//     browser_logout.go.
	//   - "keycloak_admin": a Keycloak client's Admin URL (path ending
	//     in "/*"): the realm-signed k_push_not_before and k_logout
	//     actions become client-wide (azp) or, with realm_wide,
	//     realm-wide cut-offs on iat. Needs Handler.JWT. Answers 204. See
	//     keycloak_admin.go.
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
	// logout_all, backchannel_logout, caep and global_token_revocation
	// need Handler.JWT;
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

	// EmailIsSub (global_token_revocation routes): the token issuers' sub
	// claim is the user's e-mail address, so an RFC 9493 email subject
	// names the user whose sub it is. Default: false, and an email
	// subject is answered 422 (a token's email claim is not a key the
	// gateway looks up).
	EmailIsSub bool `json:"email_is_sub,omitempty"`

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

// BrowserLogout are the settings of a browser_logout route.
type BrowserLogout struct {
	// Redirect is where the browser goes once logged out (303 See Other).
	// Default: none, the answer is 204.
	Redirect string `json:"redirect,omitempty"`
	// CookiePath is the Path of the Set-Cookie that expires each cookie;
	// it must be the path the cookie was set with. Default: /.
	CookiePath string `json:"cookie_path,omitempty"`
	// CookieDomain is the Domain of that Set-Cookie, when the cookie was
	// set with one. Default: none (a host-only cookie).
	CookieDomain string `json:"cookie_domain,omitempty"`
}

// KeycloakAdmin are the settings of a keycloak_admin route.
type KeycloakAdmin struct {
	// Issuer is the realm's issuer (https://<host>/realms/<realm>), whose
	// jwt block's keys verify the actions. Default: the issuer of the only
	// jwt block.
	Issuer string `json:"issuer,omitempty"`
	// RealmWide applies each not-before to every token of the realm, not
	// only to the tokens of the client the action names (azp).
	RealmWide bool `json:"realm_wide,omitempty"`
}

// Off turns off a setting whose default is on (query_param, form_field,
// revoke_refused, exempt_addresses).
const Off = "off"
