package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// Revocation routes that cannot be abused (issue 10, item 2): client
// authentication, rate limits, a ceiling on the store, a bound on the
// tokens of one call, verified_only. Against the real Caddy binary; the
// rate limits key on the client address, which the tests set with
// X-Forwarded-For from a trusted loopback proxy (loopback itself is not
// limited).

// trustLoopback is the global options block that lets the test, on
// loopback, name the client address with X-Forwarded-For.
const trustLoopback = `{
	servers {
		trusted_proxies static 127.0.0.1/32
	}
	metrics
}
`

// basicAuth is a client_secret_basic Authorization header: id and secret
// form-urlencoded, then base64 (RFC 6749 section 2.3.1).
func basicAuth(id, secret string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// from is the header naming the client address addr.
func from(addr string) string { return "X-Forwarded-For: " + addr }

// isRevoked reports whether the gateway c rejects tok on an API call.
func isRevoked(t *testing.T, c *Caddy, tok string) bool {
	t.Helper()
	res := get(t, c.URL("/api/check"), "Authorization: Bearer "+tok)
	switch res.Status {
	case http.StatusUnauthorized:
		return true
	case http.StatusOK:
		return false
	}
	t.Fatalf("GET /api/check: %d %s", res.Status, res.Body)
	return false
}

// TestRevokeClientAuthentication: with clients configured, a respond-mode
// revoke route authenticates its caller (client_secret_basic, with
// form-urlencoded credentials, or client_secret_post) and answers 401
// invalid_client with WWW-Authenticate: Basic otherwise, storing nothing;
// ambiguous calls are 400; a route with client_auth off, and so without
// authentication, is named in a start-up warning.
func TestRevokeClientAuthentication(t *testing.T) {
	up := startUpstream(t)
	const secret = "s3:cr+t/ü%&=" // every character form-urlencoding changes
	c := startCaddyWith(t, CaddyOptions{Env: []string{"TRV_CLIENT_SECRET=" + secret}}, trustLoopback+`http:// {
	token_revocation {
		clients {
			app {env.TRV_CLIENT_SECRET}
			"other client" other-secret-0123
		}
		revoke /oauth/revoke
		revoke /public/revoke {
			client_auth off
		}
	}
	reverse_proxy %s
}`, up.Addr())
	if !strings.Contains(c.Logs(), "has no client authentication") || !strings.Contains(c.Logs(), `"path":"/public/revoke"`) {
		t.Errorf("no start-up warning names the unauthenticated revoke route /public/revoke")
	}
	if strings.Contains(c.Logs(), `"path":"/oauth/revoke"`) {
		t.Errorf("the authenticated revoke route is named in the warning")
	}
	if strings.Contains(c.Logs(), secret) {
		t.Errorf("the client secret is in the log")
	}

	n := 0
	tok := func() string { n++; return fmt.Sprintf("client-auth-token-%d", n) }
	refused := []struct {
		name    string
		form    url.Values
		headers []string
		status  int
		code    string
	}{
		{"no credentials", url.Values{}, nil, 401, "invalid_client"},
		{"wrong secret (basic)", url.Values{}, []string{basicAuth("app", "wrong")}, 401, "invalid_client"},
		{"secret not form-urlencoded (basic)", url.Values{}, []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("app:"+secret))}, 401, "invalid_client"},
		{"unknown client (basic)", url.Values{}, []string{basicAuth("nobody", secret)}, 401, "invalid_client"},
		{"wrong secret (post)", url.Values{"client_id": {"app"}, "client_secret": {"wrong"}}, nil, 401, "invalid_client"},
		{"another client's secret", url.Values{"client_id": {"app"}, "client_secret": {"other-secret-0123"}}, nil, 401, "invalid_client"},
		{"client_id beside basic names another client", url.Values{"client_id": {"other client"}}, []string{basicAuth("app", secret)}, 401, "invalid_client"},
		{"both methods", url.Values{"client_id": {"app"}, "client_secret": {secret}}, []string{basicAuth("app", secret)}, 400, "invalid_request"},
		{"client_id twice", url.Values{"client_id": {"app", "other client"}, "client_secret": {secret}}, nil, 400, "invalid_request"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			tk := tok()
			tt.form.Set("token", tk)
			res := postForm(t, c.URL("/oauth/revoke"), tt.form, tt.headers...)
			var body struct{ Error string }
			_ = json.Unmarshal([]byte(res.Body), &body)
			if res.Status != tt.status || body.Error != tt.code {
				t.Fatalf("%d %s, want %d %s", res.Status, res.Body, tt.status, tt.code)
			}
			if tt.status == 401 && res.Header.Get("WWW-Authenticate") != `Basic realm="token_revocation"` {
				t.Errorf("WWW-Authenticate %q, want Basic realm=\"token_revocation\"", res.Header.Get("WWW-Authenticate"))
			}
			if isRevoked(t, c, tk) {
				t.Errorf("a refused call revoked its token")
			}
		})
	}

	accepted := []struct {
		name    string
		path    string
		form    url.Values
		headers []string
	}{
		{"client_secret_basic, form-urlencoded", "/oauth/revoke", url.Values{}, []string{basicAuth("app", secret)}},
		{"client_secret_basic, id with a space", "/oauth/revoke", url.Values{}, []string{basicAuth("other client", "other-secret-0123")}},
		{"client_secret_basic with the same client_id in the form", "/oauth/revoke", url.Values{"client_id": {"app"}}, []string{basicAuth("app", secret)}},
		{"client_secret_post", "/oauth/revoke", url.Values{"client_id": {"app"}, "client_secret": {secret}}, nil},
		{"client_auth off", "/public/revoke", url.Values{}, nil},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			tk := tok()
			tt.form.Set("token", tk)
			if res := postForm(t, c.URL(tt.path), tt.form, tt.headers...); res.Status != http.StatusOK {
				t.Fatalf("%d %s, want 200", res.Status, res.Body)
			}
			if !isRevoked(t, c, tk) {
				t.Errorf("an authenticated revocation did not revoke its token")
			}
		})
	}
	if got := scrape(t, c)[`caddy_token_revocation_refused_total{reason="invalid_client"}`]; got != 7 {
		t.Errorf("refused_total{reason=invalid_client} = %v, want 7", got)
	}
}

