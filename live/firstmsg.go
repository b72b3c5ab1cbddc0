package live

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// The default bounds of the first-messages window (FirstMessages).
const (
	// DefaultFirstMessages is how many messages the window covers.
	DefaultFirstMessages = 4
	// DefaultFirstBytes is how many bytes of frames (headers and
	// payloads) the window covers; a message that does not end within
	// them is refused (1009). It also bounds a compressed message's
	// decompressed size.
	DefaultFirstBytes = 64 << 10
	// DefaultFirstWait is how long the window lasts from the upgrade.
	DefaultFirstWait = 10 * time.Second
)

// ErrUnreadableMessage is what a FirstMessages.Check returns for a
// message it could not read whole (too many strings, compressed data
// past its bound): the message is refused as RefusedUnreadable.
var ErrUnreadableMessage = errors.New("unreadable message")

// FirstMessages is the check of the first messages a client sends on a
// WebSocket: many clients authenticate there rather than in the upgrade
// request (graphql-ws and subscriptions-transport-ws connection_init,
// Socket.IO's auth packet). Within a window — the first Messages messages
// or Bytes bytes of frames, whichever comes first, and at most Wait after
// the upgrade — the client's frames are parsed (RFC 6455: masked,
// fragmented, control frames interleaved; RFC 7692 permessage-deflate
// when the upstream accepted it) and each complete data message is given
// to Check before any byte of it reaches the upstream. A message whose
// token is revoked, or that cannot be read within the window, is never
// forwarded: the client gets a close frame (see Refusal) and both sides
// are closed. After the window the client's bytes pass untouched.
//
// Set it on the Registry (Registry.First) before the first Serve.
type FirstMessages struct {
	// Check is given each message the window covers, unmasked and
	// decompressed (text or binary; msg is valid during the call only).
	// It returns the queries of the tokens it found, under which the
	// connection is registered too (a later revocation of one ends it),
	// and whether one of them is revoked. An error closes the connection
	// with 1011 (ErrUnreadableMessage: 1008, RefusedUnreadable); a check
	// that fails open returns none.
	Check func(r *http.Request, msg []byte) (qs []denylist.Query, revoked bool, err error)
	// Messages, Bytes, Wait bound the window; 0 takes the default
	// (DefaultFirstMessages, DefaultFirstBytes, DefaultFirstWait).
	Messages int
	Bytes    int
	Wait     time.Duration
	// OnRefused, when set, is called when a connection is closed in its
	// window. It must not block.
	OnRefused func(r *http.Request, why Refusal)
}

// Refusal says why a WebSocket was closed during its first messages.
type Refusal uint8

// The refusals, with the close frame the client gets.
const (
	// RefusedRevoked: a message carried a revoked token (1008 "token
	// revoked").
	RefusedRevoked Refusal = iota
	// RefusedUnavailable: the check failed, the denylist could not be
	// read (1011 "denylist unavailable").
	RefusedUnavailable
	// RefusedTooLarge: a message did not end within the window's bytes
	// (1009 "first message too large").
	RefusedTooLarge
	// RefusedUnreadable: a frame breaks RFC 6455 (unmasked, a reserved
	// opcode or bit, a bad fragment, a corrupt compressed message), or
	// Check could not read the message (ErrUnreadableMessage) (1008
	// "unreadable message").
	RefusedUnreadable
	// RefusedSlow: a message begun did not end within the window's time
	// (1008 "message incomplete in time").
	RefusedSlow
)

// String returns the refusal as used in metrics labels and logs.
func (w Refusal) String() string {
	switch w {
	case RefusedRevoked:
		return "revoked"
	case RefusedUnavailable:
		return "unavailable"
	case RefusedTooLarge:
		return "too_large"
	case RefusedUnreadable:
		return "unreadable"
	}
	return "slow"
}

// closeCode returns the close frame's code and reason.
func (w Refusal) closeCode() (uint16, string) {
	switch w {
	case RefusedRevoked:
		return 1008, "token revoked"
	case RefusedUnavailable:
		return 1011, "denylist unavailable"
	case RefusedTooLarge:
		return 1009, "first message too large"
	case RefusedUnreadable:
		return 1008, "unreadable message"
	}
	return 1008, "message incomplete in time"
}

