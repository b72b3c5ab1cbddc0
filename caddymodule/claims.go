package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	jwtv "github.com/caddy-token-revocation/caddy-token-revocation/jwt"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

func init() {
	routeKinds["logout_all"] = &routeKind{
		methods: []string{http.MethodPost},
		read:    readLogoutAll,
		respond: func(w http.ResponseWriter) error {
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNoContent)
			return nil
		},
	}
}

// cutoff revokes every token of one session or one user of an issuer that
// was issued at or before At.
type cutoff struct {
	Kind   denylist.Kind // KindSession, KindUser or KindClient
	Issuer string
	ID     string // the sid, the sub, or the azp ("": the whole issuer)
	At     time.Time
}

// cutoffEntry is the denylist entry of c in namespace ns. It is kept until
// every token c can match has expired.
func (h *Handler) cutoffEntry(ns string, c cutoff) denylist.Entry {
	key := h.hasher.SessionKey(ns, c.Issuer, c.ID)
	switch c.Kind {
	case denylist.KindUser:
		key = h.hasher.UserKey(ns, c.Issuer, c.ID)
	case denylist.KindClient:
		key = h.hasher.ClientKey(ns, c.Issuer, c.ID)
	}
	from := h.now()
	if c.At.After(from) {
		from = c.At
	}
	return denylist.NewEntry(key, c.At, h.cutoffExpiry(from))
}

// sessionEntry is the entry that revokes the tokens of session sid of
// issuer issued at or before at.
func (h *Handler) sessionEntry(ns, issuer, sid string, at time.Time) denylist.Entry {
	return h.cutoffEntry(ns, cutoff{Kind: denylist.KindSession, Issuer: issuer, ID: sid, At: at})
}

// userEntry is the entry that revokes the tokens of user sub of issuer
// issued at or before at ("log out everywhere").
func (h *Handler) userEntry(ns, issuer, sub string, at time.Time) denylist.Entry {
	return h.cutoffEntry(ns, cutoff{Kind: denylist.KindUser, Issuer: issuer, ID: sub, At: at})
}

// revokeCutoffs stores cut-offs that no request carried a token for (the
// admin API: revoke a session or a user by name), logged with source as
// the route. Like every revocation, an error means nothing may be
// answered 2xx.
func (h *Handler) revokeCutoffs(ctx context.Context, source, ns string, cs ...cutoff) error {
	rt := &route{Route: &Route{Type: source}}
	return h.record(ctx, rt, &revocation{namespace: ns, verified: &verifiedRevocation{cutoffs: cs}})
}

// verifiedRevocation is what a route kind revokes from a token it verified
// itself.
type verifiedRevocation struct {
	cutoffs []cutoff
	// replay, when set, makes the verified token single use.
	replay *replayGuard
}

// replayGuard refuses a token seen before: its jti is looked up in the
// denylist before anything is stored, and stored with the rest, under a
// namespace of its own.
type replayGuard struct {
	issuer, jti string
	expires     time.Time
	// err is the answer to a replay.
	err error
}

// replayNamespace prefixes the namespace of replay entries. The NUL bytes
// keep it apart from any configured namespace, so a replay entry never
// revokes a token.
const replayNamespace = "\x00replay\x00"

// verifiedEntries checks v's replay guard and returns its entries.
func (h *Handler) verifiedEntries(ctx context.Context, ns string, v *verifiedRevocation) ([]denylist.Entry, error) {
	var out []denylist.Entry
	if g := v.replay; g != nil {
		key := h.hasher.JTIKey(replayNamespace+ns, g.issuer, g.jti)
		_, seen, err := h.store.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if seen {
			return nil, g.err
		}
		out = append(out, denylist.NewEntry(key, h.now(), g.expires))
	}
	for _, c := range v.cutoffs {
		out = append(out, h.cutoffEntry(ns, c))
	}
	return out, nil
}

// newReplayGuard builds the replay guard of a single-use token (a logout
// token, a SET): it needs a jti and an iat no older than
// max_token_lifetime, so that its replay entry, kept that long, outlives
// every moment the token would be accepted. A problem is returned as
// fail(description).
func (h *Handler) newReplayGuard(v *jwtv.Token, fail func(string) error) (*replayGuard, error) {
	c := &v.Claims
	if c.ID == "" {
		return nil, fail("jti is missing: it is needed to refuse replays")
	}
	now := h.now()
	lifetime := time.Duration(h.MaxTokenLifetime) + time.Duration(h.ClockSkew)
	if c.IssuedAt == nil || c.IssuedAt.Time().Add(lifetime).Before(now) {
		return nil, fail("iat is missing or older than max_token_lifetime")
	}
	expires := now.Add(lifetime)
	if c.Expiry != nil {
		if exp := c.Expiry.Time().Add(time.Duration(h.ClockSkew)); exp.Before(expires) {
			expires = exp
		}
	}
	return &replayGuard{issuer: c.Issuer, jti: c.ID, expires: expires, err: fail("jti " + c.ID + " was seen before: replay refused")}, nil
}

// readLogoutAll reads a "log out everywhere" call: the caller's own token,
// verified, revokes every token of its user issued until now.
func readLogoutAll(h *Handler, r *http.Request) (*revocation, error) {
	raw, err := h.callerToken(r)
	if err != nil {
		return nil, err
	}
	v, err := h.verify(r.Context(), raw, jwtv.Options{})
	switch {
	case errors.Is(err, jwtv.ErrKeysUnavailable):
		return nil, errKeysUnavailable
	case err != nil:
		return nil, &oauthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the token could not be verified", Bearer: true}
	case v.Claims.Subject == "":
		return nil, &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the token names no user (sub)"}
	}
	c := cutoff{Kind: denylist.KindUser, Issuer: v.Claims.Issuer, ID: v.Claims.Subject, At: h.now()}
	return &revocation{verified: &verifiedRevocation{cutoffs: []cutoff{c}}}, nil
}

// callerToken returns the token of the Authorization header, or else of
// the form field `token`.
func (h *Handler) callerToken(r *http.Request) (string, error) {
	src := token.Sources{Schemes: h.Schemes, MaxTokenSize: h.MaxTokenSize}
	found, err := src.Extract(r, nil)
	if err != nil {
		return "", extractError(err)
	}
	if len(found) > 0 {
		return found[0].Raw, nil
	}
	if token.IsForm(r) {
		p, err := h.readParams(r)
		if err != nil {
			return "", err
		}
		t, err := h.paramToken(p, "token")
		if err != nil {
			return "", err
		}
		if t != nil {
			return t.Raw, nil
		}
	}
	return "", &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "missing token: send it in the Authorization header or the form field token"}
}
