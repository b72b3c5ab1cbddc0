package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// ServeHTTP intercepts revocation routes and, on every other request,
// rejects the request if any token it carries is revoked.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if rt, m := h.matchRoute(r); rt != nil {
		return h.serveRoute(w, r, next, rt, m)
	}
	h.noteUnrouted(r)
	if err := h.checkRequest(r); err != nil {
		return h.answerCheck(w, r, err) // caddy_errors.go
	}
	return next.ServeHTTP(w, r)
}

// checkRequest checks every token r carries. It returns errRevoked when one
// is revoked, the answer to give when r cannot be read, or the store's error
// when the denylist cannot be read and the fail mode is closed.
func (h *Handler) checkRequest(r *http.Request) error {
	var buf [4]token.Found
	found, err := h.sources.Extract(r, buf[:0])
	if err != nil {
		countExtractError(err)
		setCheckResult(r, resultInvalid, extractReason(err), nil)
		return extractError(err)
	}
	if len(found) == 0 {
		setCheckResult(r, resultNone, "", nil) // placeholders.go
		return nil
	}
	start := time.Now() // metrics: check latency
	ns, err := h.namespace(r, "")
	if err != nil {
		setCheckResult(r, resultInvalid, reasonBadRequest, nil)
		return err
	}
	var result any = resultPass // any: a constant, stored without allocating
	for i := range found {
		m, err := h.checkRaw(r.Context(), ns, found[i].Raw)
		if err != nil {
			h.errLog.Error("denylist check failed", zap.String("fail_mode", h.FailMode), zap.Error(err))
			countCheckFailed(h.FailMode == FailOpen)
			if h.FailMode == FailOpen {
				result = resultFailOpen
				continue
			}
			observeCheck(start, reasonUnavailable)
			setCheckResult(r, resultUnavailable, reasonUnavailable, &ns)
			return err
		}
		if m.Revoked {
			if c := h.logger.Check(zapcore.DebugLevel, "rejected revoked token"); c != nil {
				c.Write(zap.String("kind", m.Entry.Kind.String()),
					zap.String("hash", m.Entry.Digest.Short()),
					zap.String("source", found[i].Source),
					zap.String("namespace", ns))
			}
			observeCheck(start, m.Entry.Kind.String())
			setRevokedPlaceholders(r, ns, found[i].Source, &m.Entry)
			return errRevoked
		}
	}
	observeCheck(start, "")
	setCheckResult(r, result, "", &ns)
	return nil
}

// check asks the store whether t is revoked: by its identity, and for a JWT
// by its jti, session and user against their cut-offs. Unverified claims are
// fine here: a forged claim can only get its own token rejected.
func (h *Handler) check(ctx context.Context, ns string, t *token.Token) (denylist.Match, error) {
	// A Query handed to the Store interface escapes to the heap; pooled,
	// the check allocates nothing.
	q := queryPool.Get().(*denylist.Query)
	h.fillQuery(q, ns, t)
	m, err := h.store.Check(ctx, q)
	queryPool.Put(q)
	return m, err
}

var queryPool = sync.Pool{New: func() any { return new(denylist.Query) }}

// checkRaw is check for a token as presented. The query of a JWT is kept
// in h.queries, so a JWT presented again is neither parsed nor hashed
// again; an opaque token costs one digest, cheaper than a cache.
func (h *Handler) checkRaw(ctx context.Context, ns, raw string) (denylist.Match, error) {
	q := queryPool.Get().(*denylist.Query)
	defer queryPool.Put(q)
	if h.queries == nil || strings.Count(raw, ".") != 2 { // not a JWT
		t := token.Parse(raw)
		h.fillQuery(q, ns, &t)
		return h.store.Check(ctx, q)
	}
	k := h.queries.key(ns, raw)
	if !h.queries.get(k, q) {
		t := token.Parse(raw)
		h.fillQuery(q, ns, &t)
		h.queries.put(k, q)
	}
	return h.store.Check(ctx, q)
}

// tokenKey is the key that revokes t by its identity: the digest of
// t.Identity(), computed without allocating. It has no namespace: a
// namespace comes from the request (a tenant header, a path segment),
// which whoever presents a revoked token spells as they like.
func (h *Handler) tokenKey(t *token.Token) denylist.Key {
	return h.tokenKeyIn("", t)
}

