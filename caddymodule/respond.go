package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// oauthError is an answer in the OAuth 2.0 error format (RFC 6749 section
// 5.2, RFC 6750 section 3): a JSON body {"error", "error_description"}, and
// for 401 and bearer errors a WWW-Authenticate header.
type oauthError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// Bearer adds `WWW-Authenticate: Bearer error=...` (RFC 6750).
	Bearer bool `json:"-"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

// errRevoked is the answer to a request carrying a revoked token.
var errRevoked = &oauthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "token revoked", Bearer: true}

// errRevokedGrant is a token endpoint's answer to a revoked grant (a
// refresh token the gateway knows revoked), as RFC 6749 §5.2 has it.
var errRevokedGrant = &oauthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "token revoked"}

// revokedBody is errRevoked's body, marshalled once.
var revokedBody, _ = json.Marshal(errRevoked)

func writeOAuthError(w http.ResponseWriter, e *oauthError) error {
	body := revokedBody
	if e != errRevoked {
		body, _ = json.Marshal(e)
	}
	hdr := w.Header()
	setBearer(hdr, e)
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, err := w.Write(body)
	return err
}

// setBearer adds `WWW-Authenticate: Bearer error=...` (RFC 6750) for an
// answer that asks for one.
func setBearer(hdr http.Header, e *oauthError) {
	if e.Bearer {
		hdr.Set("WWW-Authenticate", `Bearer error="`+e.Code+`", error_description="`+e.Description+`"`)
	}
}

// writeError answers err: an *oauthError, or an error of a protocol with
// its own format, as it is; a store failure as 503. Every 503 carries
// Retry-After (RFC 7009 section 2.2.1: the client must assume the token
// still exists and try again).
func (h *Handler) writeError(w http.ResponseWriter, err error) error {
	var own selfAnswering
	if errors.As(err, &own) {
		h.setRetryAfter(w, own.statusCode())
		return own.answer(w)
	}
	oe := h.asOAuthError(err)
	h.setRetryAfter(w, oe.Status)
	return writeOAuthError(w, oe)
}

// asOAuthError is err as the answer to give: itself when it is an
// *oauthError, else (a store failure) errStoreUnavailable.
func (h *Handler) asOAuthError(err error) *oauthError {
	var oe *oauthError
	if errors.As(err, &oe) {
		return oe
	}
	if !errors.Is(err, denylist.ErrUnavailable) {
		h.errLog.Error("unexpected error", zap.Error(err))
	}
	return errStoreUnavailable
}

// errStoreUnavailable answers a request the denylist store could not serve.
var errStoreUnavailable = &oauthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the revocation store is unavailable"}

// setRetryAfter adds Retry-After (whole seconds, at least 1) to a 503.
func (h *Handler) setRetryAfter(w http.ResponseWriter, status int) {
	if status != http.StatusServiceUnavailable {
		return
	}
	secs := int(time.Duration(h.RetryAfter).Round(time.Second) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
}

// selfAnswering is an error of a protocol with its own error format (e.g.
// RFC 8935's {"err", "description"}): it writes its answer itself.
type selfAnswering interface {
	error
	statusCode() int
	answer(w http.ResponseWriter) error
}

// rateLimitedLogger logs an error line at most once per interval per
// message, counting the lines it held back, so an outage does not flood
// the log.
type rateLimitedLogger struct {
	logger *zap.Logger
	every  time.Duration
	mu     sync.Mutex
	last   map[string]time.Time
	held   map[string]int
}

func newRateLimitedLogger(l *zap.Logger, every time.Duration) *rateLimitedLogger {
	return &rateLimitedLogger{logger: l, every: every, last: map[string]time.Time{}, held: map[string]int{}}
}

// Error logs msg at error level unless it was logged less than an interval
// ago.
func (l *rateLimitedLogger) Error(msg string, fields ...zap.Field) {
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.last[msg]) < l.every {
		l.held[msg]++
		l.mu.Unlock()
		return
	}
	held := l.held[msg]
	l.last[msg], l.held[msg] = now, 0
	l.mu.Unlock()
	if held > 0 {
		fields = append(fields, zap.Int("suppressed", held))
	}
	l.logger.Error(msg, fields...)
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
