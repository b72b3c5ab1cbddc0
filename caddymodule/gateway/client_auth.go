package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Client authentication on respond-mode routes (RFC 7009 section 2.1).
//
// A respond-mode route answers revocations itself, so it must also do what
// the authorization server would: authenticate the client. The handler's
// clients (Handler.Clients) are confidential clients with a secret; a
// caller authenticates with client_secret_basic (RFC 6749 section 2.3.1:
// HTTP Basic, id and secret form-urlencoded before base64) or
// client_secret_post (form fields client_id and client_secret), never both.
// A missing or wrong credential is answered 401 invalid_client with
// `WWW-Authenticate: Basic realm="token_revocation"`; nothing is stored.
//
// Default: when the handler has clients, respond-mode routes of the kinds
// OAuth clients call (revoke, logout, keycloak_revoke, keycloak_logout)
// require client authentication; a route says client_auth off (a public
// client's revocation, which RFC 7009 allows unauthenticated) or
// client_auth required (any other respond-mode kind) to differ. Without
// clients nothing is authenticated, and each respond-mode revoke route is
// named in a warning at start-up: anyone can then add entries, bounded only
// by the rate limits and max_entries.
//
// An authenticated client revokes only its own tokens (RFC 7009 section
// 2.1): a JWT that verifies and names another client in azp or client_id
// (RFC 9068) is refused with 400 unauthorized_client (RFC 6749 section
// 5.2), nothing stored. One that does not verify proves nothing and is
// revoked as before (its identity only); when the issuer's keys cannot be
// fetched, one whose claims name another client is answered 503.
//
// Only a SHA-256 of each secret is kept once provisioned; a presented
// secret is hashed and compared in constant time, also for an unknown
// client id.

// ClientConfig is an OAuth client allowed to call respond-mode revocation
// routes.
type ClientConfig struct {
	// ID is the client_id.
	ID string `json:"id"`
	// Secret is the client secret. Use a placeholder such as
	// `{env.REVOKE_CLIENT_SECRET}` rather than the secret itself; it is
	// resolved when the config loads.
	Secret string `json:"secret"`
}

// Client authentication settings of a route (Route.ClientAuth).
const (
	ClientAuthRequired = "required"
	ClientAuthOff      = "off"
)

// clientSet holds the SHA-256 of each client's secret.
type clientSet map[string][sha256.Size]byte

// NewClientSet resolves the clients' secrets.
func NewClientSet(clients []*ClientConfig) (clientSet, error) {
	set := clientSet{}
	repl := caddy.NewReplacer()
	for i, c := range clients {
		if c == nil || c.ID == "" {
			return nil, fmt.Errorf("token_revocation: client %d has no id", i)
		}
		if _, dup := set[c.ID]; dup {
			return nil, fmt.Errorf("token_revocation: client %q is configured twice", c.ID)
		}
		secret := repl.ReplaceAll(c.Secret, "")
		if secret == "" {
			return nil, fmt.Errorf("token_revocation: client %q: the secret %q is empty once placeholders are replaced (is the environment variable set?)", c.ID, c.Secret)
		}
		set[c.ID] = sha256.Sum256([]byte(secret))
	}
	return set, nil
}

// setClientAuth sets each route's client authentication, given the
// configured clients.
func setClientAuth(routes []*route.Compiled, clients clientSet) error {
	for _, rt := range routes {
		switch rt.ClientAuth {
		case "":
			rt.Authenticate = len(clients) > 0 && rt.Mode == route.ModeRespond && rt.Kind.ClientAuthByDefault
		case ClientAuthOff:
		case ClientAuthRequired:
			if rt.Mode != route.ModeRespond {
				return fmt.Errorf("token_revocation: %s %s: client_auth applies to respond mode only (in forward mode the upstream authenticates its clients)", rt.Type, rt.Path)
			}
			if len(clients) == 0 {
				return fmt.Errorf("token_revocation: %s %s: client_auth required, but no clients are configured: add clients { <id> <secret> }", rt.Type, rt.Path)
			}
			rt.Authenticate = true
		default:
			return fmt.Errorf("token_revocation: %s %s: client_auth %q: want %s or %s", rt.Type, rt.Path, rt.ClientAuth, ClientAuthRequired, ClientAuthOff)
		}
	}
	return nil
}

// WarnUnauthenticated names, at start-up, each respond-mode route that
// anyone may call and whose kind warns of it (revoke).
func WarnUnauthenticated(routes []*route.Compiled, logger *zap.Logger) {
	for _, rt := range routes {
		if rt.Mode == route.ModeRespond && rt.Kind.WarnsOpen && !rt.Authenticate {
			logger.Warn("token_revocation: this respond-mode revoke route has no client authentication: anyone can add denylist entries (bounded by rate_limit, quota and max_entries); configure clients { <id> <secret> } (RFC 7009 section 2.1)",
				zap.String("path", rt.Path))
		}
	}
}

// errInvalidClient answers a call whose client did not authenticate.
type errInvalidClient struct{ description string }

func (e *errInvalidClient) Error() string   { return "invalid_client: " + e.description }
func (e *errInvalidClient) StatusCode() int { return http.StatusUnauthorized }

func (e *errInvalidClient) Answer(w http.ResponseWriter) error {
	w.Header().Set("WWW-Authenticate", `Basic realm="token_revocation"`)
	return route.WriteOAuthError(w, &route.OAuthError{Status: http.StatusUnauthorized, Code: "invalid_client", Description: e.description})
}

