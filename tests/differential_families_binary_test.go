package tests

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// binaryFamilyCases are family 17: what a third red-team round read
// through 02f1027's gateway (200, the oracle reading the revoked token),
// run by TestEnforcementFamilies: a token kept in a session or body that a
// binary serialization writes, where the string's length byte (Ruby's
// Marshal under Rack::Session::Cookie, Go's gob under gorilla/sessions,
// MessagePack's str8) or the opcode after it (pickle's BINPUT 'q') is a
// token byte, so that no run of the decoded bytes is the token; and rows
// held already (a CBOR body, read decoded; lengths whose framing byte is
// no token byte); and Beaker's pickled cookie sessions (read since the
// fourth round: base64 of a pickle after a hex HMAC).
func binaryFamilyCases() []familyCase {
	const api = "/api/secret"
	cborText := func(tok string) []byte {
		b := append([]byte{0xa1, 0x6c}, "access_token"...)
		return append(append(b, 0x78, byte(len(tok))), tok...)
	}
	rack := func(kind string) familyCase {
		return familyCase{family: 17, name: "rack-session-marshal-" + kind, oracle: "ruby", kind: kind, present: rackSessionCookie,
			build: getWith(api, "Cookie: rack.session=%s"), want: 401}
	}
	beaker := func(kind string) familyCase {
		return familyCase{family: 17, name: "beaker-session-pickle-" + kind, oracle: "python", kind: kind, present: beakerSessionCookie,
			build: getWith(api, "Cookie: beaker.session.id=%s"), want: 401}
	}
	// A MessagePack map {"access_token": tok}: a fixstr (0xa0 + length)
	// up to 31 bytes, else str8 (0xd9, the length byte: 65 is 'A').
	msgpackBody := func(tok string) []byte {
		b := append([]byte{0x81, 0xac}, "access_token"...)
		if len(tok) < 32 {
			return append(append(b, 0xa0+byte(len(tok))), tok...)
		}
		return append(append(b, 0xd9, byte(len(tok))), tok...)
	}
	// A protobuf message {client_id (1): id, access_token (8): tok}: the
	// tag of field 8 is 'B', a length of 65 is 'A', and a client id
	// spelled with token bytes runs on into them.
	protobuf := func(id string) func(string) []byte {
		return func(tok string) []byte {
			b := protowire.AppendTag(nil, 1, protowire.BytesType)
			b = protowire.AppendString(b, id)
			b = protowire.AppendTag(b, protobufTokenField, protowire.BytesType)
			return protowire.AppendString(b, tok)
		}
	}
	return []familyCase{
		{family: 17, name: "protobuf-field8-len65", oracle: "gostruct", kind: "len65", build: postWith(api, protobuf("client-1"), "Content-Type: application/x-protobuf"), want: 401},
		{family: 17, name: "protobuf-octet-stream-field8-len65", oracle: "gostruct", kind: "len65", build: postWith(api, protobuf("client-1"), "Content-Type: application/octet-stream"), want: 401},
		// Held already: a length of 31 is a control byte.
		{family: 17, name: "protobuf-field8", oracle: "gostruct", build: postWith(api, protobuf("client-1"), "Content-Type: application/x-protobuf"), want: 401},
		// A message past max_body_size (64 KiB): its first field a blob.
		{family: 17, name: "protobuf-past-body-limit", oracle: "gostruct", build: postWith(api, protobuf(strings.Repeat("\x00", 70000)), "Content-Type: application/x-protobuf"), want: 413},
		// gob writes a string's length (below 128) as one byte: 86 is
		// 'V', 48 is '0', right before the token.
		{family: 17, name: "gorilla-session-len86", oracle: "gostruct", kind: "len86", present: gorillaSessionCookie,
			build: getWith(api, "Cookie: "+gorillaSessionName+"=%s"), want: 401},
		{family: 17, name: "gorilla-session-len48", oracle: "gostruct", kind: "len48", present: gorillaSessionCookie,
			build: getWith(api, "Cookie: "+gorillaSessionName+"=%s"), want: 401},
		// Held already: CBOR bodies are read decoded (0x78 'x', then 'V').
		{family: 17, name: "cbor-definite-len86", oracle: "gostruct", kind: "len86", build: postWith(api, cborText, "Content-Type: application/cbor"), want: 401},
		// Beaker pickles with protocol 2 (its base64 starts with 0x80,
		// after a hex HMAC), BINPUT ('q', a memo index) after every
		// string: 200 on b554f54's binary.
		beaker("opaque"),
		beaker("len64"),
		{family: 17, name: "msgpack-str8-len65", oracle: "python", kind: "len65", build: postWith(api, msgpackBody, "Content-Type: application/msgpack"), want: 401},
		// Held already: a fixstr's head is no token byte.
		{family: 17, name: "msgpack-fixstr", oracle: "python", build: postWith(api, msgpackBody, "Content-Type: application/x-msgpack"), want: 401},
		// Held already: a GET (and a DELETE) with a form body, which
		// Werkzeug and Rack read whatever the method; every byte
		// percent-encoded.
		{family: 17, name: "get-with-form-body", oracle: "python", present: pctAll,
			build: withMethod("GET", postWith(api, text("access_token=%s"), formCTLine)), want: 401},
		{family: 17, name: "delete-with-form-body", oracle: "ruby", present: pctAll,
			build: withMethod("DELETE", postWith(api, text("access_token=%s"), formCTLine)), want: 401},
		// Held already: a gzip body of two members (body-parser's
		// inflation reads them all), the token in the second.
		{family: 17, name: "gzip-two-members-json", oracle: "node", build: postWith(api, func(tok string) []byte {
			var b bytes.Buffer
			for _, part := range []string{" ", `{"access_token":"` + tok + `"}`} {
				zw := gzip.NewWriter(&b)
				zw.Write([]byte(part))
				zw.Close()
			}
			return b.Bytes()
		}, jsonCTLine, "Content-Encoding: gzip"), want: 401},
		// Held already (refused): Ruby's JSON 2.6 takes comments and reads
		// an unknown escape as its character ("\1" is "1", where Python
		// reads "\123" as octal): JSON that is not exactly one value.
		{family: 17, name: "ruby-json-comment-escapes", oracle: "ruby", kind: "octal", present: func(tok string) string { return strings.Replace(tok, "123", `\1\2\3`, 1) },
			build: postWith(api, text(`{"access_token": "%s" /* c */}`), jsonCTLine), want: 400},
		// Marshal writes a length below 123 as one byte, length+5: 64 is
		// 'E', 43 '0', 40 '-' (31, '$', held already).
		rack("opaque"),
		rack("len64"),
		rack("len43"),
		rack("len40"),
	}
}

