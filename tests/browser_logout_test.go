package tests

import (
	"net/http"
	"strings"
	"testing"
)

// browserForwardCaddyfile: a forward-mode browser_logout in front of the
// application at %s.
const browserForwardCaddyfile = `http:// {
	token_revocation {
		store embedded
		cookie access_token
		browser_logout /signout forward
	}
	reverse_proxy %s
}`

// TestBrowserLogoutForwardExpiresCookies: browser_logout in forward mode
// passes the sign-out on to the application, and its 2xx or 3xx answer
// reaches the browser with the same Set-Cookie (Max-Age=0) as respond
// mode gives, once the cookie's token is revoked (issue 25, item 5).
func TestBrowserLogoutForwardExpiresCookies(t *testing.T) {
	app := startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App", "signed-out")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("bye"))
	}))
	c := startCaddy(t, `http:// {
	token_revocation {
		store embedded
		cookie access_token
		cookie refresh
		browser_logout /signout forward {
			cookie_path /app
		}
	}
	reverse_proxy %s
}`, app.Addr())
	tok := unsignedToken(map[string]any{"sub": "alice", "jti": "browser-forward-1", "exp": 4102444800})
	if res := get(t, c.URL("/api"), "Cookie: access_token="+tok); res.Status != http.StatusOK {
		t.Fatalf("before sign-out: %d %s", res.Status, res.Body)
	}
	res := do(t, http.MethodPost, c.URL("/signout"), nil, "Cookie: access_token="+tok, "Sec-Fetch-Site: same-origin")
	if res.Status != http.StatusOK || res.Body != "bye" || res.Header.Get("X-App") != "signed-out" {
		t.Fatalf("sign-out: %d %q X-App %q, want the application's 200 \"bye\"", res.Status, res.Body, res.Header.Get("X-App"))
	}
	if n := app.Count(); n != 2 || app.Last(t).Path != "/signout" {
		t.Fatalf("the application saw %d requests, last %q: want the sign-out forwarded", n, app.Last(t).Path)
	}
	cookies := res.Header.Values("Set-Cookie")
	if len(cookies) != 1 || !strings.HasPrefix(cookies[0], "access_token=;") || !strings.Contains(cookies[0], "Path=/app") ||
		!strings.Contains(cookies[0], "Max-Age=0") {
		t.Fatalf("sign-out Set-Cookie %q: want access_token expired (Max-Age=0, Path=/app), and no other", cookies)
	}
	if res := get(t, c.URL("/api"), "Cookie: access_token="+tok); res.Status != http.StatusUnauthorized {
		t.Fatalf("after sign-out: %d, want 401", res.Status)
	}

	// An application whose sign-out redirects the browser (303), as most
	// do: that confirms it too.
	redirecting := startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/signout" {
			http.Redirect(w, r, "/goodbye", http.StatusSeeOther)
		}
	}))
	c.Reload(browserForwardCaddyfile, redirecting.Addr())
	third := unsignedToken(map[string]any{"sub": "carol", "jti": "browser-forward-3", "exp": 4102444800})
	res = get(t, c.URL("/signout"), "Cookie: access_token="+third, "Sec-Fetch-Site: same-origin")
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/goodbye" || !strings.Contains(res.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("redirecting sign-out: %d Location %q Set-Cookie %q, want the application's 303 with the cookie expired",
			res.Status, res.Header.Get("Location"), res.Header.Get("Set-Cookie"))
	}
	if res := get(t, c.URL("/api"), "Cookie: access_token="+third); res.Status != http.StatusUnauthorized {
		t.Fatalf("after a redirecting sign-out: %d, want 401", res.Status)
	}

	// An application that refuses the sign-out: nothing revoked, no
	// cookie expired.
	refusing := startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/signout" {
			http.Error(w, "no", http.StatusForbidden)
		}
	}))
	c.Reload(browserForwardCaddyfile, refusing.Addr())
	other := unsignedToken(map[string]any{"sub": "bob", "jti": "browser-forward-2", "exp": 4102444800})
	res = do(t, http.MethodPost, c.URL("/signout"), nil, "Cookie: access_token="+other, "Sec-Fetch-Site: same-origin")
	if res.Status != http.StatusForbidden || len(res.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("refused sign-out: %d Set-Cookie %q, want 403 and none", res.Status, res.Header.Values("Set-Cookie"))
	}
	if res := get(t, c.URL("/api"), "Cookie: access_token="+other); res.Status != http.StatusOK {
		t.Fatalf("after a refused sign-out: %d, want 200", res.Status)
	}
}
