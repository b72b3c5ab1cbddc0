package token

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
)

// TestGRPCCompressedMessagesAreRead: a gRPC message sent compressed
// (grpc-encoding gzip, flagged in its prefix), which the server
// decompresses before the service reads it, is scanned decompressed; one
// in an encoding the gateway does not decode hands out an Unreadable
// candidate (the request is refused). So is a gRPC-Web text-mode body
// (base64 of the frames), its messages sent as they are too; one that is
// not such base64 is refused.
func TestGRPCCompressedMessagesAreRead(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
	msg := append([]byte{0x0a, byte(len(tok))}, tok...) // a StringValue
	frame := func(flag byte, m []byte) string {
		var b [5]byte
		b[0] = flag
		binary.BigEndian.PutUint32(b[1:], uint32(len(m)))
		return string(b[:]) + string(m)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(msg)
	zw.Close()
	text := func(frames ...string) string {
		var b strings.Builder
		for _, f := range frames { // each write encoded apart, padded
			b.WriteString(base64.StdEncoding.EncodeToString([]byte(f)))
		}
		return b.String()
	}
	for _, c := range []struct {
		name, ct, encoding, body string
		found, unreadable        bool
	}{
		{"gzip", "application/grpc", "gzip", frame(1, z.Bytes()), true, false},
		{"gzip, a prefix of a message", "application/grpc", "gzip", frame(1, z.Bytes())[:5+z.Len()-8], true, false},
		{"not compressed", "application/grpc", "gzip", frame(0, msg), true, false},
		{"snappy", "application/grpc", "snappy", frame(1, []byte("\x22\x84\x01\x02")), false, true},
		// gRPC-Web text mode: base64 of the frames, in padded chunks.
		{"web text, gzip", "application/grpc-web-text", "gzip", text(frame(1, z.Bytes())), true, false},
		{"web text, gzip, in chunks", "application/grpc-web-text+proto", "gzip", text(frame(1, z.Bytes())[:7], frame(1, z.Bytes())[7:]), true, false},
		{"web text, not compressed, in chunks", "application/grpc-web-text", "", text(frame(0, msg)[:4], frame(0, msg)[4:]), true, false},
		{"web text, snappy", "application/grpc-web-text", "snappy", text(frame(1, []byte("\x22\x84\x01\x02"))), false, true},
		{"web text, not base64", "application/grpc-web-text", "gzip", "AAAA*AAA" + text(frame(1, z.Bytes())), false, true},
	} {
		r, _ := http.NewRequest("POST", "http://h/", nil)
		r.RequestURI = "/rt.Tokens/Check"
		r.Header = http.Header{"Content-Type": {c.ct}, "Grpc-Encoding": {c.encoding}}
		found, unreadable := false, false
		for _, cand := range Candidates(r, []byte(c.body), nil) {
			found = found || cand.S == tok
			unreadable = unreadable || cand.Unreadable
		}
		if found != c.found || unreadable != c.unreadable {
			t.Errorf("%s: found %v, unreadable %v; want %v, %v", c.name, found, unreadable, c.found, c.unreadable)
		}
	}
}
