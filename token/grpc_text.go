package token

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
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
func grpcText(r *http.Request, mt string, body []byte, budget *int) (text string, cut bool) {
	if !strings.HasPrefix(mt, "application/grpc") || strings.HasPrefix(mt, "application/grpc-web-text") {
		return "", false
	}
	encoding := strings.ToLower(strings.TrimSpace(r.Header.Get("Grpc-Encoding")))
	var out bytes.Buffer
	for len(body) >= 5 {
		flag, n := body[0], binary.BigEndian.Uint32(body[1:5])
		msg := body[5:]
		if uint64(n) < uint64(len(msg)) {
			msg = msg[:n]
		}
		body = body[5+len(msg):]
		if flag&0x80 != 0 || flag&1 == 0 { // a gRPC-Web trailer frame, or a message sent as is
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
