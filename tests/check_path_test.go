package tests

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFirstSeenJWTsAtOnce: JWTs the gateway has never seen, sent at once
// by several clients (each parsed into a buffer the check reuses, the keys
// of their shared claims remembered, their queries cached), are each
// checked as themselves: a revoked one sent among them is always 401, and
// its siblings (the same sub and sid, another jti) always reach the
// upstream.
func TestFirstSeenJWTsAtOnce(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, gatewayCaddyfile, "store embedded", "respond", "respond", up.Addr())
	now := time.Now().Unix()
	jwt := func(sub, jti string) string {
		return unsignedJWT(`{"alg":"RS256","typ":"JWT","kid":"k1"}`, map[string]any{
			"iss": "https://idp.test/realms/demo", "sub": sub, "sid": "session-" + sub, "jti": jti,
			"iat": now, "exp": now + 600, "scope": "openid profile email", "email": sub + "@example.com"})
	}
	revoked := jwt("u-1", "revoked")
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {revoked}}); res.Status != http.StatusOK {
		t.Fatalf("revocation: %d %s", res.Status, res.Body)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				tok, want := jwt(fmt.Sprintf("u-%d", i%3), fmt.Sprintf("g%d-%d", g, i)), http.StatusOK
				if i%10 == 0 {
					tok, want = revoked, http.StatusUnauthorized
				}
				res, err := tryDo(http.MethodGet, c.URL("/api/items"), nil, "Authorization: Bearer "+tok)
				if err != nil || res.Status != want {
					errs <- fmt.Sprintf("client %d, request %d: %d %v, want %d", g, i, res.Status, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestUnreadableCharsetAnswer: a body the gateway would have to read, in a
// charset it cannot (UTF-16, which body-parser decodes), is refused 415
// with an answer naming the charset, on a revocation route and on a
// proxied request alike; it never reaches the upstream.
func TestUnreadableCharsetAnswer(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, gatewayCaddyfile, "store embedded", "respond", "respond", up.Addr())
	for _, path := range []string{"/oauth/revoke", "/api/items"} {
		before := up.Count()
		res := do(t, http.MethodPost, c.URL(path), strings.NewReader("token=x"), "Content-Type: application/x-www-form-urlencoded; charset=utf-16")
		if res.Status != http.StatusUnsupportedMediaType || !strings.Contains(res.Body, "charset") || strings.Contains(res.Body, "Content-Encoding") {
			t.Errorf("%s: %d %s, want 415 naming the charset", path, res.Status, res.Body)
		}
		if up.Count() != before {
			t.Errorf("%s: the upstream got the request", path)
		}
	}
}
