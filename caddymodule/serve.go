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
	if rt := h.matchRoute(r); rt != nil {
		return h.serveRoute(w, r, next, rt)
	}
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
		return extractError(err, h.MaxBodySize)
	}
	if len(found) == 0 {
		setCheckResult(r, resultNone, "", nil) // placeholders.go
		return nil
	}
	start := time.Now() // metrics: check latency
	ns := h.namespace(r, "")
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

// tokenKey is the key that revokes t by its identity in namespace ns: the
// digest of t.Identity(), computed without allocating.
func (h *Handler) tokenKey(ns string, t *token.Token) denylist.Key {
	if t.JWT {
		return h.hasher.Key(denylist.KindToken, ns, []byte(token.JWTMarker), t.Header, t.Payload)
	}
	return h.hasher.KeyStrings(denylist.KindToken, ns, token.OpaqueMarker, t.Raw)
}

// query builds the denylist query for t in namespace ns.
func (h *Handler) query(ns string, t *token.Token) denylist.Query {
	var q denylist.Query
	h.fillQuery(&q, ns, t)
	return q
}

// fillQuery sets q to the denylist query for t in namespace ns.
func (h *Handler) fillQuery(q *denylist.Query, ns string, t *token.Token) {
	*q = denylist.Query{}
	q.Add(h.tokenKey(ns, t))
	if t.JWT {
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
		q.IssuedAt = int64(c.IssuedAt)
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

// extractError maps a token extraction failure to the answer to give.
func extractError(err error, maxBody int64) error {
	switch {
	case errors.Is(err, token.ErrTooLarge):
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "token too large"}
	case errors.Is(err, token.ErrBodyTooLarge):
		return &oauthError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "the body is larger than the limit"}
	}
	return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "unreadable request"}
}
