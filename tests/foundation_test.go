package tests

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// storeVariant is one way to configure the denylist in a test Caddyfile.
type storeVariant struct {
	name string
	// block returns the `store ...` line(s) for the token_revocation block;
	// called once per test, so each test gets its own redis-server.
	block func(t *testing.T) string
}

func storeVariants() []storeVariant {
	return []storeVariant{
		{"embedded", func(*testing.T) string { return "store embedded" }},
		{"redis", func(t *testing.T) string {
			r := startRedis(t)
			return fmt.Sprintf("store redis {\n\t\t\taddress %s\n\t\t}", r.Addr)
		}},
	}
}

// gatewayCaddyfile is a token_revocation gateway in front of upstream with
// the revoke and logout routes in mode.
const gatewayCaddyfile = `http:// {
	token_revocation {
		%s
		revoke /oauth/revoke %s
		logout /logout %s
		cookie session
	}
	reverse_proxy %s
}`

// channels are the ways a client presents a token; each returns the
// response to a request carrying tok.
func channels(c *Caddy) map[string]func(t *testing.T, tok string) Response {
	return map[string]func(t *testing.T, tok string) Response{
		"authorization header": func(t *testing.T, tok string) Response {
			return get(t, c.URL("/api/items"), "Authorization: Bearer "+tok)
		},
		"authorization header, lower-case scheme": func(t *testing.T, tok string) Response {
			return get(t, c.URL("/api/items"), "Authorization: bearer "+tok)
		},
		"second authorization header": func(t *testing.T, tok string) Response {
			return get(t, c.URL("/api/items"), "Authorization: Bearer fine-token", "Authorization: Bearer "+tok)
		},
		"access_token query parameter": func(t *testing.T, tok string) Response {
			return get(t, c.URL("/api/items?access_token="+url.QueryEscape(tok)))
		},
		"access_token form field": func(t *testing.T, tok string) Response {
			return postForm(t, c.URL("/api/items"), url.Values{"access_token": {tok}})
		},
		"cookie": func(t *testing.T, tok string) Response {
			return get(t, c.URL("/api/items"), "Cookie: session="+tok)
		},
	}
}

// TestRevokeAndEnforce is the foundation's flow on both stores and in both
// modes: a token passes on every channel, is revoked through the RFC 7009
// route, and is then rejected on every channel with RFC 6750's 401, before
// it reaches the upstream.
func TestRevokeAndEnforce(t *testing.T) {
	for _, sv := range storeVariants() {
		for _, mode := range []string{"respond", "forward"} {
			t.Run(sv.name+"/"+mode, func(t *testing.T) {
				up := startUpstream(t)
				c := startCaddy(t, gatewayCaddyfile, sv.block(t), mode, mode, up.Addr())
				tok := "opaque-" + sv.name + "-" + mode
				for name, send := range channels(c) {
					if res := send(t, tok); res.Status != http.StatusOK {
						t.Fatalf("%s before revocation: status %d, want 200\n%s", name, res.Status, res.Body)
					}
				}

				before := up.Count()
				res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {tok}, "token_type_hint": {"access_token"}})
				if res.Status != http.StatusOK {
					t.Fatalf("revoke: status %d, want 200\n%s", res.Status, res.Body)
				}
				switch mode {
				case "respond":
					if up.Count() != before {
						t.Errorf("respond mode: the revoke call reached the upstream")
					}
				case "forward":
					if up.Count() != before+1 || up.Last(t).Body != "token="+tok+"&token_type_hint=access_token" {
						t.Errorf("forward mode: the upstream did not get the revoke call unchanged: %+v", up.Last(t))
					}
				}

				before = up.Count()
				for name, send := range channels(c) {
					res := send(t, tok)
					if res.Status != http.StatusUnauthorized {
						t.Errorf("%s after revocation: status %d, want 401", name, res.Status)
						continue
					}
					if got := res.Header.Get("WWW-Authenticate"); got != `Bearer error="invalid_token", error_description="token revoked"` {
						t.Errorf("%s: WWW-Authenticate %q", name, got)
					}
					if res.Header.Get("Content-Type") != "application/json" || !strings.Contains(res.Body, `"invalid_token"`) {
						t.Errorf("%s: body %q (%s)", name, res.Body, res.Header.Get("Content-Type"))
					}
				}
				// The second-header channel sends fine-token too: every
				// rejected request must have stopped at the gateway.
				if up.Count() != before {
					t.Errorf("%d requests with a revoked token reached the upstream", up.Count()-before)
				}
				if res := get(t, c.URL("/api/items"), "Authorization: Bearer another-token"); res.Status != http.StatusOK {
					t.Errorf("another token: status %d, want 200", res.Status)
				}
			})
		}
	}
}

// TestRevocationsSurviveRestart restarts Caddy on both stores: nothing
// revoked is forgotten.
func TestRevocationsSurviveRestart(t *testing.T) {
	for _, sv := range storeVariants() {
		t.Run(sv.name, func(t *testing.T) {
			up := startUpstream(t)
			c := startCaddy(t, gatewayCaddyfile, sv.block(t), "respond", "respond", up.Addr())
			if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"before-restart"}}); res.Status != http.StatusOK {
				t.Fatalf("revoke: %d", res.Status)
			}
			c.Restart()
			if res := get(t, c.URL("/api"), "Authorization: Bearer before-restart"); res.Status != http.StatusUnauthorized {
				t.Errorf("after restart: status %d, want 401", res.Status)
			}
			if res := get(t, c.URL("/api"), "Authorization: Bearer never-revoked"); res.Status != http.StatusOK {
				t.Errorf("after restart, another token: status %d, want 200", res.Status)
			}
		})
	}
}

