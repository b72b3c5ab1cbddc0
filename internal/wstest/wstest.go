// Package wstest is a minimal WebSocket client (RFC 6455) for the tests and
// the benchmark of live connections: it opens a connection through the
// gateway and reads the frames the server sends, which is all they need.
package wstest

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Conn is an open WebSocket.
type Conn struct {
	net.Conn
	br *bufio.Reader
}

// Dial opens path on addr as a WebSocket, with extra request headers
// ("Name: value"). A refused upgrade is an error naming the status.
func Dial(addr, path string, headers ...string) (*Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(k[:]) + "\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 512)
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(br, nil)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, err
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		c.Close()
		return nil, fmt.Errorf("websocket %s: status %d", path, res.StatusCode)
	}
	return &Conn{Conn: c, br: br}, nil
}

// Next reads one frame within the given time (0: no deadline): its opcode
// and payload. A frame cut short is an error.
func (c *Conn) Next(within time.Duration) (op byte, payload []byte, err error) {
	var deadline time.Time
	if within > 0 {
		deadline = time.Now().Add(within)
	}
	_ = c.SetReadDeadline(deadline)
	return ReadFrame(c.br)
}

// ReadFrame reads one server frame (unmasked) from br: its opcode and
// payload. A frame cut short is an error.
func ReadFrame(br *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return 0, nil, fmt.Errorf("truncated frame: %w", err)
	}
	return h[0] & 0x0f, payload, nil
}

// Send writes one message as a single masked frame (opcode 1: text, 2:
// binary), as a client must.
func (c *Conn) Send(op byte, payload []byte) error {
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Write(Frame(op, payload))
	return err
}

// Frame returns a client's frame of one message: final, masked.
func Frame(op byte, payload []byte) []byte {
	b := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var key [4]byte
	_, _ = rand.Read(key[:])
	b = append(b, key[:]...)
	for i, x := range payload {
		b = append(b, x^key[i&3])
	}
	return b
}

// ErrStillOpen is returned by Closed when the connection did not end in
// time.
var ErrStillOpen = errors.New("websocket still open")

// Closed reads until the connection ends (within the given time; 0: no
// deadline) and returns the close frame's code and reason, 0 and "" when
// it ended without one. It fails when a frame follows the close frame.
func (c *Conn) Closed(within time.Duration) (code int, reason string, err error) {
	var deadline time.Time
	if within > 0 {
		deadline = time.Now().Add(within)
	}
	for {
		var wait time.Duration
		if within > 0 {
			if wait = time.Until(deadline); wait <= 0 {
				return 0, "", ErrStillOpen
			}
		}
		op, p, err := c.Next(wait)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, "", ErrStillOpen
			}
			return 0, "", nil
		}
		if op == 8 {
			if len(p) >= 2 {
				code, reason = int(binary.BigEndian.Uint16(p)), string(p[2:])
			}
			// Then the TCP connection ends.
			if _, _, err := c.Next(2 * time.Second); err == nil {
				return code, reason, errors.New("a frame after the close frame")
			}
			return code, reason, nil
		}
	}
}
