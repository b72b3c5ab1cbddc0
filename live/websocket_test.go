package live

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"net"
	"testing"
	"time"
)

// frame builds a server-to-client frame (mask optional) with n payload bytes.
func frame(opcode byte, n int, mask bool) []byte {
	var b []byte
	b = append(b, 0x80|opcode)
	mbit := byte(0)
	if mask {
		mbit = 0x80
	}
	switch {
	case n < 126:
		b = append(b, mbit|byte(n))
	case n < 1<<16:
		b = append(b, mbit|126, byte(n>>8), byte(n))
	default:
		b = append(b, mbit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if mask {
		b = append(b, 1, 2, 3, 4)
	}
	return append(b, bytes.Repeat([]byte{'x'}, n)...)
}

// readFrames parses a server-to-client stream into (opcode, payload) pairs
// and fails on a truncated frame.
func readFrames(t *testing.T, data []byte) (ops []byte, payloads [][]byte) {
	t.Helper()
	for len(data) > 0 {
		if len(data) < 2 {
			t.Fatalf("truncated frame header: %x", data)
		}
		op, l, h := data[0]&0x0f, uint64(data[1]&0x7f), 2
		switch l {
		case 126:
			l, h = uint64(binary.BigEndian.Uint16(data[2:])), 4
		case 127:
			l, h = binary.BigEndian.Uint64(data[2:]), 10
		}
		if data[1]&0x80 != 0 {
			h += 4
		}
		if uint64(len(data)) < uint64(h)+l {
			t.Fatalf("truncated frame: opcode %d, %d of %d payload bytes", op, len(data)-h, l)
		}
		ops = append(ops, op)
		payloads = append(payloads, data[h:uint64(h)+l])
		data = data[uint64(h)+l:]
	}
	return ops, payloads
}

func TestFrameCursorFindsEdgesAcrossAnySplit(t *testing.T) {
	var stream []byte
	var edges []int
	for _, f := range [][]byte{frame(1, 0, false), frame(1, 5, false), frame(2, 200, true), frame(2, 70000, false), frame(9, 3, false)} {
		stream = append(stream, f...)
		edges = append(edges, len(stream))
	}
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 200; trial++ {
		var c frameCursor
		pos, seen := 0, []int{}
		for pos < len(stream) {
			n := 1 + rng.Intn(300)
			end := min(pos+n, len(stream))
			// Consume up to each edge, as a closing connection does.
			for pos < end {
				k := c.advance(stream[pos:end], true)
				pos += k
				if c.atEdge() {
					seen = append(seen, pos)
					if k == 0 { // at an edge already: step into the next frame
						pos += c.advance(stream[pos:pos+1], false)
					}
				}
			}
		}
		// Every edge is seen (the empty frame's edge right after its header).
		for _, e := range edges {
			found := false
			for _, s := range seen {
				found = found || s == e
			}
			if !found {
				t.Fatalf("trial %d: edge at %d not found; seen %v", trial, e, seen)
			}
		}
	}
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestUpgradedConnClosesBetweenFrames(t *testing.T) {
	server, client := tcpPair(t)
	u := newUpgradedConn(server, true, 2*time.Second)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	// The upstream's copy writes a frame in two pieces; the revocation
	// lands between them.
	f1, f2 := frame(1, 1000, false), frame(1, 10, false)
	if _, err := u.Write(f1[:300]); err != nil {
		t.Fatal(err)
	}
	u.CloseLive(ReasonRevoked)
	time.Sleep(20 * time.Millisecond) // the closer must wait for the frame's end, not write into it
	rest := append(append([]byte{}, f1[300:]...), f2...)
	n, err := u.Write(rest)
	if !errors.Is(err, errClosedLive) || n != len(f1)-300 {
		t.Fatalf("write after close: %d, %v; want %d bytes (the frame's end) and errClosedLive", n, err, len(f1)-300)
	}
	if _, err := u.Write(f2); !errors.Is(err, errClosedLive) {
		t.Fatalf("later write: %v", err)
	}
	var b []byte
	select {
	case b = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("client never saw the end of the stream")
	}
	ops, payloads := readFrames(t, b)
	if len(ops) != 2 || ops[0] != 1 || ops[1] != 8 {
		t.Fatalf("frames %v, want text then close", ops)
	}
	if code := binary.BigEndian.Uint16(payloads[1]); code != 1008 || string(payloads[1][2:]) != "token revoked" {
		t.Fatalf("close frame %d %q", code, payloads[1][2:])
	}
}

func TestUpgradedConnClosesAtOnceWhenIdle(t *testing.T) {
	server, client := tcpPair(t)
	u := newUpgradedConn(server, true, 5*time.Second)
	if _, err := u.Write(frame(1, 3, false)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	u.CloseLive(ReasonExpired)
	b, _ := io.ReadAll(client)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %v", took)
	}
	ops, payloads := readFrames(t, b)
	if len(ops) != 2 || ops[1] != 8 || string(payloads[1][2:]) != "token expired" {
		t.Fatalf("frames %v %q", ops, payloads)
	}
}

// A frame that never ends (an upstream that sends a huge frame's header
// and stalls, or a client that does not read) cannot hold the close: past
// the wait, the TCP connection is closed without a close frame.
func TestUpgradedConnHugeFrameCannotDelayTheClose(t *testing.T) {
	server, client := tcpPair(t)
	u := newUpgradedConn(server, true, 100*time.Millisecond)
	if _, err := u.Write(frame(2, 1<<20, false)[:50]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	u.CloseLive(ReasonRevoked)
	b, _ := io.ReadAll(client)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("closed after %v", took)
	}
	if len(b) != 50 {
		t.Fatalf("client read %d bytes, want the 50 written (no close frame inside the frame)", len(b))
	}
}

func TestUpgradedConnOtherProtocolClosed(t *testing.T) {
	server, client := tcpPair(t)
	u := newUpgradedConn(server, false, time.Second)
	if _, err := u.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	u.CloseLive(ReasonRevoked)
	b, _ := io.ReadAll(client)
	if string(b) != "hello" {
		t.Fatalf("read %q", b)
	}
}
