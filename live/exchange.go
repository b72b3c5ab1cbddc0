package live

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// maxQueries is the most tokens (queries) one exchange is registered
// under; a request carrying more is registered under its first ones.
const maxQueries = 4

// Handler is the next handler of a request (caddyhttp.Handler's method).
type Handler interface {
	ServeHTTP(http.ResponseWriter, *http.Request) error
}

// Queries says what a request that passed the check was authorised with,
// when its exchange turns out long-lived: it fills qs with the queries of
// the request's tokens (those Check asked) and returns how many it filled,
// and when the exchange is to end on its own (a token's expiry, with
// close_on_expiry; else the zero time).
type Queries interface {
	LiveQueries(r *http.Request, qs []denylist.Query) (n int, expires time.Time)
}

// Exchange is the ResponseWriter a request that passed the check is served
// with when live connections are ended on revocation. It registers the
// exchange once it turns out long-lived — at once for an upgrade request
// (WebSocket) or an extended CONNECT, at the first flush for a response
// (every streaming response is flushed: Server-Sent Events, gRPC, a
// chunked stream) — so a short request costs a pooled wrapper and no
// registration.
//
// Ending it (CloseLive): a hijacked WebSocket gets its close frame and TCP
// close (upgradedConn); otherwise the response's write and read deadlines
// are set in the past, which resets an HTTP/2 stream at once and, on
// HTTP/1, fails the connection's background read, which cancels the
// request's context (the proxy's upstream request with it); writes fail
// from then on, and Serve aborts the response (http.ErrAbortHandler) if
// the next handler returns normally.
type Exchange struct {
	http.ResponseWriter
	reg   *Registry
	src   Queries
	r     *http.Request
	tried bool // register was called

	conn      *Conn // set once registered
	websocket bool  // an upgrade to WebSocket, or an extended CONNECT of one
	streamed  bool  // an extended CONNECT WebSocket: its body is read through the check
	killed    atomic.Bool
	reason    Reason

	mu       sync.Mutex    // orders CloseLive with the end of the handler and the hijack
	finished bool          // the handler returned: the ResponseWriter is no longer ours
	up       *upgradedConn // the hijacked connection, if any
}

var exchangePool = sync.Pool{New: func() any { return new(Exchange) }}

// Serve serves r with next through an Exchange registered in reg, when
// long-lived, under the queries src gives for r.
func (reg *Registry) Serve(w http.ResponseWriter, r *http.Request, src Queries, next Handler) error {
	e := exchangePool.Get().(*Exchange)
	e.ResponseWriter, e.reg, e.src, e.r = w, reg, src, r
	if isUpgrade(r) {
		e.websocket = strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
		e.register()
	} else if r.Method == http.MethodConnect {
		e.register()
		if f := reg.First; f != nil && f.Check != nil && isConnectWebSocket(r) && r.Body != nil && r.Body != http.NoBody {
			// The client's frames are the request body.
			e.websocket, e.streamed = true, true
			rr := *r
			rr.Body = &firstBody{ReadCloser: r.Body, e: e}
			r = &rr
		}
	}
	defer e.release()
	err := next.ServeHTTP(e, r)
	if e.killed.Load() && e.upgraded() == nil {
		// Ended while the handler wrote what it had: the response must
		// not end as if complete.
		e.finish()
		panic(http.ErrAbortHandler)
	}
	return err
}

// IsWebSocketUpgrade reports whether r opens a WebSocket: an HTTP/1.1
// Upgrade, or an extended CONNECT (HTTP/2, RFC 8441; HTTP/3, RFC 9220).
func IsWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") && isUpgrade(r) || isConnectWebSocket(r)
}

// isConnectWebSocket reports whether r is an extended CONNECT opening a
// WebSocket, as Caddy's proxy recognises one.
func isConnectWebSocket(r *http.Request) bool {
	return r.Method == http.MethodConnect &&
		(r.ProtoMajor == 2 && r.Header.Get(":protocol") == "websocket" || r.ProtoMajor == 3 && r.Proto == "websocket")
}

// firstBody is the body of an extended CONNECT WebSocket — the client's
// frames — read through the first-messages check. A refused one is
// reset as a stream (no close frame).
type firstBody struct {
	io.ReadCloser
	e    *Exchange
	f    *firstReader
	over bool
}

// Read implements io.Reader.
func (b *firstBody) Read(p []byte) (int, error) {
	if b.over {
		return b.ReadCloser.Read(p)
	}
	if b.f == nil {
		// Made at the first read: the upstream's answer, and whether it
		// accepted permessage-deflate, is known by then.
		e := b.e
		rc := http.NewResponseController(e.ResponseWriter)
		b.f = newFirstReader(e.reg.First, e.r, b.ReadCloser, rc.SetReadDeadline, nil, negotiatedDeflate(e.Header()))
		b.f.found, b.f.batches = e.found, &e.reg.batches
		b.f.refuse = func(Refusal) { e.CloseLive(ReasonRevoked) }
	}
	n, err, done := b.f.read(p)
	if !done {
		return n, err
	}
	b.over, b.f = true, nil
	return b.ReadCloser.Read(p)
}

