package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
)

// Hostile input through the real binary (issue 6): what Caddy's own HTTP
// handling does to tricky requests before the handler sees them, and
// whether values from tokens can reach Redis keys.

// hostileCaddyfile: the RFC 7009 route, a per-tenant revocation route
// (the tenant is the path segment; checks take it from the tenant
// header), max sizes. Arguments: upstream.
const hostileCaddyfile = `http:// {
	token_revocation {
		revoke /oauth/revoke
		revoke /{tenant}/connect/revocation {
			namespace {http.vars.tenant}
		}
		namespace {http.request.header.tenant}
		cookie session
		max_body_size 2KiB
		max_token_size 512
	}
	reverse_proxy %s
}`

// rawRequest sends exactly the request line, headers and body given (no
// client-side cleaning of the path; a Content-Length is added unless a
// Transfer-Encoding header is given) and returns the status.
func rawRequest(t *testing.T, c *Caddy, method, target string, headers []string, body string) int {
	t.Helper()
	if slices.ContainsFunc(headers, func(h string) bool { return strings.HasPrefix(h, "Transfer-Encoding:") }) {
		return rawExchange(t, c, request(method, target, headers, "")+body)
	}
	return rawExchange(t, c, request(method, target, headers, body))
}

const formCT = "Content-Type: application/x-www-form-urlencoded"

// TestHostilePathsThroughCaddy: spellings of a revocation route's path
// that the upstream would take for it are intercepted (answered by the
// gateway, the token recorded); paths that only look like it are not (the
// token stays valid); a tenant segment cannot be escaped into another
// tenant.
func TestHostilePathsThroughCaddy(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, hostileCaddyfile, up.Addr())
	status := func(tok string, tenant ...string) int {
		h := []string{"Authorization: Bearer " + tok}
		for _, tn := range tenant {
			h = append(h, "Tenant: "+tn)
		}
		return get(t, c.URL("/api"), h...).Status
	}

	for i, p := range []string{
		"//oauth/revoke", "/oauth//revoke", "/oauth/revoke/", "/oauth/./revoke", "/./oauth/revoke",
		"/oauth/x/../revoke", "/../oauth/revoke", "/oauth%2Frevoke", "/oauth%2frevoke", "/%6Fauth/revoke",
		"/oauth/revoke%2F", "/oauth/revoke?x=1", "/oauth/x%2F..%2Frevoke",
	} {
		tok := fmt.Sprintf("trick-%d", i)
		before := up.Count()
		s := rawRequest(t, c, "POST", p, []string{formCT}, "token="+tok)
		if s != http.StatusOK || up.Count() != before {
			t.Errorf("POST %s: %d, upstream reached: %v: the revocation route was dodged", p, s, up.Count() != before)
			continue
		}
		if s := status(tok); s != http.StatusUnauthorized {
			t.Errorf("token revoked through %s: %d, want 401", p, s)
		}
	}
	for i, p := range []string{
		"/oauth/revoke/../../api/items", "/oauth/revoke/extra", "/oauth/revokeX", "/oauth/revoke.json",
		"/api/oauth/revoke", "/oauth/revoke%2Fextra", "/oauth/revoke%00",
	} {
		tok := fmt.Sprintf("lookalike-%d", i)
		before := up.Count()
		s := rawRequest(t, c, "POST", p, []string{formCT}, "token="+tok)
		if up.Count() != before+1 && s != http.StatusBadRequest {
			t.Errorf("POST %s: %d, intercepted though it is not the route", p, s)
		}
		if s := status(tok); s != http.StatusOK {
			t.Errorf("POST %s revoked its token: %d", p, s)
		}
	}

	// Tenants: the path's tenant segment, however spelt, is the route's
	// tenant; the token revoked there is revoked in every tenant (its
	// identity has no namespace: the tenant header is the caller's to
	// write, issue 9).
	for _, tc := range []struct{ path, tenant string }{
		{"/t1/connect/revocation", "t1"},
		{"//t1//connect/revocation/", "t1"},
		{"/t2/../t1/connect/revocation", "t1"},
		{"/t2/%2E%2E/t1/connect/revocation", "t1"},
		{"/t1%2Fx/connect/revocation", "t1/x"},
	} {
		tok := "tenant-" + randomString()
		if s := rawRequest(t, c, "POST", tc.path, []string{formCT}, "token="+tok); s != http.StatusOK {
			t.Errorf("POST %s: %d", tc.path, s)
			continue
		}
		if s := status(tok, tc.tenant); s != http.StatusUnauthorized {
			t.Errorf("POST %s: tenant %q: %d, want 401", tc.path, tc.tenant, s)
		}
		for _, other := range []string{"t2", "x", "t1x", ""} {
			if s := status(tok, other); s != http.StatusUnauthorized {
				t.Errorf("POST %s: the token sent with tenant %q: %d, want 401", tc.path, other, s)
			}
		}
	}
}

