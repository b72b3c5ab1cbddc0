package caddymodule

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// defaultExempt is DefaultExemptAddresses, parsed.
func defaultExempt(t *testing.T) []netip.Prefix {
	t.Helper()
	exempt, err := gateway.ParseExempt(nil)
	if err != nil {
		t.Fatal(err)
	}
	return exempt
}

// TestQuotaSetCountsUnexpiredEntries: a key holds the entries charged to
// it until their expiry slot ends, then no more; keys beyond max_keys
// push the least recently used out.
func TestQuotaSetCountsUnexpiredEntries(t *testing.T) {
	s := gateway.NewQuotaSet(10, 16*time.Hour, 2) // one-hour slots
	now := time.Unix(1_000_000*3600, 0)
	at := func(d time.Duration) denylist.Entry { return denylist.Entry{Expires: now.Add(d).Unix()} }
	s.Add("a", []denylist.Entry{at(30 * time.Minute), at(30 * time.Minute), at(5 * time.Hour)}, now)
	if n, free := s.Held("a", now); n != 3 || !free.Equal(now.Add(time.Hour)) {
		t.Fatalf("held %d, first free at %s; want 3, in an hour", n, free.Sub(now))
	}
	if n, _ := s.Held("a", now.Add(time.Hour)); n != 1 {
		t.Fatalf("an hour later: held %d, want 1 (the two that expired are not counted)", n)
	}
	if n, _ := s.Held("a", now.Add(6*time.Hour)); n != 0 {
		t.Fatalf("6 hours later: held %d, want 0", n)
	}
	// A slot place reused 18 hours later starts from zero.
	later := now.Add(18 * time.Hour)
	s.Add("a", []denylist.Entry{{Expires: later.Add(30 * time.Minute).Unix()}}, later)
	if n, _ := s.Held("a", later); n != 1 {
		t.Fatalf("18 hours later: held %d, want 1", n)
	}
	// An expiry beyond the span (a clock change) counts in the last slot.
	s.Add("b", []denylist.Entry{{Expires: now.Add(100 * time.Hour).Unix()}}, now)
	if n, _ := s.Held("b", now.Add(16*time.Hour)); n != 1 {
		t.Fatalf("an entry past the span: held %d, want 1", n)
	}
	s.Add("c", []denylist.Entry{at(time.Hour)}, now)
	if _, ok := s.Keys["a"]; ok || len(s.Keys) != 2 {
		t.Fatalf("%d keys, a kept: want the least recently used forgotten", len(s.Keys))
	}
}

func TestQuotaCaddyfile(t *testing.T) {
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`token_revocation {
		max_entries 1000
		quota {
			anonymous 30%
			address 50
			client off
			max_keys 7
		}
		exempt_addresses 10.0.0.0/8 192.0.2.1
	}`))
	if err != nil {
		t.Fatal(err)
	}
	q := h.Quota
	if q.Anonymous != "30%" || q.Address != 50 || q.Client != -1 || q.MaxKeys != 7 || len(h.ExemptAddresses) != 2 {
		t.Fatalf("quota parsed as %+v, exempt %v", q, h.ExemptAddresses)
	}
	if err := h.setup(); err != nil {
		t.Fatal(err)
	}
	if h.gw.Quotas.Anonymous != 300 || h.gw.Quotas.Address.Limit != 50 || h.gw.Quotas.Client != nil || len(h.gw.Exempt) != 2 {
		t.Fatalf("set up as %+v, exempt %v", h.gw.Quotas, h.gw.Exempt)
	}
	for _, bad := range []string{
		"quota sometimes",
		"quota {\n anonymous 0%\n}",
		"quota {\n anonymous 101%\n}",
		"quota {\n anonymous lots\n}",
		"quota {\n anonymous 2000\n}", // more than max_entries
		"quota {\n address 0\n}",
		"quota {\n adress 5\n}",
		"exempt_addresses localhost",
	} {
		expectRefused(t, "max_entries 1000\n"+bad)
	}
	// The defaults: half of max_entries, 10000 per address, no client
	// quota, loopback exempt; no share kept where nothing can be trusted.
	h = &Handler{MaxEntries: 1000, Clients: []*gateway.ClientConfig{{ID: "app", Secret: "s"}}}
	if err := h.setup(); err != nil {
		t.Fatal(err)
	}
	if h.gw.Quotas.Anonymous != 500 || h.gw.Quotas.Address.Limit != gateway.DefaultQuotaAddress || h.gw.Quotas.Client != nil {
		t.Fatalf("defaults: %+v", h.gw.Quotas)
	}
	for name, trusting := range map[string]*Handler{
		"a jwt block":       {JWT: []*gateway.JWTConfig{{Issuer: "i", HMACSecrets: []string{strings.Repeat("k", 32)}}}},
		"a forward logout":  {Routes: []*route.Route{{Type: "logout", Path: "/l", Mode: route.ModeForward}}},
		"an introspection":  {Introspection: &gateway.IntrospectionConfig{URL: "https://idp.test/i", ClientID: "gw", ClientSecret: "s"}},
		"nothing (respond)": {Routes: []*route.Route{{Type: "revoke", Path: "/r"}, {Type: "logout", Path: "/l"}}},
	} {
		trusting.MaxEntries, trusting.logger = 1000, zaptest.NewLogger(t)
		if err := trusting.setup(); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int64{true: 500, false: -1}[name != "nothing (respond)"]; trusting.gw.Quotas.Anonymous != want {
			t.Errorf("%s: anonymous share %d, want %d", name, trusting.gw.Quotas.Anonymous, want)
		}
	}
	if _, ok := gateway.AddressKey(remoteRequest("127.0.0.5:1"), h.gw.Exempt); ok {
		t.Error("loopback is not exempt by default")
	}
	h = &Handler{ExemptAddresses: []string{route.Off}}
	if err := h.setup(); err != nil {
		t.Fatal(err)
	}
	if key, ok := gateway.AddressKey(remoteRequest("127.0.0.5:1"), h.gw.Exempt); !ok || key != "127.0.0.5" {
		t.Errorf("exempt_addresses off: loopback key %q, %v", key, ok)
	}
}

