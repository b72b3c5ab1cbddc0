package route

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// kindBrowserLogout is a browser's sign-out link or button: it revokes the
// caller's own tokens and expires its cookies.
var kindBrowserLogout = &Kind{
	Methods:  []string{http.MethodGet, http.MethodPost},
	Read:     readBrowserLogout,
	Respond:  respondBrowserLogout,
	Recorded: recordedBrowserLogout,
	// An application's sign-out usually redirects the browser.
	RedirectConfirms: true,
	browserLogout:    true,
}

// browser_logout: a browser's "sign out" link or button.
//
// It revokes the caller's own tokens, those of the handler's cookies and of
// the Authorization header (as a logout: a verified token's session too),
// expires the cookies (Set-Cookie with Max-Age=0) and redirects to
// BrowserLogout.Redirect (303) or answers 204. In forward mode the
// upstream (the application's own sign-out) answers; its 2xx answer, or
// its 3xx (a sign-out usually redirects the browser), confirms the
// sign-out and carries the same Set-Cookie headers. No body is needed; a call
// that carries no token is answered the same (logging out twice is fine).
//
// Cross-site request forgery: a page elsewhere must not log the user out.
//
//   - POST is refused (403) when the browser says the request is
//     cross-site: Sec-Fetch-Site: cross-site, or an Origin other than the
//     request's own scheme and host.
//   - GET must prove it is same-site: Sec-Fetch-Site same-origin,
//     same-site or none (typed in, a bookmark), or else an Origin or
//     Referer of the request's own scheme and host. A GET with none of
//     these headers (an old browser, a privacy proxy) is refused: use POST.
//
// A request with an Authorization header only (no cookie: an API client,
// whose token no other site can attach) passes the check.

// BrowserLogoutConfig returns rc's BrowserLogout, made on first use.
func BrowserLogoutConfig(rc *Route) *BrowserLogout {
	if rc.BrowserLogout == nil {
		rc.BrowserLogout = &BrowserLogout{}
	}
	return rc.BrowserLogout
}

// checkBrowserLogout refuses BrowserLogout settings on route kinds that
// take none.
func checkBrowserLogout(rc *Route, kind *Kind) error {
	if rc.BrowserLogout != nil && !kind.browserLogout {
		return fmt.Errorf("redirect, cookie_path and cookie_domain apply to browser_logout routes only")
	}
	if b := rc.BrowserLogout; b != nil && b.Redirect != "" {
		if u, err := url.Parse(b.Redirect); err != nil || (u.Scheme == "" && !strings.HasPrefix(b.Redirect, "/")) {
			return fmt.Errorf("redirect %q: want an absolute URL or a path", b.Redirect)
		}
	}
	return nil
}

// errCrossSite answers a browser logout the browser says another site sent.
var errCrossSite = &OAuthError{Status: http.StatusForbidden, Code: "access_denied", Description: "cross-site logout refused: send it from this site (a POST, or a GET with Sec-Fetch-Site, Origin or Referer of this site)"}

// errGETUnproven answers a GET that says nothing of where it comes from
// (curl, an old browser, a privacy proxy stripping the headers): it
// cannot be told from a cross-site one, an <img> elsewhere.
var errGETUnproven = &OAuthError{Status: http.StatusForbidden, Code: "access_denied", Description: "a GET logout must show it comes from this site " +
	"(browsers send Sec-Fetch-Site, Origin or Referer on a link or form of this site; this request has none): send a POST, or a GET with one of those headers"}

func readBrowserLogout(e *Env, r *http.Request, c *Call) error {
	src := token.Sources{Schemes: e.Schemes, Cookies: e.Cookies, MaxTokenSize: e.MaxTokenSize}
	found, err := src.Extract(r, nil)
	if err != nil {
		return ExtractError(err)
	}
	cookies := false
	for _, name := range e.Cookies {
		if _, err := r.Cookie(name); err == nil {
			cookies = true
		}
	}
	if cookies || r.Method == http.MethodGet {
		if !sameSite(r) {
			if r.Method == http.MethodGet && r.Header.Get("Sec-Fetch-Site") == "" && r.Header.Get("Origin") == "" && r.Header.Get("Referer") == "" {
				return errGETUnproven
			}
			return errCrossSite
		}
	}
	c.SessionWide = true
	for _, f := range found {
		c.Tokens = append(c.Tokens, token.Parse(f.Raw))
	}
	return nil
}

// respondBrowserLogout expires the handler's cookies the request carried
// and redirects (303) to BrowserLogout.Redirect, or answers 204.
func respondBrowserLogout(e *Env, w http.ResponseWriter, r *http.Request, c *Call) error {
	cfg := expireBrowserCookies(e, w.Header(), r, c)
	w.Header().Set("Cache-Control", "no-store")
	if cfg.Redirect != "" {
		w.Header().Set("Location", cfg.Redirect)
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// recordedBrowserLogout, in forward mode, adds to the upstream's 2xx
// answer the Set-Cookie headers that expire the cookies, as respond mode
// does, once the revocation is recorded; the rest of the answer is the
// upstream's.
func recordedBrowserLogout(e *Env, header http.Header, r *http.Request, c *Call) {
	expireBrowserCookies(e, header, r, c)
}

// expireBrowserCookies adds to header a Set-Cookie with Max-Age=0 for each
// of the handler's cookies the request carried, and returns the route's
// settings with their defaults.
func expireBrowserCookies(e *Env, header http.Header, r *http.Request, c *Call) BrowserLogout {
	var cfg BrowserLogout
	if c.Route.BrowserLogout != nil {
		cfg = *c.Route.BrowserLogout
	}
	if cfg.CookiePath == "" {
		cfg.CookiePath = "/"
	}
	for _, name := range e.Cookies {
		if _, err := r.Cookie(name); err != nil {
			continue
		}
		ck := &http.Cookie{Name: name, Value: "", Path: cfg.CookiePath, Domain: cfg.CookieDomain,
			MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode}
		header.Add("Set-Cookie", ck.String())
	}
	return cfg
}

// sameSite reports whether the browser says r comes from this site (see
// above). POST: not cross-site; GET: shown to be same-site.
func sameSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "same-site", "none":
		return originOK(r, "Origin", true)
	case "cross-site":
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		return originOK(r, "Origin", false)
	}
	if r.Method == http.MethodPost {
		return originOK(r, "Referer", true)
	}
	return r.Header.Get("Referer") != "" && originOK(r, "Referer", false)
}

// originOK reports whether header (Origin or Referer) names r's own scheme
// and host; absent, it is absentOK.
func originOK(r *http.Request, header string, absentOK bool) bool {
	v := r.Header.Get(header)
	if v == "" {
		return absentOK
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(u.Host, r.Host) && (u.Scheme == scheme || requestSchemeForwarded(r, u.Scheme))
}

// requestSchemeForwarded: behind a TLS-terminating proxy the request is
// http while the browser's Origin is https.
func requestSchemeForwarded(r *http.Request, scheme string) bool {
	return scheme == "https" && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