var (
	errFrameTooLarge  = errors.New("websocket: message past the first-messages window")
	errFrameMalformed = errors.New("websocket: malformed frame")
)

// deflateTail ends a permessage-deflate message (RFC 7692 section 7.2.2).
var deflateTail = []byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}

// msgParser parses the client-to-server frames of a WebSocket's first
// messages from the raw bytes read so far, and says which of them may be
// forwarded: the frames of messages that passed the check, and control
// frames outside a message.
type msgParser struct {
	maxBytes int  // the window's bytes
	deflate  bool // permessage-deflate was negotiated

	buf    []byte // raw bytes read, not yet forwarded
	parsed int    // bytes of buf in complete frames
	safe   int    // bytes of buf that may be forwarded
	used   int    // bytes of complete frames in the window, forwarded or not

	inMsg      bool   // a fragmented message is under way
	compressed bool   // ... compressed (RSV1 on its first frame)
	msg        []byte // its payload so far, unmasked

	fr   io.ReadCloser // the inflater, reset per message
	out  []byte        // a compressed message, inflated
	dict []byte        // the last 32 KiB inflated (context takeover)
}

// pending reports whether bytes were read that are not forwardable yet.
func (p *msgParser) pending() bool { return p.inMsg || p.parsed < len(p.buf) }

// next parses the complete frames of buf past parsed until a data message
// ends, and returns its payload (unmasked, inflated; valid until the next
// call) and true; false when more bytes are needed. errFrameTooLarge: a frame does
// not fit in the window; errFrameMalformed: it cannot be read.
func (p *msgParser) next() ([]byte, bool, error) {
	for {
		b := p.buf[p.parsed:]
		if len(b) < 2 || p.full() {
			return nil, false, nil
		}
		h0, h1 := b[0], b[1]
		fin, rsv, op := h0&0x80 != 0, h0&0x70, h0&0x0f
		if h1&0x80 == 0 {
			return nil, false, errFrameMalformed // a client's frames are masked
		}
		hl, n := 6, uint64(h1&0x7f)
		switch n {
		case 126:
			hl += 2
		case 127:
			hl += 8
		}
		if p.used+hl > p.maxBytes {
			return nil, false, errFrameTooLarge
		}
		if len(b) < hl {
			return nil, false, nil
		}
		switch n {
		case 126:
			n = uint64(binary.BigEndian.Uint16(b[2:]))
		case 127:
			n = binary.BigEndian.Uint64(b[2:])
		}
		if n > uint64(p.maxBytes-p.used-hl) {
			return nil, false, errFrameTooLarge
		}
		control := op&0x8 != 0
		switch {
		case control && (op > 0xA || !fin || n > 125 || rsv != 0):
			return nil, false, errFrameMalformed
		case !control && (op > 2 || (op == 0) != p.inMsg):
			return nil, false, errFrameMalformed // reserved opcode, or a fragment out of place
		case !control && rsv != 0 && (rsv != 0x40 || op == 0 || !p.deflate):
			return nil, false, errFrameMalformed // an extension's bit that was not negotiated
		}
		end := hl + int(n)
		if len(b) < end {
			return nil, false, nil
		}
		key, payload := b[hl-4:hl], b[hl:end]
		p.parsed += end
		p.used += end
		if control {
			if !p.inMsg {
				p.safe = p.parsed
				return nil, false, nil // forwarded before anything after it is parsed
			}
			continue
		}
		if op != 0 {
			p.inMsg, p.compressed, p.msg = true, rsv != 0, p.msg[:0]
		}
		start := len(p.msg)
		p.msg = append(p.msg, payload...)
		unmask(p.msg[start:], key)
		if !fin {
			continue
		}
		p.inMsg = false
		if p.compressed {
			out, err := p.inflate()
			return out, err == nil, err
		}
		return p.msg, true, nil
	}
}

// full reports whether the window's bytes are used up, between messages.
func (p *msgParser) full() bool { return !p.inMsg && p.used >= p.maxBytes }

// release lets every parsed frame be forwarded (its message passed).
func (p *msgParser) release() { p.safe = p.parsed }

