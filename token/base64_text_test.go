package token

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"net/http"
	neturl "net/url"
	"slices"
	"strings"
	"testing"
)

// TestCandidatesFindBase64Texts: a token kept in a session cookie of
// base64 JSON (Flask's, compressed or not; Express's cookie-session), of
// base64 in base64 (gorilla/sessions), in a claim of a JWT, or in
// a base64 "id:key" API key is found by the scan; a JWT's claims are not
// handed out as strings of their own.
func TestCandidatesFindBase64Texts(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
	session := `{"access_token":"` + tok + `","user":"ada"}`
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(`{"a":"` + strings.Repeat("x", 64) + `","access_token":"` + tok + `"}`))
	zw.Close()
	url := base64.RawURLEncoding.EncodeToString
	// encoding/gob of map[interface{}]interface{}{"access_token": tok}.
	gob := []byte("\r\x7f\x04\x01\x02\xff\x80\x00\x01\x10\x01\x10\x00\x00E\xff\x80\x00\x01\x06string\x0c\x0e\x00\x0caccess_token\x06string\x0c\"\x00 " + tok)
	for _, c := range []struct{ name, header, value string }{
		{"Flask session", "Cookie", "session=" + url([]byte(session)) + ".ZxYzAb.c2lnbmF0dXJlc2lnbmF0dXJlc2ln"},
		{"Flask session, compressed", "Cookie", "session=." + url(z.Bytes()) + ".ZxYzAb.c2lnbmF0dXJlc2lnbmF0dXJlc2ln"},
		{"cookie-session", "Cookie", "session=" + base64.StdEncoding.EncodeToString([]byte(session)) + "; session.sig=abc"},
		// Express's cookie-session, percent-encoded (the cookie package
		// decodes it; "???>>>" puts a / and a + in the base64), its JSON with
		// an escape: three decodings.
		{"cookie-session, encoded", "Cookie", "session=" + neturl.QueryEscape(base64.StdEncoding.EncodeToString([]byte(`{"x":"???>>>","access_token":"\u0059`+tok[1:]+`"}`)))},
		// SASL over XMPP's WebSocket framing: PLAIN and OAUTHBEARER (RFC 7628).
		{"SASL PLAIN", "X-Message", "<auth mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00ada\x00"+tok)) + "</auth>"},
		{"SASL OAUTHBEARER", "X-Message", "<auth mechanism='OAUTHBEARER'>" + base64.StdEncoding.EncodeToString([]byte("n,a=ada@example.com,\x01host=h\x01auth=Bearer "+tok+"\x01\x01")) + "</auth>"},
		{"Elasticsearch ApiKey", "Authorization", "ApiKey " + base64.StdEncoding.EncodeToString([]byte("VuaCfGcBCdbkQm-e5aOx:"+tok))},
		// Node's Buffer.from(s, "base64") and Python's b64decode skip
		// what is not base64: a '.' or ':' put into it.
		{"ApiKey, a dot inside", "Authorization", "ApiKey " + func() string { b := base64.StdEncoding.EncodeToString([]byte("id:" + tok)); return b[:8] + "." + b[8:] }()},
		{"ApiKey, colons inside", "Authorization", "ApiKey " + func() string {
			b := base64.StdEncoding.EncodeToString([]byte("id:" + tok))
			return b[:5] + ":" + b[5:17] + ":" + b[17:]
		}()},
		// Python's b64decode (validate=False) skips '-', '_' and '~' too;
		// Node's Buffer.from reads '-' and '_' as base64url and skips '~'.
		{"ApiKey, a dash inside (Python)", "Authorization", "ApiKey " + func() string { b := base64.StdEncoding.EncodeToString([]byte("id:" + tok)); return b[:8] + "-" + b[8:] }()},
		{"ApiKey, underscores inside (Python)", "Authorization", "ApiKey " + func() string {
			b := base64.StdEncoding.EncodeToString([]byte("id:" + tok))
			return b[:3] + "_" + b[3:9] + "__" + b[9:]
		}()},
		{"ApiKey, a tilde inside", "Authorization", "ApiKey " + func() string { b := base64.StdEncoding.EncodeToString([]byte("id:" + tok)); return b[:8] + "~" + b[8:] }()},
		{"ApiKey, base64url, '+' and a tilde inside (Node)", "Authorization", "ApiKey " + func() string {
			b := base64.RawURLEncoding.EncodeToString([]byte("id:" + tok + "\x00\xfb\xef\xbe"))
			if !strings.Contains(b, "-") {
				panic(b)
			}
			return strings.Replace(b[:8]+"~~"+b[8:], "-", "+", 1) // '+' is 62 to Node, as '-' is
		}()},
		// ... and every byte that ends a run: a space, '*', '"'.
		{"ApiKey, spaces inside", "Authorization", "ApiKey " + func() string {
			b := base64.StdEncoding.EncodeToString([]byte("id:" + tok))
			return b[:8] + " " + b[8:20] + "  " + b[20:]
		}()},
		{"a cookie, junk inside", "Cookie", "a=b; session=" + func() string { b := base64.StdEncoding.EncodeToString([]byte(session)); return b[:8] + "*!" + b[8:] }()},
		{"Flask session, tildes inside", "Cookie", "session=" + func() string { b := url([]byte(session)); return b[:6] + "~~~~" + b[6:] }() + ".ZxYzAb.c2lnbmF0dXJlc2lnbmF0dXJlc2ln"},
		// gorilla/sessions (securecookie): base64 of "date|base64(gob)|mac",
		// the gob holding the token's bytes whole; then the same kept
		// base64 in another cookie: three layers.
		{"gorilla session", "Cookie", "session-name=" + base64.URLEncoding.EncodeToString([]byte("1796482159|"+base64.URLEncoding.EncodeToString(gob)+"|\xc1\x97 mac"))},
		{"gorilla session in a cookie", "Cookie", "s=" + base64.StdEncoding.EncodeToString([]byte(`{"inner":"`+base64.URLEncoding.EncodeToString([]byte("1796482159|"+base64.URLEncoding.EncodeToString(gob)+"|mac"))+`"}`))},
	} {
		r, _ := http.NewRequest("GET", "http://h/", nil)
		r.RequestURI = "/"
		r.Header = http.Header{c.header: {c.value}}
		got := candidatesOf(r, "")
		if _, ok := got[tok]; !ok {
			t.Errorf("%s: %q not among the candidates %q", c.name, tok, keys(got))
		}
	}
	// A session JWT an application signs, an access token in a claim: in a
	// cookie, and in a JSON body (escaped). Its header is not read.
	kid := "key-id-0123456789abcdef"
	jwt := url([]byte(`{"alg":"HS256","kid":"`+kid+`"}`)) + "." + url([]byte(`{"sub":"ada","access_token":"`+tok+`"}`)) + ".c2lnbmF0dXJl"
	for _, c := range []struct {
		name string
		h    http.Header
		body string
	}{
		{"JWT session cookie", http.Header{"Cookie": {"theme=dark; jwt_session=" + jwt}}, ""},
		{"JWT in a JSON body", http.Header{"Content-Type": {"application/json"}}, `{"session":"` + jwt + `"}`},
	} {
		r, _ := http.NewRequest("POST", "http://h/", strings.NewReader(c.body))
		r.RequestURI = "/"
		r.Header = c.h
		got := candidatesOf(r, c.body)
		if _, ok := got[tok]; !ok {
			t.Errorf("%s: the claim %q not among the candidates %q", c.name, tok, keys(got))
		}
		if _, ok := got[kid]; ok {
			t.Errorf("%s: the header's kid %q handed out", c.name, kid)
		}
	}
	for _, p := range []string{strings.Repeat("A", 40), "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r", url([]byte("short text")), url([]byte("\x00\x01 a b c d e f g h i j k l m n o p"))} {
		budget := inflateBudget(len(p))
		if s, ok, _ := base64Text(p, true, &budget); ok {
			t.Errorf("base64Text(%q) = %q: no text with a long run, want nothing", p, s)
		}
	}
}

