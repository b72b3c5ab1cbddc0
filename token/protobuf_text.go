package token

import (
	"bytes"
	"strings"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// A protobuf message (an API taking application/x-protobuf, or protobuf
// sent as application/octet-stream; a gRPC message) writes a string field
// as its tag, its length and its bytes, with nothing between them: a tag
// or a length may be a token byte (field 8's tag is 'B', a length of 65
// 'A'), and so may the end of the field before. The token an API's
// generated code reads is then no run of the body as sent.

// protobufText returns the length-delimited fields (strings, bytes,
// nested messages) of body read as protobuf, when its media type mt
// (mediaTypeOf) says it is protobuf, or octet-stream, or gRPC messages
// (each one sent as is, after its 5-byte prefix), or, whatever its
// type, when it is a protobuf message whole (isProtobufMessage): each
// field's bytes on a line of their own, and those of the fields inside it when it reads
// as a message, up to maxProtobufDepth. A body that is no message whole
// (a prefix of a long body, or no protobuf) gives the fields before the
// point where it breaks off.
func protobufText(mt string, body []byte) (string, bool) {
	grpc := strings.HasPrefix(mt, "application/grpc") && !strings.HasPrefix(mt, "application/grpc-web-text")
	if !grpc && !protobufType(mt) && mt != "application/octet-stream" {
		// A body of another type (or none) that is a protobuf message
		// whole: a handler that unmarshals its body whatever the
		// Content-Type says (as json.NewDecoder(r.Body) reads JSON so)
		// reads it. Most bodies break off within a few fields.
		if !isProtobufMessage(body) {
			return "", false // before out: a body of another type costs no allocation
		}
	}
	var out bytes.Buffer
	budget := 4*len(body) + 4096
	if !grpc {
		appendProtobufFields(&out, body, 0, &budget)
	} else {
		for len(body) >= 5 {
			var flag byte
			var msg []byte
			flag, msg, body = nextGRPCFrame(body)
			if flag == 0 { // a message sent as is (compressed ones: grpcText)
				appendProtobufFields(&out, msg, 0, &budget)
			}
		}
	}
	return out.String(), out.Len() > 0
}

// protobufType reports whether the media type mt is one a protobuf
// message is sent as.
func protobufType(mt string) bool {
	switch mt {
	case "application/x-protobuf", "application/protobuf", "application/vnd.google.protobuf", "application/x-google-protobuf":
		return true
	}
	return false
}

// maxProtobufDepth bounds how deep nested messages are read.
const maxProtobufDepth = 16

// appendProtobufFields writes to out the bytes of each length-delimited
// field of the message b, each on a line of its own, and those of the
// fields inside it and inside its groups, while *budget (what out may
// still grow by) lasts.
func appendProtobufFields(out *bytes.Buffer, b []byte, depth int, budget *int) {
	for len(b) > 0 && *budget > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		if typ == protowire.StartGroupType {
			// A group (proto2's, Editions' DELIMITED messages): its
			// fields between a start-group and an end-group tag.
			g, n := protowire.ConsumeGroup(num, b)
			if n < 0 {
				return
			}
			b = b[n:]
			if depth < maxProtobufDepth {
				appendProtobufFields(out, g, depth+1, budget)
			}
			continue
		}
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return
		}
		b = b[n:]
		*budget -= len(v) + 1
		out.WriteByte('\n')
		out.Write(v)
		if depth < maxProtobufDepth && len(v) > 0 {
			appendProtobufFields(out, v, depth+1, budget)
		}
	}
}

// protobufMessageText returns the length-delimited fields of s read as a
// protobuf message (see appendProtobufFields), when s is one whole: every
// tag and value well formed up to its last byte, one field at least
// length-delimited. Bytes an application decodes from base64 and then
// unmarshals are no message whose type the request says: a gRPC "-bin"
// metadata header (grpc-go and grpc-gateway base64-decode it before the
// service reads it), a field of bytes holding a serialized message. A
// message whose field 8 holds a 65-byte token starts "BA" before it, so
// no run of its bytes is the token; generated code reads it only when
// the message parses whole, so nothing else is read so.
func protobufMessageText(s string) (string, bool) {
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
	if !isProtobufMessage(b) {
		return "", false
	}
	var out bytes.Buffer
	budget := 4*len(b) + 4096
	appendProtobufFields(&out, b, 0, &budget)
	return out.String(), out.Len() > 0
}

// isProtobufMessage reports whether b parses whole as a protobuf message
// with a length-delimited field or a group.
func isProtobufMessage(b []byte) bool {
	delimited := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return false
		}
		delimited = delimited || typ == protowire.BytesType || typ == protowire.StartGroupType
		b = b[n:]
	}
	return delimited
}
