package gateway

import (
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/live"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// LiveConnectionsConfig says how live connections — WebSocket and other
// upgraded connections, streaming responses (Server-Sent Events, long
// polls, gRPC and other HTTP/2 streams) — are ended when a token they were
// authorised with is revoked (package live). On by default.
type LiveConnectionsConfig struct {
	// Off leaves live connections open when their token is revoked (the
	// next request is still rejected): for routes whose streams must not
	// be cut.
	Off bool `json:"off,omitempty"`
	// CloseOnExpiry also ends a live connection when its token expires
	// (the earliest exp of the JWTs it carried; opaque tokens have none).
	CloseOnExpiry bool `json:"close_on_expiry,omitempty"`
	// FrameWait bounds how long a WebSocket's close frame waits for the
	// upstream's frame in flight to end; past it the connection is closed
	// without one. Default: 1s.
	FrameWait caddy.Duration `json:"frame_wait,omitempty"`
	// FirstMessages bounds the check of a WebSocket client's first
	// messages (ws_first_messages.go); on by default, also with Off.
	FirstMessages *FirstMessagesConfig `json:"first_messages,omitempty"`
}

// liveConns is a handler's registry of live connections, fed by its
// store's revocations.
type liveConns struct {
	Env           *route.Env // what checks use
	Namespace     func(r *http.Request, routeNS string) (string, error)
	Reg           *live.Registry
	closeOnExpiry bool
	off           bool   // live_connections off: nothing is registered, WebSockets' first messages are checked
	remove        func() // the store subscription
}

// NewLiveConns starts ending live connections on revocation (store's),
// unless c turns it off, and checking WebSockets' first messages, unless
// turned off; nil when both are. It checks with env and a request's
// Namespace.
func NewLiveConns(c *LiveConnectionsConfig, env *route.Env, namespace func(*http.Request, string) (string, error), store denylist.Store) *liveConns {
	if c == nil {
		c = &LiveConnectionsConfig{}
	}
	lc := &liveConns{Env: env, Namespace: namespace, Reg: live.NewRegistry(), off: c.Off}
	lc.Reg.First = newFirstMessages(c.FirstMessages, firstMessageCheck{Env: env, Namespace: namespace, register: !c.Off}) // ws_first_messages.go
	if c.Off {
		if lc.Reg.First != nil {
			return lc
		}
		return nil
	}
	lc.closeOnExpiry = c.CloseOnExpiry
	lc.Reg.FrameWait = time.Duration(c.FrameWait)
	logger := env.Logger
	lc.Reg.OnClose = func(reason live.Reason, e denylist.Entry, took time.Duration) {
		metricLiveClosed.WithLabelValues(reason.String()).Inc()
		if reason == live.ReasonRevoked {
			metricLiveCloseDuration.Observe(took.Seconds())
		}
		if ce := logger.Check(zapcore.DebugLevel, "ended a live connection"); ce != nil {
			ce.Write(zap.String("reason", reason.String()), zap.String("kind", e.Kind.String()), zap.String("hash", e.Digest.Short()))
		}
	}
	lc.remove, _ = denylist.OnRevokedOf(store, lc.Reg.Revoked)
	liveRegistries.Store(lc.Reg, struct{}{})
	return lc
}

// cleanupLiveConns stops listening to the store once this config's live
// connections, which a reload keeps open, have all ended: until then a
// revocation still ends them (while the store stays open: a reload that
// keeps the store settings shares it).
func (lc *liveConns) Close() {
	if lc != nil && !lc.off {
		lc.Reg.Retire(func() {
			lc.remove()
			liveRegistries.Delete(lc.Reg)
		})
	}
}

// serveNext passes a request that passed the check to next; one that
// carried a token goes through the live registry, which registers it if
// it turns out long-lived, and so does a WebSocket upgrade, whose first
// messages are checked (ws_first_messages.go).
func (lc *liveConns) serveNext(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if lc == nil {
		return next.ServeHTTP(w, r)
	}
	if (lc.off || !checkPassed(r)) && (lc.Reg.First == nil || !live.IsWebSocketUpgrade(r)) {
		return next.ServeHTTP(w, r)
	}
	return lc.Reg.Serve(w, r, lc, next)
}

// checkPassed reports whether the check of r found tokens and let them
// through (placeholders.go).
func checkPassed(r *http.Request) bool {
	repl := replacerOf(r)
	if repl == nil {
		return false
	}
	v, _ := repl.Get(PlaceholderResult)
	return v == ResultPass || v == resultFailOpen
}

// bodyTokensVar is the request variable under which keepBodyTokens keeps
// the tokens the check found in the body.
const bodyTokensVar = "token_revocation.body_tokens"

// keepBodyTokens keeps, for the live registry, the tokens of found that
// the check read from r's body: by the time r turns out long-lived the
// proxy may be streaming the body upstream, so it cannot be read again,
// yet a lenient upstream (body-parser, PHP, Rack) took the token from it.
// Requests without a body token (nearly all) pay a loop over found.
func (lc *liveConns) keepBodyTokens(r *http.Request, found []token.Found) {
	if lc == nil {
		return
	}
	var kept []string
	for i := range found {
		if found[i].Source == "form" {
			kept = append(kept, strings.Clone(found[i].Raw))
		}
	}
	if kept != nil {
		caddyhttp.SetVar(r.Context(), bodyTokensVar, kept)
	}
}

// LiveQueries implements live.Queries: the queries of the request's
// tokens, as the check built them, and with close_on_expiry the earliest
// exp among them. The headers, query and cookies are read again; the body
// is not (the proxy may be streaming it upstream): its tokens are the ones
// keepBodyTokens kept when the check read it.
func (lc *liveConns) LiveQueries(r *http.Request, qs []denylist.Query) (n int, expires time.Time) {
	if lc.off || !checkPassed(r) {
		return 0, time.Time{}
	}
	h := lc.Env
	bodiless := *r
	bodiless.Body = http.NoBody
	var buf [4]token.Found
	found, err := h.Sources.Extract(&bodiless, buf[:0])
	if err != nil {
		return 0, time.Time{}
	}
	if kept, ok := caddyhttp.GetVar(r.Context(), bodyTokensVar).([]string); ok {
		for _, raw := range kept {
			found = append(found, token.Found{Raw: raw, Source: "form"})
		}
	}
	if len(found) == 0 {
		return 0, time.Time{}
	}
	ns, err := lc.Namespace(r, "")
	if err != nil {
		return 0, time.Time{}
	}
	made := requestKeysOf(r) // request_keys.go
	for i := range found {
		if n == len(qs) {
			break
		}
		if made != (token.Confirmation{}) && !looksJWT(found[i].Raw) {
			h.Checker.FillQueryMadeWith(&qs[n], ns, found[i].Raw, &made)
		} else {
			h.Checker.FillQuery(&qs[n], ns, found[i].Raw)
		}
		n++
		if lc.closeOnExpiry {
			if t := token.Parse(found[i].Raw); t.JWT && t.Claims.Expiry > 0 {
				exp := time.Unix(int64(t.Claims.Expiry), 0)
				if expires.IsZero() || exp.Before(expires) {
					expires = exp
				}
			}
		}
	}
	metricLiveRegistered.Inc()
	return n, expires
}

// UnmarshalLiveConnections parses
//
//	live_connections off
//	live_connections [{
//	    close_on_expiry
//	    frame_wait <duration>
//	    first_messages off | { ... }    (ws_first_messages.go)
//	}]
func UnmarshalLiveConnections(dst **LiveConnectionsConfig, d *caddyfile.Dispenser) error {
	c := &LiveConnectionsConfig{}
	*dst = c
	if d.NextArg() {
		if d.Val() != "off" {
			return d.Errf("token_revocation: live_connections %q: want off, or a block", d.Val())
		}
		c.Off = true
		if d.NextArg() {
			return d.ArgErr()
		}
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "close_on_expiry":
			if err := FlagArg(d, &c.CloseOnExpiry); err != nil {
				return err
			}
		case "frame_wait":
			if err := DurationArg(d, &c.FrameWait); err != nil {
				return err
			}
		case "first_messages":
			if err := unmarshalFirstMessages(&c.FirstMessages, d); err != nil {
				return err
			}
		default:
			return UnknownName(d, "live_connections", "option", d.Val(), LiveConnectionsOptions)
		}
	}
	return nil
}
