package token

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// queryTokens is what Extract finds in the query alone.
func queryTokens(t *testing.T, rawQuery string) []string {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.URL.RawQuery = rawQuery
	s := Sources{QueryParam: "access_token"}
	s.Prepare()
	found, err := s.Extract(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range found {
		out = append(out, f.Raw)
	}
	return out
}

// FuzzExtractQueryFindsWhatURLQueryFinds: every access_token that Go's
// url.ParseQuery (r.URL.Query()) reads, Extract finds too (it finds more:
// see lenient.go).
func FuzzExtractQueryFindsWhatURLQueryFinds(f *testing.F) {
	for _, q := range []string{
		"access_token=abc", "a=1&access_token=x&access_token=y", "access_token=a%20b+c", "access%5Ftoken=x",
		"access_token=%zz", "access_token=x;y", "access_token", "access_token=", "&&access_token=v&",
		"access+token=x", "access_token=a=b", "%61ccess_token=z", "access_token=%E2%82%AC",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if strings.Count(q, "&") >= 10000 {
			t.Skip("url.ParseQuery gives up past 10000 pairs; Extract does not (see queryValue)")
		}
		var want []string
		v, _ := url.ParseQuery(q) // as r.URL.Query() does
		for _, tok := range v["access_token"] {
			if tok != "" { // Extract skips empty values
				want = append(want, tok)
			}
		}
		got := queryTokens(t, q)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Fatalf("query %q: Extract found %q, missing %q that url.ParseQuery reads", q, got, w)
			}
		}
	})
}

func TestExtractQueryPastParseQueryLimit(t *testing.T) {
	q := strings.Repeat("x=1&", 10000) + "access_token=hidden"
	if got := queryTokens(t, q); !reflect.DeepEqual(got, []string{"hidden"}) {
		t.Fatalf("found %q, want the token after 10000 other parameters", got)
	}
}

func TestExtractAllocatesNothingForABearerToken(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/api?page=2&sort=name", nil)
	r.Header.Set("Authorization", "Bearer abc")
	s := Sources{Schemes: []string{"Bearer"}, QueryParam: "access_token", FormField: "access_token", MaxTokenSize: 8192}
	s.Prepare()
	var buf [4]Found
	n := testing.AllocsPerRun(100, func() {
		if found, err := s.Extract(r, buf[:0]); err != nil || len(found) != 1 {
			t.Fatalf("found %v, %v", found, err)
		}
	})
	if n != 0 {
		t.Fatalf("Extract allocates %v times, want 0", n)
	}
}

// A body labelled as a form that is not all well-formed (JSON sent with
// curl -d, a stray %) is not refused: its well-formed pairs are checked and
// it is passed on unchanged; a token in a pair after a malformed one, or
// after more pairs than url.ParseQuery reads, is still found.
func TestExtractFormBodyLeniently(t *testing.T) {
	cases := map[string][]string{
		`{"grant_type":"password","password":"100%"}`:      nil,
		"x=%zz&access_token=after-bad-escape":              {"after-bad-escape"},
		strings.Repeat("x=1&", 10000) + "access_token=far": {"far"},
	}
	for body, want := range cases {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		s := Sources{FormField: "access_token", MaxBodySize: 1 << 20}
		found, err := s.Extract(r, nil)
		if err != nil {
			t.Errorf("body %.40q: %v, want no error", body, err)
			continue
		}
		var got []string
		for _, f := range found {
			got = append(got, f.Raw)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("body %.40q: found %q, want %q", body, got, want)
		}
		if rest, _ := io.ReadAll(r.Body); string(rest) != body {
			t.Errorf("body %.40q: the upstream would read %.40q", body, rest)
		}
	}
}

// TestBinaryBodyPastLimitReadAsDocument: a body of a binary type longer
// than max_body_size is passed on with its rest unread, but one that a
// decoder ignoring the Content-Type reads as JSON or XML (Go's
// json.NewDecoder, Flask's get_json(force=True)) is refused: the token
// may be past the limit.
func TestBinaryBodyPastLimitReadAsDocument(t *testing.T) {
	const limit = 1 << 10
	big := strings.Repeat(" ", limit)
	for _, c := range []struct {
		ct, body string
		want     error
	}{
		{"application/octet-stream", big + `{"access_token":"T"}`, ErrBodyTooLarge},
		{"image/png", "\n[" + big, ErrBodyTooLarge},
		{"application/octet-stream", "\xef\xbb\xbf<r>" + big, ErrBodyTooLarge},
		{"application/octet-stream", "\xff\xfe{\x00" + big, ErrBodyTooLarge},
		{"application/octet-stream", "\x89PNG\r\n\x1a\n" + big, nil},
		{"image/svg+xml", "<svg>" + big, nil},
		{"application/grpc", "\x00\x00\x00\x04\x00\x0a\x02" + big, nil}, // a frame: zero bytes, not UTF-16 text
		{"application/octet-stream", "\x00\xff" + big, nil},
		{"application/octet-stream", `{"access_token":"T"}`, nil}, // within the limit: read
	} {
		r, _ := http.NewRequest("POST", "http://h/", strings.NewReader(c.body))
		r.Header.Set("Content-Type", c.ct)
		s := Sources{MaxBodySize: limit}
		_, _, err := s.ExtractBody(r, nil)
		if err != c.want {
			t.Errorf("%s %.12q...: %v, want %v", c.ct, c.body, err, c.want)
		}
		if rest, _ := io.ReadAll(r.Body); string(rest) != c.body {
			t.Errorf("%s %.12q...: the body was not put back whole", c.ct, c.body)
		}
	}
}

