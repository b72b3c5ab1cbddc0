package caddymodule

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/live"
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

// firstMessages returns the check of a WebSocket's first messages for
// lc's registry, nil when turned off.
func (lc *liveConns) firstMessages(c *FirstMessagesConfig) *live.FirstMessages {
	if c == nil {
		c = &FirstMessagesConfig{}
	}
	if c.Off {
		return nil
	}
	return &live.FirstMessages{
		Check:    lc.checkFirstMessage,
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

// checkFirstMessage is live.FirstMessages.Check: every string of msg is
// checked as a token in r's namespace (messageStrings), and the
// connection is registered under the queries of all of them. A store
// error follows the fail mode: closed returns it (1011), open passes.
func (lc *liveConns) checkFirstMessage(r *http.Request, msg []byte) (qs []denylist.Query, revoked bool, err error) {
	h := lc.h
	ns, err := h.namespace(r, "")
	if err != nil {
		return nil, false, err
	}
	seen := make(map[string]struct{})
	for _, s := range messageStrings(msg) {
		if _, dup := seen[s]; dup || len(s) > h.sources.MaxTokenSize && h.sources.MaxTokenSize > 0 {
			continue
		}
		seen[s] = struct{}{}
		if len(seen) > maxMessageStrings {
			return nil, false, errTooManyStrings
		}
		var q denylist.Query
		h.checker.FillQuery(&q, ns, s)
		m, err := h.checker.Store().Check(r.Context(), &q)
		if err != nil {
			h.errLog.Error("denylist check of a WebSocket message failed", zap.String("fail_mode", h.FailMode), zap.Error(err))
			countCheckFailed(h.FailMode == FailOpen)
			if h.FailMode == FailOpen {
				continue
			}
			return nil, false, err
		}
		if m.Revoked {
			if c := h.logger.Check(zapcore.DebugLevel, "refused a WebSocket message carrying a revoked token"); c != nil {
				c.Write(zap.String("kind", m.Entry.Kind.String()), zap.String("hash", m.Entry.Digest.Short()),
					zap.String("namespace", ns))
			}
			return nil, true, nil
		}
		if !lc.off {
			qs = append(qs, q)
		}
	}
	return qs, false, nil
}

var errTooManyStrings = &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Description: "too many strings in a WebSocket message"}

// messageStrings returns the strings of a message that may be tokens:
// every JSON string (member names too, and the strings of JSON inside a
// string) when the message is JSON — also behind Engine.IO/Socket.IO
// framing (`40{"token":"T"}`, `42["auth",{...}]`) — else the text; each
// also split into its runs of token characters (`Bearer T` gives T), and
// a run name=value at its '='.
func messageStrings(msg []byte) []string {
	var out []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if s == "" {
			return
		}
		out = append(out, s)
		for _, w := range strings.FieldsFunc(s, notTokenChar) {
			if w != s {
				out = append(out, w)
			}
			if strings.Contains(strings.TrimRight(w, "="), "=") { // name=value
				out = append(out, strings.FieldsFunc(w, func(r rune) bool { return r == '=' })...)
			}
		}
	}
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		switch v := v.(type) {
		case string:
			add(v)
			if t := strings.TrimSpace(v); depth < 4 && (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) {
				var inner any
				if json.Unmarshal([]byte(t), &inner) == nil {
					walk(inner, depth+1)
				}
			}
		case []any:
			for _, e := range v {
				walk(e, depth)
			}
		case map[string]any:
			for k, e := range v {
				add(k)
				walk(e, depth)
			}
		}
	}
	if v, ok := decodeJSONMessage(msg); ok {
		walk(v, 0)
		return out
	}
	if utf8.Valid(msg) {
		add(string(msg))
	} else {
		for _, w := range bytes.FieldsFunc(msg, notTokenChar) {
			out = append(out, string(w))
		}
	}
	return out
}

// decodeJSONMessage decodes msg as JSON, also after an Engine.IO /
// Socket.IO packet prefix: packet type digits, a namespace ("/chat,"),
// an ack id.
func decodeJSONMessage(msg []byte) (any, bool) {
	var v any
	if json.Unmarshal(msg, &v) == nil {
		return v, true
	}
	rest := bytes.TrimLeft(msg, "0123456789")
	if len(rest) > 0 && rest[0] == '/' {
		if i := bytes.IndexByte(rest, ','); i >= 0 {
			rest = rest[i+1:]
		}
	}
	rest = bytes.TrimLeft(rest, "0123456789")
	if len(rest) == len(msg) || len(rest) == 0 {
		return nil, false
	}
	if json.Unmarshal(rest, &v) == nil {
		return v, true
	}
	return nil, false
}

// notTokenChar reports whether r ends a run of token characters
// (RFC 6750's b64token, and the separators of JWTs and opaque formats).
func notTokenChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("-._~+/=|:", r)
}

// unmarshalFirstMessages parses
//
//	first_messages off
//	first_messages {
//	    messages <n>
//	    size <size>
//	    wait <duration>
//	}
func unmarshalFirstMessages(c *LiveConnectionsConfig, d *caddyfile.Dispenser) error {
	fm := &FirstMessagesConfig{}
	c.FirstMessages = fm
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
			if err := intArg(d, &fm.Messages); err != nil {
				return err
			}
		case "size":
			if err := sizeInto(d, &fm.Size); err != nil {
				return err
			}
		case "wait":
			if err := durationArg(d, &fm.Wait); err != nil {
				return err
			}
		default:
			return unknownName(d, "first_messages", "option", d.Val(), firstMessagesOptions)
		}
	}
	return nil
}

var metricFirstMessagesRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: metricsNamespace, Subsystem: metricsSubsystem,
	Name: "websocket_refused_total",
	Help: "WebSockets closed during their first messages, by reason: revoked (a message carried a revoked token), unavailable (the denylist could not be read), too_large, unreadable, slow.",
}, []string{"reason"})

func init() {
	for _, w := range []live.Refusal{live.RefusedRevoked, live.RefusedUnavailable, live.RefusedTooLarge, live.RefusedUnreadable, live.RefusedSlow} {
		metricFirstMessagesRefused.WithLabelValues(w.String())
	}
}
