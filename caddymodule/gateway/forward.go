package gateway

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// DefaultMaxUpstreamAnswer is the default of MaxUpstreamAnswer.
const DefaultMaxUpstreamAnswer = 64 << 10

// upstreamPrefix is how much of an upstream's 2xx answer a forward route
// holds back to decide on.
func (h *Runtime) upstreamPrefix() int {
	if h.MaxUpstreamAnswer > 0 {
		return int(h.MaxUpstreamAnswer)
	}
	return DefaultMaxUpstreamAnswer
}

// storeDown reports whether the store is known not to take writes now.
func (h *Runtime) storeDown() bool {
	d, ok := h.Store.(denylist.DownReporter)
	return ok && d.Down()
}

// errNotForwarded answers a forward-mode revocation refused before it
// reached the upstream, because the store is down.
var errNotForwarded = fmt.Errorf("%w: revocation not forwarded", denylist.ErrUnavailable)

// forward passes a route call on to the upstream. A 2xx answer is held
// back (its first upstreamPrefix bytes, enough for any revocation answer)
// until what it confirms is recorded, so a 2xx never goes out for a
// revocation that was not; the rest of a longer answer streams through.
// A revocation route whose store is known to be down answers 503 before
// forwarding: the upstream is not asked to revoke what the gateway cannot
// record.
func (h *Runtime) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *route.Compiled, c *route.Call) error {
	if !rt.Kind.ForwardOnly && h.storeDown() {
		h.ErrLog.Error("revocation not forwarded: the store is down", zap.String("route", rt.Label()))
		return h.writeError(w, errNotForwarded)
	}
	// A route that revokes on the upstream's refusal (route/revoke_refused.go)
	// holds its non-2xx answers too, to read them.
	hw := &heldWriter{ResponseWriter: w, limit: h.upstreamPrefix(), holdAll: rt.Refusal != nil, holdRedirects: rt.Kind.RedirectConfirms}
	hw.decide = func() error {
		if !hw.confirms() {
			return nil
		}
		c.Confirmed, c.Vouched = true, rt.Kind.UpstreamConfirms
		if rt.Kind.Upstream != nil {
			res := &route.UpstreamAnswer{Status: hw.Status, Header: w.Header(), Raw: hw.buf.Bytes(), Truncated: hw.overflow}
			if err := rt.Kind.Upstream(h.Env, r, c, res); err != nil {
				return err
			}
		}
		if err := h.recordCall(r.Context(), c); err != nil {
			return err
		}
		if rt.Kind.Recorded != nil {
			rt.Kind.Recorded(h.Env, w.Header(), r, c)
		}
		return nil
	}
	err := serveHeld(next, hw, r)
	switch {
	case hw.streaming:
		return err
	case hw.failed != nil:
		return h.writeError(w, hw.failed)
	case err != nil:
		return err
	}
	if err := hw.decide(); err != nil {
		return h.writeError(w, err)
	}
	if hw.Status >= 300 && rt.Refusal != nil { // held: holdAll
		res := &route.UpstreamAnswer{Status: hw.Status, Header: w.Header(), Raw: hw.buf.Bytes()}
		if handled, err := h.revokeRefused(w, r, rt, c, res); handled {
			return err
		}
	}
	_, err = hw.release(nil)
	return err
}

// serveHeld runs next on hw. When decide failed on a long answer's prefix,
// the reverse proxy aborts its copy with a panic (http.ErrAbortHandler);
// nothing has reached the client yet, so that is recovered, and the
// failure is answered instead.
func serveHeld(next caddyhttp.Handler, hw *heldWriter, r *http.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler || hw.failed == nil || hw.streaming {
				panic(v)
			}
		}
	}()
	return next.ServeHTTP(hw, r)
}

// heldWriter is the ResponseWriter a forward route hands the upstream: a
// non-2xx answer streams through at once; a 2xx answer (and a 3xx with
// holdRedirects) is held until
// decide has recorded what it confirms: at its end, or as soon as it
// outgrows limit bytes (decide then sees a truncated prefix), after which
// the rest streams through.
type heldWriter struct {
	http.ResponseWriter
	limit   int
	holdAll bool // hold non-2xx answers too (they may be read)
	// holdRedirects: a 3xx answer confirms, as a 2xx does
	// (route.Kind.RedirectConfirms).
	holdRedirects bool
	Status        int
	buf           bytes.Buffer
	overflow      bool  // the answer outgrew limit
	streaming     bool  // the head is sent: writes go through
	failed        error // decide failed on the prefix: the answer is this error
	decide        func() error
}

