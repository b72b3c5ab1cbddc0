package route

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Env is what a route kind may use of the handler it serves in: the
// engine it reads and records with, the handler's token settings, and the
// few services it calls (a kind never reaches the Handler itself). It is
// built once the routes are compiled (gateway.New); Recorder and
// Checker are set when the store is opened (gateway.Runtime.UseStore).
type Env struct {
	Keys     *engine.Keys
	Checker  *engine.Checker  // set by useStore
	Recorder *engine.Recorder // set by useStore
	// Verifier holds the jwt blocks' verifiers (nil without any); verify
	// verifies a token with them, logging why it does not.
	Verifier *jwtverify.Set
	Verify   func(ctx context.Context, raw string, opts jwtverify.Options) (*jwtverify.Token, error)
	// SoleIssuer is the issuer of the handler's jwt block when it has
	// exactly one.
	SoleIssuer string
	// CheckRequest checks a request's tokens as any request's are
	// (gateway/serve.go): for a route call that is an API call too.
	CheckRequest func(*http.Request) error
	// Sources find the tokens of a request's named channels.
	Sources *token.Sources
	Logger  *zap.Logger
	ErrLog  *RateLimitedLogger
	Now     func() time.Time

	// The handler's settings a kind reads.
	MaxTokenSize int
	MaxBodySize  int64
	Schemes      []string
	Cookies      []string
	ClockSkew    time.Duration
	FailMode     string // as configured, for logs
	FailOpen     bool
}

// paramTokens parses the non-empty values of fields in p (each given at
// most once: see readParams).
func (e *Env) paramTokens(p *token.Params, fields []string) ([]token.Token, error) {
	var out []token.Token
	for _, f := range fields {
		v, err := e.paramToken(p, f)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out = append(out, *v)
		}
	}
	return out, nil
}

// paramToken parses the token in parameter name of p, nil when absent.
func (e *Env) paramToken(p *token.Params, name string) (*token.Token, error) {
	v, err := p.Get(name)
	if err != nil {
		return nil, RepeatedParam(name)
	}
	if v == "" {
		return nil, nil
	}
	if len(v) > e.MaxTokenSize {
		return nil, &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: name + " too large"}
	}
	t := token.Parse(v)
	return &t, nil
}

// singleParams are the parameters a revocation route or token endpoint
// refuses to see more than once (RFC 6749 section 3.1), whichever it
// reads: upstreams disagree on which of two values counts, so a second one
// could make the gateway record another token than the upstream revoked,
// or confirm a token the upstream never checked.
var singleParams = []string{"token", "token_type_hint", "refresh_token", "id_token_hint", "logout_token", "grant_type", "client_id"}

// ReadParams reads a revocation route's (or token endpoint's) parameters,
// from the query and the body, as the most lenient upstream reads them
// (token.ReadParams), and refuses one of singleParams given twice.
func (e *Env) ReadParams(r *http.Request) (*token.Params, error) {
	p, err := token.ReadParams(r, e.MaxBodySize)
	if err != nil {
		return nil, ExtractError(err)
	}
	if name := p.Repeated(singleParams...); name != "" {
		return nil, RepeatedParam(name)
	}
	return p, nil
}

// RepeatedParam is the answer to a parameter given more than once.
func RepeatedParam(name string) error {
	return &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: name + " given more than once"}
}

// callerToken returns the token of the Authorization header, or else of
// the form field `token`.
func (e *Env) callerToken(r *http.Request) (string, error) {
	src := token.Sources{Schemes: e.Schemes, MaxTokenSize: e.MaxTokenSize}
	found, err := src.Extract(r, nil)
	if err != nil {
		return "", ExtractError(err)
	}
	if len(found) > 0 {
		return found[0].Raw, nil
	}
	if token.IsForm(r) {
		p, err := e.ReadParams(r)
		if err != nil {
			return "", err
		}
		t, err := e.paramToken(p, "token")
		if err != nil {
			return "", err
		}
		if t != nil {
			return t.Raw, nil
		}
	}
	return "", &OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "missing token: send it in the Authorization header or the form field token"}
}

// observationFailed maps a failure to record what a token endpoint handed
// out: with fail closed, 503 (the client retries; the token it did not get
// is never used); with fail open, logged and passed.
func (e *Env) observationFailed(err error) error {
	if err == nil {
		return nil
	}
	if e.FailOpen {
		e.ErrLog.Error("token owners not recorded (fail open)", zap.Error(err))
		return nil
	}
	e.ErrLog.Error("token owners not recorded", zap.Error(err))
	if !errors.Is(err, denylist.ErrUnavailable) {
		err = fmt.Errorf("%w: %v", denylist.ErrUnavailable, err)
	}
	return err
}

// logUnreadAnswer notes at debug level a 2xx token answer that holds no
// token the gateway can read.
func (e *Env) logUnreadAnswer(r *http.Request, err error) {
	if c := e.Logger.Check(zap.DebugLevel, "token endpoint answer not read"); c != nil {
		fields := []zap.Field{zap.String("path", r.URL.Path)}
		if err != nil {
			fields = append(fields, zap.Error(err))
		}
		c.Write(fields...)
	}
}

// ExpiredContext is a context that is already done.
var ExpiredContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