// TestTwoInstancesShareRedis revokes through one Caddy and expects the other
// to reject the token.
func TestTwoInstancesShareRedis(t *testing.T) {
	r := startRedis(t)
	up := startUpstream(t)
	store := fmt.Sprintf("store redis {\n\t\t\taddress %s\n\t\t}", r.Addr)
	a := startCaddy(t, gatewayCaddyfile, store, "respond", "respond", up.Addr())
	b := startCaddy(t, gatewayCaddyfile, store, "respond", "respond", up.Addr())
	if res := get(t, b.URL("/api"), "Authorization: Bearer shared"); res.Status != http.StatusOK {
		t.Fatalf("b before: %d", res.Status)
	}
	if res := postForm(t, a.URL("/oauth/revoke"), url.Values{"token": {"shared"}}); res.Status != http.StatusOK {
		t.Fatalf("revoke on a: %d", res.Status)
	}
	// b applies revocations pushed through Redis: allow it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := get(t, b.URL("/api"), "Authorization: Bearer shared")
		if res.Status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b still answers %d five seconds after the revocation on a", res.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBadInputGetsAClearAnswer sends what a broken or hostile client sends.
func TestBadInputGetsAClearAnswer(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		revoke /oauth/revoke
		max_body_size 1KiB
		max_token_size 2KiB
	}
	reverse_proxy %s
}`, up.Addr())
	cases := []struct {
		name   string
		send   func() Response
		status int
		body   string
	}{
		{"missing token", func() Response { return postForm(t, c.URL("/oauth/revoke"), url.Values{"x": {"y"}}) }, 400, "invalid_request"},
		{"empty token", func() Response { return postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {""}}) }, 400, "invalid_request"},
		{"JSON body", func() Response {
			return do(t, "POST", c.URL("/oauth/revoke"), strings.NewReader(`{"token":"x"}`), "Content-Type: application/json")
		}, 400, "x-www-form-urlencoded"},
		{"oversized body", func() Response {
			return postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {strings.Repeat("a", 4096)}})
		}, 413, "larger than"},
		{"wrong method", func() Response { return get(t, c.URL("/oauth/revoke?token=x")) }, 405, "not allowed"},
		{"broken JWT revoked as an opaque string", func() Response {
			return postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"eyJhbGciOiJub25lIn0.!!!.x"}})
		}, 200, ""},
		{"oversized bearer token", func() Response {
			return get(t, c.URL("/api"), "Authorization: Bearer "+strings.Repeat("b", 3000))
		}, 400, "token too large"},
		{"malformed bearer token passes to the upstream", func() Response {
			return get(t, c.URL("/api"), "Authorization: Bearer eyJ.not-a.jwt")
		}, 200, `"path":"/api"`},
	}
	for _, tc := range cases {
		res := tc.send()
		if res.Status != tc.status || !strings.Contains(res.Body, tc.body) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, res.Status, res.Body, tc.status, tc.body)
		}
	}
	if res := get(t, c.URL("/api"), "Authorization: Bearer eyJhbGciOiJub25lIn0.!!!.x"); res.Status != http.StatusUnauthorized {
		t.Errorf("the broken JWT revoked above: %d, want 401", res.Status)
	}
}

// Redis unreachable at start: see TestStartWithoutRedis (Caddy starts and
// serves, a log line names the address).

// TestRedisDownDuringRequests: with Redis gone, a revocation is answered 503
// with Retry-After (never 2xx) and checks fail closed; when Redis is back,
// the gateway recovers by itself and the failed revocation left nothing
// behind.
func TestRedisDownDuringRequests(t *testing.T) {
	r := startRedis(t)
	up := startUpstream(t)
	c := startCaddy(t, gatewayCaddyfile, fmt.Sprintf("store redis {\n\t\t\taddress %s\n\t\t}", r.Addr), "respond", "respond", up.Addr())
	if res := get(t, c.URL("/api"), "Authorization: Bearer during-outage"); res.Status != http.StatusOK {
		t.Fatalf("before the outage: %d", res.Status)
	}
	r.Stop()
	res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"during-outage"}})
	if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("revoke with Redis down: %d Retry-After=%q, want 503 with Retry-After", res.Status, res.Header.Get("Retry-After"))
	}
	waitStatus(t, 10*time.Second, http.StatusServiceUnavailable, func() Response {
		return get(t, c.URL("/api"), "Authorization: Bearer during-outage")
	})
	r.Restart()
	waitStatus(t, 15*time.Second, http.StatusOK, func() Response {
		return get(t, c.URL("/api"), "Authorization: Bearer during-outage")
	})
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"during-outage"}}); res.Status != http.StatusOK {
		t.Errorf("revoke after recovery: %d, want 200", res.Status)
	}
	waitStatus(t, 5*time.Second, http.StatusUnauthorized, func() Response {
		return get(t, c.URL("/api"), "Authorization: Bearer during-outage")
	})
}

// waitStatus polls send until it answers status or the deadline passes.
func waitStatus(t *testing.T, within time.Duration, status int, send func() Response) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		res := send()
		if res.Status == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d after %s, want %d\n%s", res.Status, within, status, res.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