// WriteHeader implements http.ResponseWriter.
func (hw *heldWriter) WriteHeader(status int) {
	switch {
	case hw.streaming || hw.Status != 0:
	case status < 200: // informational: not the answer
		hw.ResponseWriter.WriteHeader(status)
	case status >= 300 && !hw.holdAll && !(status < 400 && hw.holdRedirects): // confirms nothing: nothing to hold back
		hw.Status, hw.streaming = status, true
		hw.ResponseWriter.WriteHeader(status)
	default:
		hw.Status = status
	}
}

// Write implements http.ResponseWriter.
func (hw *heldWriter) Write(p []byte) (int, error) {
	if hw.Status == 0 {
		hw.WriteHeader(http.StatusOK)
	}
	switch {
	case hw.streaming:
		return hw.ResponseWriter.Write(p)
	case hw.failed != nil:
		return 0, hw.failed
	case hw.buf.Len()+len(p) <= hw.limit:
		return hw.buf.Write(p)
	}
	n := hw.limit - hw.buf.Len()
	hw.buf.Write(p[:n])
	hw.overflow = true
	if err := hw.decide(); err != nil {
		hw.failed = err
		return 0, err
	}
	if _, err := hw.release(p[n:]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// confirms reports whether the upstream's answer confirms the call: a
// 2xx, or a 3xx with holdRedirects.
func (hw *heldWriter) confirms() bool {
	return hw.Status >= 200 && hw.Status < 300 || hw.holdRedirects && hw.Status >= 300 && hw.Status < 400
}

// release sends the held head and prefix, then rest, and lets later
// writes through.
func (hw *heldWriter) release(rest []byte) (int, error) {
	hw.streaming = true
	if hw.Status == 0 {
		return 0, nil // the upstream wrote nothing
	}
	hw.ResponseWriter.WriteHeader(hw.Status)
	var (
		n   int
		err error
	)
	if hw.buf.Len() > 0 { // a 204 takes no body, not even an empty write
		n, err = hw.ResponseWriter.Write(hw.buf.Bytes())
	}
	hw.buf = bytes.Buffer{}
	if err != nil || len(rest) == 0 {
		return n, err
	}
	m, err := hw.ResponseWriter.Write(rest)
	return n + m, err
}

// Flush implements http.Flusher: only once the head is sent.
func (hw *heldWriter) Flush() {
	if hw.streaming {
		_ = http.NewResponseController(hw.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (hw *heldWriter) Unwrap() http.ResponseWriter { return hw.ResponseWriter }

// revokeRefused handles an upstream's refusal to revoke (see above):
// when rt revokes on res and every token of rev is a JWT, it records them
// and answers as the kind would have in respond mode (or the store's
// failure, a 503). handled false leaves the upstream's answer to be sent.
func (h *Runtime) revokeRefused(w http.ResponseWriter, r *http.Request, rt *route.Compiled, c *route.Call, res *route.UpstreamAnswer) (handled bool, err error) {
	if !rt.Refusal.Refused(res) || len(c.Tokens) == 0 {
		return false, nil
	}
	for _, t := range c.Tokens {
		if !t.JWT {
			return false, nil // the upstream's to judge
		}
	}
	c.Vouched, c.Confirmed = false, false
	// The upstream's headers are w's (the recorder shares them): its
	// refusal's body is not sent, so neither are the headers describing it.
	for _, k := range []string{"Content-Type", "Content-Encoding", "Content-Length", "Content-Language", "ETag", "Last-Modified", "WWW-Authenticate"} {
		w.Header().Del(k)
	}
	h.Logger.Info("the upstream does not revoke this token; the gateway revokes it itself",
		zap.String("route", rt.Label()), zap.Int("upstream_status", res.Status))
	if err := h.recordCall(r.Context(), c); err != nil {
		return true, h.writeError(w, err)
	}
	return true, rt.Kind.Respond(h.Env, w, r, c)
}
