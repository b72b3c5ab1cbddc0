package token

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// cookieValues calls fn with every value of the cookie want (a
// NormalizeName result) in r's raw Cookie headers, in every spelling a
// common cookie parser decodes it to. Unlike http.Request.Cookies it has
// no limit on the number of cookies (Go's reader returns none past 3000,
// Node's cookie still reads them) and reads every Cookie header.
//
// Names are matched as PHP and ASP.NET Core match them (see
// normalizeName). Pairs are split on ';' and, within a pair, on ','
// (RFC 2109 parsers). A value is checked as sent, without its quotes,
// percent-decoded with and without '+' as a space (Node's cookie, PHP), and
// with Python's octal and backslash unquoting (http.cookies, read by Django
// and Werkzeug), and each of those as Express's cookie-parser reads it
// (cookieParserForms) and, with sessions, as a framework's session cookie
// keeps what an application put in it (sessionCookieStrings).
func cookieValues(r *http.Request, want string, fn func(string), sessions bool) {
	for _, line := range r.Header["Cookie"] {
		budget := inflateBudget(len(line)) // as the scan reads the header value
		for line != "" {
			var pair string
			pair, line, _ = strings.Cut(line, ";")
			cookiePair(pair, want, fn, sessions, &budget)
			if strings.Contains(pair, ",") {
				for pair != "" {
					var sub string
					sub, pair, _ = strings.Cut(pair, ",")
					cookiePair(sub, want, fn, sessions, &budget)
				}
			}
		}
	}
}

func cookiePair(pair, want string, found func(string), sessions bool, budget *int) {
	name, value, ok := strings.Cut(pair, "=")
	if !ok || !nameMatches(name, want, true) {
		return
	}
	fn := func(v string) {
		found(v)
		cookieParserForms(v, found)
		if sessions {
			sessionCookieStrings(v, found, budget)
		}
	}
	v := strings.Trim(value, " \t\r\n\v\f")
	fn(v)
	if v != value {
		// As other parsers keep it: spaces and all, or but the pair's
		// trailing ones (net/http).
		fn(value)
		fn(strings.TrimRight(value, " \t\r\n\v\f"))
	}
	if !strings.ContainsAny(v, `"%+\`) {
		return // the common case: one spelling
	}
	inner := v
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		inner = v[1 : len(v)-1]
		fn(inner)
		fn(pythonUnquote(inner))
	}
	fn(decodeLenient(inner, false))
	fn(decodeLenient(inner, true))
}

// pythonUnquote undoes Python's http.cookies quoting inside a quoted
// value: "\ooo" (three octal digits, the first 0-3) is that byte, "\c" is c.
func pythonUnquote(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && '0' <= s[i+1] && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b = append(b, (s[i+1]-'0')<<6|(s[i+2]-'0')<<3|(s[i+3]-'0'))
			i += 3
			continue
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// cookieParserForms calls fn with what Express's cookie-parser makes of
// the cookie value v besides v: a signed cookie ("s:" + value + "." +
// signature) unsigned, and a JSON cookie ("j:" + JSON), signed or not,
// parsed: each string in it, at any depth. (A token of 16 bytes or more
// is found in them by the whole-request scan too; a shorter one only
// here.)
func cookieParserForms(v string, fn func(string)) {
	if rest, ok := strings.CutPrefix(v, "s:"); ok {
		if i := strings.LastIndexByte(rest, '.'); i >= 0 {
			rest = rest[:i]
		}
		fn(rest)
		v = rest
	}
	if rest, ok := strings.CutPrefix(v, "j:"); ok {
		var x any
		if json.Unmarshal([]byte(rest), &x) == nil {
			eachString(x, fn, 0)
		}
	}
}

// sessionCookieStrings calls fn with each string of the JSON that a
// session cookie value v keeps: Flask's and Starlette's sessions and
// Django's signed-cookie sessions (base64 JSON, zlib-compressed behind a
// leading '.', then a timestamp and a signature, split by '.' or ':'),
// Express's cookie-session (base64 JSON). Each part is decoded as the
// lenient decoders these frameworks call decode it (lenientBase64: '-'
// and '_' read as base64url, what is not base64 skipped), the first part
// inflated when compressed, within *budget (zlib data past it is not
// read: the whole-request scan refuses the request). (A token of 16 bytes
// or more is found in them by the scan too; a shorter one only here.)
// A JWT (LooksLikeJWT) is a token, not a session: its claims are not
// handed out.
//
// The value whole is also handed out decoded so when what it decodes to
// is all token bytes: an application that keeps the token base64 in
// its cookie (b64decode skips a '-' put inside).
func sessionCookieStrings(v string, fn func(string), budget *int) {
	if LooksLikeJWT(v) {
		return
	}
	if len(v) >= 4 && len(v) <= maxBase64Text {
		for _, mapURL := range [2]bool{false, true} {
			if b, ok := lenientBase64(v, mapURL); ok && len(b) > 0 && allTokenBytes(string(b)) {
				fn(string(b))
			}
		}
	}
	compressed := strings.HasPrefix(v, ".")
	if compressed {
		v = v[1:]
	}
	for i := 0; i < 4 && v != ""; i++ {
		var part string
		if j := strings.IndexAny(v, ".:"); j >= 0 {
			part, v = v[:j], v[j+1:]
		} else {
			part, v = v, ""
		}
		// base64 of '{' or '[' starts "e" or "W" (zlib data "e" too).
		if len(part) < 4 || part[0] != 'e' && part[0] != 'W' {
			continue
		}
		b, ok := lenientBase64(part, true)
		if !ok {
			continue
		}
		if compressed && i == 0 {
			zr, err := zlib.NewReader(bytes.NewReader(b))
			if err != nil {
				continue
			}
			out, _, cut := inflateWithin(zr, budget)
			if cut {
				return
			}
			b = out
		}
		if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' && t[0] != '[' {
			continue
		}
		var x any
		if json.Unmarshal(b, &x) == nil {
			eachString(x, fn, 0)
		}
	}
}

// lenientBase64 decodes s as Python's b64decode (validate=False) decodes
// it, every byte outside the alphabet skipped, or, with mapURL, as it
// does after urlsafe_b64decode's translation and as Node's Buffer.from(s,
// "base64") does: '-' and '_' are '+' and '/'. Padding is optional. ok
// is false when what is left is no base64 (a length of 4n+1).
func lenientBase64(s string, mapURL bool) (_ []byte, ok bool) {
	var stack [512]byte
	b := appendBase64Alphabet(stack[:0], s, mapURL)
	if len(b)%4 == 1 {
		return nil, false
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(b)))
	n, err := base64.RawStdEncoding.Decode(out, b)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}