// TestHostileRequestsThroughCaddy: a revoked token among many, in
// duplicated headers, odd spellings and URL encodings is rejected through
// the real server; oversized input is refused before the upstream.
func TestHostileRequestsThroughCaddy(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, hostileCaddyfile, up.Addr())
	const tok = "evil+tok/en=="
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {tok}}); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d", res.Status)
	}
	var many []string
	for i := range 10 {
		many = append(many, fmt.Sprintf("Authorization: Bearer valid-%d", i))
	}
	q := url.Values{}
	for i := range 10 {
		q.Add("access_token", fmt.Sprintf("valid-%d", i))
	}
	q.Add("access_token", tok)
	before := up.Count()
	for name, h := range map[string][]string{
		"10 valid Authorization headers, then the revoked one": append(slices.Clone(many), "Authorization: Bearer "+tok),
		"the revoked one, then 10 valid":                       append([]string{"Authorization: Bearer " + tok}, many...),
		"comma-joined":                                         {"Authorization: Bearer valid-1, Bearer " + tok},
		"lower-case scheme, many spaces":                       {"Authorization: bearer      " + tok},
		"tab after the scheme":                                 {"Authorization: Bearer\t" + tok},
		"upper-case DPoP":                                      {"Authorization: DPOP " + tok},
		"Basic first":                                          {"Authorization: Basic dXNlcjpwYXNz", "Authorization: Bearer " + tok},
		"cookie among others":                                  {"Cookie: a=1; session=valid; session=" + tok + "; b=2"},
	} {
		if s := rawRequest(t, c, "GET", "/api", h, ""); s != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, s)
		}
	}
	for name, target := range map[string]string{
		"11 access_token parameters":     "/api?" + q.Encode(),
		"escaped parameter name":         "/api?access%5Ftoken=" + url.QueryEscape(tok),
		"lower-case escapes":             "/api?access_token=evil%2btok%2fen%3d%3d",
		"padded with 10050 other params": "/api?" + strings.Repeat("x&", 10050) + "access_token=" + url.QueryEscape(tok),
	} {
		if s := rawRequest(t, c, "GET", target, nil, ""); s != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, s)
		}
	}
	for ct, want := range map[string]int{
		"APPLICATION/X-WWW-FORM-URLENCODED": http.StatusUnauthorized,
		// A parameter without a value: parsers read it apart, so it is
		// refused before it is read.
		"application/x-www-form-urlencoded; charset": http.StatusBadRequest,
	} {
		if s := rawRequest(t, c, "POST", "/api", []string{"Content-Type: " + ct}, q.Encode()); s != want {
			t.Errorf("form with Content-Type %q: %d, want %d", ct, s, want)
		}
	}
	if up.Count() != before {
		t.Errorf("%d requests with the revoked token reached the upstream", up.Count()-before)
	}
	// "+" in a query is a space to most parsers, but one that reads the
	// raw query takes it as sent: both spellings are checked.
	if s := rawRequest(t, c, "GET", "/api?access_token=evil+tok/en==", nil, ""); s != http.StatusUnauthorized {
		t.Errorf("the token with '+' left undecoded: %d, want 401", s)
	}
	if s := rawRequest(t, c, "GET", "/api?access_token=evil%20tok/en==", nil, ""); s != http.StatusOK {
		t.Errorf("a different token (a space for the '+'): %d, want 200", s)
	}

	// Oversized: a form body over 2KiB, announced or chunked, a token over
	// 512 bytes; none reaches the upstream.
	before = up.Count()
	big := "access_token=valid&pad=" + strings.Repeat("x", 3000)
	if s := rawRequest(t, c, "POST", "/api", []string{formCT}, big); s != http.StatusRequestEntityTooLarge {
		t.Errorf("3KB form body: %d, want 413", s)
	}
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big)
	if s := rawRequest(t, c, "POST", "/api", []string{formCT, "Transfer-Encoding: chunked"}, chunked); s != http.StatusRequestEntityTooLarge && s != http.StatusBadRequest {
		t.Errorf("3KB chunked form body: %d, want 413", s)
	}
	if s := rawRequest(t, c, "GET", "/api", []string{"Authorization: Bearer " + strings.Repeat("a", 600)}, ""); s != http.StatusBadRequest {
		t.Errorf("600-byte token: %d, want 400", s)
	}
	if up.Count() != before {
		t.Errorf("%d oversized requests reached the upstream", up.Count()-before)
	}
}