// TestRevocationRateLimits: each client and each address gets its token
// bucket on revocation routes and token endpoint observers; an empty one
// is answered 429 with Retry-After before anything is stored or
// forwarded; another address or client is not affected; loopback is not
// limited.
func TestRevocationRateLimits(t *testing.T) {
	var issued atomic.Int64
	idp := startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at-%d","refresh_token":"rt-%d","expires_in":300}`, n, n)
	}))
	c := startCaddy(t, trustLoopback+`http:// {
	token_revocation {
		clients {
			app app-secret-0123
		}
		rate_limit {
			client 3/1h
			address 4/1h 4
		}
		revoke /oauth/revoke
		revoke /public/revoke {
			client_auth off
		}
		oauth_token /oauth/token
	}
	reverse_proxy %s
}`, idp.Addr())
	post := func(path string, form url.Values, headers ...string) Response {
		return postForm(t, c.URL(path), form, headers...)
	}
	revoke := func(path, tok string, headers ...string) int {
		return post(path, url.Values{"token": {tok}}, headers...).Status
	}
	want429 := func(t *testing.T, res Response) {
		t.Helper()
		if res.Status != http.StatusTooManyRequests {
			t.Fatalf("%d %s, want 429", res.Status, res.Body)
		}
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After %q, want whole seconds >= 1", res.Header.Get("Retry-After"))
		}
	}

	t.Run("per address", func(t *testing.T) {
		for i := range 4 {
			if s := revoke("/public/revoke", fmt.Sprintf("addr-%d", i), from("203.0.113.7")); s != http.StatusOK {
				t.Fatalf("call %d: %d, want 200", i, s)
			}
		}
		res := post("/public/revoke", url.Values{"token": {"addr-over"}}, from("203.0.113.7"))
		want429(t, res)
		if isRevoked(t, c, "addr-over") {
			t.Error("a rate-limited call revoked its token")
		}
		// Failed client authentication counts against the address too.
		if res := post("/oauth/revoke", url.Values{"token": {"x"}}, from("203.0.113.7"), basicAuth("app", "guess")); res.Status != http.StatusTooManyRequests {
			t.Errorf("a secret guess from a limited address: %d, want 429", res.Status)
		}
		if s := revoke("/public/revoke", "addr-other", from("203.0.113.8")); s != http.StatusOK {
			t.Errorf("another address: %d, want 200", s)
		}
		if s := revoke("/public/revoke", "addr-v6a", from("2001:db8:1:2::1")); s != http.StatusOK {
			t.Errorf("an IPv6 address: %d, want 200", s)
		}
		for i := range 3 { // the same /64
			revoke("/public/revoke", fmt.Sprintf("addr-v6-%d", i), from(fmt.Sprintf("2001:db8:1:2::%d", i+2)))
		}
		want429(t, post("/public/revoke", url.Values{"token": {"addr-v6-over"}}, from("2001:db8:1:2::99")))
		for i := range 10 {
			if s := revoke("/public/revoke", fmt.Sprintf("loopback-%d", i)); s != http.StatusOK {
				t.Fatalf("loopback call %d: %d, want 200 (loopback is not limited)", i, s)
			}
		}
	})

	t.Run("per client", func(t *testing.T) {
		for i := range 3 {
			addr := fmt.Sprintf("198.51.100.%d", i+1) // one client, many addresses
			if s := revoke("/oauth/revoke", fmt.Sprintf("client-%d", i), from(addr), basicAuth("app", "app-secret-0123")); s != http.StatusOK {
				t.Fatalf("call %d: %d, want 200", i, s)
			}
		}
		res := post("/oauth/revoke", url.Values{"token": {"client-over"}}, from("198.51.100.9"), basicAuth("app", "app-secret-0123"))
		want429(t, res)
		if isRevoked(t, c, "client-over") {
			t.Error("a rate-limited call revoked its token")
		}
	})

	t.Run("token endpoint observer", func(t *testing.T) {
		for i := range 4 {
			res := post("/oauth/token", url.Values{"grant_type": {"password"}}, from("192.0.2.50"))
			if res.Status != http.StatusOK {
				t.Fatalf("token call %d: %d, want 200", i, res.Status)
			}
		}
		before := issued.Load()
		want429(t, post("/oauth/token", url.Values{"grant_type": {"password"}}, from("192.0.2.50")))
		if issued.Load() != before {
			t.Error("a rate-limited token call reached the upstream")
		}
	})

	m := scrape(t, c)
	if m[`caddy_token_revocation_refused_total{reason="rate_limited_address"}`] < 4 || m[`caddy_token_revocation_refused_total{reason="rate_limited_client"}`] != 1 {
		t.Errorf("refused_total: %v", m)
	}
}

