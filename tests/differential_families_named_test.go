package tests

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// namedFamilyCases are family 16: what the third red-team round read
// through f18780d's gateway (200, the oracle reading the revoked token),
// run by TestEnforcementFamilies: a short token (under the scan's 16
// bytes, so looked for in the named channels alone) in other spellings
// of those channels (JSON whatever the Content-Type, an object under the
// configured name, a member name encoding/json folds, a Flask session
// cookie); base64 with characters a lenient decoder skips (Python's
// b64decode drops '-', '_' and '~'); gRPC-Web text mode with compressed
// messages. Rows marked "held already" are kept as regressions.
func namedFamilyCases() []familyCase {
	const api = "/api/secret"
	short := func(name, oracle string, build func(string) rawReq) familyCase {
		return familyCase{family: 16, name: "short-" + name, oracle: oracle, kind: "short", build: build, want: 401}
	}
	apiKey := func(junk string) func(string) string {
		return func(tok string) string {
			b := base64.StdEncoding.EncodeToString([]byte("id:" + tok))
			return b[:8] + junk + b[8:]
		}
	}
	// flaskJunk is Flask's session cookie holding tok, junk put inside
	// its base64url payload (itsdangerous' base64_decode hands it to
	// urlsafe_b64decode, which skips what is not base64).
	flaskJunk := func(junk string) func(string) string {
		return func(tok string) string {
			c := flaskSessionCookie(`{"access_token":"`+tok+`"}`, false)
			payload, rest, _ := strings.Cut(c, ".")
			ts, _, _ := strings.Cut(rest, ".")
			value := payload[:6] + junk + payload[6:] + "." + ts
			return value + "." + flaskSignature(value)
		}
	}
	// b64Junk is standard base64 of tok, junk put inside.
	b64Junk := func(junk string) func(string) string {
		return func(tok string) string {
			b := base64.StdEncoding.EncodeToString([]byte(tok))
			return b[:4] + junk + b[4:]
		}
	}
	grpcWebText := func(compress bool, chunks int) func(string) []byte {
		return func(tok string) []byte { return grpcWebTextBody(tok, compress, chunks) }
	}
	grpcCT := []string{"Content-Type: application/grpc-web-text", "Grpc-Encoding: gzip", "X-Grpc-Web: 1"}
	return []familyCase{
		// JSON whatever the Content-Type (Flask's get_json(force=True), a
		// Go API's json.NewDecoder(r.Body)).
		short("json-text-plain", "python", postWith(api, text(`{"access_token":"%s"}`), "Content-Type: text/plain")),
		short("json-text-plain", "gostruct", postWith(api, text(`{"access_token":"%s"}`), "Content-Type: text/plain")),
		short("json-no-ct", "gostruct", postWith(api, text(` {"access_token":"%s"}`))),
		short("json-octet-stream", "python", postWith(api, text(`{"access_token":"%s"}`), "Content-Type: application/octet-stream")),
		short("json-form-ct", "gostruct", postWith(api, text(`{"access_token":"%s"}`), formCTLine)),
		// An object under the configured name (body-parser, PHP's
		// json_decode and Rack hand it to code that takes its strings).
		short("json-object-under-name", "node", postWith(api, text(`{"access_token":{"value":"%s"}}`), jsonCTLine)),
		short("json-object-under-name", "php", postWith(api, text(`{"access_token":{"value":"%s"}}`), jsonCTLine)),
		short("json-object-under-name", "ruby", postWith(api, text(`{"access_token":{"a":[{"b":"%s"}]}}`), jsonCTLine)),
		// Held already: arrays and qs/PHP/Rack brackets.
		short("json-array-under-name", "node", postWith(api, text(`{"access_token":["%s"]}`), jsonCTLine)),
		short("query-brackets", "php", getWith(api+"?access_token[]=%s")),
		short("query-brackets-key", "node", getWith(api+"?access_token[x]=%s")),
		short("form-brackets-key", "ruby", postWith(api, text("access_token[x][y]=%s"), formCTLine)),
		// Member names encoding/json folds (U+017F, U+212A).
		short("json-long-s", "gostruct", postWith(api, text(`{"acceſſ_token":"%s"}`), jsonCTLine)),
		short("json-kelvin", "gostruct", postWith(api, text("{\"access_to\u212aen\":\"%s\"}"), jsonCTLine)),
		short("json-long-s-text-plain", "gostruct", postWith(api, text(`{"acceſſ_token":"%s"}`), "Content-Type: text/plain")),
		// XML (ElementTree, whatever the Content-Type), YAML and CBOR
		// (go.yaml.in/yaml, fxamacker/cbor into a struct) bodies.
		short("xml-element", "python", postWith(api, text("<r><access_token>%s</access_token></r>"), "Content-Type: application/xml")),
		short("xml-element-text-plain", "python", postWith(api, text("<r><x><access_token>%s</access_token></x></r>"), "Content-Type: text/plain")),
		short("xml-attribute", "python", postWith(api, text(`<r><x access_token="%s"/></r>`), "Content-Type: application/xml")),
		short("yaml", "gostruct", postWith(api, text("access_token: %s\n"), "Content-Type: application/yaml")),
		short("cbor", "gostruct", postWith(api, func(tok string) []byte {
			return append(append([]byte{0xa1, 0x6c}, "access_token"...), append([]byte{0x60 + byte(len(tok))}, tok...)...)
		}, "Content-Type: application/cbor")),
		// A Flask session cookie (the configured cookie name) holding it.
		{family: 16, name: "short-flask-session", oracle: "python", kind: "short", present: func(tok string) string { return flaskSessionCookie(`{"access_token":"`+tok+`"}`, false) },
			build: getWith(api, "Cookie: session=%s"), want: 401},
		{family: 16, name: "short-flask-session-compressed", oracle: "python", kind: "short", present: func(tok string) string {
			return flaskSessionCookie(`{"access_token":"`+tok+`","theme":"`+strings.Repeat("dark", 16)+`"}`, true)
		}, build: getWith(api, "Cookie: session=%s"), want: 401},
		// Python's b64decode (validate=False) and urlsafe_b64decode skip
		// what is not base64; Node's Buffer.from reads '-' and '_' as
		// base64url.
		{family: 16, name: "apikey-dash", oracle: "python", present: apiKey("-"), build: getWith(api, "Authorization: ApiKey %s"), want: 401},
		{family: 16, name: "apikey-underscore", oracle: "python", present: apiKey("_"), build: getWith(api, "Authorization: ApiKey %s"), want: 401},
		{family: 16, name: "apikey-tilde", oracle: "python", present: apiKey("~~"), build: getWith(api, "Authorization: ApiKey %s"), want: 401},
		{family: 16, name: "apikey-space", oracle: "python", present: apiKey(" "), build: getWith(api, "Authorization: ApiKey %s"), want: 401},
		{family: 16, name: "apikey-star", oracle: "node", present: apiKey("*"), build: getWith(api, "Authorization: ApiKey %s"), want: 401},
		{family: 16, name: "apikey-tilde", oracle: "node", present: apiKey("~"), build: getWith(api, "Authorization: ApiKey %s"), want: 401},
		{family: 16, name: "flask-session-tildes", oracle: "python", present: flaskJunk("~~~~"), build: getWith(api, "Cookie: session=%s"), want: 401},
		// A cookie kept base64 (b64decode), '-' put inside: a short
		// token (the configured cookie) and a long one (the scan).
		{family: 16, name: "short-cookie-base64-dash", oracle: "python", kind: "short", present: b64Junk("-"), build: getWith(api, "Cookie: session=%s"), want: 401},
		{family: 16, name: "cookie-base64-dash", oracle: "python", present: b64Junk("-"), build: getWith(api, "Cookie: session=%s"), want: 401},
		{family: 16, name: "cookie-base64-underscores", oracle: "python", present: b64Junk("__"), build: getWith(api, "Cookie: session=%s"), want: 401},
		// Held already: a Basic credential that is not strict base64.
		{family: 16, name: "basic-dash", oracle: "python", present: func(tok string) string {
			b := base64.StdEncoding.EncodeToString([]byte("user:" + tok))
			return b[:8] + "-" + b[8:]
		}, build: getWith(api, "Authorization: Basic %s"), want: 400},
		// gRPC-Web text mode: base64 of the frames, messages gzip'd.
		{family: 16, name: "grpc-web-text-gzip", oracle: "gostruct", build: postWith(api, grpcWebText(true, 1), grpcCT...), want: 401},
		{family: 16, name: "grpc-web-text-gzip-chunks", oracle: "gostruct", build: postWith(api, grpcWebText(true, 3), grpcCT...), want: 401},
		// Held already: uncompressed.
		{family: 16, name: "grpc-web-text", oracle: "gostruct", build: postWith(api, grpcWebText(false, 1), "Content-Type: application/grpc-web-text", "X-Grpc-Web: 1"), want: 401},
	}
}

// grpcWebTextBody is a gRPC-Web text-mode request body holding one
// google.protobuf.StringValue message tok, gzip'd (flag 1) when
// compress: base64 of the frame, in chunks base64 chunks each padded (as
// a client that encodes each write apart sends them).
func grpcWebTextBody(tok string, compress bool, chunks int) []byte {
	msg, err := proto.Marshal(wrapperspb.String(tok))
	if err != nil {
		panic(err)
	}
	flag := byte(0)
	if compress {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(msg)
		zw.Close()
		msg, flag = z.Bytes(), 1
	}
	frame := append([]byte{flag, 0, 0, 0, 0}, msg...)
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	var out []byte
	step := (len(frame) + chunks - 1) / chunks
	for i := 0; i < len(frame); i += step {
		out = append(out, base64.StdEncoding.EncodeToString(frame[i:min(i+step, len(frame))])...)
	}
	return out
}
