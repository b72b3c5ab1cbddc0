package caddymodule

import (
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

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
	return h.serveNext(w, r, next) // live_connections.go
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
		m, err := h.checker.Check(r.Context(), ns, found[i].Raw)
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
	h.keepBodyTokens(r, found) // live_connections.go
	setCheckResult(r, result, "", &ns)
	return nil
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
	case errors.Is(err, token.ErrUnsupportedCharset):
		return &oauthError{Status: http.StatusUnsupportedMediaType, Code: "invalid_request", Description: "the body's charset cannot be read: send it as UTF-8"}
	case errors.Is(err, token.ErrUnsupportedEncoding):
		return &oauthError{Status: http.StatusUnsupportedMediaType, Code: "invalid_request", Description: "the body's Content-Encoding cannot be read: send it as gzip, deflate or unencoded"}
	case errors.Is(err, token.ErrUnreadableBody):
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body cannot be read: malformed, or an ambiguous Content-Type"}
	}
	return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "unreadable request"}
}
