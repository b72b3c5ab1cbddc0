package tests

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// moreFamilyCases are family 14: what a red team found a real framework
// reads that the scan of cb616dc did not, each then 200 with the revoked
// token read (but the rows marked "held already", kept as regressions), run by
// TestEnforcementFamilies beside familyCases: a multipart part's charset
// that busboy decodes with; XML in UTF-16, with an attribute default of
// its internal subset, or with character references padded with zeros;
// a Flask session compressed past eightfold; characters PostgreSQL's ICU
// collation takes for ASCII or ignores.
func moreFamilyCases() []familyCase {
	const api = "/api/secret"
	mp := func(partHeaders string, value func(tok string) string) func(tok string) []byte {
		return func(tok string) []byte {
			return []byte("--XyZ\r\nContent-Disposition: form-data; name=\"access_token\"\r\n" + partHeaders +
				"\r\n" + value(tok) + "\r\n--XyZ--\r\n")
		}
	}
	mpCT := "Content-Type: multipart/form-data; boundary=XyZ"
	// jsonEsc spells every other character of tok as a JSON \u escape.
	jsonEsc := func(tok string) string {
		var b strings.Builder
		for i := 0; i < len(tok); i++ {
			if i%2 == 0 {
				fmt.Fprintf(&b, "\\u%04x", tok[i])
			} else {
				b.WriteByte(tok[i])
			}
		}
		return b.String()
	}
	utf32le := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			b.WriteByte(s[i])
			b.WriteString("\x00\x00\x00")
		}
		return b.String()
	}
	enc := func(f func(string) string, format string) func(string) []byte {
		return func(tok string) []byte { return []byte(f(strings.ReplaceAll(format, "%s", tok))) }
	}
	utf16le := func(tok string) string {
		var b strings.Builder
		for i := 0; i < len(tok); i++ {
			b.WriteByte(tok[i])
			b.WriteByte(0)
		}
		return b.String()
	}
	// b64raw is the bytes whose base64 is tok (tok: 4n characters of the
	// base64 alphabet).
	b64raw := func(tok string) string {
		b, err := base64.StdEncoding.DecodeString(tok)
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	utf16be := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			b.WriteByte(0)
			b.WriteByte(s[i])
		}
		return b.String()
	}
	// slashed puts a backslash (a quoted-pair, no escape of JSON or
	// Python: \o, \k...) before every other letter that is no escape.
	slashed := func(tok string) string {
		var b strings.Builder
		for i := 0; i < len(tok); i++ {
			if i%2 == 1 && strings.IndexByte("ghijklmopqswyzGHIJKLMOPQSWYZ89", tok[i]) >= 0 {
				b.WriteByte('\\')
			}
			b.WriteByte(tok[i])
		}
		return b.String()
	}
	// mixPctJSON spells tok's characters in turn as a percent escape, a
	// JSON escape with its backslash percent-encoded, and as is.
	mixPctJSON := func(tok string) string {
		var b strings.Builder
		for i := 0; i < len(tok); i++ {
			switch i % 3 {
			case 0:
				fmt.Fprintf(&b, "%%%02X", tok[i])
			case 1:
				fmt.Fprintf(&b, "%%5Cu%04X", tok[i])
			default:
				b.WriteByte(tok[i])
			}
		}
		return b.String()
	}
	allJSON := func(tok string) string {
		var b strings.Builder
		for i := 0; i < len(tok); i++ {
			fmt.Fprintf(&b, "\\u%04X", tok[i])
		}
		return b.String()
	}
	// pg spells the api_token ("Revoked0" + hex) as f does, for the
	// laravel-pgsql oracle (ICU und-u-ks-level1).
	pg := func(name string, f func(tok string) string) familyCase {
		return familyCase{family: 14, name: "icu-" + name, oracle: "laravel-pgsql", kind: "api_token", present: f,
			build: getWith(api, "Authorization: Bearer %s"), want: 401}
	}
	first := func(c byte, with string) func(string) string {
		return func(tok string) string {
			i := strings.IndexByte(tok, c)
			return tok[:i] + with + tok[i+1:]
		}
	}
	ins := func(i int, with string) func(string) string {
		return func(tok string) string { return tok[:i] + with + tok[i:] }
	}
	return []familyCase{
		// Held already: PHP/Laravel take a body as JSON when the Content-Type merely
		// contains "/json" (str_contains, Str::contains).
		{family: 14, name: "php-json-ct-param", oracle: "php", present: jsonEsc,
			build: postWith(api, text(`{"access_token":"%s"}`), "Content-Type: text/plain; x=/json"), want: 400},
		// A body of a binary type past max_body_size (64 KiB) that reads
		// as JSON: a Go API decoding it whatever its type, and Flask's
		// get_json(force=True), read on (JSON allows any leading white
		// space). Refused (413) rather than passed on with its rest unread.
		{family: 14, name: "octet-stream-json-past-body-limit", oracle: "gostruct",
			build: postWith(api, text(strings.Repeat(" ", 70000)+`{"access_token":"%s"}`), "Content-Type: application/octet-stream"), want: 413},
		{family: 14, name: "octet-stream-json-past-body-limit", oracle: "python",
			build: postWith(api, text(strings.Repeat(" ", 70000)+`{"access_token":"%s"}`), "Content-Type: application/octet-stream"), want: 413},
		// Characters the CLDR root collation takes, at the primary level,
		// for an ASCII letter or digit, or ignores, that token.Skeleton
		// left as they were (found by comparing the two over every code
		// point).
		pg("squared-k", first('k', "\U0001F17A")),
		pg("negative-circled-k", first('k', "\U0001F15A")),
		pg("dingbat-negative-circled-zero", first('0', "\u24ff")),
		pg("ideographic-number-zero", first('0', "\u3007")),
		pg("tatweel", ins(3, "\u0640")),
		pg("devanagari-visarga", ins(3, "\u0903")),
		pg("combining-latin-small-o", first('o', "\u0366")),
		pg("combining-latin-small-e", first('e', "\u0364")),
		pg("k-with-oblique-stroke", first('k', "\ua7a3")),
		// One character for two letters: SQUARED OK for "ok".
		pg("squared-ok", func(tok string) string { return strings.Replace(tok, "ok", "\U0001F197", 1) }),
		// Held already: Express's JSON cookies escaped every way; a
		// quoted cookie.
		{family: 14, name: "json-cookie-pct-and-json-escapes", oracle: "node", present: mixPctJSON,
			build: getWith(api, `Cookie: session=j%3A%22%s%22`), want: 401},
		{family: 14, name: "json-cookie-all-json-escapes", oracle: "node", present: allJSON,
			build: getWith(api, `Cookie: session=j:"%s"`), want: 401},
		// Werkzeug's cookie parser unslashes a quoted value (any \c is c).
		{family: 14, name: "cookie-quoted-pair", oracle: "python", present: slashed,
			build: getWith(api, `Cookie: session="%s"`), want: 401},
		// An attribute default declared in the internal subset (no entity,
		// no external DTD): expat reports it on the element.
		{family: 14, name: "xml-attlist-default-char-ref", oracle: "python", present: func(tok string) string {
			return tok[:3] + "&#" + strconv.Itoa(int(tok[3])) + ";" + tok[4:]
		},
			build: postWith(api, text(`<!DOCTYPE r [<!ATTLIST r access_token CDATA "%s">]><r/>`), "Content-Type: application/xml"), want: 400},
		// XML allows any number of leading zeros in a character reference.
		{family: 14, name: "xml-char-ref-leading-zeros", oracle: "python", present: func(tok string) string {
			return tok[:3] + "&#" + strings.Repeat("0", 16) + strconv.Itoa(int(tok[3])) + ";" + tok[4:]
		},
			build: postWith(api, text("<r><access_token>%s</access_token></r>"), "Content-Type: application/xml"), want: 401},
		{family: 14, name: "xml-attr-hex-char-ref-leading-zeros", oracle: "python", present: func(tok string) string {
			return tok[:3] + "&#x" + strings.Repeat("0", 16) + strconv.FormatInt(int64(tok[3]), 16) + ";" + tok[4:]
		},
			build: postWith(api, text(`<r access_token="%s"/>`), "Content-Type: text/plain"), want: 401},
		// A body in UTF-16 or UTF-32 (json.loads detects them whatever
		// the Content-Type; expat too) is refused, as XML in them is
		// (held already, as 401, by the scan of its skeleton).
		{family: 14, name: "json-forced-utf16le-text-plain", oracle: "python", present: jsonEsc,
			build: postWith(api, enc(utf16le, `{"access_token":"%s"}`), "Content-Type: text/plain"), want: 400},
		{family: 14, name: "json-forced-utf16be-text-plain", oracle: "python", present: jsonEsc,
			build: postWith(api, enc(utf16be, `{"access_token":"%s"}`), "Content-Type: text/plain"), want: 400},
		{family: 14, name: "json-forced-utf32le-no-ct", oracle: "python", present: jsonEsc,
			build: postWith(api, enc(utf32le, `{"access_token":"%s"}`)), want: 400},
		{family: 14, name: "json-forced-utf16le-plain-token", oracle: "python",
			build: postWith(api, enc(utf16le, `{"access_token":"%s"}`), "Content-Type: text/plain"), want: 400},
		// Flask's session, zlib-compressed (Flask compresses when shorter),
		// keys sorted (flask.json sorts them): a compressible value under a
		// key before "access_token" (flash messages, "_flashes") puts the
		// token past what the gateway inflates (8 times the data).
		{family: 14, name: "flask-session-compressed-flashes", oracle: "python",
			present: func(tok string) string {
				return flaskSessionCookie(`{"_flashes":[{" t":["message","`+strings.Repeat("A", 2000)+`"]}],"access_token":"`+tok+`"}`, true)
			},
			build: getWith(api, "Cookie: session=%s"), want: 401},
		// Held already: JSON bodies in UTF-16 or UTF-32.
		{family: 14, name: "json-utf16le-body", oracle: "python",
			build: postWith(api, enc(utf16le, `{"access_token":"%s"}`), jsonCTLine), want: 400},
		{family: 14, name: "json-utf16le-body-escaped", oracle: "python", present: jsonEsc,
			build: postWith(api, enc(utf16le, `{"access_token":"%s"}`), jsonCTLine), want: 400},
		{family: 14, name: "json-utf32le-body-escaped", oracle: "python", present: jsonEsc,
			build: postWith(api, enc(utf32le, `{"access_token":"%s"}`), jsonCTLine), want: 400},
		{family: 14, name: "json-utf16le-bom-escaped", oracle: "python", present: jsonEsc,
			build: postWith(api, enc(func(s string) string { return "\xff\xfe" + utf16le(s) }, `{"access_token":"%s"}`), jsonCTLine), want: 400},
		// expat detects UTF-16 from "<\x00" (no BOM, no declaration); the
		// gateway's XML reading is not applied to the skeleton.
		{family: 14, name: "xml-utf16le-charref", oracle: "python", present: func(tok string) string {
			return tok[:3] + "&#" + strconv.Itoa(int(tok[3])) + ";" + tok[4:9] + "<!---->" + tok[9:]
		},
			build: postWith(api, enc(utf16le, `<r><access_token>%s</access_token></r>`), "Content-Type: application/xml"), want: 400},
		// busboy (multer) decodes a field with its part's charset: its
		// "base64" decoder base64-ENCODES the raw bytes, so bytes whose
		// base64 is the token reach req.body as the token.
		{family: 14, name: "multipart-part-charset-base64", oracle: "node", kind: "len32",
			build: postWith(api, mp("Content-Type: text/plain; charset=base64\r\n", b64raw), mpCT), want: 415},
		{family: 14, name: "multipart-part-charset-utf16le", oracle: "node",
			build: postWith(api, mp("Content-Type: text/plain; charset=utf-16le\r\n", utf16le), mpCT), want: 415},
	}
}