// TestExtractReadsNamedChannelsInEverySpelling: a token of any length in
// the named channels' other spellings: JSON whatever the Content-Type
// (Flask's get_json(force=True), Go's json.NewDecoder, Express's
// express.json({type: "*/*"})), an object or array under the configured
// name, a member name encoding/json folds, a Flask or cookie-session
// session kept in the configured cookie; JSON that could name it and does
// not parse, under another type, is refused.
func TestExtractReadsNamedChannelsInEverySpelling(t *testing.T) {
	const tok = "rvk0123abcd"
	b64 := base64.RawURLEncoding.EncodeToString
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(`{"access_token":"` + tok + `","theme":"` + strings.Repeat("dark", 16) + `"}`))
	zw.Close()
	for _, c := range []struct {
		name, ct, body, cookie string
		err                    error
	}{
		{name: "JSON as text/plain", ct: "text/plain", body: `{"access_token":"` + tok + `"}`},
		{name: "JSON with no Content-Type", body: "\r\n" + `{"access_token":"` + tok + `"}`},
		{name: "JSON as a form", ct: "application/x-www-form-urlencoded", body: `{"access_token":"` + tok + `"}`},
		{name: "JSON as octet-stream", ct: "application/octet-stream", body: `[{"access_token":"` + tok + `"}]`},
		{name: "an object under the name", ct: "application/json", body: `{"access_token":{"a":[{"b":"` + tok + `"}]}}`},
		{name: "an object under the name, text/plain", ct: "text/plain", body: `{"x":{"access_token":{"value":"` + tok + `"}}}`},
		{name: "a long s", ct: "application/json", body: `{"acceſſ_token":"` + tok + `"}`},
		{name: "a Kelvin sign, escaped", ct: "text/plain", body: `{"access_to\u212aen":"` + tok + `"}`},
		{name: "Flask session", cookie: b64([]byte(`{"access_token":"`+tok+`"}`)) + ".ZxYzAb.c2lnbmF0dXJl"},
		{name: "Flask session, compressed", cookie: "." + b64(z.Bytes()) + ".ZxYzAb.c2lnbmF0dXJl"},
		{name: "Flask session, junk inside", cookie: func() string { b := b64([]byte(`{"access_token":"` + tok + `"}`)); return b[:5] + "~!~!" + b[5:] }() + ".ZxYzAb.c2lnbmF0dXJl"},
		{name: "Django session", cookie: b64([]byte(`{"u":{"access_token":"`+tok+`"}}`)) + ":1tZxYz:c2lnbmF0dXJl"},
		{name: "base64, a dash inside", cookie: func() string { b := base64.StdEncoding.EncodeToString([]byte(tok)); return b[:4] + "-" + b[4:] }()},
		{name: "cookie-session", cookie: base64.StdEncoding.EncodeToString([]byte(`{"access_token":"` + tok + `"}`))},
		{name: "XML element", ct: "application/xml", body: `<r><x:access_token xmlns:x="u">` + tok[:3] + "<!-- -->&#48;" + tok[4:] + `<i/>tail</x:access_token></r>`},
		{name: "XML attribute, text/plain", ct: "text/plain", body: `<r><x access_token="` + tok + `"/></r>`},
		{name: "YAML", ct: "application/yaml", body: "a:\n  access_token: [" + tok + "]\n"},
		{name: "CBOR", ct: "application/cbor", body: "\xa1\x6caccess_token\x6b" + tok},
		{name: "not JSON, text/plain", ct: "text/plain", body: `{"access_token":"` + tok + `",NaN}`, err: ErrUnreadableBody},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
		r.Header = http.Header{}
		if c.ct != "" {
			r.Header.Set("Content-Type", c.ct)
		}
		if c.cookie != "" {
			r.Header.Set("Cookie", "theme=dark; session="+c.cookie)
		}
		s := Sources{FormField: "access_token", Cookies: []string{"session"}}
		s.Prepare()
		found, _, err := s.ExtractBody(r, nil)
		if err != c.err {
			t.Errorf("%s: error %v, want %v", c.name, err, c.err)
			continue
		}
		if c.err != nil {
			continue
		}
		if !slices.ContainsFunc(found, func(f Found) bool { return f.Raw == tok }) {
			t.Errorf("%s: %q not found in %+v", c.name, tok, found)
		}
	}
}

// TestExtractLeavesSessionsToTheCheck: the strings a session cookie keeps
// are the check's (ExtractBody) alone; a revocation, which reads with
// Extract, must not revoke a session's user id. A JWT in the cookie is a
// token: its claims are not handed out.
func TestExtractLeavesSessionsToTheCheck(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	for _, c := range []struct {
		name, cookie string
		check        bool
	}{
		{"Flask session", b64([]byte(`{"user_id":"u42"}`)) + ".ZxYzAb.c2lnbmF0dXJl", true},
		{"a JWT", b64([]byte(`{"alg":"HS256"}`)) + "." + b64([]byte(`{"sub":"u42"}`)) + ".c2ln", false},
	} {
		for _, body := range []bool{false, true} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Cookie", "session="+c.cookie)
			s := Sources{Cookies: []string{"session"}}
			var found []Found
			if body {
				found, _, _ = s.ExtractBody(r, nil)
			} else {
				found, _ = s.Extract(r, nil)
			}
			got := slices.ContainsFunc(found, func(f Found) bool { return f.Raw == "u42" })
			if want := body && c.check; got != want {
				t.Errorf("%s, ExtractBody %v: u42 handed out %v, want %v", c.name, body, got, want)
			}
		}
	}
}