// TestInflationIsBoundedAndRefusedPast: a text's zlib data inflates to at
// most inflateBudget of its length in all, so a body of many small parts
// that inflate a thousandfold costs the scan no more than a few times
// itself; one part inflates whole up to maxBase64Text whatever its ratio
// (a Flask session with repeated flashed messages, twentyfold), and zlib
// data that inflates past what may be read hands out an Unreadable
// candidate (the request is refused: the token may be past it).
func TestInflationIsBoundedAndRefusedPast(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
	deflate := func(s string) string {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write([]byte(s))
		zw.Close()
		return "." + base64.RawURLEncoding.EncodeToString(z.Bytes()) + ".ZxYzAb.c2lnbmF0dXJlc2lnbmF0dXJlc2ln"
	}
	scan := func(v string) (found, unreadable bool) {
		for _, c := range HeaderValueCandidates(v, Where{Part: "header", Name: "Cookie"}, nil) {
			found = found || c.S == tok
			unreadable = unreadable || c.Unreadable
		}
		return found, unreadable
	}
	// Twentyfold and more: read whole.
	flashes := deflate(`{"_flashes":[["message","` + strings.Repeat("A", 2000) + `"]],"access_token":"` + tok + `"}`)
	if found, unreadable := scan("session=" + flashes); !found || unreadable {
		t.Errorf("a session compressed %dx: found %v, unreadable %v; want found", 2000/len(flashes), found, unreadable)
	}
	// Past maxBase64Text: refused.
	big := deflate(`{"x":"` + strings.Repeat("A", maxBase64Text) + `","access_token":"` + tok + `"}`)
	if _, unreadable := scan("session=" + big); !unreadable {
		t.Errorf("zlib data inflating past %d bytes: not refused", maxBase64Text)
	}
	// Many small parts: the text's budget, then refused.
	small := deflate(strings.Repeat("B", 30000))
	var many []string
	for range 40 {
		many = append(many, "c="+small)
	}
	v := strings.Join(many, "; ")
	if _, unreadable := scan(v); !unreadable {
		t.Errorf("%d bytes inflating to %d: not refused past the budget of %d", len(v), 40*30000, inflateBudget(len(v)))
	}
}

