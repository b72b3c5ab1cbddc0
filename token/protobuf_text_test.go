package token

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestProtobufFieldsAreRead: a token in a protobuf string field whose tag
// and length are token bytes (field 8 is 'B', a length of 65 'A'), after a
// field spelled with token bytes, is found in a protobuf or octet-stream
// body, nested in a message, and in a gRPC message; a protobuf body past
// the limit is refused.
func TestProtobufFieldsAreRead(t *testing.T) {
	tok := "revoked" + strings.Repeat("0123456789", 6)[:58] // 65 bytes
	msg := func(tok string) []byte {
		b := protowire.AppendTag(nil, 1, protowire.BytesType)
		b = protowire.AppendString(b, "client-1")
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		return protowire.AppendString(b, tok)
	}
	nested := protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType), msg(tok))
	grpc := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(nested)))
	grpc = append(grpc, nested...)
	for name, c := range map[string]struct {
		ct   string
		body []byte
	}{
		"x-protobuf":   {"application/x-protobuf", msg(tok)},
		"octet-stream": {"application/octet-stream", msg(tok)},
		"nested":       {"application/protobuf", nested},
		"grpc":         {"application/grpc+proto", grpc},
	} {
		r, _ := http.NewRequest("POST", "http://h/api", bytes.NewReader(c.body))
		r.RequestURI = "/api"
		r.Header.Set("Content-Type", c.ct)
		found := false
		for _, cand := range Candidates(r, c.body, nil) {
			found = found || cand.S == tok
		}
		if !found {
			t.Errorf("%s: the token in field 8 was not found", name)
		}
	}

	long := msg(tok)
	long = append(protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), make([]byte, 70000)), long...)
	r, _ := http.NewRequest("POST", "http://h/api", bytes.NewReader(long))
	r.RequestURI = "/api"
	r.Header.Set("Content-Type", "application/x-protobuf")
	s := Sources{MaxBodySize: 1 << 16}
	if _, _, err := s.ExtractBody(r, nil); err != ErrBodyTooLarge {
		t.Errorf("a protobuf body past the limit: %v, want ErrBodyTooLarge", err)
	}
}
