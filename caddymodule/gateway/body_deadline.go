package gateway

import (
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// DefaultBodyTimeout is the default of BodyTimeout.
const DefaultBodyTimeout = 10 * time.Second

// bodyReadDeadline bounds, by BodyTimeout, the reading of the bodies the
// gateway reads: a revocation request's (route/route.go) and that of any other
// request (checkRequest reads a form, multipart, JSON or text body whole,
// and a binary one's first MaxBodySize bytes, for the tokens in it). A
// client that sends it more slowly gets a read error: a checked request
// is answered 408 (errBodyTimeout) and the upstream gets nothing, where
// it would hold a connection and a buffer for as long as it liked. A
// request without a body sets no deadline (the no-token path stays free
// of allocations). The server's own read_timeout, when shorter, stays the
// bound. The returned value lifts the deadline (end) once the body is
// read.
func (h *Runtime) bodyReadDeadline(w http.ResponseWriter, r *http.Request) bodyDeadline {
	if r.Body == nil || r.Body == http.NoBody || r.Method == http.MethodConnect {
		return bodyDeadline{}
	}
	d := h.BodyTimeout
	if d == 0 {
		d = DefaultBodyTimeout
	}
	if d < 0 {
		return bodyDeadline{}
	}
	server := serverReadTimeout(r)
	if server > 0 && server < d {
		return bodyDeadline{} // net/http's deadline comes first
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(d)) != nil {
		return bodyDeadline{} // a writer that cannot (a test's recorder)
	}
	return bodyDeadline{rc: rc, server: server}
}

// serverReadTimeout is the read_timeout of the Caddy server serving r (0:
// none), which net/http applies to the whole request.
func serverReadTimeout(r *http.Request) time.Duration {
	if srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); srv != nil {
		return time.Duration(srv.ReadTimeout)
	}
	return 0
}

// bodyDeadline is a read deadline set by bodyReadDeadline.
type bodyDeadline struct {
	rc     *http.ResponseController
	server time.Duration // the server's read_timeout, restored by end
}

// end lifts the deadline, back to the server's read_timeout (from now) if
// it has one: the rest of a binary body streams to the upstream, and a
// WebSocket's messages come after.
func (d bodyDeadline) end() {
	if d.rc == nil {
		return
	}
	var until time.Time
	if d.server > 0 {
		until = time.Now().Add(d.server)
	}
	_ = d.rc.SetReadDeadline(until)
}
