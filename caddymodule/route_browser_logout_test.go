package caddymodule

import (
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func browserLogoutHandler(t *testing.T, redirect string) *Handler {
	rc := &route.Route{Type: "browser_logout", Path: "/logout"}
	if redirect != "" {
		rc.BrowserLogout = &route.BrowserLogout{Redirect: redirect}
	}
	return newTestHandler(t, &Handler{Routes: []*route.Route{rc}, Cookies: []string{"access_token"}}, nil)
}

func logoutRequest(method, tok string, headers ...string) *http.Request {
	r := httptest.NewRequest(method, "http://app.test/logout", nil)
	if tok != "" {
		r.AddCookie(&http.Cookie{Name: "access_token", Value: tok})
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

func TestBrowserLogout(t *testing.T) {
	now := time.Now().Unix()
	for _, c := range []struct {
		name    string
		method  string
		headers []string
		want    int
		says    string // in the refusal's body
	}{
		{"POST, no headers", "POST", nil, 303, ""},
		{"POST, same-origin", "POST", []string{"Sec-Fetch-Site", "same-origin", "Origin", "http://app.test"}, 303, ""},
		{"GET, same-origin", "GET", []string{"Sec-Fetch-Site", "same-origin"}, 303, ""},
		{"GET, typed in", "GET", []string{"Sec-Fetch-Site", "none"}, 303, ""},
		{"GET, Referer of this site", "GET", []string{"Referer", "http://app.test/home"}, 303, ""},
		{"GET, no evidence", "GET", nil, 403, "a GET logout must show it comes from this site (browsers send Sec-Fetch-Site, Origin or Referer on a link or form of this site; this request has none): send a POST"},
		{"GET, cross-site", "GET", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site logout refused"},
		{"POST, cross-site", "POST", []string{"Sec-Fetch-Site", "cross-site"}, 403, ""},
		{"POST, other Origin", "POST", []string{"Origin", "https://evil.test"}, 403, ""},
		{"GET, other Referer", "GET", []string{"Referer", "https://evil.test/x"}, 403, ""},
		{"POST, same-site header but other Origin", "POST", []string{"Sec-Fetch-Site", "same-site", "Origin", "http://other.app.test"}, 403, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := browserLogoutHandler(t, "/bye")
			tok := jwt(map[string]any{"iss": "idp", "sub": "u1", "iat": now, "exp": now + 300, "n": c.name})
			res := serve(t, h, &upstream{}, logoutRequest(c.method, tok, c.headers...))
			if res.status != c.want || !strings.Contains(res.body, c.says) {
				t.Fatalf("status %d %s, want %d saying %q", res.status, res.body, c.want, c.says)
			}
			api := serve(t, h, &upstream{}, bearer("/api", tok)).status
			if c.want == 303 {
				set := res.header.Get("Set-Cookie")
				if res.header.Get("Location") != "/bye" || !strings.HasPrefix(set, "access_token=;") || !strings.Contains(set, "Max-Age=0") {
					t.Errorf("answer: Location %q, Set-Cookie %q", res.header.Get("Location"), set)
				}
				if api != 401 {
					t.Errorf("the logged-out token: %d, want 401", api)
				}
			} else if api != 200 {
				t.Errorf("a refused logout revoked the token: %d", api)
			}
		})
	}
}

func TestBrowserLogoutAuthorizationOnlyAndNoToken(t *testing.T) {
	h := browserLogoutHandler(t, "")
	r := httptest.NewRequest("POST", "http://app.test/logout", nil)
	r.Header.Set("Authorization", "Bearer opaque-1")
	if res := serve(t, h, &upstream{}, r); res.status != 204 || res.header.Get("Set-Cookie") != "" {
		t.Fatalf("Authorization only: %d, Set-Cookie %q; want 204, none", res.status, res.header.Get("Set-Cookie"))
	}
	if s := serve(t, h, &upstream{}, bearer("/api", "opaque-1")).status; s != 401 {
		t.Errorf("the logged-out token: %d, want 401", s)
	}
	if res := serve(t, h, &upstream{}, logoutRequest("POST", "")); res.status != 204 {
		t.Errorf("no token: %d, want 204", res.status)
	}
}

func TestBrowserLogoutConfigChecked(t *testing.T) {
	for _, rc := range []*route.Route{
		{Type: "logout", Path: "/l", BrowserLogout: &route.BrowserLogout{Redirect: "/x"}},
		{Type: "browser_logout", Path: "/l", BrowserLogout: &route.BrowserLogout{Redirect: "javascript-ish"}},
	} {
		if _, err := route.Compile(rc); err == nil {
			t.Errorf("%s with %+v: accepted", rc.Type, rc.BrowserLogout)
		}
	}
}