// take moves up to len(dst) forwardable bytes to dst.
func (p *msgParser) take(dst []byte) int {
	n := copy(dst, p.buf[:p.safe])
	p.buf = p.buf[:copy(p.buf, p.buf[n:])]
	p.parsed -= n
	p.safe -= n
	return n
}

// unmask XORs b with the masking key, from the payload's first byte.
func unmask(b, key []byte) {
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// inflate decompresses the message (RFC 7692), with the window of the
// earlier ones (context takeover: reading with it is right also when the
// client does not take over, as its messages then refer to nothing
// before them), up to maxBytes.
func (p *msgParser) inflate() ([]byte, error) {
	in := io.MultiReader(bytes.NewReader(p.msg), bytes.NewReader(deflateTail))
	if p.fr == nil {
		p.fr = flate.NewReaderDict(in, p.dict)
	} else if err := p.fr.(flate.Resetter).Reset(in, p.dict); err != nil {
		return nil, errFrameMalformed
	}
	out := p.out[:0]
	for {
		if len(out) == cap(out) {
			if len(out) > p.maxBytes {
				return nil, errFrameTooLarge
			}
			out = append(out, make([]byte, max(512, len(out)))...)[:len(out)]
		}
		k, err := p.fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+k]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errFrameMalformed
		}
	}
	if len(out) > p.maxBytes {
		return nil, errFrameTooLarge
	}
	p.out = out
	p.dict = append(p.dict, out...)
	if len(p.dict) > 32<<10 {
		p.dict = p.dict[:copy(p.dict, p.dict[len(p.dict)-32<<10:])]
	}
	return out, nil
}

// firstReader reads a WebSocket client's bytes during the first-messages
// window: it forwards a message only once the check passed it.
type firstReader struct {
	cfg *FirstMessages
	r   *http.Request
	src io.Reader // the client connection, or a stream's body
	// setDeadline sets src's read deadline; nil when it has none (the
	// window's end is then seen between reads).
	setDeadline func(time.Time) error
	br          *bufio.Reader // bytes the server read past the request, read first
	deadline    time.Time
	messages    int // messages left in the window
	p           msgParser

	// found registers the connection under more queries; false: it was
	// ended already. refuse closes it, with the refusal's close frame.
	found  func(qs []denylist.Query) bool
	refuse func(Refusal)
	// batches, when set, counts the registry's revocation batches.
	batches *atomic.Uint64

	over bool  // the window is over
	err  error // sticky
}

// newFirstReader returns the first-messages reader of r's client bytes
// src (br: what the server read past the request; setDeadline: src's read
// deadline, or nil), deflate when the upstream accepted
// permessage-deflate.
func newFirstReader(cfg *FirstMessages, r *http.Request, src io.Reader, setDeadline func(time.Time) error, br *bufio.Reader, deflate bool) *firstReader {
	f := &firstReader{cfg: cfg, r: r, src: src, setDeadline: setDeadline, br: br, messages: cfg.Messages}
	if f.messages <= 0 {
		f.messages = DefaultFirstMessages
	}
	f.p.maxBytes = cfg.Bytes
	if f.p.maxBytes <= 0 {
		f.p.maxBytes = DefaultFirstBytes
	}
	f.p.deflate = deflate
	wait := cfg.Wait
	if wait <= 0 {
		wait = DefaultFirstWait
	}
	f.deadline = time.Now().Add(wait)
	f.p.buf = make([]byte, 0, 512) // grown as messages need (fill): 10,000 idle WebSockets hold 5 MB
	if f.setDeadline != nil && f.setDeadline(f.deadline) != nil {
		f.setDeadline = nil
	}
	return f
}

// negotiatedDeflate reports whether the response header h accepted
// permessage-deflate.
func negotiatedDeflate(h http.Header) bool {
	for _, v := range h.Values("Sec-WebSocket-Extensions") {
		for _, ext := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(ext, ";")
			if strings.EqualFold(strings.TrimSpace(name), "permessage-deflate") {
				return true
			}
		}
	}
	return false
}

