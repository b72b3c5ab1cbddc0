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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// clientFrame returns a client frame: masked (unless key is nil) with key.
func clientFrame(fin bool, rsv, op byte, payload string, key []byte) []byte {
	b0 := rsv | op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	var mask byte
	if key != nil {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b = append(b, mask|byte(n))
	case n < 1<<16:
		b = append(b, mask|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	p := []byte(payload)
	if key != nil {
		b = append(b, key...)
		unmask(p, key)
	}
	return append(b, p...)
}

var testKey = []byte{0x37, 0xfa, 0x21, 0x3d}

func text(s string) []byte   { return clientFrame(true, 0, 1, s, testKey) }
func binMsg(s string) []byte { return clientFrame(true, 0, 2, s, testKey) }
func ping(s string) []byte   { return clientFrame(true, 0, 9, s, testKey) }

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// firstRun is what a firstReader did with a client's bytes.
type firstRun struct {
	forwarded []byte
	checked   []string
	refused   *Refusal
	found     int // queries registered
	err       error
}

// runFirst reads in (split in chunks of the given sizes, cycled; none: at
// once) through a firstReader whose check says a message containing
// "REVOKED" is revoked and "FAIL" fails, until the window is over (then
// the rest is read as the connection would be) or an error.
func runFirst(t testing.TB, cfg FirstMessages, deflate bool, in []byte, chunks ...int) firstRun {
	var run firstRun
	cfg.Check = func(_ *http.Request, msg []byte) ([]denylist.Query, bool, error) {
		run.checked = append(run.checked, string(msg))
		if bytes.Contains(msg, []byte("FAIL")) {
			return nil, false, errors.New("store down")
		}
		return []denylist.Query{{N: 1}}, bytes.Contains(msg, []byte("REVOKED")), nil
	}
	src := io.Reader(bytes.NewReader(in))
	if len(chunks) > 0 {
		src = &chunkReader{b: in, sizes: chunks}
	}
	f := newFirstReader(&cfg, nil, src, nil, nil, deflate)
	f.found = func(qs []denylist.Query) bool { run.found += len(qs); return true }
	f.refuse = func(why Refusal) {
		if run.refused != nil {
			t.Fatalf("refused twice: %v then %v", *run.refused, why)
		}
		run.refused = &why
	}
	buf := make([]byte, 7)
	for {
		n, err, done := f.read(buf)
		run.forwarded = append(run.forwarded, buf[:n]...)
		if done {
			rest, _ := io.ReadAll(src)
			run.forwarded = append(run.forwarded, rest...)
			return run
		}
		if err != nil {
			run.err = err
			return run
		}
	}
}

// chunkReader returns b in reads of the given sizes, cycled.
type chunkReader struct {
	b     []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := max(1, c.sizes[c.i%len(c.sizes)])
	c.i++
	n = min(n, len(p), len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

func refusal(r firstRun) string {
	if r.refused == nil {
		return "none"
	}
	return r.refused.String()
}

func TestFirstMessagesForwardsCheckedMessages(t *testing.T) {
	frag := cat(
		clientFrame(false, 0, 1, `{"type":"connection_init",`, testKey),
		ping("are you there"),
		clientFrame(false, 0, 0, `"payload":{"Authorization":`, []byte{1, 2, 3, 4}),
		clientFrame(true, 0, 0, `"Bearer T"}}`, []byte{9, 8, 7, 6}),
	)
	for _, tc := range []struct {
		name    string
		in      []byte
		checked []string
	}{
		{"one text message", text("hello"), []string{"hello"}},
		{"binary", binMsg("\x00\x01T"), []string{"\x00\x01T"}},
		{"fragmented, a ping between its fragments", frag, []string{`{"type":"connection_init","payload":{"Authorization":"Bearer T"}}`}},
		{"control frames first", cat(ping(""), clientFrame(true, 0, 10, "pong", testKey), text("a")), []string{"a"}},
		{"the fifth message is past the window", cat(text("1"), text("2"), text("3"), text("4"), text("REVOKED 5")), []string{"1", "2", "3", "4"}},
		{"past the window, garbage passes", cat(text("1"), text("2"), text("3"), text("4"), []byte("\x81\x05not masked")), []string{"1", "2", "3", "4"}},
		{"empty message", text(""), []string{""}},
		{"a 60000-byte message: the buffer grows", binMsg(strings.Repeat("z", 60000)), []string{strings.Repeat("z", 60000)}},
		{"16-bit lengths: 126 and 300 bytes", cat(text(strings.Repeat("x", 126)), binMsg(strings.Repeat("y", 300))), []string{strings.Repeat("x", 126), strings.Repeat("y", 300)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunks := range [][]int{nil, {1}, {3, 1, 5}} {
				run := runFirst(t, FirstMessages{}, false, tc.in, chunks...)
				if run.refused != nil || (run.err != nil && run.err != io.EOF) {
					t.Fatalf("chunks %v: refused %s, %v", chunks, refusal(run), run.err)
				}
				if !bytes.Equal(run.forwarded, tc.in) {
					t.Errorf("chunks %v: forwarded %q, want the bytes as sent %q", chunks, run.forwarded, tc.in)
				}
				if strings.Join(run.checked, "|") != strings.Join(tc.checked, "|") {
					t.Errorf("chunks %v: checked %q, want %q", chunks, run.checked, tc.checked)
				}
			}
		})
	}
}

func TestFirstMessagesRefuses(t *testing.T) {
	first := text("ok")
	for _, tc := range []struct {
		name    string
		cfg     FirstMessages
		deflate bool
		in      []byte
		want    Refusal
		sent    []byte // forwarded before the refusal
	}{
		{"revoked token in the second message", FirstMessages{}, false, cat(first, text("REVOKED"), text("after")), RefusedRevoked, first},
		{"revoked in the last fragment", FirstMessages{}, false, cat(clientFrame(false, 0, 1, "a", testKey), ping("p"), clientFrame(true, 0, 0, "REVOKED", testKey)), RefusedRevoked, nil},
		{"the check fails", FirstMessages{}, false, text("FAIL"), RefusedUnavailable, nil},
		{"unmasked frame", FirstMessages{}, false, cat(first, clientFrame(true, 0, 1, "T", nil)), RefusedUnreadable, first},
		{"reserved opcode", FirstMessages{}, false, clientFrame(true, 0, 3, "T", testKey), RefusedUnreadable, nil},
		{"continuation with no message", FirstMessages{}, false, clientFrame(true, 0, 0, "T", testKey), RefusedUnreadable, nil},
		{"new message inside a fragmented one", FirstMessages{}, false, cat(clientFrame(false, 0, 1, "a", testKey), text("b")), RefusedUnreadable, nil},
		{"fragmented ping", FirstMessages{}, false, clientFrame(false, 0, 9, "p", testKey), RefusedUnreadable, nil},
		{"ping over 125 bytes", FirstMessages{}, false, ping(strings.Repeat("p", 126)), RefusedUnreadable, nil},
		{"RSV1 without permessage-deflate", FirstMessages{}, false, clientFrame(true, 0x40, 1, "T", testKey), RefusedUnreadable, nil},
		{"RSV2 with permessage-deflate", FirstMessages{}, true, clientFrame(true, 0x20, 1, "T", testKey), RefusedUnreadable, nil},
		{"RSV1 on a continuation", FirstMessages{}, true, cat(clientFrame(false, 0x40, 1, "", testKey), clientFrame(true, 0x40, 0, "", testKey)), RefusedUnreadable, nil},
		{"corrupt compressed message", FirstMessages{}, true, clientFrame(true, 0x40, 1, "\xff\xff\xff\xff", testKey), RefusedUnreadable, nil},
		{"frame over 64 KiB", FirstMessages{}, false, binMsg(strings.Repeat("x", 64<<10)), RefusedTooLarge, nil},
		{"a 2^63 length", FirstMessages{}, false, append([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, testKey...), RefusedTooLarge, nil},
		{"fragments over the window's bytes", FirstMessages{Bytes: 100}, false, cat(first, clientFrame(false, 0, 1, strings.Repeat("x", 60), testKey), clientFrame(true, 0, 0, strings.Repeat("x", 60), testKey)), RefusedTooLarge, first},
		{"decompressed over the window's bytes", FirstMessages{Bytes: 1000}, true, clientFrame(true, 0x40, 1, compress(t, nil, strings.Repeat("x", 2000)), testKey), RefusedTooLarge, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunks := range [][]int{nil, {1}, {2, 5}} {
				run := runFirst(t, tc.cfg, tc.deflate, tc.in, chunks...)
				if run.refused == nil || *run.refused != tc.want {
					t.Fatalf("chunks %v: refused %s (%v), want %s", chunks, refusal(run), run.err, tc.want)
				}
				if !bytes.Equal(run.forwarded, tc.sent) {
					t.Errorf("chunks %v: forwarded %q, want %q", chunks, run.forwarded, tc.sent)
				}
				if !errors.Is(run.err, errClosedLive) {
					t.Errorf("chunks %v: read error %v, want the connection closed", chunks, run.err)
				}
			}
		})
	}
}

// compress returns s compressed as a permessage-deflate message: with the
// writer's window (context takeover) when w is given.
func compress(t testing.TB, w **flate.Writer, s string) string {
	var buf bytes.Buffer
	var fw *flate.Writer
	if w != nil && *w != nil {
		fw = *w
		fw.Reset(&buf)
	} else {
		fw, _ = flate.NewWriter(&buf, flate.BestCompression)
	}
	if _, err := fw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	if w != nil {
		*w = fw
	}
	return strings.TrimSuffix(buf.String(), "\x00\x00\xff\xff")
}

func TestFirstMessagesPermessageDeflate(t *testing.T) {
	// Context takeover: the second message refers to the first's bytes.
	// flate.Writer.Reset drops the window, so the takeover stream is
	// written in one go and cut at its flushes.
	var stream bytes.Buffer
	fw, _ := flate.NewWriter(&stream, flate.BestCompression)
	m1 := `{"type":"connection_init","payload":{"Authorization":"Bearer abcdefghijklmnop"}}`
	m2 := `{"type":"subscribe","payload":{"Authorization":"Bearer abcdefghijklmnop REVOKED"}}`
	_, _ = fw.Write([]byte(m1))
	_ = fw.Flush()
	c1 := stream.Len()
	_, _ = fw.Write([]byte(m2))
	_ = fw.Flush()
	raw := stream.Bytes()
	z1 := strings.TrimSuffix(string(raw[:c1]), "\x00\x00\xff\xff")
	z2 := strings.TrimSuffix(string(raw[c1:]), "\x00\x00\xff\xff")
	in := cat(clientFrame(true, 0x40, 1, z1, testKey), ping("x"), clientFrame(false, 0x40, 1, z2[:3], testKey), clientFrame(true, 0, 0, z2[3:], testKey))
	run := runFirst(t, FirstMessages{}, true, in, 4)
	if len(run.checked) != 2 || run.checked[0] != m1 || run.checked[1] != m2 {
		t.Fatalf("checked %q, want the two messages inflated", run.checked)
	}
	if run.refused == nil || *run.refused != RefusedRevoked {
		t.Fatalf("refused %s, want revoked", refusal(run))
	}
	if want := len(clientFrame(true, 0x40, 1, z1, testKey)) + len(ping("x")); len(run.forwarded) != want {
		t.Errorf("forwarded %d bytes, want the first message and the ping (%d)", len(run.forwarded), want)
	}
}

func TestFirstMessagesBytesBound(t *testing.T) {
	// Exactly the window's bytes, then more: the rest passes unread.
	m := text(strings.Repeat("a", 40))
	in := cat(m, m, []byte("anything after"))
	run := runFirst(t, FirstMessages{Bytes: 2 * len(m)}, false, in, 3)
	if run.refused != nil || !bytes.Equal(run.forwarded, in) || len(run.checked) != 2 {
		t.Fatalf("refused %s, checked %d, forwarded %q; want 2 checked, all forwarded", refusal(run), len(run.checked), run.forwarded)
	}
	if run.found != 2 {
		t.Errorf("registered %d queries, want 2", run.found)
	}
}

// TestFirstMessagesRevokedWhileRegistering: a revocation that comes in
// between a message's check and the registration under its tokens (and
// so may have missed both) has the message checked again.
func TestFirstMessagesRevokedWhileRegistering(t *testing.T) {
	var batches atomic.Uint64
	calls := 0
	cfg := &FirstMessages{Check: func(*http.Request, []byte) ([]denylist.Query, bool, error) {
		calls++
		if calls == 1 {
			batches.Add(1) // the registry's Revoked ran meanwhile
			return nil, false, nil
		}
		return nil, true, nil
	}}
	f := newFirstReader(cfg, nil, bytes.NewReader(text("T")), nil, nil, false)
	var why []Refusal
	f.found, f.refuse, f.batches = func([]denylist.Query) bool { return true }, func(w Refusal) { why = append(why, w) }, &batches
	n, err, _ := f.read(make([]byte, 64))
	if n != 0 || !errors.Is(err, errClosedLive) || len(why) != 1 || why[0] != RefusedRevoked || calls != 2 {
		t.Fatalf("read %d, %v; refused %v after %d checks; want nothing forwarded, revoked on the second check", n, err, why, calls)
	}
}

// TestFirstMessagesTime: past the window's time, a message begun is
// refused; with none begun, the connection passes untouched.
func TestFirstMessagesTime(t *testing.T) {
	start := func(wait time.Duration) (client net.Conn, f *firstReader, why chan Refusal) {
		server, client := net.Pipe()
		t.Cleanup(func() { server.Close(); client.Close() })
		cfg := &FirstMessages{Wait: wait, Check: func(*http.Request, []byte) ([]denylist.Query, bool, error) {
			return nil, false, nil
		}}
		f = newFirstReader(cfg, nil, server, server.SetReadDeadline, nil, false)
		why = make(chan Refusal, 1)
		f.found, f.refuse = func([]denylist.Query) bool { return true }, func(w Refusal) { why <- w }
		return client, f, why
	}
	t.Run("message incomplete", func(t *testing.T) {
		client, f, why := start(100 * time.Millisecond)
		m := text("a message sent slowly")
		go func() { _, _ = client.Write(m[:5]) }()
		_, err, _ := f.read(make([]byte, 64))
		if !errors.Is(err, errClosedLive) {
			t.Fatalf("read: %v, want the connection closed", err)
		}
		if w := <-why; w != RefusedSlow {
			t.Errorf("refused %s, want slow", w)
		}
	})
	t.Run("nothing sent", func(t *testing.T) {
		client, f, _ := start(50 * time.Millisecond)
		buf := make([]byte, 64)
		_, err, done := f.read(buf)
		if err != nil || !done {
			t.Fatalf("read: %v, done %v; want the window over", err, done)
		}
		m := text("REVOKED, after the window")
		go func() { _, _ = client.Write(m) }()
		n, err := f.src.Read(buf) // no deadline left
		if err != nil || !bytes.Equal(buf[:n], m) {
			t.Fatalf("after the window: %q, %v", buf[:n], err)
		}
	})
}

// TestFirstMessagesReadsServerBuffer: bytes the HTTP server read past
// the upgrade request (sent with it) are checked like the rest, and
// what it buffered past the window passes.
func TestFirstMessagesReadsServerBuffer(t *testing.T) {
	in := cat(text("1"), text("REVOKED"))
	br := bufio.NewReader(bytes.NewReader(in))
	if _, err := br.Peek(len(in)); err != nil {
		t.Fatal(err)
	}
	var refused []Refusal
	cfg := &FirstMessages{Check: func(_ *http.Request, msg []byte) ([]denylist.Query, bool, error) {
		return nil, bytes.Contains(msg, []byte("REVOKED")), nil
	}}
	f := newFirstReader(cfg, nil, strings.NewReader(""), nil, br, false)
	f.found, f.refuse = func([]denylist.Query) bool { return true }, func(w Refusal) { refused = append(refused, w) }
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err, _ := f.read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !bytes.Equal(got, text("1")) || len(refused) != 1 || refused[0] != RefusedRevoked {
		t.Fatalf("forwarded %q, refused %v; want the first message, then revoked", got, refused)
	}
}

// refFirst is the reference the fuzz test compares the incremental
// reader with: the same rules, read from the whole input at once.
func refFirst(in []byte, maxMsgs, maxBytes int) (forwarded []byte, checked []string, refused string) {
	off, safe, msgs := 0, 0, 0
	var msg []byte
	inMsg := false
	for {
		if !inMsg && (off >= maxBytes || msgs == maxMsgs) {
			return in, checked, "none" // the window is over: the rest passes
		}
		b := in[off:]
		if len(b) < 2 {
			return in[:safe], checked, "none" // the client went away
		}
		if b[1]&0x80 == 0 {
			return in[:safe], checked, "unreadable"
		}
		hl := 6
		n := uint64(b[1] & 0x7f)
		if n == 126 {
			hl = 8
		} else if n == 127 {
			hl = 14
		}
		if off+hl > maxBytes {
			return in[:safe], checked, "too_large"
		}
		if len(b) < hl {
			return in[:safe], checked, "none"
		}
		if n == 126 {
			n = uint64(b[2])<<8 | uint64(b[3])
		} else if n == 127 {
			n = binary.BigEndian.Uint64(b[2:10])
		}
		if n > uint64(maxBytes-off-hl) {
			return in[:safe], checked, "too_large"
		}
		fin, rsv, op := b[0]&0x80 != 0, b[0]&0x70, b[0]&0xf
		if op >= 8 {
			if op > 10 || !fin || n > 125 || rsv != 0 {
				return in[:safe], checked, "unreadable"
			}
		} else if op > 2 || (op == 0 && !inMsg) || (op != 0 && inMsg) || rsv != 0 {
			return in[:safe], checked, "unreadable"
		}
		if uint64(len(b)-hl) < n {
			return in[:safe], checked, "none"
		}
		p := make([]byte, n)
		for i := range p {
			p[i] = b[hl+i] ^ b[hl-4+i%4]
		}
		off += hl + int(n)
		if op >= 8 {
			if !inMsg {
				safe = off
			}
			continue
		}
		if op != 0 {
			msg, inMsg = nil, true
		}
		msg = append(msg, p...)
		if !fin {
			continue
		}
		inMsg = false
		checked = append(checked, string(msg))
		if bytes.Contains(msg, []byte("FAIL")) {
			return in[:safe], checked, "unavailable"
		}
		if bytes.Contains(msg, []byte("REVOKED")) {
			return in[:safe], checked, "revoked"
		}
		msgs++
		safe = off
	}
}

// FuzzFirstMessages compares the incremental reader, fed in chunks, with
// the reference reading the whole input: the same messages checked, the
// same bytes forwarded, the same refusal.
func FuzzFirstMessages(f *testing.F) {
	f.Add(cat(text("hi"), ping("p"), text("REVOKED")), uint8(3), uint16(200), uint8(2))
	f.Add(cat(clientFrame(false, 0, 1, "a", testKey), ping("x"), clientFrame(true, 0, 0, "b", testKey), text("c")), uint8(1), uint16(1000), uint8(4))
	f.Add(cat(text("1"), text("2"), text("3"), text("4"), []byte{0x81, 0x01}), uint8(5), uint16(20), uint8(4))
	f.Add(cat(text("FAIL")), uint8(2), uint16(64), uint8(0))
	f.Add(clientFrame(true, 0, 1, "x", nil), uint8(1), uint16(64), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8, maxBytes uint16, maxMsgs uint8) {
		cfg := FirstMessages{Bytes: int(maxBytes%2048) + 1, Messages: int(maxMsgs%6) + 1}
		run := runFirst(t, cfg, false, in, int(chunk%16)+1, int(chunk/16)+1)
		fwd, checked, why := refFirst(in, cfg.Messages, cfg.Bytes)
		if refusal(run) != why {
			t.Fatalf("refused %s, reference %s", refusal(run), why)
		}
		if strings.Join(run.checked, "\x00|") != strings.Join(checked, "\x00|") {
			t.Fatalf("checked %q, reference %q", run.checked, checked)
		}
		if !bytes.Equal(run.forwarded, fwd) {
			t.Fatalf("forwarded %q, reference %q", run.forwarded, fwd)
		}
	})
}

// BenchmarkFirstMessages: a connection_init read through the check (the
// check itself a no-op), from the reader's making to the window's end.
func BenchmarkFirstMessages(b *testing.B) {
	in := text(`{"type":"connection_init","payload":{"Authorization":"Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"}}`)
	cfg := &FirstMessages{Messages: 1, Check: func(*http.Request, []byte) ([]denylist.Query, bool, error) { return nil, false, nil }}
	buf := make([]byte, 32<<10)
	src := bytes.NewReader(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		src.Reset(in)
		f := newFirstReader(cfg, nil, src, nil, nil, false)
		f.found, f.refuse = func([]denylist.Query) bool { return true }, func(Refusal) {}
		for {
			_, err, done := f.read(buf)
			if done || err != nil {
				break
			}
		}
	}
}
