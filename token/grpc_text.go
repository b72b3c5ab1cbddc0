package token

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
)

// A gRPC client may send its messages compressed (grpc-encoding: gzip,
// each message flagged compressed in its 5-byte prefix); the server
// decompresses them before the service reads them. A token in such a
// message is no run of the body as sent.

// grpcText returns the compressed messages of a gRPC (or gRPC-Web) body
// (mt: r's media type, mediaTypeOf),
// decompressed as its grpc-encoding says (gzip, or deflate: zlib), each
// on a line of its own, within budget (what they may inflate to in all,
// less what they do). cut says one could not be read: an encoding the
// gateway does not decode (snappy, zstd), or more than budget. A message
// the body does not hold whole (a prefix of a long body) is read as far
// as it goes.
//
// A gRPC-Web body in text mode (application/grpc-web-text) is base64 of
// the frames, in chunks each padded (a client may encode each write
// apart): it is decoded four characters at a time, as gRPC-Web servers
// (Envoy's grpc_web filter, improbable-eng's grpcweb) decode it, and
// every message of it is returned, those sent as they are too. One that
// does not decode so is cut: the server refuses it, or reads it otherwise.
func grpcText(r *http.Request, mt string, body []byte, budget *int) (text string, cut bool) {
	if !strings.HasPrefix(mt, "application/grpc") {
		return "", false
	}
	textMode := strings.HasPrefix(mt, "application/grpc-web-text")
	if textMode {
		var ok bool
		if body, ok = grpcWebTextFrames(body); !ok {
			return "", true
		}
	}
	encoding := strings.ToLower(strings.TrimSpace(r.Header.Get("Grpc-Encoding")))
	var out bytes.Buffer
	for len(body) >= 5 {
		var flag byte
		var msg []byte
		flag, msg, body = nextGRPCFrame(body)
		if flag&0x80 != 0 { // a gRPC-Web trailer frame
			continue
		}
		if flag&1 == 0 { // a message sent as is: in the body as sent, but in text mode
			if textMode {
				out.Write(msg)
				out.WriteByte('\n')
			}
			continue
		}
		var zr io.Reader
		var err error
		switch encoding {
		case "gzip":
			zr, err = gzip.NewReader(bytes.NewReader(msg))
		case "deflate":
			zr, err = zlib.NewReader(bytes.NewReader(msg))
		default:
			return "", true
		}
		if err != nil {
			continue // not what it says: the server refuses it too
		}
		m, _, cut := inflateWithin(zr, budget)
		if cut {
			return "", true
		}
		out.Write(m)
		out.WriteByte('\n')
	}
	return out.String(), false
}

// nextGRPCFrame splits off the first frame of body, which holds at least
// its 5-byte prefix (a flag byte, then the message's length, big-endian):
// its flag, its message (as far as body holds it: a long body's prefix
// may end inside one) and the frames after it.
func nextGRPCFrame(body []byte) (flag byte, msg, rest []byte) {
	flag, n := body[0], binary.BigEndian.Uint32(body[1:5])
	msg = body[5:]
	if uint64(n) < uint64(len(msg)) {
		msg = msg[:n]
	}
	return flag, msg, body[5+len(msg):]
}

// grpcWebTextFrames decodes a gRPC-Web text-mode body: base64, four
// characters at a time (each chunk padded), white space between chunks
// skipped, a last incomplete chunk (a prefix of a long body) left out. ok
// is false when it is not such base64.
func grpcWebTextFrames(body []byte) (_ []byte, ok bool) {
	out := make([]byte, 0, len(body)/4*3)
	var q [4]byte
	n := 0
	for _, c := range body {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			continue
		}
		q[n] = c
		if n++; n < 4 {
			continue
		}
		n = 0
		var d [3]byte
		m, err := base64.StdEncoding.Decode(d[:], q[:])
		if err != nil {
			return nil, false
		}
		out = append(out, d[:m]...)
	}
	return out, true
}