// TestSerializationsInBase64AreRead: base64 of a serialization whose
// first byte is 0x80 or more (a pickle, a MessagePack or CBOR map, a Java
// stream) is decoded and its token found, as Beaker's session cookie (a
// hex HMAC before the base64) holds it; random bytes with the same first
// byte but no such second are not decoded.
func TestSerializationsInBase64AreRead(t *testing.T) {
	const tok = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	pickle := "\x80\x02}q\x00(X\x0c\x00\x00\x00access_tokenq\x01X+\x00\x00\x00" + tok + "q\x02u."
	msgpack := "\x81\xacaccess_token\xd9\x2b" + tok
	cbor := "\xa1\x6caccess_token\x78\x2b" + tok
	java := "\xac\xed\x00\x05t\x00\x2b" + tok
	mac := strings.Repeat("9774d9398b", 4)
	for name, v := range map[string]string{
		"pickle":             base64.StdEncoding.EncodeToString([]byte(pickle)),
		"beaker":             mac + base64.StdEncoding.EncodeToString([]byte(pickle)),
		"beaker sha256":      mac + mac[:24] + base64.StdEncoding.EncodeToString([]byte(pickle)),
		"msgpack":            base64.StdEncoding.EncodeToString([]byte(msgpack)),
		"cbor":               base64.RawURLEncoding.EncodeToString([]byte(cbor)),
		"java serialization": base64.StdEncoding.EncodeToString([]byte(java)),
	} {
		if !slices.ContainsFunc(TextCandidates(v, Where{Part: "cookie"}, nil), func(c Candidate) bool { return c.S == tok }) {
			t.Errorf("%s: the token is not a candidate of %q", name, v)
		}
	}
	if texts, _ := appendBase64Texts(nil, base64.StdEncoding.EncodeToString([]byte("\x80\x99"+tok)), 0, true, new(int)); len(texts) != 0 {
		t.Errorf("0x80 0x99 (no pickle protocol) decoded: %q", texts)
	}
}