// rackSessionSecret is the ruby oracle's Rack::Session::Cookie secret
// (tests/differential/oracles/ruby/config.ru).
const rackSessionSecret = "differential-oracle-rack-session-secret"

// rackSessionCookie is the ruby oracle's rack.session cookie holding
// access_token tok, written by Rack 2's Rack::Session::Cookie itself (its
// default coder: strict base64 of Marshal.dump, "--", the hex HMAC-SHA1,
// percent-encoded), in a Ruby run with the oracle's secret.
func rackSessionCookie(tok string) string {
	const script = `require "rack"
app = Rack::Session::Cookie.new(lambda { |env| env["rack.session"]["access_token"] = ENV["RT_TOKEN"]; [200, {}, []] },
  key: "rack.session", secret: ENV["RT_SECRET"])
print app.call(Rack::MockRequest.env_for("/"))[1]["Set-Cookie"][/\Arack\.session=([^;]*)/, 1]`
	return sessionCookieFrom("Rack", tok, rackSessionSecret, "ruby", "-e", script)
}

// sessionCookieFrom runs a program (name, args) that prints the session
// cookie of framework what holding access_token tok, signed with secret
// (given as RT_TOKEN and RT_SECRET), and returns what it printed.
func sessionCookieFrom(what, tok, secret, name string, args ...string) string {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "RT_TOKEN="+tok, "RT_SECRET="+secret)
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		panic(fmt.Sprintf("writing a %s session cookie: %v", what, err))
	}
	return string(out)
}

// beakerSessionSecret is the python oracle's Beaker validate_key
// (tests/differential/oracles/python/app.py).
const beakerSessionSecret = "differential-oracle-beaker-secret"

// beakerSessionCookie is the python oracle's beaker.session.id cookie
// holding access_token tok, written by Beaker's CookieSession itself (the
// hex HMAC-SHA1, then base64 of the session pickled with protocol 2, where
// a string is followed by BINPUT: 'q' and a memo index), in a Python run
// with the oracle's key.
func beakerSessionCookie(tok string) string {
	const script = `import os, re
from beaker.session import CookieSession
req = {"cookie": ""}
s = CookieSession(req, validate_key=os.environ["RT_SECRET"], key="beaker.session.id")
s["access_token"] = os.environ["RT_TOKEN"]
s.save()
print(re.search(r"beaker\.session\.id=([^;]*)", req["cookie_out"]).group(1), end="")`
	return sessionCookieFrom("Beaker", tok, beakerSessionSecret, "/usr/bin/python3", "-c", script)
}

// withMethod is build with its method replaced.
func withMethod(method string, build func(string) rawReq) func(string) rawReq {
	return func(tok string) rawReq {
		q := build(tok)
		q.method = method
		return q
	}
}
