package token

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Fuzz tests of hostile input (issue 6): token extraction, form bodies and
// JWT parsing never panic, never lose a token, never change the body the
// upstream gets, and a JWT re-encoded is the same identity. Seed corpora
// are under testdata/fuzz/<name>; scripts/test runs each fuzzer briefly.

// fuzzSources are the channels the extraction fuzzer exercises, with small
// limits so the fuzzer reaches them.
var fuzzSources = Sources{
	Schemes:      []string{"Bearer", "DPoP"},
	QueryParam:   "access_token",
	FormField:    "access_token",
	Cookies:      []string{"session"},
	Headers:      []string{"X-Token"},
	MaxTokenSize: 64,
	MaxBodySize:  256,
}

// isB64Token reports whether s is an RFC 6750 b64token: a token a client
// may send after "Bearer ".
func isB64Token(s string) bool {
	t := strings.TrimRight(s, "=")
	if t == "" {
		return false
	}
	for _, c := range []byte(t) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~+/", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func FuzzExtract(f *testing.F) {
	f.Add("Bearer abc", "good", "access_token=q", "session=c", "application/x-www-form-urlencoded", []byte("access_token=f&x=1"))
	f.Add("bearer\tabc, DPoP def", "a.b.c", "access_token=a%2Bb&access_token=", "session=\"quoted\"; session=x", "application/x-www-form-urlencoded; charset", []byte("access_token=%zz"))
	f.Add("Basic dXNlcjpwYXNz", "x", ";access_token=x;", "", "text/plain", []byte(strings.Repeat("a", 300)))
	f.Add(",,,Bearer ,Bearer", "tok==", "access%5Ftoken=y", "session", "Application/X-WWW-Form-Urlencoded", []byte("access_token="+strings.Repeat("t", 65)))
	f.Fuzz(func(t *testing.T, auth, tok, query, cookie, ct string, body []byte) {
		r := &http.Request{
			Method:        http.MethodPost,
			URL:           &url.URL{Path: "/api", RawQuery: query},
			Header:        http.Header{"Authorization": {auth, "Bearer " + tok}, "Cookie": {cookie}, "Content-Type": {ct}, "X-Token": {auth}},
			Body:          io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)),
		}
		kind, _ := BodyKindOf(r)
		isForm, readsBody := kind == BodyForm, kind != BodyNone
		found, err := fuzzSources.Extract(r, nil)
		for _, f := range found {
			if f.Raw == "" || len(f.Raw) > fuzzSources.MaxTokenSize {
				t.Fatalf("found %q (%s): empty or over the limit", f.Raw, f.Source)
			}
		}
		if errors.Is(err, ErrBodyTooLarge) {
			if !readsBody {
				t.Fatalf("ErrBodyTooLarge for a %d-byte body of kind %v", len(body), kind)
			}
			return // answered 413: the upstream gets nothing
		}
		// The upstream gets the body unchanged.
		got, rerr := io.ReadAll(r.Body)
		if rerr != nil || !bytes.Equal(got, body) {
			t.Fatalf("body changed: %q, want %q (%v)", got, body, rerr)
		}
		if readsBody && r.ContentLength != int64(len(body)) {
			t.Fatalf("ContentLength %d, body %d bytes", r.ContentLength, len(body))
		}
		if err != nil && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrTooManyTokens) {
			if !readsBody {
				t.Fatalf("error %v without a body to read", err)
			}
			return // unreadable body: answered 400 or 415
		}
		if err != nil {
			return // a token over the limit: answered 400
		}
		// No token is lost: a well-formed bearer token, and every form
		// value, is found.
		raws := make([]string, len(found))
		for i, f := range found {
			raws[i] = f.Raw
		}
		if isB64Token(tok) && !slices.Contains(raws, tok) {
			t.Fatalf("Authorization: Bearer %q not found in %q", tok, raws)
		}
		if isForm {
			vals, perr := url.ParseQuery(string(body))
			if perr == nil {
				for _, v := range vals["access_token"] {
					if v != "" && !slices.Contains(raws, v) {
						t.Fatalf("form access_token %q not found in %q", v, raws)
					}
				}
			}
		}
	})
}

func FuzzReadForm(f *testing.F) {
	f.Add([]byte("token=abc&token_type_hint=refresh_token"), uint16(100))
	f.Add([]byte("token=a%2Bb%2F&token=%zz;x"), uint16(0))
	f.Add([]byte(strings.Repeat("x=1&", 100)), uint16(10))
	f.Add([]byte("\x00\xff=\r\n"), uint16(5))
	f.Fuzz(func(t *testing.T, body []byte, limit uint16) {
		r := &http.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
		vals, err := ReadForm(r, int64(limit))
		if limit > 0 && len(body) > int(limit) {
			if !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("%d-byte body over the %d limit: %v", len(body), limit, err)
			}
			return
		}
		want, werr := url.ParseQuery(string(body))
		if (err == nil) != (werr == nil) || !reflect.DeepEqual(vals, want) {
			t.Fatalf("ReadForm = %v, %v; url.ParseQuery = %v, %v", vals, err, want, werr)
		}
		got, _ := io.ReadAll(r.Body)
		if !bytes.Equal(got, body) || r.ContentLength != int64(len(body)) {
			t.Fatalf("body after ReadForm: %q (length %d), want %q", got, r.ContentLength, body)
		}
	})
}

func FuzzParseIdentity(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	f.Add(enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"u","sid":"s","jti":"j","iat":1,"exp":2}`)) + ".c2ln")
	f.Add(enc([]byte(`{"alg":"none"}`)) + "==." + enc([]byte(`{"aud":["a","b"],"iat":"x"}`)) + "=.")
	f.Add("opaque-token")
	f.Add("a.b.c")
	f.Add("..")
	f.Add(enc([]byte(`{}`)) + "." + enc([]byte(`{"jti":"}\r\n*:"}`)) + ".x.y")
	f.Fuzz(func(t *testing.T, raw string) {
		tok := Parse(raw)
		again := Parse(raw)
		if !reflect.DeepEqual(tok.Identity(), again.Identity()) {
			t.Fatalf("Identity of %q is not deterministic", raw)
		}
		id := tok.Identity()
		if !tok.JWT {
			if len(id) != 2 || string(id[1]) != raw {
				t.Fatalf("opaque %q: identity %q does not hold the raw token", raw, id)
			}
			return
		}
		// The same header and payload, encoded otherwise (padded, or not)
		// and with another signature, are the same token.
		for _, e := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding} {
			re := e.EncodeToString(tok.Header) + "." + e.EncodeToString(tok.Payload) + ".b3RoZXI"
			rt := Parse(re)
			if !rt.JWT {
				t.Fatalf("%q re-encoded as %q is no longer a JWT", raw, re)
			}
			if !reflect.DeepEqual(rt.Identity(), id) {
				t.Fatalf("%q re-encoded as %q: identity %q, want %q", raw, re, rt.Identity(), id)
			}
			if !reflect.DeepEqual(rt.Claims, tok.Claims) {
				t.Fatalf("%q re-encoded: claims %+v, want %+v", raw, rt.Claims, tok.Claims)
			}
		}
		// A JWT and an opaque token never share an identity.
		op := Token{Raw: raw}
		if reflect.DeepEqual(op.Identity(), id) {
			t.Fatalf("JWT %q has the identity of an opaque token", raw)
		}
	})
}