// expectRefused checks that a token_revocation block of lines is refused,
// when parsed or set up, with an error saying token_revocation:.
func expectRefused(t *testing.T, lines string) {
	t.Helper()
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("token_revocation {\n" + lines + "\n}"))
	if err == nil {
		err = h.setup()
	}
	if err == nil || !strings.Contains(err.Error(), "token_revocation:") {
		t.Errorf("%q: %v, want a token_revocation: error", lines, err)
	}
}

func remoteRequest(remote string) *http.Request {
	r := formRequest(http.MethodPost, "/", nil)
	r.RemoteAddr = remote
	return r
}

// TestQuotaKeepsTrustedShare: anonymous revocations stop at their share of
// max_entries (503) and at their address's quota (429, per address);
// an authenticated client's revocation is still stored, up to
// max_entries.
func TestQuotaKeepsTrustedShare(t *testing.T) {
	h := newTestHandler(t, &Handler{
		MaxEntries: 8,
		Quota:      &gateway.QuotaConfig{Address: 3},
		Clients:    []*gateway.ClientConfig{{ID: "app", Secret: "app-secret"}},
		Routes: []*route.Route{
			{Type: "revoke", Path: "/public/revoke", ClientAuth: "off"},
			{Type: "revoke", Path: "/oauth/revoke"},
		},
	}, nil)
	next := &upstream{}
	revoke := func(path, remote, tok string, auth bool) result {
		r := formRequest(http.MethodPost, path, url.Values{"token": {tok}})
		r.RemoteAddr = remote
		if auth {
			r.SetBasicAuth("app", "app-secret")
		}
		return serve(t, h, next, r)
	}
	// One address: 3 entries, then 429.
	for i := range 3 {
		if res := revoke("/public/revoke", "203.0.113.1:1", fmt.Sprint("junk-a", i), false); res.status != http.StatusOK {
			t.Fatalf("anonymous %d: %d %s", i, res.status, res.body)
		}
	}
	res := revoke("/public/revoke", "203.0.113.1:1", "junk-a3", false)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" || !strings.Contains(res.body, "quota address 3") {
		t.Fatalf("past the address quota: %d %q Retry-After %q; want 429 naming quota address", res.status, res.body, res.header.Get("Retry-After"))
	}
	// Another address: up to the anonymous share (4 of 8), then 503.
	if res := revoke("/public/revoke", "203.0.113.2:1", "junk-b0", false); res.status != http.StatusOK {
		t.Fatalf("a second address: %d %s", res.status, res.body)
	}
	res = revoke("/public/revoke", "203.0.113.3:1", "junk-c0", false)
	if res.status != http.StatusServiceUnavailable || !strings.Contains(res.body, "quota anonymous (4 of max_entries 8)") {
		t.Fatalf("past the anonymous share: %d %q; want 503 naming quota anonymous", res.status, res.body)
	}
	// The trusted share: a client's revocations up to max_entries.
	for i := range 4 {
		if res := revoke("/oauth/revoke", "203.0.113.3:1", fmt.Sprint("real-", i), true); res.status != http.StatusOK {
			t.Fatalf("client revocation %d, the anonymous share full: %d %s", i, res.status, res.body)
		}
	}
	if res := revoke("/oauth/revoke", "203.0.113.3:1", "real-4", true); res.status != http.StatusServiceUnavailable {
		t.Fatalf("client revocation past max_entries: %d %s", res.status, res.body)
	}
	for _, tok := range []string{"junk-a0", "junk-b0", "real-0", "real-3"} {
		if res := serve(t, h, next, bearer("/api", tok)); res.status != http.StatusUnauthorized {
			t.Errorf("%s, answered 200, passes: %d", tok, res.status)
		}
	}
}

