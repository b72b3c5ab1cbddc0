package caddymodule

import (
	"encoding/base64"
	"fmt"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// Hostile input (issue 6): what a client trying to slip a revoked token
// past the gateway, or to revoke what is not its own, sends.

// hostileHandler is a gateway with the RFC 7009 route, a per-tenant
// revocation route and every token channel, on an embedded store, with
// revokedTok already revoked.
func hostileHandler(t *testing.T) (*Handler, *upstream) {
	t.Helper()
	h := newTestHandler(t, &Handler{
		Routes: []*route.Route{
			{Type: "revoke", Path: "/oauth/revoke"},
			{Type: "revoke", Path: "/{tenant}/connect/revocation", Namespace: "{http.vars.tenant}"},
		},
		Cookies:      []string{"session"},
		Headers:      []string{"X-Api-Token"},
		MaxTokenSize: 256,
		MaxBodySize:  4096,
	}, nil)
	up := &upstream{}
	if res := serve(t, h, up, formRequest("POST", "/oauth/revoke", url.Values{"token": {revokedTok}})); res.status != 200 {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}
	return h, up
}

const revokedTok = "REVOKED-tok"

// mustReject serves r and fails unless the gateway answered 401 itself.
func mustReject(t *testing.T, h *Handler, up *upstream, what string, r *http.Request) {
	t.Helper()
	mustAnswer(t, h, up, what, r, http.StatusUnauthorized)
}

// mustRefuse is mustReject for a request the gateway refuses to read
// (token.Unambiguous: 400) before it looks for tokens.
func mustRefuse(t *testing.T, h *Handler, up *upstream, what string, r *http.Request) {
	t.Helper()
	mustAnswer(t, h, up, what, r, http.StatusBadRequest)
}

func mustAnswer(t *testing.T, h *Handler, up *upstream, what string, r *http.Request, want int) {
	t.Helper()
	before := up.reached()
	if res := serve(t, h, up, r); res.status != want {
		t.Errorf("%s: status %d, want %d", what, res.status, want)
	}
	if up.reached() != before {
		t.Errorf("%s: reached the upstream", what)
	}
}

func get(target string, header ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

// TestManyTokensEveryOneChecked puts one revoked token among ten valid
// ones, first, in the middle or last, in each channel and across channels:
// the request is rejected every time.
func TestManyTokensEveryOneChecked(t *testing.T) {
	h, up := hostileHandler(t)
	for _, pos := range []int{0, 5, 10} {
		toks := make([]string, 0, 11)
		for i := range 10 {
			toks = append(toks, fmt.Sprintf("valid-%d", i))
		}
		toks = append(toks[:pos], append([]string{revokedTok}, toks[pos:]...)...)

		r := get("/api")
		for _, tok := range toks {
			r.Header.Add("Authorization", "Bearer "+tok)
		}
		mustReject(t, h, up, fmt.Sprintf("11 Authorization headers, revoked at %d", pos), r)

		var creds []string
		for _, tok := range toks {
			creds = append(creds, "Bearer "+tok)
		}
		mustReject(t, h, up, fmt.Sprintf("11 comma-joined credentials, revoked at %d", pos), get("/api", "Authorization", strings.Join(creds, ", ")))

		q := url.Values{"access_token": toks}
		mustReject(t, h, up, fmt.Sprintf("11 access_token parameters, revoked at %d", pos), get("/api?"+q.Encode()))
		mustReject(t, h, up, fmt.Sprintf("11 access_token form fields, revoked at %d", pos), formRequest("POST", "/api", q))

		r = get("/api")
		for _, tok := range toks {
			r.AddCookie(&http.Cookie{Name: "session", Value: tok})
		}
		mustReject(t, h, up, fmt.Sprintf("11 session cookies, revoked at %d", pos), r)

		r = get("/api")
		for _, tok := range toks {
			r.Header.Add("X-Api-Token", tok)
		}
		mustReject(t, h, up, fmt.Sprintf("11 X-Api-Token headers, revoked at %d", pos), r)
	}

	// Valid tokens on every channel and the revoked one on the last
	// channel looked at.
	r := formRequest("POST", "/api?access_token=valid-q", url.Values{"access_token": {"valid-f1", "valid-f2", revokedTok}})
	r.Header.Add("Authorization", "Bearer valid-h")
	r.Header.Add("X-Api-Token", "valid-x")
	r.AddCookie(&http.Cookie{Name: "session", Value: "valid-c"})
	mustReject(t, h, up, "valid tokens everywhere, the revoked one last in the form", r)

	// Many valid tokens only: passed on.
	r = get("/api")
	for i := range 50 {
		r.Header.Add("Authorization", fmt.Sprintf("Bearer valid-%d", i))
	}
	if res := serve(t, h, up, r); res.status != http.StatusOK {
		t.Errorf("50 valid tokens: %d", res.status)
	}
}

// TestAuthorizationSpellings: the revoked token is found however the
// Authorization header is spelt, duplicated or mixed with other schemes.
func TestAuthorizationSpellings(t *testing.T) {
	h, up := hostileHandler(t)
	for _, v := range [][]string{
		{"Bearer " + revokedTok},
		{"bearer " + revokedTok},
		{"BEARER " + revokedTok},
		{"bEaReR " + revokedTok},
		{"Bearer    " + revokedTok},
		{"   Bearer " + revokedTok + "   "},
		{"Bearer\t" + revokedTok},
		{"Bearer \t " + revokedTok},
		{"DPoP " + revokedTok},
		{"dpop " + revokedTok},
		{"Basic dXNlcjpwYXNz", "Bearer " + revokedTok},
		{"Bearer valid-1", "Bearer " + revokedTok},
		{"Bearer " + revokedTok, "Bearer valid-1"},
		{"Bearer " + revokedTok, "Bearer " + revokedTok},
		{"Bearer valid-1,Bearer " + revokedTok},
		{"Bearer " + revokedTok + ","},
		// Words anywhere: Laravel takes the text after the last "Bearer ",
		// Node code split(' ')[1], DRF "Token <t>", some APIs the bare value.
		{"Bearer junk Bearer " + revokedTok},
		{"Bearer " + revokedTok + " junk"},
		{"Bearerx " + revokedTok},
		{"Token " + revokedTok},
		{revokedTok},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte(revokedTok+":"))},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+revokedTok))},
	} {
		r := get("/api")
		for _, s := range v {
			r.Header.Add("Authorization", s)
		}
		mustReject(t, h, up, fmt.Sprintf("Authorization %q", v), r)
	}
	// A Basic credential that is not strict base64 is refused before it
	// is read (Flask and PHP skip what is not base64 and decode more).
	for _, v := range []string{"Basic dXNlcjpwYXNz, Bearer " + revokedTok, "Basic " + revokedTok} {
		r := get("/api")
		r.Header.Set("Authorization", v)
		mustRefuse(t, h, up, fmt.Sprintf("Authorization %q", v), r)
	}
	// No revoked token in it: passed on, not misread.
	for _, v := range []string{"Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer valid-1, Bearer valid-2", "Bearer a,b"} {
		if res := serve(t, h, up, get("/api", "Authorization", v)); res.status != http.StatusOK {
			t.Errorf("Authorization %q: %d, want 200 (no bearer token in it)", v, res.status)
		}
	}
}