// readSrc reads what the server buffered first, then the source.
func (f *firstReader) readSrc(b []byte) (int, error) {
	if f.br != nil {
		if f.br.Buffered() > 0 {
			return f.br.Read(b)
		}
		f.br = nil
	}
	return f.src.Read(b)
}

// read is the client's side of the connection during the window; done
// reports that the window is over and nothing is left to pass, from then
// on the caller reads the connection itself.
func (f *firstReader) read(dst []byte) (n int, err error, done bool) {
	for {
		if f.p.safe > 0 {
			return f.p.take(dst), nil, false
		}
		if f.err != nil {
			return 0, f.err, false
		}
		if f.over {
			if len(f.p.buf) > 0 { // read past the window: passes untouched
				f.p.safe = len(f.p.buf)
				continue
			}
			if f.br != nil && f.br.Buffered() > 0 {
				n, err := f.br.Read(dst)
				return n, err, false
			}
			return 0, nil, true
		}
		msg, ok, err := f.p.next()
		if err != nil {
			if errors.Is(err, errFrameTooLarge) {
				return 0, f.fail(RefusedTooLarge), false
			}
			return 0, f.fail(RefusedUnreadable), false
		}
		if ok {
			if err := f.check(msg); err != nil {
				return 0, err, false
			}
			continue
		}
		if f.p.full() {
			f.end()
			continue
		}
		if f.p.safe > 0 { // control frames: forwarded before reading on
			continue
		}
		if err := f.fill(); err != nil {
			return 0, err, false
		}
	}
}

// check asks cfg.Check about a complete message; the message may be
// forwarded when it passes.
func (f *firstReader) check(msg []byte) error {
	for try := 0; ; try++ {
		var seen uint64
		if f.batches != nil {
			seen = f.batches.Load()
		}
		qs, revoked, err := f.cfg.Check(f.r, msg)
		switch {
		case errors.Is(err, ErrUnreadableMessage):
			return f.fail(RefusedUnreadable)
		case err != nil:
			return f.fail(RefusedUnavailable)
		case revoked:
			return f.fail(RefusedRevoked)
		}
		if !f.found(qs) {
			f.err = errClosedLive // ended by a revocation meanwhile
			return f.err
		}
		if f.batches == nil || f.batches.Load() == seen || try == 3 {
			break // past a few tries, revocations keep coming: those after the registration end it
		}
		// A revocation came in between the check and the registration,
		// and may have missed both: checked again.
	}
	f.p.release()
	if f.messages--; f.messages == 0 {
		f.end()
	}
	return nil
}

// fill reads more of the client's bytes. The window's time ends it: a
// message begun and not ended by then is refused.
func (f *firstReader) fill() error {
	if len(f.p.buf) == cap(f.p.buf) {
		// At most the window's bytes and a frame header are held.
		f.p.buf = slices.Grow(f.p.buf, min(cap(f.p.buf), f.p.maxBytes+14))
	}
	var k int
	var err error
	if f.setDeadline == nil && !time.Now().Before(f.deadline) {
		err = errWindowOver // a stream: no read deadline, the window's end is seen between reads
	} else {
		k, err = f.readSrc(f.p.buf[len(f.p.buf):cap(f.p.buf)])
	}
	f.p.buf = f.p.buf[:len(f.p.buf)+k]
	if err == nil || k > 0 {
		return nil
	}
	var ne net.Error
	if errors.Is(err, errWindowOver) || (errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(f.deadline)) {
		if f.p.pending() {
			return f.fail(RefusedSlow)
		}
		f.end()
		return nil
	}
	f.err = err // the client went away: what was not checked is dropped
	return err
}

var errWindowOver = errors.New("first-messages window over")

// end ends the window: the connection's reads are no longer bounded.
func (f *firstReader) end() {
	f.over = true
	if f.setDeadline != nil {
		_ = f.setDeadline(time.Time{})
	}
	f.p.msg, f.p.out, f.p.dict, f.p.fr = nil, nil, nil, nil
}

// fail refuses the connection: close frame, then the error that makes
// the proxy close both sides.
func (f *firstReader) fail(why Refusal) error {
	f.err = errClosedLive
	f.refuse(why)
	if f.cfg.OnRefused != nil {
		f.cfg.OnRefused(f.r, why)
	}
	return f.err
}
