package gateway

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/live"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// FirstMessagesConfig bounds the check of a WebSocket client's first
// messages (live.FirstMessages): many clients authenticate in a message
// rather than in the upgrade request (graphql-ws and
// subscriptions-transport-ws connection_init, Socket.IO's auth). On by
// default, also with live_connections off (which then only leaves the
// connection unregistered).
type FirstMessagesConfig struct {
	// Off passes a WebSocket's messages unread.
	Off bool `json:"off,omitempty"`
	// Messages is how many messages are checked. Default: 4.
	Messages int `json:"messages,omitempty"`
	// Size is how many bytes of frames are read within the first
	// messages; a message that does not end within them is refused
	// (1009). Default: 64KiB.
	Size int64 `json:"size,omitempty"`
	// Wait is how long after the upgrade the first messages are checked;
	// a message begun and not ended by then is refused (1008). Default:
	// 10s.
	Wait caddy.Duration `json:"wait,omitempty"`
}

// firstMessageCheck checks the first messages of a WebSocket with env,
// in the namespace of its upgrade request; register says whether it
// returns the queries to register the connection under (live_connections
// on).
type firstMessageCheck struct {
	Env       *route.Env
	Namespace func(r *http.Request, routeNS string) (string, error)
	register  bool
}

// newFirstMessages returns the check of a WebSocket's first messages
// that c configures, made by fc; nil when turned off.
func newFirstMessages(c *FirstMessagesConfig, fc firstMessageCheck) *live.FirstMessages {
	if c == nil {
		c = &FirstMessagesConfig{}
	}
	if c.Off {
		return nil
	}
	return &live.FirstMessages{
		Check:    fc.checkFirstMessage,
		Messages: c.Messages,
		Bytes:    int(min(c.Size, 1<<30)),
		Wait:     time.Duration(c.Wait),
		OnRefused: func(_ *http.Request, why live.Refusal) {
			metricFirstMessagesRefused.WithLabelValues(why.String()).Inc()
		},
	}
}

// maxMessageStrings bounds the strings of one message that are checked;
// a message with more is refused as unreadable (an error: 1011 with fail
// closed).
const maxMessageStrings = 4096

// checkFirstMessage is live.FirstMessages.Check: every token-shaped
// string of msg (token.TextCandidates: any JSON string, member names, JSON
// inside a string and Socket.IO framing alike, since the scan reads the
// text with its escapes decoded; an XMPP message's XML text) is checked as one found anywhere in a
// request (engine.Checker.CheckCandidate), in r's namespace, and the
// connection is registered under the queries of all of them. A store
// error follows the fail mode: closed returns it (1011), open passes.
func (fc firstMessageCheck) checkFirstMessage(r *http.Request, msg []byte) (qs []denylist.Query, revoked bool, err error) {
	h := fc.Env
	ns, err := fc.Namespace(r, "")
	if err != nil {
		return nil, false, err
	}
	var st engine.CandidateState
	ctx := r.Context()
	seen := make(map[string]struct{})
	for _, c := range token.TextCandidates(string(msg), token.Where{Part: "websocket"}, nil) {
		if c.Unreadable {
			return nil, false, live.ErrUnreadableMessage // the token may be in what was not read
		}
		s := c.S
		if _, dup := seen[s]; dup || len(s) > h.Sources.MaxTokenSize && h.Sources.MaxTokenSize > 0 {
			continue
		}
		seen[s] = struct{}{}
		if len(seen) > maxMessageStrings {
			return nil, false, errTooManyStrings
		}
		m, _, err := h.Checker.CheckCandidate(ctx, &st, ns, c)
		if err != nil {
			ctx = route.ExpiredContext // fail_timeout bounds the message, not each string (serve.go)
			h.ErrLog.Error("denylist check of a WebSocket message failed", zap.String("fail_mode", h.FailMode), zap.Error(err))
			countCheckFailed(h.FailOpen)
			if h.FailOpen {
				continue
			}
			return nil, false, err
		}
		if m.Revoked {
			if c := h.Logger.Check(zapcore.DebugLevel, "refused a WebSocket message carrying a revoked token"); c != nil {
				c.Write(zap.String("kind", m.Entry.Kind.String()), zap.String("hash", m.Entry.Digest.Short()),
					zap.String("namespace", ns))
			}
			return nil, true, nil
		}
		if fc.register {
			var q denylist.Query
			h.Checker.FillQuery(&q, ns, s)
			qs = append(qs, q)
		}
	}
	return qs, false, nil
}

var errTooManyStrings = &route.OAuthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "too many strings in a WebSocket message"}

// unmarshalFirstMessages parses
//
//	first_messages off
//	first_messages {
//	    messages <n>
//	    size <size>
//	    wait <duration>
//	}
func unmarshalFirstMessages(dst **FirstMessagesConfig, d *caddyfile.Dispenser) error {
	fm := &FirstMessagesConfig{}
	*dst = fm
	if d.NextArg() {
		if d.Val() != "off" {
			return d.Errf("token_revocation: first_messages %q: want off, or a block", d.Val())
		}
		fm.Off = true
		if d.NextArg() {
			return d.ArgErr()
		}
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "messages":
			if err := IntArg(d, &fm.Messages); err != nil {
				return err
			}
		case "size":
			if err := SizeInto(d, &fm.Size); err != nil {
				return err
			}
		case "wait":
			if err := DurationArg(d, &fm.Wait); err != nil {
				return err
			}
		default:
			return UnknownName(d, "first_messages", "option", d.Val(), firstMessagesOptions)
		}
	}
	return nil
}