// isUpgrade reports whether r asks to switch protocols (HTTP/1.1 Upgrade).
func isUpgrade(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header["Connection"] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

// register adds the exchange to the registry, once (when its request
// had tokens).
func (e *Exchange) register() {
	if e.tried {
		return
	}
	e.tried = true
	// Not kept in the Exchange: the registry copies what it needs.
	qs := make([]denylist.Query, maxQueries)
	if n, expires := e.src.LiveQueries(e.r, qs); n > 0 {
		e.conn = e.reg.Register(e, qs[:n], expires)
	}
}

func (e *Exchange) upgraded() *upgradedConn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.up
}

// finish marks the handler done: CloseLive no longer touches the writer.
func (e *Exchange) finish() {
	e.mu.Lock()
	e.finished = true
	e.mu.Unlock()
}

// release unregisters the exchange and returns it to the pool.
func (e *Exchange) release() {
	e.finish()
	e.mu.Lock()
	conn, hijacked := e.conn, e.up != nil || e.streamed
	e.mu.Unlock()
	if conn != nil && !conn.Unregister() {
		// Ended by the registry: CloseLive may still run on another
		// goroutine, so the Exchange is not reused.
		return
	}
	if hijacked {
		// The proxy may still read the connection (the first-messages
		// check calls found): not reused either.
		return
	}
	*e = Exchange{}
	exchangePool.Put(e)
}

// CloseLive implements Closer.
func (e *Exchange) CloseLive(reason Reason) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.finished {
		return
	}
	e.reason = reason
	e.killed.Store(true)
	if e.up != nil {
		e.up.CloseLive(reason)
		return
	}
	rc := http.NewResponseController(e.ResponseWriter)
	past := time.Now().Add(-time.Second)
	_ = rc.SetWriteDeadline(past)
	_ = rc.SetReadDeadline(past)
}

// Unwrap returns the wrapped ResponseWriter (for http.ResponseController).
func (e *Exchange) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// Write implements http.ResponseWriter; it fails once the exchange was
// ended.
func (e *Exchange) Write(p []byte) (int, error) {
	if e.killed.Load() {
		return 0, errClosedLive
	}
	return e.ResponseWriter.Write(p)
}

// ReadFrom copies src to the response, through the wrapped writer's
// ReadFrom when it has one (sendfile for a file server).
func (e *Exchange) ReadFrom(src io.Reader) (int64, error) {
	if e.killed.Load() {
		return 0, errClosedLive
	}
	return io.Copy(e.ResponseWriter, src)
}

// Push implements http.Pusher when the wrapped writer does.
func (e *Exchange) Push(target string, opts *http.PushOptions) error {
	if p, ok := e.ResponseWriter.(http.Pusher); ok {
		return p.Push(target, opts)
	}
	return http.ErrNotSupported
}

// FlushError flushes the response, registering the exchange: a flushed
// response is a streaming one.
func (e *Exchange) FlushError() error {
	if e.killed.Load() {
		return errClosedLive
	}
	e.register()
	return http.NewResponseController(e.ResponseWriter).Flush()
}

// Flush implements http.Flusher (see FlushError).
func (e *Exchange) Flush() { _ = e.FlushError() }

// Hijack implements http.Hijacker: the connection returned is ended (with
// a WebSocket close frame) when the exchange is.
func (e *Exchange) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	e.register()
	c, brw, err := http.NewResponseController(e.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.killed.Load() {
		c.Close()
		return nil, nil, errClosedLive
	}
	wait := e.reg.FrameWait
	if wait <= 0 {
		wait = DefaultFrameWait
	}
	e.up = newUpgradedConn(c, e.websocket, wait)
	if f := e.reg.First; f != nil && f.Check != nil && e.websocket {
		// The client's bytes the server read past the request are read
		// through the check too: the proxy forwards a hijack's buffered
		// bytes as they are, so it gets none.
		e.up.first = newFirstReader(f, e.r, c, c.SetReadDeadline, brw.Reader, negotiatedDeflate(e.Header()))
		e.up.first.found, e.up.first.refuse, e.up.first.batches = e.found, e.up.refuse, &e.reg.batches
		brw = bufio.NewReadWriter(bufio.NewReaderSize(e.up, 16), brw.Writer)
	}
	return e.up, brw, nil
}

// found registers the exchange under qs too (tokens of its first
// messages); false when it was ended already.
func (e *Exchange) found(qs []denylist.Query) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.killed.Load() {
		return false
	}
	if e.finished || len(qs) == 0 {
		return true
	}
	if e.conn == nil {
		e.conn = e.reg.Register(e, qs, time.Time{})
		return true
	}
	return e.conn.Add(qs)
}
