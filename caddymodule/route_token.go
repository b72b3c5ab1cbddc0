package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Token endpoints and the owner index.
//
// An opaque token says nothing about who holds it, so revoking "every token
// of a user" or "the access tokens of this refresh token's grant" needs the
// gateway to have seen the tokens handed out. Routes of kind oauth_token and
// usergrid_token forward token endpoint calls and read the answers: each
// access token is recorded as owned by its grant (the refresh token it came
// with) or its user, in the store's owner index (denylist.Owners). Revoking
// an owner then revokes each token it owns by that token's own KindToken
// entry.
//
// Why not a per-user cut-off checked on every request: to compare an
// opaque token with its user's cut-off, the check would first have to find
// the token's user and issue time, a second, dependent look-up on every
// request (a second Redis round trip in direct mode, a second mirrored map
// otherwise), for a link that only matters when a user is revoked. Fanning
// out at revocation time keeps the request check as it is, one map look-up
// per opaque token, and moves the cost to the rare revocation and to the
// token endpoint, which are off the hot path. The owner index holds digests
// only (never a token), keyed like the denylist (HMAC when hmac_key is
// set).

func init() {
	routeKinds["oauth_token"] = &routeKind{
		methods:        []string{http.MethodPost},
		read:           readOAuthTokenRequest,
		upstream:       observeOAuthToken,
		forwardOnly:    true,
		passUnreadable: true,
	}
}

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

// oauthTokenState is what readOAuthTokenRequest hands to
// observeOAuthToken.
type oauthTokenState struct {
	// refresh is the refresh token the call presents (grant_type
	// refresh_token), if any.
	refresh *token.Token
}

// readOAuthTokenRequest reads a call to a token endpoint. A refresh token
// that is revoked is refused here, before the upstream sees it, as the
// upstream would (400 invalid_grant): in respond mode the upstream does not
// know of the revocation. The parameters are read from a form, multipart
// or JSON body (and the query) as lenient upstreams read them; a repeated
// grant_type, refresh_token or client_id is refused (400), and a body the
// gateway cannot read (and so cannot check) too. A call without a
// refresh token goes on.
func readOAuthTokenRequest(h *Handler, r *http.Request) (*revocation, error) {
	r.Header.Del("Accept-Encoding") // so that the answer can be read
	st := &oauthTokenState{}
	rev := &revocation{state: st}
	p, err := h.readParams(r)
	if err != nil {
		return nil, err
	}
	t, err := h.paramToken(p, "refresh_token")
	if err != nil || t == nil {
		return rev, err
	}
	m, err := h.check(r.Context(), routeNamespace(r), t)
	if err != nil {
		h.errLog.Error("denylist check failed", zap.String("fail_mode", h.FailMode), zap.Error(err))
		if h.FailMode != FailOpen {
			return nil, err
		}
	}
	if m.Revoked {
		return nil, errRefreshRevoked
	}
	if grant, _ := p.Get("grant_type"); grant == "refresh_token" {
		st.refresh = t
	}
	return rev, nil
}

// errRefreshRevoked answers a token endpoint call with a revoked refresh
// token, as OAuth 2.0 servers do (RFC 6749 section 5.2).
var errRefreshRevoked = &oauthError{Status: http.StatusBadRequest, Code: "invalid_grant"}

// observeOAuthToken records, from a token endpoint's 2xx answer, which
// tokens the grant holds: the grant of the new refresh token holds the
// access token, and what the grant of the presented refresh token held
// (refresh token rotation); the presented refresh token's grant holds the
// new tokens too. Revoking any of the grant's refresh tokens then revokes
// them all (see grantEntries).
func observeOAuthToken(h *Handler, r *http.Request, rev *revocation, res *upstreamAnswer) error {
	st, _ := rev.state.(*oauthTokenState)
	a, ok, err := readTokenAnswer(res)
	if err != nil || !ok {
		h.logUnreadAnswer(r, err)
		return nil
	}
	err = h.recordGrant(r.Context(), rev.namespace, st.refresh, &a)
	if err != nil && st.refresh != nil {
		// The upstream may have rotated the presented refresh token: the
		// client needs this answer, or it loses its grant. Without the
		// record, revoking the new refresh token misses this access token
		// until it expires.
		h.errLog.Error("token owners not recorded; answer passed on", zap.Error(err))
		return nil
	}
	return h.observationFailed(err)
}

