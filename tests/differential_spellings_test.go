package tests

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
)

// The differential suite's spellings (issue 9, item 6): each builds one raw
// request carrying a token in one channel, spelled as some client could
// spell it. The rows of issue 9's table are named in row.

// spelling is one way of sending a token.
type spelling struct {
	name string
	row  string // issue 9 table row(s) it covers, "" for a baseline
	// kind is the token it carries: "opaque", or a JWT spelling
	// ("jwt", "jwt-sigpad", "jwtarr", ...); see diffJWT.
	kind string
	// std marks the standard channels: a request carrying a token that is
	// not revoked this way must reach the upstream.
	std bool
	// revokedOnly: sent only with the revoked token (a forward revocation
	// route that the oracle confirms could revoke the other one).
	revokedOnly bool
	// route: row 14, judged by which endpoint the oracle's router chose;
	// sent once, with a throwaway token.
	route bool
	// underscore: also sent through the site that lets `_` header names
	// through (row 7).
	underscore bool
	build      func(tok string) rawReq
}

const (
	junk       = "junkjunk"
	formCTLine = "Content-Type: application/x-www-form-urlencoded"
	jsonCTLine = "Content-Type: application/json"
)

// get builds a GET of /api/secret with header lines (%s: the token).
func getWith(target string, lines ...string) func(string) rawReq {
	return func(tok string) rawReq {
		q := rawReq{method: "GET", target: strings.ReplaceAll(target, "%s", tok)}
		for _, l := range lines {
			q.headers = append(q.headers, strings.ReplaceAll(l, "%s", tok))
		}
		return q
	}
}

// post builds a POST of target with the body body(tok) and header lines.
func postWith(target string, body func(tok string) []byte, lines ...string) func(string) rawReq {
	return func(tok string) rawReq {
		q := getWith(target, lines...)(tok)
		q.method = "POST"
		q.body = body(tok)
		return q
	}
}

func text(format string) func(string) []byte {
	return func(tok string) []byte { return []byte(strings.ReplaceAll(format, "%s", tok)) }
}

// gzipped and deflated compress body as Content-Encoding gzip and deflate
// (zlib) have it.
func gzipped(body func(string) []byte) func(string) []byte {
	return compressed(body, func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) })
}

func deflated(body func(string) []byte) func(string) []byte {
	return compressed(body, func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) })
}

func compressed(body func(string) []byte, writer func(io.Writer) io.WriteCloser) func(string) []byte {
	return func(tok string) []byte {
		var b bytes.Buffer
		w := writer(&b)
		w.Write(body(tok))
		w.Close()
		return b.Bytes()
	}
}

// chunked sends body in chunks of 7 bytes (Transfer-Encoding: chunked must
// be among the header lines).
func chunked(body func(string) []byte) func(string) []byte {
	return func(tok string) []byte {
		src := body(tok)
		var b bytes.Buffer
		for len(src) > 0 {
			n := min(7, len(src))
			fmt.Fprintf(&b, "%x\r\n%s\r\n", n, src[:n])
			src = src[n:]
		}
		b.WriteString("0\r\n\r\n")
		return b.Bytes()
	}
}

// multipartBody is a multipart/form-data body with boundary "XyZ" and one
// field per name=value pair.
func multipartBody(partHeaders string, fields ...string) func(string) []byte {
	return func(tok string) []byte {
		var b strings.Builder
		for _, f := range fields {
			name, value, _ := strings.Cut(f, "=")
			fmt.Fprintf(&b, "--XyZ\r\nContent-Disposition: form-data; name=\"%s\"\r\n%s\r\n%s\r\n", name, partHeaders, strings.ReplaceAll(value, "%s", tok))
		}
		b.WriteString("--XyZ--\r\n")
		return []byte(b.String())
	}
}

// utf16le re-encodes ASCII text as UTF-16LE.
func utf16le(b []byte) []byte {
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, c, 0)
	}
	return out
}

