package route

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// OAuthError is an answer in the OAuth 2.0 error format (RFC 6749 section
// 5.2, RFC 6750 section 3): a JSON body {"error", "error_description"}, and
// for 401 and bearer errors a WWW-Authenticate header.
type OAuthError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// Bearer adds `WWW-Authenticate: Bearer error=...` (RFC 6750).
	Bearer bool `json:"-"`
}

// Error is the error code and its description.
func (e *OAuthError) Error() string { return e.Code + ": " + e.Description }

// ErrRevoked is the answer to a request carrying a revoked token.
var ErrRevoked = &OAuthError{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "token revoked", Bearer: true}

// ErrRevokedGrant is a token endpoint's answer to a revoked grant (a
// refresh token the gateway knows revoked), as RFC 6749 §5.2 has it.
var ErrRevokedGrant = &OAuthError{Status: http.StatusBadRequest, Code: "invalid_grant", Description: "token revoked"}

// revokedBody is errRevoked's body, marshalled once.
var revokedBody, _ = json.Marshal(ErrRevoked)

// WriteOAuthError writes e as an OAuth 2.0 error answer (RFC 6749
// section 5.2): its status and a JSON body.
func WriteOAuthError(w http.ResponseWriter, e *OAuthError) error {
	body := revokedBody
	if e != ErrRevoked {
		body, _ = json.Marshal(e)
	}
	hdr := w.Header()
	SetBearer(hdr, e)
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, err := w.Write(body)
	return err
}

// SetBearer adds `WWW-Authenticate: Bearer error=...` (RFC 6750) for an
// Answer that asks for one.
func SetBearer(hdr http.Header, e *OAuthError) {
	if e.Bearer {
		hdr.Set("WWW-Authenticate", `Bearer error="`+e.Code+`", error_description="`+e.Description+`"`)
	}
}

// ErrStoreUnavailable answers a request the denylist store could not serve.
var ErrStoreUnavailable = &OAuthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the revocation store is unavailable"}

// SelfAnswering is an error of a protocol with its own error format (e.g.
// RFC 8935's {"err", "description"}): it writes its answer itself.
type SelfAnswering interface {
	error
	StatusCode() int
	Answer(w http.ResponseWriter) error
}

// RateLimitedLogger logs an error line at most once per interval per
// message, counting the lines it held back, so an outage does not flood
// the log.
type RateLimitedLogger struct {
	Logger *zap.Logger
	every  time.Duration
	mu     sync.Mutex
	last   map[string]time.Time
	Held   map[string]int
}

// NewRateLimitedLogger logs to l at most once every every per message.
func NewRateLimitedLogger(l *zap.Logger, every time.Duration) *RateLimitedLogger {
	return &RateLimitedLogger{Logger: l, every: every, last: map[string]time.Time{}, Held: map[string]int{}}
}

// Error logs msg at error level unless it was logged less than an interval
// ago.
func (l *RateLimitedLogger) Error(msg string, fields ...zap.Field) {
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.last[msg]) < l.every {
		l.Held[msg]++
		l.mu.Unlock()
		return
	}
	held := l.Held[msg]
	l.last[msg], l.Held[msg] = now, 0
	l.mu.Unlock()
	if held > 0 {
		fields = append(fields, zap.Int("suppressed", held))
	}
	l.Logger.Error(msg, fields...)
}

// ErrKeysUnavailable answers a call whose token could not be verified
// because its issuer's keys could not be fetched: the client should retry.
var ErrKeysUnavailable = &OAuthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "the issuer's signing keys could not be fetched; try again later"}

// ExtractError maps a failure to read a request's tokens or parameters
// to the answer to give. A request is refused, never passed on unread.
func ExtractError(err error) error {
	switch {
	case isBodyTimeout(err): // the body_timeout of gateway/body_deadline.go
		return errBodyTimeout
	case errors.Is(err, token.ErrTooLarge):
		return &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "token too large"}
	case errors.Is(err, token.ErrBodyTooLarge):
		return &OAuthError{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "the body is larger than the limit"}
	case errors.Is(err, token.ErrTooManyTokens):
		return &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "too many tokens in one request"}
	case errors.Is(err, token.ErrUnsupportedCharset):
		return &OAuthError{Status: http.StatusUnsupportedMediaType, Code: "invalid_request", Description: "the body's charset cannot be read: send it as UTF-8"}
	case errors.Is(err, token.ErrUnsupportedEncoding):
		return &OAuthError{Status: http.StatusUnsupportedMediaType, Code: "invalid_request", Description: "the body's Content-Encoding cannot be read: send it as gzip, deflate or unencoded"}
	case errors.Is(err, token.ErrUnreadableBody):
		return &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body cannot be read: malformed, or an ambiguous Content-Type"}
	}
	return &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "unreadable request"}
}

// errBodyTimeout answers a request whose body did not arrive within
// body_timeout.
var errBodyTimeout = &OAuthError{Status: http.StatusRequestTimeout, Code: "invalid_request", Description: "the body was not received within body_timeout"}

// isBodyTimeout reports whether err, from reading a request's body, is its
// read deadline passing.
func isBodyTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
