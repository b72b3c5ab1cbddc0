package token

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMayHoldName: every spelling a lenient reader takes for the name
// makes the body one that may hold it; bodies without it in any spelling
// do not.
func TestMayHoldName(t *testing.T) {
	const want = "access_token"
	for _, body := range []string{
		`{"access_token":"T"}`,
		`{"ACCESS_TOKEN":"T"}`,
		`{"Access.Token":"T"}`,
		`{"access token":"T"}`,
		`{"access+token":"T"}`,
		`{"access_token[0]":"T"}`,
		`{"\u0061ccess_token":"T"}`,
		"{\"acce\u017f\u017f_token\":\"T\"}", // long s: encoding/json folds it to s
		"{\"access_to\u212aen\":\"T\"}",      // Kelvin sign: encoding/json folds it to k
		`{"access_to\x6ben":"T"}`,            // JSON5
		`{"access_to\ken":"T"}`,              // JavaScript's identity escape
		"{\"access_to\\\nken\":\"T\"}",       // line continuation
		`{"access%5Ftoken":"T"}`,
		utf16le(`{"x":1,"access_token":"T"}`),                     // Python's json.loads detects UTF-16 whatever the charset
		`[1,2,{"a":{"b":[{"tOkEn_access":"T"},{"access":"T"}]}}]`, // both segments, elsewhere
	} {
		if !mayHoldName([]byte(body), want) {
			t.Errorf("%s: may not hold %q", body, want)
		}
	}
	for _, body := range []string{
		`{"id":"0000001a-1a3d","description":"a \"quoted\" word\nand\ta \/ slash \\ back"}`,
		`{"access":"T"}`, // one segment only
		`{"token":"T","tok":"acc"}`,
		`{"x":NaN}`, // not JSON, and no name: every string in it is scanned anyway
		``,
	} {
		if mayHoldName([]byte(body), want) {
			t.Errorf("%s: may hold %q", body, want)
		}
	}
}

// TestJSONWithoutTheNameIsNotWalked: a body that is not one JSON value
// is refused when it may hold the form field, and passed (to the
// whole-request scan) when no member can be named so.
func TestJSONWithoutTheNameIsNotWalked(t *testing.T) {
	for body, refused := range map[string]bool{
		`{"x":NaN,"access_token":"T"}`:    true,
		`{"x":NaN,"ACCESS.TOKEN":"T"}`:    true,
		`{"x":NaN,"\u0061ccess_token":1}`: true,
		`{"x":NaN,"token":"T"}`:           false,
		utf16le(`{"access_token":"T"}`):   true, // a Content-Type "cha%rset=utf-16le" names no charset
		`{"x":1} {"y":2}`:                 false,
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		_, err := lenientSources().Extract(r, nil)
		if got := errors.Is(err, ErrUnreadableBody); got != refused {
			t.Errorf("%s: refused %v (%v), want %v", body, got, err, refused)
		}
	}
}

// FuzzMayHoldNameNeverMisses: whenever a member of a JSON body is the
// form field to the walk that reads it (nameMatches) or to
// encoding/json's case folding, mayHoldName says the body may hold it.
func FuzzMayHoldNameNeverMisses(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"T"}`, `{"a":[{"ACCESS.token":1}]}`, `{"\u0061ccess_token":1}`,
		"{\"acce\u017f\u017f_token\":1}", `{"token":1}`, `{"tok\u0065n":1}`,
	} {
		f.Add(s, "access_token")
		f.Add(s, "token")
	}
	f.Fuzz(func(t *testing.T, body, name string) {
		want := NormalizeName(name)
		if want == "" || len(want) > 32 {
			return
		}
		named := false
		walkJSONParams([]byte(body), false, func(string, string, bool) {}, func(n string) bool {
			named = named || nameMatches(n, want, true) || strings.EqualFold(n, want)
			return false
		})
		if named && !mayHoldName([]byte(body), want) {
			t.Fatalf("%q names %q, but mayHoldName says it cannot", body, want)
		}
	})
}

// FuzzPlainASCIIEscapesIsTheByteLoop: the word-at-a-time reading of
// plainASCIIEscapes answers as a plain byte loop does.
func FuzzPlainASCIIEscapesIsTheByteLoop(f *testing.F) {
	for _, s := range []string{`a\"b\\c\/d`, `0123456\u0061`, `%41`, "\\\\\\\\u", "caf\xc3\xa9", `1234567\`, `12345678\\x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := true
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= 0x80 || c == '%' || c == 0 {
				want = false
				break
			}
			if c == '\\' {
				if i+1 == len(s) || !strings.ContainsRune(`"\/bfnrt`, rune(s[i+1])) {
					want = false
					break
				}
				i++
			}
		}
		if got := plainASCIIEscapes([]byte(s)); got != want {
			t.Fatalf("%q: %v, want %v", s, got, want)
		}
	})
}

// utf16le is s in UTF-16LE (s is ASCII).
func utf16le(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		b.WriteByte(0)
	}
	return b.String()
}