func TestIntrospectionCaddyfile(t *testing.T) {
	t.Setenv("TRV_INTROSPECTION_SECRET", "s3cret")
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`token_revocation {
		introspection https://idp.example/introspect {
			client_id gw
			client_secret {env.TRV_INTROSPECTION_SECRET}
			timeout 2s
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if c := h.Introspection; c.URL != "https://idp.example/introspect" || c.ClientID != "gw" || time.Duration(c.Timeout) != 2*time.Second {
		t.Fatalf("parsed as %+v", c)
	}
	if err := h.setup(); err != nil {
		t.Fatal(err)
	}
	if in := h.gw.Introspector; in == nil || in.Secret != "s3cret" || in.Client.Timeout != 2*time.Second {
		t.Fatalf("set up as %+v", in)
	}
	for _, bad := range []string{
		"introspection",
		"introspection idp.example/introspect {\n client_id gw\n client_secret s\n}",
		"introspection https://idp.example/introspect {\n client_id gw\n}",
		"introspection https://idp.example/introspect {\n client_id gw\n client_secret {env.TRV_UNSET_SECRET}\n}",
		"introspection https://idp.example/introspect {\n client gw\n}",
	} {
		expectRefused(t, bad)
	}
}

// TestQuotaTrustsVerifiedTokens: with the anonymous share full, an
// anonymous caller's revocation of a token that verifies is stored, as
// is one of an expired token (which stores nothing); a forged one is
// refused.
func TestQuotaTrustsVerifiedTokens(t *testing.T) {
	secret := strings.Repeat("q", 32)
	const issuer = "https://idp.test/quota"
	h := newTestHandler(t, &Handler{
		MaxEntries: 6,
		Quota:      &gateway.QuotaConfig{Anonymous: "2"},
		JWT:        []*gateway.JWTConfig{{Issuer: issuer, HMACSecrets: []string{secret}}},
		Routes:     []*route.Route{{Type: "revoke", Path: "/revoke"}, {Type: "revoke", Path: "/verified", VerifiedOnly: true}},
	}, nil)
	next := &upstream{}
	revoke := func(tok string) result {
		return serve(t, h, next, formRequest(http.MethodPost, "/revoke", url.Values{"token": {tok}}))
	}
	verifiedOnly := func(tok string) result {
		return serve(t, h, next, formRequest(http.MethodPost, "/verified", url.Values{"token": {tok}}))
	}
	for i := range 2 {
		if res := revoke(fmt.Sprint("junk-", i)); res.status != http.StatusOK {
			t.Fatalf("junk %d: %d %s", i, res.status, res.body)
		}
	}
	claims := func(jti string, exp time.Duration) map[string]any {
		return map[string]any{"iss": issuer, "sub": "alice", "jti": jti, "exp": time.Now().Add(exp).Unix()}
	}
	for _, tt := range []struct {
		name, tok string
		status    int
		revoked   bool
	}{
		{"opaque junk", "junk-2", http.StatusServiceUnavailable, false},
		{"forged JWT", hs256(strings.Repeat("x", 32), claims("forged", time.Hour)), http.StatusServiceUnavailable, false},
		{"expired JWT", hs256(secret, claims("expired", -time.Hour)), http.StatusOK, false},
		{"verified JWT", hs256(secret, claims("genuine", time.Hour)), http.StatusOK, true},
	} {
		res := revoke(tt.tok)
		if res.status != tt.status {
			t.Errorf("%s, the anonymous share full: %d %s, want %d", tt.name, res.status, res.body, tt.status)
		}
		if got := serve(t, h, next, bearer("/api", tt.tok)).status == http.StatusUnauthorized; got != tt.revoked {
			t.Errorf("%s: revoked %v, want %v", tt.name, got, tt.revoked)
		}
	}
	// A verified_only route answers junk 200 and stores nothing: the
	// full share does not change that.
	if res := verifiedOnly("junk-3"); res.status != http.StatusOK {
		t.Errorf("junk on a verified_only route, the share full: %d %s, want 200", res.status, res.body)
	}
}

// hs256 signs claims with secret (HS256).
func hs256(secret string, claims map[string]any) string {
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	payload, _ := json.Marshal(claims)
	signing := head + "." + base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// BenchmarkQuotaSet is the cost of an anonymous call's accounting: its
// quota checked, its entries (2: an opaque token and its length marker)
// charged, over 10,000 addresses; it reports the bytes a tracked
// address takes.
func BenchmarkQuotaSet(b *testing.B) {
	const keys = 10000
	s := gateway.NewQuotaSet(gateway.DefaultQuotaAddress, 24*time.Hour+5*time.Minute, keys)
	now := time.Now()
	entries := []denylist.Entry{{Expires: now.Add(24 * time.Hour).Unix()}, {Expires: now.Add(24 * time.Hour).Unix()}}
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("203.0.%d.%d", i>>8, i&255)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, k := range names {
		s.Add(k, entries, now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	for i := 0; b.Loop(); i++ {
		k := names[i%keys]
		if n, _ := s.Held(k, now); n < s.Limit {
			s.Add(k, entries, now)
		}
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/keys, "B/address")
}

// TestAnonymousShareCountsCallsInFlight: anonymous calls admitted but not
// yet stored hold 2 entries a token of the share, so that many at once
// cannot all pass it; done gives them back.
func TestAnonymousShareCountsCallsInFlight(t *testing.T) {
	h := newTestHandler(t, &Handler{
		MaxEntries: 100,
		Quota:      &gateway.QuotaConfig{Anonymous: "5"},
		Routes:     []*route.Route{{Type: "revoke", Path: "/r"}},
	}, nil)
	call := func() *route.Call {
		return &route.Call{Route: h.gw.Routes[0], Revocation: engine.Revocation{Tokens: []token.Token{token.Parse("in-flight-token-0123456789")}}}
	}
	ctx := context.Background()
	var admitted []*route.Call
	for range 3 { // 0, 2, 4 entries in flight: each below 5
		c := call()
		if err := h.gw.Quotas.AdmitAnonymous(ctx, h.gw.Env, h.gw.Store, c); err != nil {
			t.Fatalf("call %d: %v", len(admitted), err)
		}
		admitted = append(admitted, c)
	}
	if err := h.gw.Quotas.AdmitAnonymous(ctx, h.gw.Env, h.gw.Store, call()); err == nil {
		t.Fatal("a fourth call in flight (6 entries reserved of 5) was admitted")
	}
	admitted[0].Quota.Done()
	admitted[0].Quota.Done() // twice: released once
	if got := h.gw.Quotas.Pending.Load(); got != 4 {
		t.Fatalf("%d entries reserved after one call is done, want 4", got)
	}
	if err := h.gw.Quotas.AdmitAnonymous(ctx, h.gw.Env, h.gw.Store, call()); err != nil {
		t.Fatalf("with one call done: %v", err)
	}
}

// TestQuotaClient: quota client bounds what one authenticated client's
// revocations hold (429 past it), whatever the address; another client
// has its own.
func TestQuotaClient(t *testing.T) {
	h := newTestHandler(t, &Handler{
		Quota:   &gateway.QuotaConfig{Client: 2},
		Clients: []*gateway.ClientConfig{{ID: "app", Secret: "app-secret"}, {ID: "other", Secret: "other-secret"}},
		Routes:  []*route.Route{{Type: "revoke", Path: "/revoke"}},
	}, nil)
	revoke := func(id, tok string, remote int) result {
		r := formRequest(http.MethodPost, "/revoke", url.Values{"token": {tok}})
		r.RemoteAddr = fmt.Sprintf("203.0.113.%d:1", remote)
		r.SetBasicAuth(id, id+"-secret")
		return serve(t, h, &upstream{}, r)
	}
	for i := range 2 {
		if res := revoke("app", fmt.Sprint("app-", i), i); res.status != http.StatusOK {
			t.Fatalf("app %d: %d %s", i, res.status, res.body)
		}
	}
	if res := revoke("app", "app-2", 9); res.status != http.StatusTooManyRequests || !strings.Contains(res.body, "quota client 2") {
		t.Fatalf("past the client quota: %d %s, want 429 naming quota client", res.status, res.body)
	}
	if res := revoke("other", "other-0", 9); res.status != http.StatusOK {
		t.Fatalf("another client: %d %s", res.status, res.body)
	}
}
