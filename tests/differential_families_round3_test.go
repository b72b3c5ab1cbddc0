package tests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
)

// round3FamilyCases are family 18: what red-team round 3 read through
// 7107fb2's gateway (200, the oracle reading the revoked token), run by
// TestEnforcementFamilies.
//
//   - base64 wrapped in lines, as MIME, PEM and most encoders write it
//     (Python's encodebytes, Java's MIME encoder, openssl, Ruby's
//     encode64), in a JSON string a Go API decodes into a []byte field:
//     encoding/json decodes it with base64.StdEncoding, which skips '\r'
//     and '\n', so the token is whole to the API while the gateway read
//     each line apart;
//   - a protobuf message in a gRPC "-bin" metadata header, which
//     grpc-gateway (and every gRPC server) base64-decodes before the
//     service unmarshals it: field 8's tag is 'B', a length of 65 'A', so
//     no run of the decoded bytes is the token.
func round3FamilyCases() []familyCase {
	const api = "/api/secret"
	// wrapped is base64 of tok broken every n characters by sep.
	wrapped := func(n int, sep string) func(string) string {
		return func(tok string) string {
			b := base64.StdEncoding.EncodeToString([]byte(tok))
			var lines []string
			for len(b) > n {
				lines = append(lines, b[:n])
				b = b[n:]
			}
			return strings.Join(append(lines, b), sep)
		}
	}
	// credentialsBin is the "-bin" metadata value of the protobuf message
	// {client_id (1): id, access_token (8): tok} (no client id: "").
	credentialsBin := func(id string, enc *base64.Encoding) func(string) string {
		return func(tok string) string {
			var b []byte
			if id != "" {
				b = protowire.AppendTag(b, 1, protowire.BytesType)
				b = protowire.AppendString(b, id)
			}
			b = protowire.AppendTag(b, protobufTokenField, protowire.BytesType)
			b = protowire.AppendString(b, tok)
			return enc.EncodeToString(b)
		}
	}
	bin := getWith(api, "Grpc-Metadata-Credentials-Bin: %s")
	const spacesOpen = "base64 split by spaces alone is decoded piece by piece in a body"
	// A protobuf message {access_token (8): tok} (after client_id (1)
	// when id is not ""), as a body.
	message := func(id string) func(string) []byte {
		return func(tok string) []byte {
			var b []byte
			if id != "" {
				b = protowire.AppendTag(b, 1, protowire.BytesType)
				b = protowire.AppendString(b, id)
			}
			b = protowire.AppendTag(b, protobufTokenField, protowire.BytesType)
			return protowire.AppendString(b, tok)
		}
	}
	// {credentials (2, a group): {access_token (8): tok}}: start-group
	// tag 0x13, 'B', 'A' (65), the token, end-group tag 0x14.
	grouped := func(tok string) []byte {
		b := protowire.AppendTag(nil, 2, protowire.StartGroupType)
		b = protowire.AppendTag(b, protobufTokenField, protowire.BytesType)
		b = protowire.AppendString(b, tok)
		return protowire.AppendTag(b, 2, protowire.EndGroupType)
	}
	return []familyCase{
		// Base64 in lines, in a JSON string (escaped line breaks).
		{family: 18, name: "json-bytes-base64-lf-every-8", oracle: "gostruct", present: wrapped(8, `\n`),
			build: postWith(api, text(`{"credential":"%s"}`), jsonCTLine), want: 401},
		{family: 18, name: "json-bytes-base64-crlf-every-20", oracle: "gostruct", present: wrapped(20, `\r\n`),
			build: postWith(api, text(`{"credential":"%s"}`), jsonCTLine), want: 401},
		{family: 18, name: "json-bytes-base64-lf-every-4-text-plain", oracle: "gostruct", present: wrapped(4, `\n`),
			build: postWith(api, text(`{"credential":"%s"}`), "Content-Type: text/plain"), want: 401},
		{family: 18, name: "json-bytes-base64-u000a-every-6", oracle: "gostruct", kind: "len65", present: wrapped(6, `\u000a`),
			build: postWith(api, text(`{"credential":"%s"}`), jsonCTLine), want: 401},
		// A protobuf message in a gRPC -bin metadata header.
		{family: 18, name: "grpc-bin-metadata-protobuf-len65", oracle: "gostruct", kind: "len65", present: credentialsBin("client-1", base64.StdEncoding),
			build: bin, want: 401},
		{family: 18, name: "grpc-bin-metadata-protobuf-alone-len65", oracle: "gostruct", kind: "len65", present: credentialsBin("", base64.StdEncoding),
			build: bin, want: 401},
		{family: 18, name: "grpc-bin-metadata-protobuf-unpadded-len67", oracle: "gostruct", kind: "len67", present: credentialsBin("client-1", base64.RawStdEncoding),
			build: bin, want: 401},
		// Base64 split by spaces (no line break) in a body member that
		// Node's Buffer.from decodes, skipping them: the scan reads
		// base64 whole across line breaks only. Reading it across every
		// space walks and decodes every sentence of a prose body: a
		// prototype took 64 KiB of prose from 20 us to about 185 us.
		{family: 18, name: "json-base64-spaces-every-4", oracle: "node", present: wrapped(4, " "),
			build: postWith(api, text(`{"credential":"%s"}`), jsonCTLine), want: 401, open: spacesOpen},
		{family: 18, name: "form-base64-spaces-every-6", oracle: "node", present: wrapped(6, "%20"),
			build: postWith(api, text(`credential=%s`), formCTLine), want: 401, open: spacesOpen},
		// A protobuf message in a group (DELIMITED encoding), its
		// fields behind a start-group tag rather than a length.
		{family: 18, name: "protobuf-group-body-len65", oracle: "gostruct", kind: "len65",
			build: postWith(api, grouped, "Content-Type: application/x-protobuf"), want: 401},
		{family: 18, name: "protobuf-group-body-text-plain-len65", oracle: "gostruct", kind: "len65",
			build: postWith(api, grouped, "Content-Type: text/plain"), want: 401},
		// A protobuf message as a body of another type (or none).
		{family: 18, name: "protobuf-body-text-plain-len65", oracle: "gostruct", kind: "len65",
			build: postWith(api, message(""), "Content-Type: text/plain"), want: 401},
		{family: 18, name: "protobuf-body-no-ct-len65", oracle: "gostruct", kind: "len65",
			build: postWith(api, message("")), want: 401},
		{family: 18, name: "protobuf-body-form-ct-after-id-len65", oracle: "gostruct", kind: "len65",
			build: postWith(api, message("client-1"), formCTLine), want: 401},
		{family: 18, name: "protobuf-body-json-ct-after-id-len65", oracle: "gostruct", kind: "len65",
			build: postWith(api, message("client-1"), jsonCTLine), want: 401},
	}
}