// keyField is the form of every field of the entries hash and every key
// named in the event stream: a kind letter and a fixed-size hex digest.
var keyField = regexp.MustCompile(`^[tjsu]:[0-9a-f]{32}$`)

// bucketKey is the name of a compact-layout bucket hash of the default
// prefix: numbered, never made of a request's bytes.
var bucketKey = regexp.MustCompile(`^\{trv\}:c:[0-9]+$`)

// evilValues are claim and tenant values that would break a key built by
// concatenation: hash-tag braces, separators, CRLF (RESP framing), glob
// characters, another key's name, and sheer length.
var evilValues = []string{
	"}", "{", "{trv}", "{trv}:entries", "a:b", "x:*", "*", "?", "[a-z]",
	"line\r\nFLUSHALL\r\n", "\r\n*1\r\n$8\r\nFLUSHALL\r\n", "\x00", "$-1", "%", "\\",
	strings.Repeat("k", 1000),
}

// TestRedisKeyInjection revokes tokens whose jti, sid, sub and iss, and a
// tenant, carry characters meaningful to Redis keys and to the protocol:
// the set of keys in Redis is the same before and after (nothing created
// but the compact layout's numbered buckets, nothing deleted), every
// stored field is a fixed-size digest, and each
// revocation works (the token is rejected) without touching its
// neighbours.
func TestRedisKeyInjection(t *testing.T) {
	r := startRedis(t)
	secret := []byte(strings.Repeat("s", 32))
	const issuer = "https://idp.test"
	idp := startKeycloakish(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		store redis {
			address %s
		}
		jwt %s {
			hmac_secret %s
		}
		revoke /oauth/revoke
		logout /realms/demo/protocol/openid-connect/logout forward
		logout_all /logout-all
		namespace {http.request.header.tenant}
	}
	reverse_proxy %s
}`, r.Addr, issuer, secret, idp.Addr())
	rc := r.Client()
	ctx := context.Background()

	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"warm-up"}}); res.Status != http.StatusOK {
		t.Fatalf("warm-up revoke: %d", res.Status)
	}
	keysBefore := redisKeys(t, rc)
	other := keysBefore[:0:0]
	for _, k := range keysBefore {
		if !strings.HasPrefix(k, "{trv}:") {
			other = append(other, k)
		}
	}
	if len(other) > 0 {
		t.Fatalf("keys outside the store's namespace before the test: %q", other)
	}
	// A bystander key, as another application sharing the server would
	// have: it must survive.
	if err := rc.Set(ctx, "bystander", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	keysBefore = redisKeys(t, rc)

	now := time.Now().Unix()
	sign := func(claims map[string]any) string {
		return jwttest.Sign(t, jose.HS256, secret, "", "JWT", jwttest.Claims(map[string]any{
			"iss": issuer, "iat": now - 10, "exp": now + 600}, claims))
	}
	type revoked struct{ tok, tenant, neighbour string }
	var all []revoked
	for i, v := range evilValues {
		// A verified refresh token revokes itself, its jti and its
		// session; logout_all revokes its user; an unverified refresh
		// token confirmed by the IdP (forward logout) revokes its jti
		// and session.
		refresh := sign(map[string]any{"typ": "Refresh", "jti": v, "sid": v, "sub": "u-" + v})
		if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {refresh}}); res.Status != http.StatusOK {
			t.Errorf("value %d: revoke: %d %s", i, res.Status, res.Body)
		}
		access := sign(map[string]any{"typ": "Bearer", "sid": v, "sub": "someone", "jti": "a-" + randomString()})
		all = append(all, revoked{access, "", sign(map[string]any{"typ": "Bearer", "sid": v + "x", "sub": "someone"})})

		user := sign(map[string]any{"typ": "Bearer", "sub": v, "jti": "l-" + randomString()})
		if res := postForm(t, c.URL("/logout-all"), url.Values{"token": {user}}); res.Status != http.StatusNoContent {
			t.Errorf("value %d: logout_all: %d %s", i, res.Status, res.Body)
		}
		all = append(all, revoked{sign(map[string]any{"typ": "Bearer", "sub": v, "iat": now - 5}), "", sign(map[string]any{"typ": "Bearer", "sub": v + "x", "iat": now - 5})})

		unsigned := unsignedToken(map[string]any{"iss": v, "typ": "Refresh", "jti": v, "sid": v, "iat": now - 10, "exp": now + 600})
		if res := postForm(t, c.URL("/realms/demo/protocol/openid-connect/logout"), url.Values{"refresh_token": {unsigned}}); res.Status != http.StatusNoContent {
			t.Errorf("value %d: forwarded logout: %d %s", i, res.Status, res.Body)
		}
		all = append(all, revoked{unsignedToken(map[string]any{"iss": v, "sid": v, "iat": now - 5, "exp": now + 300}), "", unsignedToken(map[string]any{"iss": v, "sid": v + "x", "iat": now - 5, "exp": now + 300})})

		if !strings.ContainsAny(v, "\r\n\x00") && len(v) < 1000 { // not valid in a header value
			tok := "tenant-tok-" + randomString()
			if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {tok}}, "Tenant: "+v); res.Status != http.StatusOK {
				t.Errorf("value %d: revoke in tenant: %d", i, res.Status)
			}
			all = append(all, revoked{tok, v, ""})
		}
	}

	// The compact layout (the default) adds its numbered bucket hashes
	// as revocations land, and nothing else.
	got := redisKeys(t, rc)
	var buckets []string
	for _, k := range got {
		if bucketKey.MatchString(k) && !slices.Contains(keysBefore, k) {
			buckets = append(buckets, k)
		}
	}
	if kept := slices.DeleteFunc(slices.Clone(got), func(k string) bool { return slices.Contains(buckets, k) }); !slices.Equal(kept, keysBefore) {
		t.Fatalf("the keys in Redis changed (besides compact buckets):\nbefore %q\nafter  %q", keysBefore, got)
	}
	for _, k := range got {
		if bucketKey.MatchString(k) {
			buckets = append(buckets, k)
		}
	}
	buckets = slices.Compact(slices.Sorted(slices.Values(buckets)))
	if v, err := rc.Get(ctx, "bystander").Result(); err != nil || v != "v" {
		t.Errorf("the bystander key: %q %v", v, err)
	}
	fields, err := rc.HKeys(ctx, "{trv}:entries").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		if !keyField.MatchString(f) && f != "!sentinel" { // the eviction sentinel (denylist/redisstore/redis_guard.go)
			t.Errorf("an entries field is not a fixed-size digest: %q", f)
		}
	}
	stored := len(fields)
	for _, b := range buckets {
		bf, err := rc.HKeys(ctx, b).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range bf {
			if len(f) != 16 { // a raw Digest (denylist/redisstore/redis_layout.go)
				t.Errorf("a compact field is not a 16-byte digest: %q", f)
			}
		}
		stored += len(bf)
	}
	if stored < 1+4*len(evilValues) {
		t.Errorf("only %d entries stored", stored)
	}
	events, err := rc.XRange(ctx, "{trv}:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		a, isAdd := e.Values["a"].(string)
		d, isDel := e.Values["d"].(string)
		switch {
		case isAdd || isDel: // compact: a raw digest, and its 8-byte value
			if isAdd && len(a) != 24 || isDel && len(d) != 16 {
				t.Errorf("a compact event is not a digest (and value): %q", e.Values)
			}
		default:
			if k, _ := e.Values["k"].(string); !keyField.MatchString(k) {
				t.Errorf("an event names a key that is not a digest: %q", k)
			}
		}
	}

	for i, rv := range all {
		h := []string{"Authorization: Bearer " + rv.tok}
		if rv.tenant != "" {
			h = append(h, "Tenant: "+rv.tenant)
		}
		if s := get(t, c.URL("/api"), h...).Status; s != http.StatusUnauthorized {
			t.Errorf("revocation %d not in force: %d", i, s)
		}
		if rv.neighbour != "" {
			if s := get(t, c.URL("/api"), "Authorization: Bearer "+rv.neighbour).Status; s != http.StatusOK {
				t.Errorf("revocation %d also rejects a token with a neighbouring claim: %d", i, s)
			}
		}
	}
}

// redisKeys returns every key in the server, sorted.
func redisKeys(t *testing.T, rc *redis.Client) []string {
	t.Helper()
	keys, err := rc.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}
