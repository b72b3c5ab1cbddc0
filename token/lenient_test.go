package token

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// lenientSources: every channel, as the gateway configures them.
func lenientSources() *Sources {
	s := fuzzSources // the fuzzer's channels, with roomier limits
	s.Headers = []string{"X-Api-Key"}
	s.MaxTokenSize, s.MaxBodySize = 1024, 1<<16
	s.Prepare()
	return &s
}

func found(t *testing.T, r *http.Request) []string {
	t.Helper()
	f, err := lenientSources().Extract(r, nil)
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	var out []string
	for _, x := range f {
		out = append(out, x.Raw)
	}
	return out
}

// TestExtractReadsWhatLenientUpstreamsRead: one request per spelling that
// some widely used framework reads a token from (issue 9's table); Extract
// must find the token T in each.
func TestExtractReadsWhatLenientUpstreamsRead(t *testing.T) {
	const T = "T0k3n-value"
	get := func(target string, headers ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.RawQuery = strings.TrimPrefix(target, "?")
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ": ")
			r.Header[k] = append(r.Header[k], v) // as sent: not canonicalized
		}
		return r
	}
	post := func(body string, headers ...string) *http.Request {
		r := get("", headers...)
		r.Method = http.MethodPost
		r.Body = io.NopCloser(strings.NewReader(body))
		return r
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("access_token", T)
	mw.Close()
	var gz, zl bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("access_token=" + T))
	zw.Close()
	zlw := zlib.NewWriter(&zl)
	zlw.Write([]byte("access_token=" + T))
	zlw.Close()

	for name, r := range map[string]*http.Request{
		"Laravel: last Bearer":         get("", "Authorization: Bearer junk Bearer "+T),
		"split(' ')[1]":                get("", "Authorization: Bearer "+T+" junk"),
		"DRF Token scheme":             get("", "Authorization: Token "+T),
		"bare value":                   get("", "Authorization: "+T),
		"quoted":                       get("", `Authorization: Bearer "`+T+`"`),
		"Rails: T;x=y":                 get("", "Authorization: Bearer "+T+";x=y"),
		"Flask-HTTPAuth: Bearer\\xa0T": get("", "Authorization: Bearer\xa0"+T),
		"Flask-HTTPAuth: Bearer\\x85T": get("", "Authorization: Bearer\x85"+T),
		"JavaScript trim(): T\\xa0":    get("", "Authorization: Bearer "+T+"\xa0"),
		"Rails: token=\"T\"":           get("", `Authorization: Token token="`+T+`"`),
		"multipart, two names":         post("--b\r\nContent-Disposition: form-data; name=\"x\"; name=\"access_token\"\r\n\r\n"+T+"\r\n--b--\r\n", "Content-Type: multipart/form-data; boundary=b"),
		"Basic user":                   get("", "Authorization: Basic VDBrM24tdmFsdWU6"),
		"cookie after 3000 ';'":        get("", "Cookie: session="+T+strings.Repeat(";", 3000)),
		"cookie in a second header":    get("", "Cookie: a=1", "Cookie: session="+T),
		"cookie percent-encoded":       get("", "Cookie: session=%54"+T[1:]),
		"cookie octal in quotes":       get("", `Cookie: session="\124`+T[1:]+`"`),
		"cookie name case":             get("", "Cookie: Session="+T),
		"cookie ',' separated":         get("", "Cookie: a=1, session="+T),
		"cookie name percent-encoded":  get("", "Cookie: sess%69on="+T),
		"query ';'":                    get("?x=1;access_token=" + T),
		"query name case":              get("?ACCESS_TOKEN=" + T),
		"query name PHP '.'":           get("?access.token=" + T),
		"query name PHP ' '":           get("?access%20token=" + T),
		"query name PHP '['":           get("?access[token=" + T),
		"query array":                  get("?access_token[]=" + T),
		"query malformed escape kept":  get("?access_token=" + T + "%zz"),
		"header '_'":                   get("", "X_Api_Key: "+T),
		"header '.'":                   get("", "X.Api.Key: "+T),
		"header joined by ','":         get("", "X-Api-Key: junk, "+T),
		"multipart":                    post(mp.String(), "Content-Type: "+mw.FormDataContentType()),
		"JSON":                         post(`{"access_token":"`+T+`"}`, "Content-Type: application/json"),
		"JSON nested, +json":           post(`{"data":{"Access_Token":["`+T+`"]}}`, "Content-Type: application/vnd.api+json"),
		"JSON duplicate member":        post(`{"access_token":"`+T+`","access_token":"x"}`, "Content-Type: application/json"),
		"gzip form":                    post(gz.String(), "Content-Type: application/x-www-form-urlencoded", "Content-Encoding: gzip"),
		"deflate form":                 post(zl.String(), "Content-Type: application/x-www-form-urlencoded", "Content-Encoding: deflate"),
		"form without Content-Type":    post("access_token=" + T),
		"form, odd Content-Type":       post("access_token="+T, "Content-Type: application/x-www-form-urlencoded;;"),
	} {
		got := found(t, r)
		want := T
		if name == "query malformed escape kept" {
			want = T + "%zz"
		}
		if !slices.Contains(got, want) {
			t.Errorf("%s: found %q, missing %q", name, got, want)
		}
	}
}

