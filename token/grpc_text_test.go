package token

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"net/http"
	"testing"
)

// TestGRPCCompressedMessagesAreRead: a gRPC message sent compressed
// (grpc-encoding gzip, flagged in its prefix), which the server
// decompresses before the service reads it, is scanned decompressed; one
// in an encoding the gateway does not decode hands out an Unreadable
// candidate (the request is refused).
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
	for _, c := range []struct {
		name, encoding, body string
		found, unreadable    bool
	}{
		{"gzip", "gzip", frame(1, z.Bytes()), true, false},
		{"gzip, a prefix of a message", "gzip", frame(1, z.Bytes())[:5+z.Len()-8], true, false},
		{"not compressed", "gzip", frame(0, msg), true, false},
		{"snappy", "snappy", frame(1, []byte("\x22\x84\x01\x02")), false, true},
	} {
		r, _ := http.NewRequest("POST", "http://h/", nil)
		r.RequestURI = "/rt.Tokens/Check"
		r.Header = http.Header{"Content-Type": {"application/grpc"}, "Grpc-Encoding": {c.encoding}}
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