// tokenKeyIn is the key of t's identity in namespace ns: tokenKey in
// namespace "", and what releases up to 0.1 stored (see legacyTokenKeys).
func (h *Handler) tokenKeyIn(ns string, t *token.Token) denylist.Key {
	if t.JWT {
		return h.hasher.Key(denylist.KindToken, ns, []byte(token.JWTMarker), t.Header, t.Payload)
	}
	return h.hasher.KeyStrings(denylist.KindToken, ns, token.OpaqueMarker, t.Raw)
}

// addLegacyTokenKeys adds to q the keys under which releases up to 0.1
// stored a revocation of t, where they differ from tokenKey: a token's
// identity in the request's namespace ns, and a JWT with a claim of an odd
// type (Token.LegacyOpaque) by its raw string, as an opaque token. Such an
// entry lives at most max_token_lifetime (plus clock_skew) after it was
// stored, so these keys find nothing once that long has passed since the
// upgrade; until then a token revoked before the upgrade stays revoked.
func (h *Handler) addLegacyTokenKeys(q *denylist.Query, ns string, t *token.Token) {
	if ns != "" {
		q.Add(h.tokenKeyIn(ns, t))
	}
	if t.LegacyOpaque {
		q.Add(h.hasher.KeyStrings(denylist.KindToken, ns, token.OpaqueMarker, t.Raw))
	}
}

// query builds the denylist query for t in namespace ns.
func (h *Handler) query(ns string, t *token.Token) denylist.Query {
	var q denylist.Query
	h.fillQuery(&q, ns, t)
	return q
}

// fillQuery sets q to the denylist query for t in namespace ns: t's
// identity (in no namespace), the keys of its claims in ns, and its iat
// less the clock skew, so that a token whose issuer's clock runs ahead of
// the gateway's still counts as issued before a cut-off set at the same
// moment.
func (h *Handler) fillQuery(q *denylist.Query, ns string, t *token.Token) {
	*q = denylist.Query{}
	q.Add(h.tokenKey(t))
	h.addLegacyTokenKeys(q, ns, t)
	if t.JWT {
		h.noteClaims(t)
		c := &t.Claims
		if c.ID != "" {
			q.Add(h.hasher.JTIKey(ns, c.Issuer, c.ID))
		}
		if c.SessionID != "" {
			q.Add(h.hasher.SessionKey(ns, c.Issuer, c.SessionID))
		}
		if c.Subject != "" {
			q.Add(h.hasher.UserKey(ns, c.Issuer, c.Subject))
		}
		if h.clientCutoffs {
			h.addClientKeys(q, ns, c)
		}
		if c.IssuedAt > 0 {
			q.IssuedAt = int64(c.IssuedAt) - int64(time.Duration(h.ClockSkew)/time.Second)
		}
	}
}

// tokenExpiry returns when a revocation of t may be forgotten: its exp
// plus clock skew, capped at max_token_lifetime; default_ttl for a token
// without exp. live is false when t has already expired.
func (h *Handler) tokenExpiry(t *token.Token, now time.Time) (expires time.Time, live bool) {
	limit := now.Add(time.Duration(h.MaxTokenLifetime) + time.Duration(h.ClockSkew))
	if !t.JWT || t.Claims.Expiry == 0 {
		return now.Add(time.Duration(h.DefaultTTL)), true
	}
	expires = time.Unix(int64(t.Claims.Expiry), 0).Add(time.Duration(h.ClockSkew))
	if !expires.After(now) {
		return expires, false
	}
	if expires.After(limit) {
		expires = limit
	}
	return expires, true
}

// cutoffExpiry is how long a session or user cut-off set at now is kept:
// until every token issued before it has expired.
func (h *Handler) cutoffExpiry(now time.Time) time.Time {
	return now.Add(time.Duration(h.MaxTokenLifetime) + time.Duration(h.ClockSkew))
}

// extractError maps a failure to read a request's tokens or parameters
// to the answer to give. A request is refused, never passed on unread.
func extractError(err error) error {
	switch {
	case errors.Is(err, token.ErrTooLarge):
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "token too large"}
	case errors.Is(err, token.ErrBodyTooLarge):
		return &oauthError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "the body is larger than the limit"}
	case errors.Is(err, token.ErrTooManyTokens):
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "too many tokens in one request"}
	case errors.Is(err, token.ErrUnsupportedEncoding):
		return &oauthError{Status: http.StatusUnsupportedMediaType, Code: "invalid_request", Description: "the body's Content-Encoding cannot be read: send it as gzip, deflate or unencoded"}
	case errors.Is(err, token.ErrUnreadableBody):
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body cannot be read: malformed, or an ambiguous Content-Type"}
	}
	return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "unreadable request"}
}