// rawMultipart is a one-part multipart body (boundary "XyZ") whose part
// headers and content are part (%s: the token).
func rawMultipart(part string) func(string) []byte {
	return func(tok string) []byte {
		return []byte("--XyZ\r\n" + strings.ReplaceAll(part, "%s", tok) + "\r\n--XyZ--\r\n")
	}
}

// pctFirst percent-encodes the token's first character; pctAll every one.
func pctFirst(tok string) string { return fmt.Sprintf("%%%02X", tok[0]) + tok[1:] }
func pctAll(tok string) string {
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		fmt.Fprintf(&b, "%%%02X", tok[i])
	}
	return b.String()
}

// octalFirst writes the token in quotes with its first character as an
// octal escape (Python's http.cookies and Werkzeug unquote it).
func octalFirst(tok string) string { return fmt.Sprintf(`"\%03o%s"`, tok[0], tok[1:]) }

// with wraps a builder so the token is first transformed by f.
func with(f func(string) string, b func(string) rawReq) func(string) rawReq {
	return func(tok string) rawReq { return b(f(tok)) }
}

// diffSpellings is the generated matrix.
func diffSpellings() []spelling {
	var out []spelling
	add := func(s spelling) {
		if s.kind == "" {
			s.kind = "opaque"
		}
		out = append(out, s)
	}
	const api = "/api/secret"

	// Authorization (row 4 and more).
	for _, a := range []struct {
		name, row string
		std       bool
		lines     []string
	}{
		{"auth/bearer", "", true, []string{"Authorization: Bearer %s"}},
		{"auth/lowercase", "", false, []string{"authorization: bearer %s"}},
		{"auth/uppercase-scheme", "", false, []string{"Authorization: BEARER %s"}},
		{"auth/tab", "", false, []string{"Authorization: Bearer\t%s"}},
		{"auth/two-spaces", "", false, []string{"Authorization: Bearer  %s"}},
		{"auth/junk-bearer-T", "4", false, []string{"Authorization: Bearer " + junk + " Bearer %s"}},
		{"auth/T-junk", "4", false, []string{"Authorization: Bearer %s " + junk}},
		{"auth/T-tab-junk", "4", false, []string{"Authorization: Bearer %s\t" + junk}},
		{"auth/comma-joined", "4", false, []string{"Authorization: Bearer " + junk + ", Bearer %s"}},
		{"auth/T-comma-junk", "4", false, []string{"Authorization: Bearer %s, " + junk}},
		{"auth/T-comma-nospace", "4", false, []string{"Authorization: Bearer %s," + junk}},
		{"auth/T-semicolon", "4", false, []string{"Authorization: Bearer %s;x=y"}},
		{"auth/basic-then-bearer", "4", false, []string{"Authorization: Basic " + junk + ", Bearer %s"}},
		{"auth/dup-junk-first", "4", false, []string{"Authorization: Bearer " + junk, "Authorization: Bearer %s"}},
		{"auth/dup-T-first", "4", false, []string{"Authorization: Bearer %s", "Authorization: Bearer " + junk}},
		{"auth/scheme-token", "4", false, []string{"Authorization: Token %s"}},
		{"auth/token-param", "4", false, []string{`Authorization: Token token="%s"`}},
		{"auth/bearer-token-param", "4", false, []string{`Authorization: Bearer token="%s"`}},
		{"auth/dpop", "", false, []string{"Authorization: DPoP %s"}},
		{"auth/trailing-space", "", false, []string{"Authorization: Bearer %s "}},
		// Bytes 0x85 and 0xA0 are whitespace to Python's str.split() on
		// the Latin-1 text WSGI gives (Flask-HTTPAuth), and 0xA0 to a
		// JavaScript \s or trim(); Go passes them (obs-text).
		{"auth/nbsp", "4", false, []string{"Authorization: Bearer\xa0%s"}},
		{"auth/T-nbsp", "4", false, []string{"Authorization: Bearer %s\xa0"}},
		{"auth/nel", "4", false, []string{"Authorization: Bearer\x85%s"}},
		{"auth/vtab", "4", false, []string{"Authorization: Bearer\x0b%s"}},
		{"auth/unit-separator", "4", false, []string{"Authorization: Bearer\x1f%s"}},
		{"auth/quoted", "4", false, []string{`Authorization: Bearer "%s"`}},
		{"auth/obs-fold", "4", false, []string{"Authorization: Bearer\r\n %s"}},
	} {
		add(spelling{name: a.name, row: a.row, std: a.std, build: getWith(api, a.lines...)})
	}

	// Cookies (rows 2, 3).
	semis := strings.Repeat(";", 3000)
	pairs := strings.Repeat("a=1; ", 3000)
	for _, c := range []struct {
		name, row string
		std       bool
		build     func(string) rawReq
	}{
		{"cookie/plain", "", true, getWith(api, "Cookie: session=%s")},
		{"cookie/3000-semicolons-after", "2", false, getWith(api, "Cookie: session=%s"+semis)},
		{"cookie/3000-pairs-before", "2", false, getWith(api, "Cookie: "+pairs+"session=%s")},
		{"cookie/two-headers", "2", false, getWith(api, "Cookie: a=1", "Cookie: session=%s")},
		{"cookie/3000-semicolons-then-second-header", "2", false, getWith(api, "Cookie: a=1"+semis, "Cookie: session=%s")},
		{"cookie/pct-encoded-char", "3", false, with(pctFirst, getWith(api, "Cookie: session=%s"))},
		{"cookie/pct-encoded-all", "3", false, with(pctAll, getWith(api, "Cookie: session=%s"))},
		{"cookie/octal-in-quotes", "3", false, with(octalFirst, getWith(api, "Cookie: session=%s"))},
		{"cookie/quoted", "3", false, getWith(api, `Cookie: session="%s"`)},
		{"cookie/quoted-pct", "3", false, with(pctFirst, getWith(api, `Cookie: session="%s"`))},
		{"cookie/pct-encoded-3000-semicolons", "2,3", false, with(pctFirst, getWith(api, "Cookie: session=%s"+semis))},
		{"cookie/name-upper", "", false, getWith(api, "Cookie: SESSION=%s")},
		{"cookie/T-nbsp", "", false, getWith(api, "Cookie: session=%s\xa0")},
		{"cookie/name-title", "", false, getWith(api, "Cookie: Session=%s")},
		{"cookie/name-pct", "3", false, getWith(api, "Cookie: s%65ssion=%s")},
		{"cookie/comma-separator", "2", false, getWith(api, "Cookie: a=1, session=%s")},
		{"cookie/comma-no-space", "2", false, getWith(api, "Cookie: a=1,session=%s")},
		{"cookie/no-space", "", false, getWith(api, "Cookie: a=1;session=%s")},
		{"cookie/space-before-eq", "", false, getWith(api, "Cookie: session =%s")},
		{"cookie/space-after-eq", "", false, getWith(api, "Cookie: session= %s")},
		{"cookie/dup-junk-first", "", false, getWith(api, "Cookie: session="+junk+"; session=%s")},
		{"cookie/dup-T-first", "", false, getWith(api, "Cookie: session=%s; session="+junk)},
		{"cookie/rfc2109-version", "", false, getWith(api, "Cookie: $Version=1; session=%s; $Path=/")},
		{"cookie/lowercase-header", "", false, getWith(api, "cookie: session=%s")},
		{"cookie/after-quoted-semicolon", "3", false, getWith(api, `Cookie: a="x; y"; session=%s`)},
		{"cookie/inside-quoted-value", "3", false, getWith(api, `Cookie: a="; session=%s; b="`)},
		{"cookie/after-quoted-comma", "3", false, getWith(api, `Cookie: a="x, y", session=%s`)},
	} {
		add(spelling{name: c.name, row: c.row, std: c.std, build: c.build})
	}

	// Query parameters (row 6): names × separators × value encodings.
	names := []string{"access_token", "Access_Token", "ACCESS_TOKEN", "access.token", "access%20token",
		"access+token", "access[token", "access_token[]", "access_token[0]", "access%5Ftoken", "%61ccess_token"}
	for _, n := range names {
		for _, sep := range []struct{ name, prefix string }{{"", ""}, {"amp", "x=1&"}, {"semicolon", "x=1;"}} {
			for _, enc := range []struct {
				name string
				f    func(string) string
			}{{"", func(s string) string { return s }}, {"pct-value", pctFirst}} {
				name := "query/" + n
				if sep.name != "" {
					name += "/" + sep.name
				}
				if enc.name != "" {
					name += "/" + enc.name
				}
				add(spelling{name: name, row: "6", std: n == "access_token" && sep.name == "" && enc.name == "",
					build: with(enc.f, getWith(api+"?"+sep.prefix+n+"=%s"))})
			}
		}
	}
	pad1000 := strings.Repeat("a=1&", 1000)
	add(spelling{name: "query/padded-1000-pairs", row: "6", build: getWith(api + "?" + pad1000 + "access_token=%s")})
	add(spelling{name: "query/padded-1000-semicolons", row: "6", build: getWith(api + "?" + strings.Repeat("a=1;", 1000) + "access_token=%s")})
	add(spelling{name: "query/dup-junk-first", row: "6", build: getWith(api + "?access_token=" + junk + "&access_token=%s")})
	add(spelling{name: "query/dup-T-first", row: "6", build: getWith(api + "?access_token=%s&access_token=" + junk)})
	add(spelling{name: "query/semicolon-Access_Token", row: "6", build: getWith(api + "?x=1;Access_Token=%s")})
	add(spelling{name: "query/leading-space-name", row: "6", build: getWith(api + "?+access_token=%s")})
	add(spelling{name: "query/leading-pct20-name", row: "6", build: getWith(api + "?%20access_token=%s")})
	add(spelling{name: "query/nested-brackets", row: "6", build: getWith(api + "?access_token[a][b]=%s")})
	add(spelling{name: "query/encoded-brackets", row: "6", build: getWith(api + "?access_token%5B%5D=%s")})
	add(spelling{name: "query/encoded-index", row: "6", build: getWith(api + "?access_token%5b0%5d=%s")})
	add(spelling{name: "query/nul-suffix", row: "6", build: getWith(api + "?access_token%00x=%s")})
	add(spelling{name: "query/absolute-form-target", row: "6", build: getWith("http://127.0.0.1" + api + "?access_token=%s")})

	// urlencoded bodies (row 5): content types × field names.
	for _, ct := range []struct{ name, line string }{
		{"", formCTLine},
		{"ct-charset", formCTLine + "; charset=UTF-8"},
		{"ct-upper", "Content-Type: APPLICATION/X-WWW-FORM-URLENCODED"},
		{"ct-odd-params", "Content-Type: application/x-www-form-urlencoded;charset=utf-8;foo=bar"},
		{"ct-none", ""},
		{"ct-text-plain", "Content-Type: text/plain"},
	} {
		for _, n := range []string{"access_token", "Access_Token", "access.token", "access[token", "access_token[]"} {
			name := "form/" + n
			if ct.name != "" {
				name += "/" + ct.name
			}
			var lines []string
			if ct.line != "" {
				lines = []string{ct.line}
			}
			add(spelling{name: name, row: "5,6", std: ct.name == "" && n == "access_token",
				build: postWith(api, text("x=1&"+n+"=%s"), lines...)})
		}
	}
	form := text("x=1&access_token=%s")
	big := strings.Repeat("b", 70<<10) // past the default max_body_size (64KiB)
	jsonBody := text(`{"x":1,"access_token":"%s"}`)
	mp := "Content-Type: multipart/form-data; boundary=XyZ"
	for _, b := range []struct {
		name  string
		body  func(string) []byte
		lines []string
	}{
		{"form/semicolon", text("x=1;access_token=%s"), []string{formCTLine}},
		{"form/padded-1000-pairs", text(pad1000 + "access_token=%s"), []string{formCTLine}},
		{"form/dup-junk-first", text("access_token=" + junk + "&access_token=%s"), []string{formCTLine}},
		{"form/pct-value", func(tok string) []byte { return form(pctFirst(tok)) }, []string{formCTLine}},
		{"form/gzip", gzipped(form), []string{formCTLine, "Content-Encoding: gzip"}},
		{"form/x-gzip", gzipped(form), []string{formCTLine, "Content-Encoding: x-gzip"}},
		{"form/GZIP", gzipped(form), []string{formCTLine, "Content-Encoding: GZIP"}},
		{"form/deflate", deflated(form), []string{formCTLine, "Content-Encoding: deflate"}},
		{"form/identity", form, []string{formCTLine, "Content-Encoding: identity"}},
		{"form/chunked", chunked(form), []string{formCTLine, "Transfer-Encoding: chunked"}},
		{"form/gzip-chunked", chunked(gzipped(form)), []string{formCTLine, "Content-Encoding: gzip", "Transfer-Encoding: chunked"}},
		{"form/gzip-ct-charset", gzipped(form), []string{formCTLine + "; charset=utf-8", "Content-Encoding: gzip"}},
		{"form/past-64KiB", text("x=" + big + "&access_token=%s"), []string{formCTLine}},
		{"form/expect-100-continue", form, []string{formCTLine, "Expect: 100-continue"}},
		{"form/dup-ct-text-first", form, []string{"Content-Type: text/plain", formCTLine}},
		{"form/dup-ct-form-first", form, []string{formCTLine, "Content-Type: text/plain"}},
		{"form/ct-trailing-semicolon", form, []string{formCTLine + " ;"}},
		{"form/ct-utf16-charset", func(tok string) []byte { return utf16le(form(tok)) }, []string{formCTLine + "; charset=utf-16le"}},
	} {
		add(spelling{name: b.name, row: "5", build: postWith(api, b.body, b.lines...)})
	}
	// Bodies on other methods: Express and Rack parse a body whatever the
	// method; Go parses PUT and PATCH bodies.
	for _, m := range []string{"PUT", "PATCH", "DELETE", "GET"} {
		for _, b := range []struct {
			name string
			body func(string) []byte
			ct   string
		}{{"form", form, formCTLine}, {"json", jsonBody, jsonCTLine}, {"multipart", multipartBody("", "access_token=%s"), mp}} {
			build := postWith(api, b.body, b.ct)
			add(spelling{name: b.name + "/method-" + m, row: "5", build: func(tok string) rawReq {
				q := build(tok)
				q.method = m
				return q
			}})
		}
	}

	// multipart bodies (row 5).
	for _, m := range []struct {
		name  string
		std   bool
		body  func(string) []byte
		lines []string
	}{
		{"multipart/plain", true, multipartBody("", "x=1", "access_token=%s"), []string{mp}},
		{"multipart/boundary-quoted", false, multipartBody("", "access_token=%s"), []string{`Content-Type: multipart/form-data; boundary="XyZ"`}},
		{"multipart/ct-upper", false, multipartBody("", "access_token=%s"), []string{"Content-Type: MULTIPART/FORM-DATA; boundary=XyZ"}},
		{"multipart/ct-charset", false, multipartBody("", "access_token=%s"), []string{mp + "; charset=utf-8"}},
		{"multipart/part-content-type", false, multipartBody("Content-Type: text/plain; charset=utf-8\r\n", "access_token=%s"), []string{mp}},
		{"multipart/name-case", false, multipartBody("", "Access_Token=%s"), []string{mp}},
		{"multipart/name-dot", false, multipartBody("", "access.token=%s"), []string{mp}},
		{"multipart/dup-junk-first", false, multipartBody("", "access_token="+junk, "access_token=%s"), []string{mp}},
		{"multipart/chunked", false, chunked(multipartBody("", "access_token=%s")), []string{mp, "Transfer-Encoding: chunked"}},
		{"multipart/gzip", false, gzipped(multipartBody("", "access_token=%s")), []string{mp, "Content-Encoding: gzip"}},
		{"multipart/mixed", false, multipartBody("", "access_token=%s"), []string{"Content-Type: multipart/mixed; boundary=XyZ"}},
		{"multipart/name-unquoted", false, rawMultipart("Content-Disposition: form-data; name=access_token\r\n\r\n%s"), []string{mp}},
		{"multipart/name-rfc2231", false, rawMultipart("Content-Disposition: form-data; name*=utf-8''access_token\r\n\r\n%s"), []string{mp}},
		{"multipart/name-spaces", false, rawMultipart("Content-Disposition: form-data ; name = \"access_token\"\r\n\r\n%s"), []string{mp}},
		{"multipart/quoted-printable", false, func(tok string) []byte {
			return rawMultipart("Content-Disposition: form-data; name=\"access_token\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n%s")(fmt.Sprintf("=%02X", tok[0]) + tok[1:])
		}, []string{mp}},
		{"multipart/base64", false, func(tok string) []byte {
			return rawMultipart("Content-Disposition: form-data; name=\"access_token\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s")(base64.StdEncoding.EncodeToString([]byte(tok)))
		}, []string{mp}},
		{"multipart/lf-only", false, func(tok string) []byte {
			return bytes.ReplaceAll(multipartBody("", "access_token=%s")(tok), []byte("\r\n"), []byte("\n"))
		}, []string{mp}},
		{"multipart/preamble", false, func(tok string) []byte {
			return append([]byte("preamble text\r\n"), multipartBody("", "access_token=%s")(tok)...)
		}, []string{mp}},
		{"multipart/past-64KiB", false, multipartBody("", "x="+big, "access_token=%s"), []string{mp}},
		{"multipart/dup-boundary", false, multipartBody("", "access_token=%s"), []string{"Content-Type: multipart/form-data; boundary=AbC; boundary=XyZ"}},
		{"multipart/dup-name-param", false, rawMultipart("Content-Disposition: form-data; name=\"x\"; name=\"access_token\"\r\n\r\n%s"), []string{mp}},
		{"multipart/filename-empty", false, rawMultipart("Content-Disposition: form-data; name=\"access_token\"; filename=\"\"\r\n\r\n%s"), []string{mp}},
	} {
		add(spelling{name: m.name, row: "5", std: m.std, build: postWith(api, m.body, m.lines...)})
	}

	// JSON bodies (row 5).
	for _, j := range []struct {
		name  string
		std   bool
		body  func(string) []byte
		lines []string
	}{
		{"json/plain", true, jsonBody, []string{jsonCTLine}},
		{"json/ct-charset", false, jsonBody, []string{jsonCTLine + "; charset=utf-8"}},
		{"json/ct-upper", false, jsonBody, []string{"Content-Type: APPLICATION/JSON"}},
		{"json/ct-vnd-api", false, jsonBody, []string{"Content-Type: application/vnd.api+json"}},
		{"json/ct-text-plain", false, jsonBody, []string{"Content-Type: text/plain"}},
		{"json/ct-none", false, jsonBody, nil},
		{"json/unicode-escape", false, func(tok string) []byte {
			return []byte(fmt.Sprintf(`{"access_token":"\u%04x%s"}`, tok[0], tok[1:]))
		}, []string{jsonCTLine}},
		{"json/dup-key-T-last", false, text(`{"access_token":"` + junk + `","access_token":"%s"}`), []string{jsonCTLine}},
		{"json/key-upper", false, text(`{"ACCESS_TOKEN":"%s"}`), []string{jsonCTLine}},
		{"json/key-case-dup", false, text(`{"access_token":"` + junk + `","Access_Token":"%s"}`), []string{jsonCTLine}},
		{"json/nested", false, text(`{"data":{"access_token":"%s"}}`), []string{jsonCTLine}},
		{"json/key-escaped", false, text(`{"access\u005ftoken":"%s"}`), []string{jsonCTLine}},
		{"json/whitespace-bom", false, func(tok string) []byte { return append([]byte("\ufeff \n"), jsonBody(tok)...) }, []string{jsonCTLine}},
		{"json/gzip", false, gzipped(jsonBody), []string{jsonCTLine, "Content-Encoding: gzip"}},
		{"json/deflate", false, deflated(jsonBody), []string{jsonCTLine, "Content-Encoding: deflate"}},
		{"json/chunked", false, chunked(jsonBody), []string{jsonCTLine, "Transfer-Encoding: chunked"}},
		{"json/past-64KiB", false, text(`{"x":"` + big + `","access_token":"%s"}`), []string{jsonCTLine}},
		{"json/nan", false, text(`{"x":NaN,"access_token":"%s"}`), []string{jsonCTLine}},
		{"json/utf16le-charset", false, func(tok string) []byte { return utf16le(jsonBody(tok)) }, []string{jsonCTLine + "; charset=utf-16le"}},
		{"json/utf16le-bom", false, func(tok string) []byte { return append([]byte{0xff, 0xfe}, utf16le(jsonBody(tok))...) }, []string{jsonCTLine}},
		{"json/trailing-garbage", false, text(`{"access_token":"%s"} x`), []string{jsonCTLine}},
	} {
		add(spelling{name: j.name, row: "5", std: j.std, build: postWith(api, j.body, j.lines...)})
	}

	// Configured header (row 7); the underscore ones also through a site
	// that lets such names through.
	for _, h := range []struct {
		name  string
		std   bool
		lines []string
	}{
		{"header/plain", true, []string{"X-Api-Key: %s"}},
		{"header/lowercase", false, []string{"x-api-key: %s"}},
		{"header/uppercase", false, []string{"X-API-KEY: %s"}},
		{"header/underscore", false, []string{"X_Api_Key: %s"}},
		{"header/underscore-lower", false, []string{"x_api_key: %s"}},
		{"header/dot", false, []string{"X.Api.Key: %s"}},
		{"header/dup-junk-first", false, []string{"X-Api-Key: " + junk, "X-Api-Key: %s"}},
		{"header/underscore-and-hyphen", false, []string{"X-Api-Key: " + junk, "X_Api_Key: %s"}},
		{"header/T-nbsp", false, []string{"X-Api-Key: %s\xa0"}},
	} {
		add(spelling{name: h.name, row: "7", std: h.std, underscore: true, build: getWith(api, h.lines...)})
	}

	// Paths to forward revocation routes and the token endpoint (row 1):
	// the token in the request's credentials.
	bearer := "Authorization: Bearer %s"
	for _, p := range []struct{ name, target string }{
		{"path/dotdot-fwd-revoke", "/api/secret/../../fwd/revoke"},
		{"path/encoded-dotdot-fwd-revoke", "/api/secret%2F..%2F..%2Ffwd/revoke"},
		{"path/dotdot-fwd-logout", "/api/secret/../../fwd/logout"},
		{"path/encoded-dotdot-fwd-logout", "/api/secret%2F..%2F..%2Ffwd/logout"},
		{"path/dotdot-fwd-token", "/api/secret/../../fwd/token"},
		{"path/encoded-dotdot-fwd-token", "/api/secret%2F..%2F..%2Ffwd/token"},
		{"path/fwd-revoke", "/fwd/revoke"},
		{"path/fwd-logout", "/fwd/logout"},
		{"path/fwd-token", "/fwd/token"},
		{"path/fwd-revoke-slash", "/fwd/revoke/"},
		{"path/fwd-revoke-matrix", "/fwd/revoke;x=y"},
		{"path/dotdot-respond-revoke", "/api/secret/../../oauth/revoke"},
	} {
		add(spelling{name: p.name, row: "1", revokedOnly: true,
			build: postWith(p.target, text("grant_type=client_credentials"), formCTLine, bearer)})
	}
	add(spelling{name: "path/fwd-token-query", row: "1", revokedOnly: true,
		build: postWith("/api/secret/../../fwd/token?access_token=%s", text("grant_type=client_credentials"), formCTLine)})
	add(spelling{name: "path/fwd-logout-cookie", row: "1", revokedOnly: true,
		build: postWith("/api/secret/../../fwd/logout", text(""), formCTLine, "Cookie: session=%s")})
	add(spelling{name: "path/fwd-revoke-form", row: "1", revokedOnly: true,
		build: postWith("/api/secret/../../fwd/revoke", text("access_token=%s"), formCTLine)})

	// Spellings of the respond-mode revocation route (row 14): the
	// oracle's router must not reach its own revoke endpoint unseen.
	for _, p := range []string{
		"/oauth/revoke", "/OAUTH/REVOKE", "/Oauth/Revoke", "/oauth/revoke/", "/oauth/revoke;x=y",
		"/oauth//revoke", "/oauth/./revoke", "/oauth/%72evoke", "/oauth/revoke%2F", "/oauth/revoke?x=1",
		"/oauth/REVOKE/",
	} {
		add(spelling{name: "route" + p, row: "14", route: true,
			build: postWith(p, text("token=%s"), formCTLine)})
	}

	// JWT re-spellings (row 8) in each standard channel (the JWT whose
	// "sub" is a number), or in three (the other odd claims).
	for _, style := range diffJWTStyles {
		for _, variant := range jwtVariants {
			kind := style.kind + variant
			for i, ch := range []struct {
				name  string
				build func(string) rawReq
			}{
				{"bearer", getWith(api, bearer)},
				{"query", getWith(api + "?access_token=%s")},
				{"cookie", getWith(api, "Cookie: session=%s")},
				{"header", getWith(api, "X-Api-Key: %s")},
				{"form", postWith(api, text("access_token=%s"), formCTLine)},
				{"json", postWith(api, jsonBody, jsonCTLine)},
				{"multipart", postWith(api, multipartBody("", "access_token=%s"), mp)},
			} {
				if style.kind != "jwt" && i >= 3 {
					break
				}
				add(spelling{name: kind + "/" + ch.name, row: "8", kind: kind, std: variant == "", build: ch.build})
			}
		}
	}
	return out
}