// TestDenylistCeiling: a store at max_entries answers revocations 503
// "denylist full" with Retry-After, stores nothing more, and in forward
// mode does not forward; what was answered 200 stays revoked. A store at
// max_owner_records refuses token endpoint calls the same way. One call
// names at most a few tokens. On Redis (mirror) and the embedded store.
// The quotas are off: max_entries alone (TestFloodKeepsTrustedShare has
// them).
func TestDenylistCeiling(t *testing.T) {
	for _, sv := range storeVariants() {
		t.Run(sv.name, func(t *testing.T) {
			var issued atomic.Int64
			up := startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/oauth/token" {
					n := issued.Add(1)
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprintf(w, `{"access_token":"at-%d","refresh_token":"rt-%d","expires_in":300}`, n, n)
				}
			}))
			c := startCaddy(t, trustLoopback+`http:// {
	token_revocation {
		%s
		max_entries 5
		max_owner_records 2
		quota off
		revoke /oauth/revoke
		revoke /upstream/revoke forward
		oauth_token /oauth/token
	}
	reverse_proxy %s
}`, sv.block(t), up.Addr())
			// Too many tokens in one call: 400, none stored.
			res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"many-1", "many-2", "many-3", "many-4", "many-5"}})
			if res.Status != http.StatusBadRequest || isRevoked(t, c, "many-1") {
				t.Fatalf("a call with 5 tokens: %d %s (revoked: %v), want 400 and nothing stored", res.Status, res.Body, isRevoked(t, c, "many-1"))
			}
			for i := range 5 {
				if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {fmt.Sprintf("fill-%d", i)}}); res.Status != http.StatusOK {
					t.Fatalf("revocation %d: %d %s", i, res.Status, res.Body)
				}
			}
			res = postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"over"}})
			if res.Status != http.StatusServiceUnavailable || !strings.Contains(res.Body, "denylist full") || res.Header.Get("Retry-After") == "" {
				t.Fatalf("revocation past max_entries: %d %q Retry-After %q, want 503 denylist full with Retry-After", res.Status, res.Body, res.Header.Get("Retry-After"))
			}
			if isRevoked(t, c, "over") {
				t.Error("a refused revocation was stored")
			}
			for i := range 5 {
				if !isRevoked(t, c, fmt.Sprintf("fill-%d", i)) {
					t.Errorf("fill-%d, answered 200, is not revoked", i)
				}
			}
			before := up.Count()
			res = postForm(t, c.URL("/upstream/revoke"), url.Values{"token": {"over-fwd"}})
			if res.Status != http.StatusServiceUnavailable || up.Count() != before {
				t.Errorf("forward revocation past max_entries: %d, upstream called %d times; want 503 before forwarding", res.Status, up.Count()-before)
			}
			if !strings.Contains(c.Logs(), "denylist full") {
				t.Error("no log line says the denylist is full")
			}

			for i := range 2 {
				if res := postForm(t, c.URL("/oauth/token"), url.Values{"grant_type": {"password"}}); res.Status != http.StatusOK {
					t.Fatalf("token call %d: %d %s", i, res.Status, res.Body)
				}
			}
			n := issued.Load()
			res = postForm(t, c.URL("/oauth/token"), url.Values{"grant_type": {"password"}})
			if res.Status != http.StatusServiceUnavailable || !strings.Contains(res.Body, "owner index full") || issued.Load() != n {
				t.Errorf("token call past max_owner_records: %d %q, upstream issued %d more; want 503 owner index full, not forwarded", res.Status, res.Body, issued.Load()-n)
			}
			m := scrape(t, c)
			if m[`caddy_token_revocation_refused_total{reason="denylist_full"}`] < 2 || m[`caddy_token_revocation_refused_total{reason="owner_index_full"}`] < 1 {
				t.Errorf("refused_total: %v", m)
			}
		})
	}
}

