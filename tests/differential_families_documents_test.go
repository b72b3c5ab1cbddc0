package tests

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// documentFamilyCases are family 15: what a second red-team round read
// through 7a01a17's gateway (200, the oracle reading the revoked token),
// run by TestEnforcementFamilies: characters ICU's collation expands to
// several ASCII ones, a JSON surrogate pair, CBOR text strings in
// chunks, YAML's escapes, escaped line breaks and !!binary, an ApiKey's
// base64 with a character a lenient decoder skips, a short token in
// cookie-parser's JSON and signed cookies; and rows held already
// (a strict ApiKey, a definite CBOR string, a plain YAML value).
func documentFamilyCases() []familyCase {
	const api = "/api/secret"
	rep := func(old, with string) func(string) string {
		return func(tok string) string {
			if !strings.Contains(tok, old) {
				panic("token " + tok + " has no " + old)
			}
			return strings.Replace(tok, old, with, 1)
		}
	}
	// ICU's root collation expands these to several characters, as
	// PostgreSQL's und-u-ks-level1 compares them ("words" tokens hold
	// "10", "3d", "new" and "sos").
	pgBearer := func(name, old, with string) familyCase {
		return familyCase{family: 15, name: "icu-multi-" + name, oracle: "laravel-pgsql", kind: "api_token_words", present: rep(old, with),
			build: getWith(api, "Authorization: Bearer %s"), want: 401}
	}
	// A CBOR map {"access_token": tok}, tok a text string of indefinite
	// length in chunks of chunk bytes (RFC 8949 §3.2.3; 0: definite).
	cborBody := func(chunk int) func(string) []byte {
		return func(tok string) []byte {
			b := append([]byte{0xa1, 0x6c}, "access_token"...)
			if chunk == 0 {
				return append(append(b, 0x78, byte(len(tok))), tok...)
			}
			b = append(b, 0x7f)
			for i := 0; i < len(tok); i += chunk {
				c := tok[i:min(i+chunk, len(tok))]
				b = append(append(b, 0x60+byte(len(c))), c...)
			}
			return append(b, 0xff)
		}
	}
	yamlCT := "Content-Type: application/yaml"
	escEvery := func(format string) func(string) string {
		return func(tok string) string {
			var b strings.Builder
			for i := 0; i < len(tok); i++ {
				if i%3 == 0 {
					fmt.Fprintf(&b, format, tok[i])
				} else {
					b.WriteByte(tok[i])
				}
			}
			return b.String()
		}
	}
	apiKey := func(junk string) func(string) string {
		return func(tok string) string {
			b := base64.StdEncoding.EncodeToString([]byte("id:" + tok))
			return b[:8] + junk + b[8:]
		}
	}
	return []familyCase{
		pgBearer("dingbat-negative-circled-ten", "10", "\u277f"),
		pgBearer("double-circled-ten", "10", "\u24fe"),
		pgBearer("circled-ten-on-black-square", "10", "\u3248"),
		pgBearer("squared-3d", "3d", "\U0001F19B"),
		pgBearer("squared-new", "new", "\U0001F195"),
		pgBearer("squared-sos", "sos", "\U0001F198"),
		{family: 15, name: "icu-multi-query-squared-new", oracle: "laravel-pgsql", kind: "api_token_words",
			present: func(tok string) string { return strings.Replace(tok, "new", "%F0%9F%86%95", 1) },
			build:   getWith(api + "?api_token=%s"), want: 401},
		// PHP's json_decode joins a surrogate pair into "𝐞", an "e".
		{family: 15, name: "icu-json-surrogate-pair", oracle: "laravel-pgsql", kind: "api_token_words", present: rep("e", `\ud835\udc1e`),
			build: postWith(api, text(`{"api_token":"%s"}`), jsonCTLine), want: 401},
		// CBOR (fxamacker/cbor into a struct): each chunk's head byte is
		// 0x60 + its length, an ASCII letter inside the run.
		{family: 15, name: "cbor-indefinite-chunks-3", oracle: "gostruct", build: postWith(api, cborBody(3), "Content-Type: application/cbor"), want: 401},
		{family: 15, name: "cbor-indefinite-chunks-8", oracle: "gostruct", build: postWith(api, cborBody(8), "Content-Type: application/cbor"), want: 401},
		// YAML (go.yaml.in/yaml into a struct, as Kubernetes-style APIs
		// take application/yaml).
		{family: 15, name: "yaml-dq-hex-escapes", oracle: "gostruct", present: escEvery(`\x%02x`), build: postWith(api, text("access_token: \"%s\"\n"), yamlCT), want: 401},
		{family: 15, name: "yaml-dq-U-escapes", oracle: "gostruct", present: escEvery(`\U%08x`), build: postWith(api, text("access_token: \"%s\"\n"), yamlCT), want: 401},
		{family: 15, name: "yaml-dq-escaped-line-breaks", oracle: "gostruct", present: func(tok string) string {
			var b strings.Builder
			for i := 0; i < len(tok); i += 5 {
				b.WriteString(tok[i:min(i+5, len(tok))])
				if i+5 < len(tok) {
					b.WriteString("\\\n   ")
				}
			}
			return b.String()
		}, build: postWith(api, text("access_token: \"%s\"\n"), yamlCT), want: 401},
		{family: 15, name: "yaml-binary-split-lines", oracle: "gostruct", kind: "len32", present: func(tok string) string {
			enc := base64.StdEncoding.EncodeToString([]byte(tok))
			var b strings.Builder
			for i := 0; i < len(enc); i += 4 {
				b.WriteString("\n  " + enc[i:min(i+4, len(enc))])
			}
			return b.String()
		}, build: postWith(api, text("access_token: !!binary |%s\n"), yamlCT), want: 401},
		// "Authorization: ApiKey base64(id:key)" decoded the idiomatic
		// way (Node's Buffer.from(s, "base64"), Python's b64decode), which
		// skips what is not base64: a '.' or ':' put into it split the run.
		{family: 15, name: "apikey-dot", oracle: "node", present: apiKey("."), build: getWith(api, "Authorization: ApiKey %s"), want: 401},
		{family: 15, name: "apikey-colon", oracle: "node", present: apiKey(":"), build: getWith(api, "Authorization: ApiKey %s"), want: 401},
		{family: 15, name: "apikey-dot", oracle: "python", present: apiKey("."), build: getWith(api, "Authorization: ApiKey %s"), want: 401},
		{family: 15, name: "apikey-colon", oracle: "python", present: apiKey(":"), build: getWith(api, "Authorization: ApiKey %s"), want: 401},
		// A token shorter than 16 bytes, read in the named cookie channel
		// alone, in Express cookie-parser's JSON and signed forms.
		{family: 15, name: "short-json-cookie", oracle: "node", kind: "short", build: getWith(api, `Cookie: session=j:"%s"`), want: 401},
		{family: 15, name: "short-signed-cookie", oracle: "node", kind: "short", present: func(tok string) string { return "s:" + signedCookie(tok) },
			build: getWith(api, "Cookie: session=%s"), want: 401},
		{family: 15, name: "short-signed-json-cookie", oracle: "node", kind: "short", present: func(tok string) string { return "s:" + signedCookie(`j:"`+tok+`"`) },
			build: getWith(api, "Cookie: session=%s"), want: 401},
		// Held already.
		{family: 15, name: "apikey-strict", oracle: "node", present: apiKey(""), build: getWith(api, "Authorization: ApiKey %s"), want: 401},
		{family: 15, name: "cbor-definite", oracle: "gostruct", build: postWith(api, cborBody(0), "Content-Type: application/cbor"), want: 401},
		{family: 15, name: "yaml-plain", oracle: "gostruct", build: postWith(api, text("access_token: %s\n"), yamlCT), want: 401},
	}
}