// TestExtractRefusesWhatItCannotRead: a body of a type the gateway reads
// that it cannot decode is an error (answered 4xx), never passed unread.
func TestExtractRefusesWhatItCannotRead(t *testing.T) {
	for name, tc := range map[string]struct {
		headers []string
		body    string
		want    error
	}{
		"brotli form":                     {[]string{"Content-Type: application/x-www-form-urlencoded", "Content-Encoding: br"}, "x", ErrUnsupportedEncoding},
		"gzip twice":                      {[]string{"Content-Type: application/json", "Content-Encoding: gzip, gzip"}, "x", ErrUnsupportedEncoding},
		"bad gzip":                        {[]string{"Content-Type: application/json", "Content-Encoding: gzip"}, "not gzip", ErrUnreadableBody},
		"multipart no boundary":           {[]string{"Content-Type: multipart/form-data"}, "--x\r\n", ErrUnreadableBody},
		"two Content-Types":               {[]string{"Content-Type: application/json", "Content-Type: application/x-www-form-urlencoded"}, "a=1", ErrUnreadableBody},
		"JSON too deep":                   {[]string{"Content-Type: application/json"}, strings.Repeat(`{"a":`, 100) + `{"access_token":"T"}` + strings.Repeat("}", 100), ErrUnreadableBody},
		"JSON with NaN (Python reads it)": {[]string{"Content-Type: application/json"}, `{"x":NaN,"access_token":"T"}`, ErrUnreadableBody},
		"JSON, two values":                {[]string{"Content-Type: application/json"}, `{} {"access_token":"T"}`, ErrUnreadableBody},
		"UTF-16 JSON":                     {[]string{"Content-Type: application/json; charset=utf-16le"}, "{\x00}\x00", ErrUnsupportedCharset},
		"UTF-16 form":                     {[]string{"Content-Type: application/x-www-form-urlencoded; charset=UTF-16"}, "a\x00", ErrUnsupportedCharset},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
		for _, h := range tc.headers {
			k, v, _ := strings.Cut(h, ": ")
			r.Header.Add(k, v)
		}
		if _, err := lenientSources().Extract(r, nil); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	var q strings.Builder
	for i := range MaxFound + 1 {
		fmt.Fprintf(&q, "access_token=x%d&", i)
	}
	r := httptest.NewRequest(http.MethodGet, "/?"+q.String(), nil)
	if _, err := lenientSources().Extract(r, nil); !errors.Is(err, ErrTooManyTokens) {
		t.Errorf("%d tokens: %v, want ErrTooManyTokens", MaxFound+1, err)
	}
}

// TestParamsOneValueEach: a route parameter given twice, in any spelling
// a lenient reader would take for it, is seen as repeated.
func TestParamsOneValueEach(t *testing.T) {
	for name, tc := range map[string]struct{ query, ct, body string }{
		"form twice":      {"", "application/x-www-form-urlencoded", "token=a&token=b"},
		"query and form":  {"token=a", "application/x-www-form-urlencoded", "token=b"},
		"';' inside '&'":  {"", "application/x-www-form-urlencoded", "x=1;token=b&token=a"},
		"case":            {"", "application/x-www-form-urlencoded", "token=a&TOKEN=b"},
		"PHP name":        {"", "application/x-www-form-urlencoded", "token=a&token[]=b"},
		"JSON array":      {"", "application/json", `{"token":["a","b"]}`},
		"JSON duplicated": {"", "application/json", `{"token":"a","token":"b"}`},
	} {
		r := httptest.NewRequest(http.MethodPost, "/?"+tc.query, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", tc.ct)
		p, err := ReadParams(r, 1<<16)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Repeated("token") != "token" {
			t.Errorf("%s: token %q not seen as repeated", name, p.Values("token"))
		}
		if rest, _ := io.ReadAll(r.Body); string(rest) != tc.body {
			t.Errorf("%s: body changed for the upstream", name)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("token=a&token_type_hint=refresh_token"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p, err := ReadParams(r, 0)
	if err != nil || p.Repeated(singleParamsForTest...) != "" {
		t.Fatalf("one of each: %v, repeated %q", err, p.Repeated(singleParamsForTest...))
	}
	if v, err := p.Get("token"); v != "a" || err != nil {
		t.Errorf("token = %q, %v", v, err)
	}
}

var singleParamsForTest = []string{"token", "token_type_hint"}

// FuzzCookiesFindWhatGoFinds: every value of the cookie that net/http
// reads, Extract finds too.
func FuzzCookiesFindWhatGoFinds(f *testing.F) {
	for _, s := range []string{"session=a", "a=1; session=b; session=c", `session="q"`, "session=%41", "session=a" + strings.Repeat(";", 10), "SESSION=x", " session = y ", "session=a,b"} {
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, line, line2 string) {
		r := &http.Request{URL: &url.URL{Path: "/"}, Header: http.Header{"Cookie": {line, line2}}}
		f, err := lenientSources().Extract(r, nil)
		if err != nil {
			return // refused (too many, too large)
		}
		for _, c := range r.CookiesNamed("session") {
			if c.Value != "" && !slices.ContainsFunc(f, func(x Found) bool { return x.Raw == c.Value }) {
				t.Fatalf("Cookie %q %q: net/http reads session=%q, Extract found %v", line, line2, c.Value, f)
			}
		}
	})
}

// FuzzMultipartFindsWhatGoFinds: every access_token value net/http's
// multipart reader (FormValue) reads, Extract finds too, or the body is
// refused.
func FuzzMultipartFindsWhatGoFinds(f *testing.F) {
	f.Add("--b\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\nT\r\n--b--\r\n")
	f.Add("--b\r\nContent-Disposition: form-data; name=access_token\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nT=3D\r\n--b--\r\n")
	f.Add("preamble\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b\r\nContent-Disposition: form-data; name=\"access_token\"; filename=\"x\"\r\n\r\nT\r\n--b--")
	f.Fuzz(func(t *testing.T, body string) {
		mk := func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			r.Header.Set("Content-Type", "multipart/form-data; boundary=b")
			return r
		}
		ref := mk()
		if ref.ParseMultipartForm(1<<16) != nil || ref.MultipartForm == nil {
			return
		}
		got, err := lenientSources().Extract(mk(), nil)
		if err != nil {
			return // refused
		}
		for _, v := range ref.MultipartForm.Value["access_token"] {
			if v != "" && len(v) <= 1024 && !slices.ContainsFunc(got, func(x Found) bool { return x.Raw == v }) {
				t.Fatalf("body %q: net/http reads access_token=%q, Extract found %v", body, v, got)
			}
		}
	})
}

// FuzzJSONFindsWhatGoFinds: a top-level access_token string that
// encoding/json reads, Extract finds too, or the body is refused.
func FuzzJSONFindsWhatGoFinds(f *testing.F) {
	for _, s := range []string{`{"access_token":"T"}`, `{"a":{"access_token":"T"}}`, `{"access_token":"T","access_token":"U"}`, `{"ACCESS_TOKEN":"T"}`, `[{"access_token":"T"}]`, "\ufeff{\"access_token\":\"T\"}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var ref struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal([]byte(body), &ref) != nil || ref.AccessToken == "" || len(ref.AccessToken) > 1024 {
			return
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		got, err := lenientSources().Extract(r, nil)
		if err != nil {
			return // refused
		}
		if !slices.ContainsFunc(got, func(x Found) bool { return x.Raw == ref.AccessToken }) {
			t.Fatalf("body %q: encoding/json reads access_token=%q, Extract found %v", body, ref.AccessToken, got)
		}
	})
}

// TestPartCharsetRefused: a multipart part that declares a charset which
// does not spell ASCII as ASCII is refused (busboy decodes a field with
// it; its "base64" one encodes the bytes); UTF-8 and no charset are read.
func TestPartCharsetRefused(t *testing.T) {
	part := func(ct string) string {
		return "--b\r\nContent-Disposition: form-data; name=\"access_token\"\r\n" + ct + "\r\n\x8c\xe7\x3a\r\n--b--\r\n"
	}
	for body, want := range map[string]error{
		part("Content-Type: text/plain; charset=base64\r\n"):       ErrUnsupportedCharset,
		part("Content-Type: text/plain; CHARSET=\"utf-16le\"\r\n"): ErrUnsupportedCharset,
		part("Content-Type: text/plain; charset=utf-8\r\n"):        nil,
		part(""): nil,
		"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\ncharset\r\n--b--\r\n": nil,
	} {
		r, _ := http.NewRequest("POST", "http://h/", strings.NewReader(body))
		r.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		var s Sources
		if _, _, err := s.ExtractBody(r, nil); err != want {
			t.Errorf("ExtractBody(%q): %v, want %v", body, err, want)
		}
	}
}

// TestCookieParserForms: Express's cookie-parser unsigns "s:" cookies and
// parses "j:" ones; the named cookie channel reads a token, of any
// length, in each form (the scan finds only those of 16 bytes or more).
func TestCookieParserForms(t *testing.T) {
	const tok = "rvk0123456789"
	for _, v := range []string{`j:"` + tok + `"`, "s:" + tok + ".c2ln", `s:j:"` + tok + `".c2ln`, `j:{"a":["x","` + tok + `"]}`, `j%3A%22` + tok + `%22`} {
		var got []string
		cookieValues(&http.Request{Header: http.Header{"Cookie": {"session=" + v}}}, "session", func(s string) { got = append(got, s) }, true)
		if !slices.Contains(got, tok) {
			t.Errorf("session=%s: read %q, want %q among them", v, got, tok)
		}
	}
}