// TestVerifiedOnly: a verified_only revoke route stores only tokens that
// verify against the jwt block; others are answered 200 as RFC 7009
// answers invalid tokens, and not stored.
func TestVerifiedOnly(t *testing.T) {
	up := startUpstream(t)
	secret := []byte(strings.Repeat("v", 32))
	const issuer = "https://idp.test/verified"
	c := startCaddy(t, trustLoopback+`http:// {
	token_revocation {
		jwt %s {
			hmac_secret %s
		}
		revoke /oauth/revoke {
			verified_only
		}
	}
	reverse_proxy %s
}`, issuer, secret, up.Addr())
	claims := func(jti string) map[string]any {
		return map[string]any{"iss": issuer, "sub": "alice", "jti": jti, "exp": 4102444800, "iat": 1700000000}
	}
	genuine := hs256(secret, claims("genuine"))
	forged := hs256([]byte(strings.Repeat("x", 32)), claims("forged"))
	for name, tok := range map[string]string{"opaque": "opaque-token-1", "forged JWT": forged, "genuine JWT": genuine} {
		if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {tok}}); res.Status != http.StatusOK {
			t.Fatalf("%s: %d %s, want 200", name, res.Status, res.Body)
		}
		if got, want := isRevoked(t, c, tok), name == "genuine JWT"; got != want {
			t.Errorf("%s: revoked %v, want %v", name, got, want)
		}
	}
	if got := scrape(t, c)["caddy_token_revocation_unverified_tokens_total"]; got != 2 {
		t.Errorf("unverified_tokens_total = %v, want 2", got)
	}

	// The issuer's keys unreachable: the token may be genuine, so the
	// call is 503 (retry), never 200 with nothing stored.
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	const other = "https://idp.test/unreachable"
	c2 := startCaddy(t, `http:// {
	token_revocation {
		jwt %s {
			jwks_url http://127.0.0.1:%d/certs
			jwks_timeout 1s
		}
		revoke /oauth/revoke {
			verified_only
		}
	}
	reverse_proxy %s
}`, other, ports[0], up.Addr())
	tok := unsignedToken(map[string]any{"iss": other, "sub": "bob", "jti": "j1", "exp": 4102444800})
	if res := postForm(t, c2.URL("/oauth/revoke"), url.Values{"token": {tok}}); res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("keys unreachable: %d %s, want 503 with Retry-After", res.Status, res.Body)
	}
}
