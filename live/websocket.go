package live

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// DefaultFrameWait bounds how long a WebSocket's close frame waits for the
// upstream's frame in flight to end (a frame's remaining bytes arrive
// from the upstream at its pace, or not at all); past it the TCP
// connection is closed without a close frame. It also bounds a write to a
// client that does not read.
const DefaultFrameWait = time.Second

// closeLinger is how long after its close frame a WebSocket's connection
// is closed when the proxy has not closed it already: time for the frame
// to reach the client before the TCP close.
const closeLinger = 250 * time.Millisecond

// errClosedLive is returned by writes to a connection ended by a
// revocation or an expiry.
var errClosedLive = errors.New("token_revocation: connection closed: its token was revoked or expired")

// upgradedConn is a hijacked client connection (an upgraded exchange:
// WebSocket or another protocol) that can be ended at any time. Writes
// (the upstream's bytes, copied by the proxy) are serialized with the
// close; for a WebSocket it follows the frames of the server-to-client
// stream, so that the close frame lands between two of them.
type upgradedConn struct {
	net.Conn
	websocket bool
	wait      time.Duration

	// first reads the client's first messages (a WebSocket's, when
	// checked); nil once its window is over. Read's goroutine only.
	first *firstReader

	mu      sync.Mutex
	cursor  frameCursor
	closing bool          // CloseLive or refuse was called
	code    uint16        // the close frame's code
	text    string        // and reason
	done    bool          // the close frame was written, or the connection closed
	atEdge  chan struct{} // closed when the stream reaches a frame edge after closing
}

func newUpgradedConn(c net.Conn, websocket bool, wait time.Duration) *upgradedConn {
	return &upgradedConn{Conn: c, websocket: websocket, wait: wait}
}

// Read implements net.Conn: the client's bytes, through the first-messages
// check while its window lasts.
func (u *upgradedConn) Read(p []byte) (int, error) {
	if f := u.first; f != nil {
		n, err, done := f.read(p)
		if !done {
			return n, err
		}
		u.first = nil
	}
	return u.Conn.Read(p)
}

// Close implements net.Conn. After a close frame the connection lingers
// a moment, its unread bytes discarded, so that the client reads the
// frame rather than a reset (closing a socket with unread bytes resets
// it).
func (u *upgradedConn) Close() error {
	u.mu.Lock()
	sent := u.done && u.websocket && u.closing
	u.mu.Unlock()
	if !sent {
		return u.Conn.Close()
	}
	go func() {
		_ = u.Conn.SetReadDeadline(time.Now().Add(closeLinger))
		_, _ = io.CopyN(io.Discard, u.Conn, 1<<20)
		u.Conn.Close()
	}()
	return nil
}

// Write implements net.Conn: the upstream's bytes, then, once closing, the
// close frame as soon as the frame in flight ends.
func (u *upgradedConn) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return 0, errClosedLive
	}
	if !u.closing {
		n, err := u.Conn.Write(p)
		u.cursor.advance(p[:n], false)
		return n, err
	}
	probe := u.cursor
	k := probe.advance(p, true)
	n, err := u.Conn.Write(p[:k])
	u.cursor.advance(p[:n], false)
	if err != nil {
		return n, err
	}
	if u.cursor.atEdge() {
		u.finishLocked()
		return n, errClosedLive
	}
	return n, nil
}

// CloseWrite closes the write half when the connection has one (the proxy
// propagates the upstream's end of stream with it).
func (u *upgradedConn) CloseWrite() error {
	if cw, ok := u.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("connection has no write half to close")
}

// CloseLive implements Closer: a WebSocket gets its close frame between
// two frames, within wait; then (or at once for other protocols) the
// connection is closed.
func (u *upgradedConn) CloseLive(reason Reason) {
	if u.startClosing(1008, reason.closeText()) {
		go u.finish()
	}
}

// refuse closes the connection with the close frame of why, as CloseLive
// does, and returns once the frame is written (or the wait is over).
func (u *upgradedConn) refuse(why Refusal) {
	if u.startClosing(why.closeCode()) {
		u.finish()
	}
}

// startClosing sets the close frame to write; false when the connection
// is closing already.
func (u *upgradedConn) startClosing(code uint16, text string) bool {
	u.mu.Lock()
	if u.closing || u.done {
		u.mu.Unlock()
		return false
	}
	u.closing = true
	u.code, u.text = code, text
	u.atEdge = make(chan struct{})
	u.mu.Unlock()
	// A write blocked on a client that does not read fails by then.
	_ = u.Conn.SetWriteDeadline(time.Now().Add(u.wait))
	return true
}

// finish writes the close frame when the stream is at a frame edge, or
// waits for the frame in flight to end, up to wait; then closes.
func (u *upgradedConn) finish() {
	u.mu.Lock()
	if !u.done && (!u.websocket || u.cursor.atEdge()) {
		u.finishLocked()
	}
	edge := u.atEdge
	u.mu.Unlock()
	t := time.NewTimer(u.wait)
	select {
	case <-edge:
		t.Stop()
		time.AfterFunc(closeLinger, func() { u.Conn.Close() })
	case <-t.C:
		u.Conn.Close() // the frame in flight never ended: no close frame
	}
}

// finishLocked writes the close frame (WebSocket only) and closes the
// write half, so the client reads the frame, then end of stream.
func (u *upgradedConn) finishLocked() {
	u.done = true
	if u.websocket {
		_, _ = u.Conn.Write(closeFrame(u.code, u.text))
	}
	if cw, ok := u.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		u.Conn.Close()
	}
	close(u.atEdge)
}

// closeFrame returns an unmasked (server-to-client) close frame.
func closeFrame(code uint16, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	b := make([]byte, 4, 4+len(reason))
	b[0] = 0x88 // FIN, opcode close
	b[1] = byte(2 + len(reason))
	binary.BigEndian.PutUint16(b[2:], code)
	return append(b, reason...)
}

// frameCursor follows a WebSocket byte stream frame by frame (RFC 6455
// section 5.2): where the current frame's header and payload end. It
// reads only lengths, never payloads.
type frameCursor struct {
	hdr       [14]byte
	hn, need  uint8  // header bytes seen, header length (once 2 are seen)
	remaining uint64 // payload bytes of the current frame still to come
}

// atEdge reports whether the stream is between two frames.
func (f *frameCursor) atEdge() bool { return f.hn == 0 && f.remaining == 0 }

// advance consumes p and returns how much of it it consumed: all of it,
// or, with stopAtEdge, up to the first frame edge (0 when at one already).
func (f *frameCursor) advance(p []byte, stopAtEdge bool) int {
	i := 0
	for i < len(p) {
		if f.remaining > 0 {
			n := min(uint64(len(p)-i), f.remaining)
			i += int(n)
			f.remaining -= n
			continue
		}
		if stopAtEdge && f.hn == 0 {
			return i
		}
		f.hdr[f.hn] = p[i]
		f.hn++
		i++
		if f.hn == 2 {
			f.need = 2
			switch f.hdr[1] & 0x7f {
			case 126:
				f.need += 2
			case 127:
				f.need += 8
			}
			if f.hdr[1]&0x80 != 0 {
				f.need += 4
			}
		}
		if f.hn >= 2 && f.hn == f.need {
			switch l := f.hdr[1] & 0x7f; l {
			case 126:
				f.remaining = uint64(binary.BigEndian.Uint16(f.hdr[2:]))
			case 127:
				f.remaining = binary.BigEndian.Uint64(f.hdr[2:])
			default:
				f.remaining = uint64(l)
			}
			f.hn = 0
		}
	}
	return i
}