// authenticate returns the id of the client of cs r authenticates as
// (its parameters read with env), or the error to answer:
// *errInvalidClient, or 400 invalid_request for an ambiguous call (two
// methods, a repeated client_id).
func (cs clientSet) authenticate(env *route.Env, r *http.Request) (string, error) {
	p, err := env.ReadParams(r) // refuses a repeated client_id
	if err != nil {
		return "", err
	}
	postID, _ := p.Get("client_id")
	postSecret, err := p.Get("client_secret")
	if err != nil {
		return "", route.RepeatedParam("client_secret")
	}
	hasPostSecret := len(p.Values("client_secret")) > 0
	id, secret, basic, err := BasicCredentials(r)
	if err != nil {
		return "", err
	}
	switch {
	case basic && hasPostSecret:
		return "", &route.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one client authentication method (RFC 6749 section 2.3)"}
	case basic:
		if postID != "" && postID != id {
			return "", &errInvalidClient{"client_id differs from the authenticated client"}
		}
	case hasPostSecret:
		id, secret = postID, postSecret
	default:
		return "", &errInvalidClient{"client authentication required (client_secret_basic or client_secret_post)"}
	}
	if !cs.Valid(id, secret) {
		return "", &errInvalidClient{"client authentication failed"}
	}
	return id, nil
}

// BasicCredentials reads client_secret_basic credentials: ok is false
// when r has no Basic Authorization header.
func BasicCredentials(r *http.Request) (id, secret string, ok bool, err error) {
	auth := r.Header.Values("Authorization")
	var basic []string // the credentials of each Basic header
	for _, a := range auth {
		if scheme, cred, _ := strings.Cut(a, " "); strings.EqualFold(scheme, "Basic") {
			basic = append(basic, cred)
		}
	}
	switch len(basic) {
	case 0:
		return "", "", false, nil
	case 1:
	default:
		return "", "", false, &route.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one Basic Authorization header"}
	}
	bad := &errInvalidClient{"malformed Basic credentials"}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(basic[0]))
	if err != nil {
		return "", "", false, bad
	}
	encID, encSecret, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false, bad
	}
	// RFC 6749 section 2.3.1: both are form-urlencoded before base64.
	if id, err = url.QueryUnescape(encID); err != nil {
		return "", "", false, bad
	}
	if secret, err = url.QueryUnescape(encSecret); err != nil {
		return "", "", false, bad
	}
	return id, secret, true, nil
}

// unknownClient is compared against when the client id is not known, so
// that an unknown id takes as long as a wrong secret.
var unknownClient = sha256.Sum256([]byte("token_revocation: unknown client"))

// Valid reports whether secret is client id's, in constant time over the
// secret.
func (cs clientSet) Valid(id, secret string) bool {
	want, known := cs[id]
	if !known {
		want = unknownClient
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1 && known
}

// UnmarshalClients parses
//
//	clients {
//	    <id> <secret>
//	}
func UnmarshalClients(clients *[]*ClientConfig, d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.Errf("token_revocation: clients %s: the clients go in a block, one <id> <secret> per line; write three lines: clients {, then %s <secret>, then }", d.Val(), d.Val())
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		c := &ClientConfig{ID: d.Val()}
		if !d.NextArg() {
			return d.Errf("token_revocation: clients: %s: missing secret", c.ID)
		}
		c.Secret = d.Val()
		if d.NextArg() {
			return d.Errf("token_revocation: clients: %s: one secret per client, and this line holds more (a secret with spaces goes in quotes)", c.ID)
		}
		*clients = append(*clients, c)
	}
	return nil
}

// errUnauthorizedClient answers an authenticated client revoking a token
// issued to another client (RFC 7009 section 2.1, RFC 6749 section 5.2).
var errUnauthorizedClient = &route.OAuthError{Status: http.StatusBadRequest, Code: "unauthorized_client",
	Description: "the token was issued to another client (its azp or client_id): a client revokes only its own tokens; authenticate as the client the token was issued to"}

// checkOwnTokens refuses the call of client (authenticated) when one of
// its tokens is a JWT that verifies (with env's verifiers) and was issued
// to another client; see above. Without a jwt block nothing verifies,
// and nothing is refused.
func checkOwnTokens(ctx context.Context, env *route.Env, client string, ts []token.Token) error {
	if env.Verifier == nil {
		return nil
	}
	for i := range ts {
		t := &ts[i]
		if !t.JWT {
			continue
		}
		v, err := env.Verify(ctx, t.Raw, jwtverify.Options{})
		switch {
		case err == nil:
			if !issuedTo(v.Payload, client) {
				countRefused("unauthorized_client")
				return errUnauthorizedClient
			}
		case errors.Is(err, jwtverify.ErrKeysUnavailable) && !issuedTo(t.Payload, client):
			return route.ErrKeysUnavailable // it may be genuine, and another client's
		}
	}
	return nil
}

// issuedTo reports whether a JWT payload names no client other than id:
// its azp and client_id claims are absent or id.
func issuedTo(payload []byte, id string) bool {
	var c struct {
		AuthorizedParty any `json:"azp"`
		ClientID        any `json:"client_id"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return true // not an object: names no client
	}
	for _, v := range []any{c.AuthorizedParty, c.ClientID} {
		if v != nil && v != any(id) {
			return false
		}
	}
	return true
}
