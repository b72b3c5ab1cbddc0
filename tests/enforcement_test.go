package tests

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
)

// Airtight enforcement (issue 9): each row of the table, through
// the real Caddy binary, against an echoing upstream that records what
// reached it. A request carrying the revoked token must be refused (401,
// or 400/413/415 for one the gateway cannot read) and must not reach the
// upstream; the same request with a valid token must (so a row cannot pass
// by refusing everything).

// enforcementCaddyfile: respond and forward routes, a cookie and a header
// channel, the Keycloak profile in forward mode, a case-insensitive forward
// route, and the underscore spelling of the API key header let through (as
// a site with a CGI-style upstream would). Argument: the upstream.
const enforcementCaddyfile = `{
	servers {
		expected_underscore_headers x_api_key
	}
}

http:// {
	token_revocation {
		revoke /oauth/revoke
		revoke /fwd/revoke forward
		logout /fwd/logout forward
		oauth_token /fwd/token
		revoke /ci/revoke forward {
			case_insensitive
		}
		profile keycloak
		cookie session
		header X-Api-Key
	}
	reverse_proxy %s
}`

// rawExchange sends req (a whole HTTP/1.1 request but for Host and
// Connection, which it adds) exactly as given and returns the status.
func rawExchange(t *testing.T, c *Caddy, req string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.HTTPPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(httpTimeout))
	line, rest, _ := strings.Cut(req, "\r\n")
	if _, err := conn.Write([]byte(line + "\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + rest)); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%.60q: %v", req, err)
	}
	res.Body.Close()
	return res.StatusCode
}