// diffJWTStyles are the JWTs with odd claims (row 8): "sub" a number, an
// array, or given twice; each with its revoked and its live value.
var diffJWTStyles = []struct{ kind, revokedSub, liveSub string }{
	{"jwt", `42`, `43`},
	{"jwtarr", `["u1"]`, `["u9"]`},
	{"jwtdup", `"u1","sub":"u2"`, `"u8","sub":"u9"`},
}

// jwtVariants are the re-spellings diffJWT makes, by kind suffix.
var jwtVariants = []string{"", "-sigpad", "-sigbits", "-sigpad-sigbits", "-segpad"}

// diffJWT is an unsigned-looking RS256 JWT whose "sub" is sub (JSON) with
// a 256-byte signature, and its re-spellings, keyed kind+variant: the same
// decoded header, payload and signature (signature padded, its unused
// trailing bits flipped; the payload segment padded).
func diffJWT(kind, sub string, sig []byte) map[string]string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`))
	// A payload whose encoding needs padding (its length not a multiple of 3).
	var payload []byte
	for pad := ""; ; pad += "x" {
		payload = []byte(fmt.Sprintf(`{"iss":"https://idp.example/%s","sub":%s,"exp":4102444800}`, pad, sub))
		if len(payload)%3 == 1 {
			break
		}
	}
	p := enc.EncodeToString(payload)
	s := enc.EncodeToString(sig) // 256 bytes: 342 characters, 4 unused bits in the last
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	flipped := s[:len(s)-1] + string(alphabet[last^1])
	return map[string]string{
		kind:                     header + "." + p + "." + s,
		kind + "-sigpad":         header + "." + p + "." + s + "==",
		kind + "-sigbits":        header + "." + p + "." + flipped,
		kind + "-sigpad-sigbits": header + "." + p + "." + flipped + "==",
		kind + "-segpad":         header + "." + p + "==." + s,
	}
}
