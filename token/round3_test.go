package token

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestBase64InLinesIsReadWhole: base64 broken into lines (in a JSON
// string, escaped; in a form value, percent-encoded; in a text body, as
// is) is decoded whole, as decoders that skip line breaks decode it (Go's
// encoding/json into a []byte, Python's b64decode, Node's Buffer.from).
func TestBase64InLinesIsReadWhole(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rYz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rX" // 65 bytes
	lines := func(enc *base64.Encoding, s string, n int, sep string) string {
		b := enc.EncodeToString([]byte(s))
		var out []string
		for len(b) > n {
			out, b = append(out, b[:n]), b[n:]
		}
		return strings.Join(append(out, b), sep)
	}
	for name, c := range map[string]struct{ body, ct string }{
		"json-lf-8":        {`{"credential":"` + lines(base64.StdEncoding, tok, 8, `\n`) + `"}`, "application/json"},
		"json-crlf-20":     {`{"credential":"` + lines(base64.StdEncoding, tok, 20, `\r\n`) + `"}`, "application/json"},
		"json-u000a-6":     {`{"credential":"` + lines(base64.StdEncoding, tok, 6, `\u000a`) + `"}`, "text/plain"},
		"json-cr-5":        {`{"credential":"` + lines(base64.StdEncoding, "user:"+tok, 5, `\r`) + `"}`, "application/json"},
		"form-pct-crlf-76": {"k=" + lines(base64.StdEncoding, strings.Repeat("x", 40)+" "+tok, 76, "%0D%0A"), "application/x-www-form-urlencoded"},
		"text-mime-76-url": {"data:\n" + lines(base64.URLEncoding, strings.Repeat("?", 41)+tok, 76, "\r\n") + "\n", "text/plain"},
		"xml-pem-64":       {"<k>\n" + lines(base64.StdEncoding, strings.Repeat("y", 60)+"\n"+tok, 64, "\n  ") + "\n</k>", "application/xml"},
	} {
		r, _ := http.NewRequest("POST", "http://h/", nil)
		r.RequestURI = "/"
		r.Header = http.Header{"Content-Type": {c.ct}}
		if got := candidatesOf(r, c.body); got[tok] == "" {
			t.Errorf("%s: %q not among the candidates of %q", name, tok, c.body)
		}
	}
}

// TestProtobufInBase64IsRead: base64 that decodes to a protobuf message
// whole (a gRPC -bin metadata header) is read as one: its fields without
// their tags and lengths, which may be token bytes ('B', 'A').
func TestProtobufInBase64IsRead(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rYz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rX" // 65 bytes: length 'A'
	msg := func(id string) []byte {
		var b []byte
		if id != "" {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, id)
		}
		b = protowire.AppendTag(b, 8, protowire.BytesType) // 'B'
		return protowire.AppendString(b, tok)
	}
	nested := protowire.AppendTag(nil, 2, protowire.BytesType)
	nested = protowire.AppendBytes(nested, msg("client-1"))
	for name, v := range map[string]string{
		"alone":    base64.StdEncoding.EncodeToString(msg("")),
		"after-id": base64.StdEncoding.EncodeToString(msg("client-1")),
		"raw":      base64.RawStdEncoding.EncodeToString(msg("client-12")),
		"nested":   base64.RawURLEncoding.EncodeToString(nested),
	} {
		r, _ := http.NewRequest("GET", "http://h/", nil)
		r.RequestURI = "/"
		r.Header = http.Header{"Grpc-Metadata-Credentials-Bin": {v}}
		if got := candidatesOf(r, ""); got[tok] == "" {
			t.Errorf("%s: %q not among the candidates of %q: %q", name, tok, v, keys(got))
		}
	}
	// Text that is no message whole is not read as one.
	for _, s := range []string{"user:" + tok, "BA" + tok + "x", `{"a":"` + tok + `"}`} {
		if _, ok := protobufMessageText(s); ok {
			t.Errorf("%q read as a protobuf message", s)
		}
	}
}

// TestProtobufBodyOfAnyTypeIsRead: a body that is a protobuf message
// whole is read as one whatever its Content-Type (a handler that
// unmarshals its body without looking at it); one that is not is not.
func TestProtobufBodyOfAnyTypeIsRead(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rYz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rX" // 65 bytes: length 'A'
	body := protowire.AppendTag(nil, 8, protowire.BytesType)
	body = protowire.AppendString(body, tok)
	for _, ct := range []string{"", "text/plain", "application/json", "application/x-www-form-urlencoded"} {
		r, _ := http.NewRequest("POST", "http://h/", nil)
		r.RequestURI = "/"
		r.Header = http.Header{}
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if got := candidatesOf(r, string(body)); got[tok] == "" {
			t.Errorf("Content-Type %q: %q not among the candidates: %q", ct, tok, keys(got))
		}
	}
	if _, ok := protobufText("text/plain", []byte(`{"a":"`+tok+`"}`)); ok {
		t.Errorf("a JSON body read as a protobuf message")
	}
}

// TestProtobufGroupsAreRead: a message's groups (proto2's, Editions'
// DELIMITED encoding) are read as its nested messages are: the token in
// field 8 of a group is no run of the body as sent.
func TestProtobufGroupsAreRead(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rYz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rX" // 65 bytes: length 'A'
	body := protowire.AppendTag(nil, 2, protowire.StartGroupType)
	body = protowire.AppendTag(body, 8, protowire.BytesType)
	body = protowire.AppendString(body, tok)
	body = protowire.AppendTag(body, 2, protowire.EndGroupType)
	for _, ct := range []string{"application/x-protobuf", "text/plain"} {
		r, _ := http.NewRequest("POST", "http://h/", nil)
		r.RequestURI = "/"
		r.Header = http.Header{"Content-Type": {ct}}
		if got := candidatesOf(r, string(body)); got[tok] == "" {
			t.Errorf("Content-Type %q: %q not among the candidates: %q", ct, tok, keys(got))
		}
	}
}