// TestURLEncodedTokens: a token with characters that URL encoding changes
// is found in the query and the form however it is encoded, and a
// different decoding is a different token.
func TestURLEncodedTokens(t *testing.T) {
	h, up := hostileHandler(t)
	const tok = "a+b/c=d%e f"
	if res := serve(t, h, up, formRequest("POST", "/oauth/revoke", url.Values{"token": {tok}})); res.status != 200 {
		t.Fatalf("revoke: %d", res.status)
	}
	for _, q := range []string{
		"access_token=" + url.QueryEscape(tok),                 // a%2Bb%2Fc%3Dd%25e+f
		"access_token=a%2Bb%2Fc%3Dd%25e%20f",                   // %20 for the space
		"access_token=a%2bb%2fc%3dd%25e%20f",                   // lower-case escapes
		"access%5Ftoken=" + url.QueryEscape(tok),               // escaped name
		"x=1&access_token=" + url.QueryEscape(tok) + "&y=2",    // among others
		"access_token=ok&access_token=" + url.QueryEscape(tok), // second value
	} {
		mustReject(t, h, up, "query "+q, get("/api?"+q))
		r := httptest.NewRequest(http.MethodPost, "/api", strings.NewReader(q))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		mustReject(t, h, up, "form "+q, r)
	}
	mustReject(t, h, up, "header", get("/api", "X-Api-Token", tok))
	// "+" is a space in a query: a+b/... is another token.
	if res := serve(t, h, up, get("/api?access_token=a+b/c=d%25e+f")); res.status != http.StatusOK {
		t.Errorf("a different token (+ decoded as space): %d, want 200", res.status)
	}
}