// request builds a raw request: method, target, headers, body (a
// Content-Length is added for a body).
func request(method, target string, headers []string, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

// enforcement is one Caddy in front of an echoing upstream, with a
// revoked token.
type enforcement struct {
	t  *testing.T
	c  *Caddy
	up *Upstream
}

func startEnforcement(t *testing.T) *enforcement {
	up := startUpstream(t)
	return &enforcement{t: t, c: startCaddy(t, enforcementCaddyfile, up.Addr()), up: up}
}

func (e *enforcement) revoke(tok string) {
	e.t.Helper()
	if res := postForm(e.t, e.c.URL("/oauth/revoke"), url.Values{"token": {tok}}); res.Status != http.StatusOK {
		e.t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
}

// refused asserts the gateway refuses req and the upstream does not see
// it.
func (e *enforcement) refused(name, req string) {
	e.t.Helper()
	before := e.up.Count()
	s := rawExchange(e.t, e.c, req)
	switch {
	case e.up.Count() != before:
		e.t.Errorf("%s: reached the upstream (status %d)", name, s)
	case s != http.StatusUnauthorized && s != http.StatusBadRequest && s != http.StatusRequestEntityTooLarge && s != http.StatusUnsupportedMediaType:
		e.t.Errorf("%s: status %d, want 401 (or 400/413/415)", name, s)
	}
}

// passed asserts req reaches the upstream and is answered 2xx.
func (e *enforcement) passed(name, req string) {
	e.t.Helper()
	before := e.up.Count()
	if s := rawExchange(e.t, e.c, req); s < 200 || s > 299 || e.up.Count() != before+1 {
		e.t.Errorf("%s with a valid token: status %d, reached the upstream %d times, want 2xx once", name, s, e.up.Count()-before)
	}
}

// both checks the spelling spell(tok) with the revoked token (refused) and
// a valid one (passed).
func (e *enforcement) both(name string, revoked, valid string, spell func(tok string) string) {
	e.t.Helper()
	e.refused(name, spell(revoked))
	e.passed(name, spell(valid))
}

func TestEnforcementRow01ForwardRoutePathTraversal(t *testing.T) {
	e := startEnforcement(t)
	const tok = "row1-revoked"
	e.revoke(tok)
	for _, target := range []string{
		"/api/secret/../../fwd/revoke", "/api/secret%2F..%2F..%2Ffwd/revoke",
		"/api/secret/../../fwd/logout", "/api/secret/../../fwd/token",
	} {
		e.both("POST "+target, tok, "row1-valid", func(tk string) string {
			body := "token=x"
			if strings.HasSuffix(target, "logout") {
				body = "refresh_token=x"
			} else if strings.HasSuffix(target, "token") {
				body = "grant_type=client_credentials"
			}
			return request("POST", target, []string{"Authorization: Bearer " + tk, formCT}, body)
		})
	}
	// What went upstream is the path the route matched.
	for _, r := range e.up.Requests() {
		if strings.HasPrefix(r.Path, "/api") {
			t.Errorf("a forwarded route call reached the upstream as %s", r.Path)
		}
	}
}

func TestEnforcementRow02CookiePaddingAndSplit(t *testing.T) {
	e := startEnforcement(t)
	const tok = "row2-revoked"
	e.revoke(tok)
	e.both("3000 ';' after the cookie", tok, "row2-valid", func(tk string) string {
		return request("GET", "/api", []string{"Cookie: session=" + tk + strings.Repeat(";", 3000)}, "")
	})
	e.both("3000 cookies before it", tok, "row2-valid", func(tk string) string {
		return request("GET", "/api", []string{"Cookie: " + strings.Repeat("a=1; ", 3001) + "session=" + tk}, "")
	})
	e.both("two Cookie headers", tok, "row2-valid", func(tk string) string {
		return request("GET", "/api", []string{"Cookie: a=1", "Cookie: session=" + tk}, "")
	})
}

func TestEnforcementRow03CookieEncodings(t *testing.T) {
	e := startEnforcement(t)
	const tok = "row3revoked"
	e.revoke(tok)
	e.both("percent-encoded character", tok, "row3valid", func(tk string) string {
		return request("GET", "/api", []string{"Cookie: session=" + strings.Replace(tk, "r", "%72", 1)}, "")
	})
	e.both("octal escape in quotes", tok, "row3valid", func(tk string) string {
		return request("GET", "/api", []string{`Cookie: session="` + strings.Replace(tk, "r", `\162`, 1) + `"`}, "")
	})
	e.both("quoted", tok, "row3valid", func(tk string) string {
		return request("GET", "/api", []string{`Cookie: session="` + tk + `"`}, "")
	})
	e.both("name in another case (ASP.NET)", tok, "row3valid", func(tk string) string {
		return request("GET", "/api", []string{"Cookie: SESSION=" + tk}, "")
	})
}

func TestEnforcementRow04AuthorizationWords(t *testing.T) {
	e := startEnforcement(t)
	const tok, comma = "row4-revoked", "row4,revoked"
	e.revoke(tok)
	e.revoke(comma)
	e.both("Bearer junk Bearer T", tok, "row4-valid", func(tk string) string {
		return request("GET", "/api", []string{"Authorization: Bearer junk Bearer " + tk}, "")
	})
	e.both("Bearer T junk", tok, "row4-valid", func(tk string) string {
		return request("GET", "/api", []string{"Authorization: Bearer " + tk + " junk"}, "")
	})
	e.both("a token holding ','", comma, "row4,valid", func(tk string) string {
		return request("GET", "/api", []string{"Authorization: Bearer " + tk}, "")
	})
}

func TestEnforcementRow05Bodies(t *testing.T) {
	e := startEnforcement(t)
	const tok = "row5-revoked"
	e.revoke(tok)
	e.both("multipart", tok, "row5-valid", func(tk string) string {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		_ = mw.WriteField("access_token", tk)
		mw.Close()
		return request("POST", "/api", []string{"Content-Type: " + mw.FormDataContentType()}, b.String())
	})
	e.both("JSON", tok, "row5-valid", func(tk string) string {
		return request("POST", "/api", []string{"Content-Type: application/json"}, `{"access_token":"`+tk+`"}`)
	})
	e.both("gzip form", tok, "row5-valid", func(tk string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte("access_token=" + tk))
		zw.Close()
		return request("POST", "/api", []string{formCT, "Content-Encoding: gzip"}, b.String())
	})
	// A coding the gateway cannot read is refused, not passed on unread.
	e.refused("brotli form", request("POST", "/api", []string{formCT, "Content-Encoding: br"}, "xxxx"))
}

func TestEnforcementRow06QueryNames(t *testing.T) {
	e := startEnforcement(t)
	const tok = "row6-revoked"
	e.revoke(tok)
	for _, q := range []string{"x=1;access_token=%s", "Access_Token=%s", "access.token=%s", "access%%20token=%s", "access_token[]=%s"} {
		e.both("?"+q, tok, "row6-valid", func(tk string) string {
			return request("GET", "/api?"+fmt.Sprintf(q, tk), nil, "")
		})
	}
}

func TestEnforcementRow07UnderscoreHeader(t *testing.T) {
	e := startEnforcement(t)
	const tok = "row7-revoked"
	e.revoke(tok)
	e.both("X_Api_Key", tok, "row7-valid", func(tk string) string {
		return request("GET", "/api", []string{"X_Api_Key: " + tk}, "")
	})
}

func TestEnforcementRow08JWTWithOddClaims(t *testing.T) {
	e := startEnforcement(t)
	now := time.Now().Unix()
	// The signature "c2lnbg" is "sign": its last character has 4 unused
	// bits, which "c2lnbh" sets (the same signature to golang-jwt,
	// jsonwebtoken and PyJWT); "c2lnbg==" is it padded.
	const header = `{"alg":"RS256","typ":"JWT"}`
	tok := jwttest.Unsigned(header, map[string]any{"sub": 42, "iat": now, "exp": now + 600}, "c2lnbg")
	valid := jwttest.Unsigned(header, map[string]any{"sub": 43, "iat": now, "exp": now + 600}, "c2lnbg")
	e.revoke(tok)
	for name, sig := range map[string]string{"the same token": "c2lnbg", "'==' added to the signature": "c2lnbg==", "the signature's unused bits set": "c2lnbh"} {
		e.both(name, tok, valid, func(tk string) string {
			return request("GET", "/api", []string{"Authorization: Bearer " + strings.TrimSuffix(tk, "c2lnbg") + sig}, "")
		})
	}
}

func TestEnforcementRow09MeshyDBTenant(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		profile meshydb
	}
	reverse_proxy %s
}`, up.Addr())
	e := &enforcement{t: t, c: c, up: up}
	const tok = "row9-revoked"
	if res := postForm(t, c.URL("/acct/connect/revocation"), url.Values{"token": {tok}}, "tenant: t1"); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	for _, tc := range []struct {
		name, path string
		headers    []string
	}{
		{"tenant t1", "/acct/users/me", []string{"tenant: t1"}},
		{"tenant t1 twice", "/acct/users/me", []string{"tenant: t1", "tenant: t1"}},
		{"tenant T1", "/acct/users/me", []string{"tenant: T1"}},
		{"another tenant", "/acct/users/me", []string{"tenant: t2"}},
		{"no tenant", "/acct/users/me", nil},
		{"two different tenants", "/acct/users/me", []string{"tenant: t1", "tenant: t2"}},
		{"the account upper-cased", "/ACCT/users/me", []string{"tenant: t1"}},
	} {
		e.refused(tc.name, request("GET", tc.path, append([]string{"Authorization: Bearer " + tok}, tc.headers...), ""))
	}
	e.passed("valid token", request("GET", "/ACCT/users/me", []string{"Authorization: Bearer row9-valid", "tenant: T1"}, ""))
}

func TestEnforcementRow10TokenEndpointRepeats(t *testing.T) {
	e := startEnforcement(t)
	const refresh = "row10-refresh-revoked"
	e.revoke(refresh)
	for name, req := range map[string]string{
		"refresh_token twice":   request("POST", "/fwd/token", []string{formCT}, "grant_type=refresh_token&refresh_token=good&refresh_token="+refresh),
		"grant_type twice":      request("POST", "/fwd/token", []string{formCT}, "grant_type=password&grant_type=refresh_token&refresh_token="+refresh),
		"JSON body":             request("POST", "/fwd/token", []string{"Content-Type: application/json"}, `{"grant_type":"refresh_token","refresh_token":"`+refresh+`"}`),
		"query and body":        request("POST", "/fwd/token?refresh_token="+refresh, []string{formCT}, "grant_type=refresh_token&refresh_token=good"),
		"';'-joined second one": request("POST", "/fwd/token", []string{formCT}, "grant_type=refresh_token&x=1;refresh_token="+refresh),
	} {
		e.refused(name, req)
	}
	e.passed("one valid refresh token", request("POST", "/fwd/token", []string{formCT}, "grant_type=refresh_token&refresh_token=good"))
}

func TestEnforcementRow11ClockLeeway(t *testing.T) {
	e := startEnforcement(t)
	now := time.Now().Unix()
	// Expired 90 s ago: an upstream with a 5-minute leeway still takes it.
	late := unsignedToken(map[string]any{"jti": "late", "iat": now - 600, "exp": now - 90})
	e.revoke(late)
	e.refused("revoked 90 s after its exp", request("GET", "/api", []string{"Authorization: Bearer " + late}, ""))
	// A session logged out (forward logout, confirmed by the upstream);
	// an access token of it issued 25 s ahead of the gateway's clock.
	refresh := unsignedToken(map[string]any{"typ": "Refresh", "sid": "row11-session", "iat": now - 60, "exp": now + 3600})
	if res := postForm(t, e.c.URL("/fwd/logout"), url.Values{"refresh_token": {refresh}}); res.Status != http.StatusOK {
		t.Fatalf("logout: %d %s", res.Status, res.Body)
	}
	ahead := unsignedToken(map[string]any{"sid": "row11-session", "iat": now + 25, "exp": now + 600})
	e.refused("a token of the session issued 25 s ahead", request("GET", "/api", []string{"Authorization: Bearer " + ahead}, ""))
	other := unsignedToken(map[string]any{"sid": "row11-other", "iat": now + 25, "exp": now + 600})
	e.passed("a token of another session", request("GET", "/api", []string{"Authorization: Bearer " + other}, ""))
}

func TestEnforcementRow12KeycloakRepeatedRefreshToken(t *testing.T) {
	e := startEnforcement(t)
	now := time.Now().Unix()
	iss := "http://idp/realms/demo"
	own := unsignedToken(map[string]any{"iss": iss, "typ": "Refresh", "sid": "attacker", "iat": now, "exp": now + 3600})
	forged := unsignedToken(map[string]any{"iss": iss, "typ": "Refresh", "sid": "victim", "iat": now, "exp": now + 3600})
	victim := unsignedToken(map[string]any{"iss": iss, "sid": "victim", "iat": now - 10, "exp": now + 600})
	for _, path := range []string{"/realms/demo/protocol/openid-connect/logout", "/realms/demo/protocol/openid-connect/revoke"} {
		field := "refresh_token"
		if strings.HasSuffix(path, "revoke") {
			field = "token"
		}
		body := field + "=" + own + "&" + field + "=" + forged
		e.refused("two "+field+" at "+path, request("POST", path, []string{formCT}, body))
	}
	e.passed("the victim's session", request("GET", "/api", []string{"Authorization: Bearer " + victim}, ""))
}

func TestEnforcementRow13ManyTokenFields(t *testing.T) {
	e := startEnforcement(t)
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "token=row13-%d&", i)
	}
	if s := rawExchange(t, e.c, request("POST", "/oauth/revoke", []string{formCT}, b.String())); s != http.StatusBadRequest {
		t.Errorf("1000 token fields: %d, want 400", s)
	}
	e.passed("a token named in it", request("GET", "/api", []string{"Authorization: Bearer row13-7"}, ""))
}

func TestEnforcementRow14RouteSpellings(t *testing.T) {
	e := startEnforcement(t)
	// Case-insensitive route: /CI/REVOKE is the route, recorded, and goes
	// upstream as the path the route names.
	if s := rawExchange(t, e.c, request("POST", "/CI/REVOKE", []string{formCT}, "token=row14-ci")); s != http.StatusOK {
		t.Fatalf("POST /CI/REVOKE: %d", s)
	}
	if p := e.up.Last(t).Path; p != "/ci/revoke" {
		t.Errorf("POST /CI/REVOKE went upstream as %s, want /ci/revoke", p)
	}
	e.refused("token revoked through /CI/REVOKE", request("GET", "/api", []string{"Authorization: Bearer row14-ci"}, ""))
	// Keycloak (JAX-RS) ignores matrix parameters: .../revoke;x=y is the
	// route (the echo's 200 has a body, so the token is revoked by its
	// identity only).
	if s := rawExchange(t, e.c, request("POST", "/realms/demo/protocol/openid-connect/revoke;x=y", []string{formCT}, "token=row14-matrix")); s != http.StatusOK {
		t.Fatalf("POST .../revoke;x=y: %d", s)
	}
	if p := e.up.Last(t).Path; p != "/realms/demo/protocol/openid-connect/revoke" {
		t.Errorf("POST .../revoke;x=y went upstream as %s", p)
	}
	e.refused("token revoked through .../revoke;x=y", request("GET", "/api", []string{"Authorization: Bearer row14-matrix"}, ""))
	e.passed("another token", request("GET", "/api", []string{"Authorization: Bearer row14-valid"}, ""))
}

// TestEnforcementEchoSeesOnlyValidTokens: across every row above, the
// upstream never saw a revoked token (a belt to the rows' braces: the
// recorded requests are searched for every revoked token).
func TestEnforcementEchoSeesOnlyValidTokens(t *testing.T) {
	e := startEnforcement(t)
	const tok = "belt-revoked"
	e.revoke(tok)
	for _, req := range []string{
		request("GET", "/api?access_token="+tok, nil, ""),
		request("GET", "/api", []string{"Cookie: x=1, session=" + tok}, ""),
		request("POST", "/api", []string{"Content-Type: application/vnd.api+json"}, `{"data":{"access_token":"`+tok+`"}}`),
		request("POST", "/api", nil, "access_token="+tok), // no Content-Type: Rack reads a form
	} {
		rawExchange(t, e.c, req)
	}
	for _, r := range e.up.Requests() {
		raw, _ := json.Marshal(r)
		if bytes.Contains(raw, []byte(tok)) {
			t.Errorf("the upstream saw the revoked token: %s", raw)
		}
	}
}