// recordGrant records what the grant of a token answer holds.
func (h *Handler) recordGrant(ctx context.Context, ns string, presented *token.Token, a *tokenAnswer) error {
	o, err := h.owners()
	if err != nil {
		return err
	}
	now := h.now()
	access := token.Parse(a.AccessToken)
	accessEntry := h.ownedEntry(ns, &access, a.expiresIn(), now)
	var refresh *token.Token
	if a.RefreshToken != "" {
		t := token.Parse(a.RefreshToken)
		refresh = &t
	}
	switch {
	case presented == nil && refresh == nil:
		return nil // no grant to hold the access token (client credentials)
	case presented == nil:
		return o.Own(ctx, h.grantOwner(ns, refresh), accessEntry)
	case refresh == nil || refresh.Raw == presented.Raw:
		return o.Own(ctx, h.grantOwner(ns, presented), accessEntry)
	}
	prev, err := o.Owned(ctx, h.grantOwner(ns, presented))
	if err != nil {
		return err
	}
	held := append(prev, accessEntry, h.ownedEntry(ns, presented, 0, now))
	if err := o.Own(ctx, h.grantOwner(ns, refresh), held...); err != nil {
		return err
	}
	return o.Own(ctx, h.grantOwner(ns, presented), accessEntry, h.ownedEntry(ns, refresh, 0, now))
}

// observationFailed maps a failure to record what a token endpoint handed
// out: with fail closed, 503 (the client retries; the token it did not get
// is never used); with fail open, logged and passed.
func (h *Handler) observationFailed(err error) error {
	if err == nil {
		return nil
	}
	if h.FailMode == FailOpen {
		h.errLog.Error("token owners not recorded (fail open)", zap.Error(err))
		return nil
	}
	h.errLog.Error("token owners not recorded", zap.Error(err))
	if !errors.Is(err, denylist.ErrUnavailable) {
		err = fmt.Errorf("%w: %v", denylist.ErrUnavailable, err)
	}
	return err
}

// logUnreadAnswer notes at debug level a 2xx token answer that holds no
// token the gateway can read.
func (h *Handler) logUnreadAnswer(r *http.Request, err error) {
	if c := h.logger.Check(zap.DebugLevel, "token endpoint answer not read"); c != nil {
		fields := []zap.Field{zap.String("path", r.URL.Path)}
		if err != nil {
			fields = append(fields, zap.Error(err))
		}
		c.Write(fields...)
	}
}

// owners returns the store's owner index.
func (h *Handler) owners() (denylist.Owners, error) {
	if o := denylist.OwnersOf(h.store); o != nil {
		return o, nil
	}
	return nil, fmt.Errorf("token_revocation: the %T store keeps no owner index, which the oauth_token and usergrid routes need", h.store)
}

// ownedEntry is the record of token t, handed out with expires_in
// expiresIn seconds (0: unknown), as held by an owner: the key that revokes
// it and when it expires (capped at max_token_lifetime).
func (h *Handler) ownedEntry(ns string, t *token.Token, expiresIn int64, now time.Time) denylist.Entry {
	limit := h.cutoffExpiry(now)
	expires := limit
	switch {
	case t.JWT && t.Claims.Expiry != 0:
		expires = time.Unix(int64(t.Claims.Expiry), 0).Add(time.Duration(h.ClockSkew))
	case expiresIn > 0:
		expires = now.Add(time.Duration(expiresIn)*time.Second + time.Duration(h.ClockSkew))
	}
	if expires.After(limit) {
		expires = limit
	}
	return denylist.NewEntry(h.tokenKey(t), now, expires)
}

// grantOwner names the grant of refresh token t in the owner index.
func (h *Handler) grantOwner(ns string, t *token.Token) denylist.Digest {
	parts := append([][]byte{[]byte("grant")}, t.Identity()...)
	return h.hasher.Digest(denylist.KindOwner, ns, parts...)
}

// userOwner names user id of scope (an org/app) in the owner index.
func (h *Handler) userOwner(ns, scope, id string) denylist.Digest {
	return h.hasher.Digest(denylist.KindOwner, ns, []byte("user"), []byte(scope), []byte(id))
}

// grantEntries returns the entries that revoke the tokens t's grant holds,
// when a route records grants (oauth_token). Holding t is what entitles a
// caller to revoke its grant, as RFC 7009 has it; the grant holds only
// tokens the gateway saw the token endpoint hand out.
func (h *Handler) grantEntries(ctx context.Context, ns string, t *token.Token) ([]denylist.Entry, error) {
	if !h.recordsGrants() {
		return nil, nil
	}
	o, err := h.owners()
	if err != nil {
		return nil, err
	}
	return o.Owned(ctx, h.grantOwner(ns, t))
}

// recordsGrants reports whether a route records grants.
func (h *Handler) recordsGrants() bool {
	for _, rt := range h.routes {
		if rt.Type == "oauth_token" {
			return true
		}
	}
	return false
}

// namespaceVar is the request variable under which serveRoute keeps the
// namespace of the route a request calls, for the kind's read.
const namespaceVar = "token_revocation.namespace"

// routeNamespace is the namespace of the route r calls (its own, else the
// handler's), as serveRoute evaluated it before the kind's read.
func routeNamespace(r *http.Request) string {
	ns, _ := caddyhttp.GetVar(r.Context(), namespaceVar).(string)
	return ns
}