// goStructRound3 reads what family 18's rows carry, as the gostruct
// oracle's Go API does: a JSON member decoded into a []byte field
// (encoding/json: base64, '\r' and '\n' skipped), and the protobuf
// message of a "-bin" gRPC metadata header as grpc-gateway's runtime
// hands it to a service (base64-decoded), unmarshalled as generated code
// does.
func goStructRound3(r *http.Request, raw []byte, add func(source, v string)) {
	var bin struct {
		Credential []byte `json:"credential"`
	}
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&bin); err == nil {
		add("json_bytes_credential", string(bin.Credential))
	}
	ctx, err := runtime.AnnotateIncomingContext(r.Context(), runtime.NewServeMux(), r, "/creds.Credentials/Check")
	if err != nil {
		return
	}
	md, _ := metadata.FromIncomingContext(ctx)
	// A handler that unmarshals its body as protobuf whatever the
	// Content-Type says (as many read JSON so: json.NewDecoder(r.Body)).
	if tok, ok := protobufField(raw, protobufTokenField); ok {
		add("protobuf_any_type", tok)
	}
	// The same message in a group (proto2's group, Editions' DELIMITED
	// message encoding): message Request { Credentials credentials = 2
	// [features.message_encoding = DELIMITED]; }, its fields between a
	// start-group and an end-group tag rather than behind a length.
	if tok, ok := protobufGroupField(raw, 2, protobufTokenField); ok {
		add("protobuf_group", tok)
	}
	for _, v := range md.Get("credentials-bin") {
		if tok, ok := protobufField([]byte(v), protobufTokenField); ok {
			add("grpc_bin_metadata", tok)
		}
	}
}

// protobufGroupField returns string field num of the last group field
// group of the protobuf message b, as generated code parses it.
func protobufGroupField(b []byte, group, num protowire.Number) (string, bool) {
	var v string
	found := false
	ok := eachProtobufField(b, func(n protowire.Number, typ protowire.Type, g []byte) {
		if n != group || typ != protowire.StartGroupType {
			return
		}
		if tok, ok := protobufField(g, num); ok {
			v, found = tok, true
		}
	})
	return v, ok && found
}