// TestFormContentTypeSpellings: a form body is checked whatever the
// spelling of its media type, including ones Go's mime parser refuses but
// lenient servers (which compare the text before ";") accept.
func TestFormContentTypeSpellings(t *testing.T) {
	h, up := hostileHandler(t)
	body := url.Values{"access_token": {revokedTok}}.Encode()
	for _, ct := range []string{
		"application/x-www-form-urlencoded",
		"Application/X-WWW-Form-URLEncoded",
		"application/x-www-form-urlencoded; charset=utf-8",
		"application/x-www-form-urlencoded;charset=UTF-8",
		" application/x-www-form-urlencoded ",
	} {
		r := httptest.NewRequest(http.MethodPost, "/api", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		mustReject(t, h, up, fmt.Sprintf("Content-Type %q", ct), r)
	}
	// Spellings parsers read apart are refused before they are read.
	for _, ct := range []string{
		"application/x-www-form-urlencoded; charset",
		"application/x-www-form-urlencoded;;",
		"application/x-www-form-urlencoded; charset=\"utf-8",
	} {
		r := httptest.NewRequest(http.MethodPost, "/api", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		mustRefuse(t, h, up, fmt.Sprintf("Content-Type %q", ct), r)
	}
}

// TestOversizedInput: a body over max_body_size is refused (413) before
// anything reaches the upstream, whether its length is announced or not; a
// token over max_token_size is refused (400) on every channel.
func TestOversizedInput(t *testing.T) {
	h, up := hostileHandler(t)
	big := url.Values{"access_token": {"valid"}, "pad": {strings.Repeat("x", 5000)}}.Encode()
	before := up.reached()
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(big)
		if chunked {
			body = io.MultiReader(strings.NewReader(big)) // no length known
		}
		r := httptest.NewRequest(http.MethodPost, "/api", body)
		if chunked {
			r.ContentLength = -1
		}
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if res := serve(t, h, up, r); res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("form body of %d bytes (chunked %v): %d, want 413", len(big), chunked, res.status)
		}
		r = httptest.NewRequest(http.MethodPost, "/oauth/revoke", strings.NewReader(url.Values{"token": {"t"}, "pad": {strings.Repeat("x", 5000)}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if chunked {
			r.ContentLength = -1
		}
		if res := serve(t, h, up, r); res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("revocation body over the limit (chunked %v): %d, want 413", chunked, res.status)
		}
	}
	if up.reached() != before {
		t.Errorf("an oversized request reached the upstream")
	}
	long := strings.Repeat("t", 257)
	for name, r := range map[string]*http.Request{
		"header": get("/api", "Authorization", "Bearer "+long),
		"query":  get("/api?access_token=" + long),
		"form":   formRequest("POST", "/api", url.Values{"access_token": {long}}),
		"cookie": get("/api", "Cookie", "session="+long),
		"custom": get("/api", "X-Api-Token", long),
		"revoke": formRequest("POST", "/oauth/revoke", url.Values{"token": {long}}),
	} {
		if res := serve(t, h, up, r); res.status != http.StatusBadRequest {
			t.Errorf("token of 257 bytes in %s: %d, want 400", name, res.status)
		}
	}
	if up.reached() != before {
		t.Errorf("a request with an oversized token reached the upstream")
	}
	// A JSON or multipart body is a token channel too (express.json,
	// multer, Go's FormValue), and a text/plain one is read by the
	// whole-request scan (applications parse it themselves): one over the
	// limit is refused, never passed on unread; a binary body is read up
	// to the limit and the rest passed on, unless it reads as JSON (a Go
	// decoder reads JSON whatever the Content-Type says).
	for _, c := range []struct {
		ct, body string
		want     int
	}{
		{"application/json", strings.Repeat("{", 10000), http.StatusRequestEntityTooLarge},
		{"multipart/form-data; boundary=xx", strings.Repeat("{", 10000), http.StatusRequestEntityTooLarge},
		{"application/octet-stream", strings.Repeat("\x00\xff", 5000), http.StatusOK},
		{"application/octet-stream", strings.Repeat("{", 10000), http.StatusRequestEntityTooLarge},
		{"text/plain", strings.Repeat("{", 10000), http.StatusRequestEntityTooLarge},
	} {
		r := httptest.NewRequest(http.MethodPost, "/api", strings.NewReader(c.body))
		r.Header.Set("Content-Type", c.ct)
		if res := serve(t, h, up, r); res.status != c.want {
			t.Errorf("a large %s body (%.4q...): %d, want %d", c.ct, c.body, res.status, c.want)
		}
	}
}

// TestRevocationPathTricks: a revocation route cannot be dodged by
// spelling its path another way (the call would reach the upstream, or the
// token would not be recorded), and a path that merely resembles it is
// not intercepted (nothing is revoked by it).
func TestRevocationPathTricks(t *testing.T) {
	intercepted := []string{
		"/oauth/revoke",
		"//oauth/revoke",
		"/oauth//revoke",
		"/oauth/revoke/",
		"/oauth/revoke//",
		"/oauth/./revoke",
		"/./oauth/revoke",
		"/oauth/x/../revoke",
		"/x/../oauth/revoke",
		"/../oauth/revoke",
		"/oauth%2Frevoke",
		"/oauth%2frevoke",
		"/%6Fauth/revoke",
		"/oauth/revok%65",
		"/oauth/revoke%2F",
		"/oauth%2F.%2Frevoke",
		"/oauth/x%2F..%2Frevoke",
	}
	for i, p := range intercepted {
		h, up := hostileHandler(t)
		tok := fmt.Sprintf("path-trick-%d", i)
		before := up.reached()
		res := serve(t, h, up, formRequest("POST", p, url.Values{"token": {tok}}))
		if res.status != http.StatusOK || up.reached() != before {
			t.Errorf("POST %s: %d, upstream reached %v: the revocation route was dodged", p, res.status, up.reached() != before)
			continue
		}
		mustReject(t, h, up, "token revoked through "+p, get("/api", "Authorization", "Bearer "+tok))
	}

	notIntercepted := []string{
		"/oauth/revoke/../../api/items", // /api/items
		"/oauth/revoke/extra",
		"/oauth/revokeX",
		"/oauth/revok",
		"/oauth/revoke.json",
		"/xoauth/revoke",
		"/api/oauth/revoke",
		"/oauth/revoke%00",
		"/oauth/revoke%2Fextra",
		"/OAUTH/REVOKE",
	}
	for i, p := range notIntercepted {
		h, up := hostileHandler(t)
		tok := fmt.Sprintf("look-alike-%d", i)
		before := up.reached()
		res := serve(t, h, up, formRequest("POST", p, url.Values{"token": {tok}}))
		if up.reached() != before+1 {
			t.Errorf("POST %s: %d, intercepted though it is not the route", p, res.status)
		}
		if res := serve(t, h, up, get("/api", "Authorization", "Bearer "+tok)); res.status != http.StatusOK {
			t.Errorf("POST %s revoked its token (%d)", p, res.status)
		}
	}
}
