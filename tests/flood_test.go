package tests

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// floodCaddyfile is a gateway on Redis with the shipped rate limits (50
// calls a second, bursts of 100, per client and per address) and small
// ceilings, so that the flood reaches them; %s: Redis, the ceilings, the
// anonymous share, the upstream.
const floodCaddyfile = trustLoopback + `http:// {
	token_revocation {
		store redis {
			address %s
		}
		clients {
			app flood-secret-0123
		}
		max_entries %d
		max_owner_records %d
		quota {
			anonymous %d
		}
		revoke /oauth/revoke
		revoke /public/revoke {
			client_auth off
		}
		logout /logout
		usergrid_revoketoken /{org}/{app}/users/{user}/revoketoken
		oauth_token /oauth/token
		usergrid_token /{org}/{app}/token
	}
	reverse_proxy %s
}`

// The flood's caps.
const (
	floodMaxOwnerRecords  = 1000000 // the default
	floodRate, floodBurst = 50, 100 // the defaults
	floodWorkers          = 4
)

// TestFlood floods every route kind, as an unauthenticated and as an
// authenticated client, with the shipped rate limits, and prints for each
// the revocations (or owner records) it stored per second and the Redis
// memory that would take per hour (INFO used_memory, extrapolated), beside
// the caps. It asserts the caps hold: an unauthenticated caller of a
// route that needs client authentication stores nothing; one client or
// one address stores no more than its bucket allows; and a flood from many
// addresses stops at the anonymous share (quota anonymous), short of
// max_entries (TestFloodKeepsTrustedShare shows what the rest is for).
// FLOOD_SECONDS sets each phase's length
// (default 3; `make flood` runs 30).
func TestFlood(t *testing.T) {
	phase := 3 * time.Second
	if s, err := strconv.Atoi(os.Getenv("FLOOD_SECONDS")); err == nil && s > 0 {
		phase = time.Duration(s) * time.Second
	}
	r := startRedis(t)
	var issued atomic.Int64
	idp := startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case req.URL.Path == "/oauth/token":
			fmt.Fprintf(w, `{"access_token":"flood-at-%d","refresh_token":"flood-rt-%d","expires_in":3600}`, n, n)
		case strings.HasSuffix(req.URL.Path, "/token"):
			fmt.Fprintf(w, `{"access_token":"flood-ug-%d","expires_in":3600,"user":{"uuid":"u-%d","username":"user%d","email":"user%d@example.com"}}`, n, n, n, n)
		}
	}))
	// An anonymous share with room for the four phases that store entries,
	// and 500 more for the distributed flood to fill; 500 kept for trusted
	// revocations.
	floodAnonymous := 4*bucketAllows(phase) + 500
	floodMaxEntries := floodAnonymous + 500
	c := startCaddy(t, floodCaddyfile, r.Addr, floodMaxEntries, floodMaxOwnerRecords, floodAnonymous, idp.Addr())
	initial := redisFigures(t, r)
	auth := basicAuth("app", "flood-secret-0123")
	form := func(path string, f url.Values, headers ...string) func(int, int) (Response, error) {
		return func(w, i int) (Response, error) {
			g := url.Values{}
			for k, v := range f {
				g[k] = v
			}
			for k, v := range g {
				if len(v) == 1 && strings.Contains(v[0], "%d") {
					g[k] = []string{fmt.Sprintf(v[0], w*1_000_000+i)}
				}
			}
			return tryDo(http.MethodPost, c.URL(path), strings.NewReader(g.Encode()),
				append([]string{"Content-Type: application/x-www-form-urlencoded"}, headers...)...)
		}
	}
	unique := atomic.Int64{}
	tok := func(prefix string) url.Values {
		return url.Values{"token": {fmt.Sprintf("%s-%d-%%d", prefix, unique.Add(1))}}
	}
	ugRevoke := func(w, i int) (Response, error) {
		return tryDo(http.MethodPut, c.URL(fmt.Sprintf("/org/app/users/u/revoketoken?token=flood-ugr-%d-%d", w, i)), nil, from("203.0.113.30"))
	}
	phases := []struct {
		kind, caller string
		send         func(int, int) (Response, error)
		owners       bool // stores owner records, not entries
		limit        string
		// maxOK is the most 2xx answers the caps allow in the phase
		maxOK func(d time.Duration) int
	}{
		{"revoke", "unauthenticated", form("/oauth/revoke", tok("ua"), from("203.0.113.10")), false, "client auth", func(time.Duration) int { return 0 }},
		{"revoke", "authenticated", form("/oauth/revoke", tok("a"), from("203.0.113.11"), auth), false, "per client", bucketAllows},
		{"revoke (client_auth off)", "unauthenticated", form("/public/revoke", tok("p"), from("203.0.113.12")), false, "per address", bucketAllows},
		{"logout", "unauthenticated", form("/logout", url.Values{"refresh_token": {"flood-lo-%d"}}, from("203.0.113.20")), false, "client auth", func(time.Duration) int { return 0 }},
		{"logout", "authenticated", form("/logout", url.Values{"refresh_token": {"flood-loa-%d"}}, from("203.0.113.21"), auth), false, "per client", bucketAllows},
		{"usergrid_revoketoken", "unauthenticated", ugRevoke, false, "per address", bucketAllows},
		{"oauth_token", "unauthenticated", form("/oauth/token", url.Values{"grant_type": {"password"}}, from("203.0.113.40")), true, "per address", bucketAllows},
		{"usergrid_token", "unauthenticated", form("/org/app/token", url.Values{"grant_type": {"password"}}, from("203.0.113.50")), true, "per address", bucketAllows},
	}
	type row struct {
		kind, caller string
		ok           int
		perSec       float64
		mbPerHour    float64 // used_memory delta, extrapolated
		owners       bool
		capText      string
		summary      string
	}
	var rows []row
	for _, p := range phases {
		before := redisFigures(t, r)
		start := time.Now()
		l := startLoad(t, floodWorkers, time.Minute, p.send)
		time.Sleep(phase) // the measurement window
		l.Stop()
		d := time.Since(start)
		after := redisFigures(t, r)
		ok := 0
		for s, n := range l.Statuses() {
			if s >= 200 && s < 300 {
				ok += n
			}
		}
		stored := after.entries - before.entries
		if p.owners {
			stored = after.owners - before.owners
		}
		perSec := float64(stored) / d.Seconds()
		mbPerHour := float64(after.memory-before.memory) / d.Seconds() * 3600 / 1e6
		capText := p.limit
		if p.limit != "client auth" {
			capText = fmt.Sprintf("%s %d/s", p.limit, floodRate)
		}
		rows = append(rows, row{p.kind, p.caller, ok, perSec, mbPerHour, p.owners, capText, l.Summary()})
		if want := p.maxOK(d); ok > want {
			t.Errorf("%s, %s: %d calls answered 2xx in %s; the caps allow %d", p.kind, p.caller, ok, d.Round(time.Millisecond), want)
		}
		if p.limit == "client auth" && stored != 0 {
			t.Errorf("%s, %s: %d entries stored without client authentication", p.kind, p.caller, stored)
		}
		if ok == 0 && p.limit != "client auth" {
			t.Errorf("%s, %s: nothing accepted: %s", p.kind, p.caller, l.Summary())
		}
	}

	// Many addresses (a distributed flood) get past the per-address limit
	// together: the anonymous share stops them.
	var addr atomic.Int64
	dist := func(w, i int) (Response, error) {
		a := addr.Add(1)
		return form("/public/revoke", tok("d"), from(fmt.Sprintf("10.%d.%d.%d", a>>16&255, a>>8&255, a&255)))(w, i)
	}
	before := redisFigures(t, r)
	start := time.Now()
	l := startLoad(t, floodWorkers, time.Minute, dist)
	pollUntil(t, 30*time.Second, func() string {
		if l.Statuses()[http.StatusServiceUnavailable] == 0 {
			return "the distributed flood never met the anonymous share: " + l.Summary()
		}
		return ""
	})
	time.Sleep(phase / 3) // keep pushing past the ceiling
	l.Stop()
	d := time.Since(start)
	after := redisFigures(t, r)
	rows = append(rows, row{"revoke (client_auth off)", "many addresses", l.Statuses()[http.StatusOK],
		float64(after.entries-before.entries) / d.Seconds(), float64(after.memory-before.memory) / d.Seconds() * 3600 / 1e6, false,
		fmt.Sprintf("quota anonymous %d", floodAnonymous), l.Summary()})
	// Bytes per entry and per owner record, from the whole run (a phase's
	// own used_memory delta is noisy: a few hundred entries against
	// Redis's buffers).
	final := redisFigures(t, r)
	perEntry := float64(final.memory-initial.memory) / float64(max(final.entries+final.owners, 1))
	report := []string{
		fmt.Sprintf("caps: rate limit %d/s burst %d per client and per address; max_entries %d, quota anonymous %d; max_owner_records %d; phases of %s, %d workers",
			floodRate, floodBurst, floodMaxEntries, floodAnonymous, floodMaxOwnerRecords, phase, floodWorkers),
		fmt.Sprintf("Redis grew %d bytes for %d entries and %d owner records: %.0f B each", final.memory-initial.memory, final.entries, final.owners, perEntry),
		fmt.Sprintf("%-26s %-16s %7s %9s %11s %11s %17s  %s", "route", "caller", "2xx", "stored/s", "MB/h delta", "MB/h est.", "cap", "answers"),
	}
	for _, w := range rows {
		report = append(report, fmt.Sprintf("%-26s %-16s %7d %9.1f %11.1f %11.1f %17s  %s", w.kind, w.caller, w.ok, w.perSec, w.mbPerHour, w.perSec*perEntry*3600/1e6, w.capText, w.summary))
	}
	if after.entries > int64(floodAnonymous+floodWorkers) {
		t.Errorf("the store holds %d entries; quota anonymous is %d (+%d calls in flight)", after.entries, floodAnonymous, floodWorkers)
	}
	for s := range l.Statuses() {
		if s != http.StatusOK && s != http.StatusServiceUnavailable {
			t.Errorf("distributed flood: answers other than 200 and 503: %s", l.Summary())
		}
	}
	t.Log("flood figures (stored/s: denylist entries, or owner records for token endpoints; MB/h delta: INFO used_memory growth in the phase, extrapolated; MB/h est.: stored/s times the bytes per item of the whole run):\n" + strings.Join(report, "\n"))
}

// bucketAllows is what one token bucket of the shipped defaults lets
// through in d: the burst, and the rate after it (plus one for rounding).
func bucketAllows(d time.Duration) int {
	return floodBurst + int(d.Seconds()*floodRate) + 1
}

// floodFigures are the Redis figures the flood compares.
type floodFigures struct {
	entries, owners, memory int64
}

// redisFigures reads the entry count (the legacy entries hash's fields
// and the compact layout's count), the owner record count and
// used_memory.
func redisFigures(t *testing.T, r *redistest.Server) floodFigures {
	t.Helper()
	ctx := context.Background()
	rc := r.Client()
	var f floodFigures
	var err error
	if f.entries, err = rc.HLen(ctx, "{trv}:entries").Result(); err != nil {
		t.Fatal(err)
	}
	if rc.HExists(ctx, "{trv}:entries", "!sentinel").Val() { // redisstore's eviction sentinel
		f.entries--
	}
	compact, _ := rc.Get(ctx, "{trv}:c:count").Int64() // the compact layout's entries (the default)
	f.entries += compact
	f.owners, _ = rc.Get(ctx, "{trv}:owned_records").Int64()
	info, err := rc.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			f.memory, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return f
}

// floodShareCaddyfile is a gateway whose denylist anonymous junk fills: a
// revoke route anyone may call (client_auth off), and a logout route too,
// beside a revoke route for the authenticated client; %s: the store, the
// quota settings, the issuer and its HMAC secret, the upstream.
const floodShareCaddyfile = trustLoopback + `http:// {
	token_revocation {
		%s
		max_entries 600
		%s
		jwt %s {
			hmac_secret %s
		}
		clients {
			app flood-secret-0123
		}
		revoke /oauth/revoke
		revoke /public/revoke {
			client_auth off
		}
		logout /logout {
			client_auth off
		}
		logout /idp/logout forward
	}
	reverse_proxy %s
}`

// TestFloodKeepsTrustedShare (issue 23, item 8): anonymous junk from 100
// source addresses (127.0.0.2 to 127.0.0.101, each its own client
// address) revokes until the gateway refuses every address; then a
// verified JWT's logout, an authenticated client's revocation and a
// logout the upstream confirmed (forward mode) are still stored (2xx) and
// enforced (401 on the next proxied request). Twice per
// store: with the shipped quotas (loopback is exempt from the address
// quota, so the addresses fill the anonymous share together; this config
// is valid on 5278a12 too, where the junk filled max_entries and the
// logout was answered 503), and with the addresses counted
// (exempt_addresses off) and a small address quota, which no address may
// pass (one address alone gets 429 once it holds its quota).
func TestFloodKeepsTrustedShare(t *testing.T) {
	const (
		addresses    = 100
		perAddress   = 20 // calls each address sends at most
		addressQuota = 10
		issuer       = "https://idp.test/flood"
	)
	secret := strings.Repeat("f", 32)
	for _, sv := range storeVariants() {
		for _, cfg := range []struct {
			name, quota string
			counted     bool // each address has its own quota
		}{
			{"shipped quotas", "", false},
			{"addresses counted", fmt.Sprintf("exempt_addresses off\n\t\tquota {\n\t\t\taddress %d\n\t\t}", addressQuota), true},
		} {
			t.Run(sv.name+"/"+cfg.name, func(t *testing.T) {
				up := startUpstream(t)
				c := startCaddy(t, floodShareCaddyfile, sv.block(t), cfg.quota, issuer, secret, up.Addr())

				if cfg.counted {
					// One address alone: its quota, then 429.
					client := clientFrom(t, "127.0.0.200")
					for i := 0; ; i++ {
						res, err := sendVia(client, http.MethodPost, c.URL("/public/revoke"),
							url.Values{"token": {fmt.Sprintf("alone-%03d-0123456789abcdef", i)}})
						if err != nil {
							t.Fatal(err)
						}
						if res.Status == http.StatusOK {
							continue
						}
						// Each junk revocation stores 2 entries (the token,
						// its length marker).
						if i != addressQuota/2 || res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
							t.Fatalf("one address: call %d answered %d %s (Retry-After %q); want 429 with Retry-After after %d calls", i, res.Status, res.Body, res.Header.Get("Retry-After"), addressQuota/2)
						}
						break
					}
				}

				// The flood: each address sends junk until it is refused
				// three times running.
				var mu sync.Mutex
				answers := map[int]int{}
				stored := make([]int, addresses)
				var wg sync.WaitGroup
				for a := range addresses {
					wg.Add(1)
					go func() {
						defer wg.Done()
						client := clientFrom(t, fmt.Sprintf("127.0.0.%d", a+2))
						refused := 0
						for i := 0; i < perAddress && refused < 3; i++ {
							res, err := sendVia(client, http.MethodPost, c.URL("/public/revoke"),
								url.Values{"token": {fmt.Sprintf("junk-%03d-%03d-0123456789abcdef", a, i)}})
							if err != nil {
								t.Errorf("address %d: %v", a, err)
								return
							}
							mu.Lock()
							answers[res.Status]++
							mu.Unlock()
							if res.Status == http.StatusOK {
								stored[a]++
								refused = 0
							} else {
								refused++
							}
						}
					}()
				}
				wg.Wait()
				t.Logf("flood from %d addresses: answers %v", addresses, answers)
				if answers[http.StatusServiceUnavailable] == 0 {
					t.Fatalf("the flood never filled the denylist: answers %v", answers)
				}
				// One instance counts the calls in flight: the junk (an
				// entry each, and their length's marker) stays within the
				// share, half of max_entries 600.
				if answers[http.StatusOK] >= 300 {
					t.Errorf("the junk stored %d revocations; the anonymous share is 300 entries", answers[http.StatusOK])
				}
				for s := range answers {
					if s != http.StatusOK && s != http.StatusServiceUnavailable && s != http.StatusTooManyRequests {
						t.Errorf("flood answers other than 200, 429 and 503: %v", answers)
					}
				}
				// Calls in flight count 2 entries each, so a flood from 100
				// addresses at once is refused before the store holds the
				// whole share; junk sent one call at a time (4 calls an
				// address, within its quota) then fills it to the brim,
				// which the late call below must meet.
				for i := 0; ; i++ {
					res, err := sendVia(clientFrom(t, fmt.Sprintf("127.0.1.%d", i/4+1)), http.MethodPost, c.URL("/public/revoke"),
						url.Values{"token": {fmt.Sprintf("junk-top-%03d-0123456789abcdef", i)}})
					if err != nil {
						t.Fatal(err)
					}
					if res.Status == http.StatusServiceUnavailable {
						break
					}
					if res.Status != http.StatusOK || i >= 300 {
						t.Fatalf("filling the share one call at a time: call %d answered %d %s", i, res.Status, res.Body)
					}
				}
				if cfg.counted {
					for a, n := range stored {
						if n > addressQuota/2 {
							t.Errorf("address 127.0.0.%d stored %d revocations; its quota is %d entries", a+2, n, addressQuota)
						}
					}
				}

				// A verified JWT's logout: its refresh token, and with its
				// session the access token of the same session.
				claims := func(jti, typ string) map[string]any {
					return map[string]any{"iss": issuer, "sub": "alice", "sid": "flood-session", "jti": jti, "typ": typ, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
				}
				refresh := hs256([]byte(secret), claims("rt-1", "Refresh"))
				access := hs256([]byte(secret), claims("at-1", "Bearer"))
				if isRevoked(t, c, access) {
					t.Fatal("the access token is refused before its logout")
				}
				res := postForm(t, c.URL("/logout"), url.Values{"refresh_token": {refresh}})
				if res.Status != http.StatusNoContent {
					t.Errorf("a verified JWT's logout after the flood: %d %s, want 204", res.Status, res.Body)
				}
				for name, tok := range map[string]string{"the refresh token": refresh, "the session's access token": access} {
					if !isRevoked(t, c, tok) {
						t.Errorf("after the logout, %s passes", name)
					}
				}

				// An authenticated client's revocation of an opaque token.
				opaque := "real-opaque-token-0123456789abcdef"
				res = postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {opaque}}, basicAuth("app", "flood-secret-0123"))
				if res.Status != http.StatusOK {
					t.Errorf("an authenticated client's revocation after the flood: %d %s, want 200", res.Status, res.Body)
				}
				if !isRevoked(t, c, opaque) {
					t.Error("after the client's revocation, the token passes")
				}

				// A logout the upstream confirms (forward mode), of an
				// opaque refresh token: trusted by the upstream's 2xx.
				refreshOpaque := "real-refresh-opaque-0123456789abcdef"
				reached := up.Count()
				res = postForm(t, c.URL("/idp/logout"), url.Values{"refresh_token": {refreshOpaque}})
				if res.Status != http.StatusOK || up.Count() != reached+1 {
					t.Errorf("a forward-mode logout after the flood: %d %s (upstream reached: %v), want the upstream's 200", res.Status, res.Body, up.Count() > reached)
				}
				if !isRevoked(t, c, refreshOpaque) {
					t.Error("after the upstream-confirmed logout, the refresh token passes")
				}

				// The junk that was answered 200 is revoked; the flood goes
				// on being refused.
				if !isRevoked(t, c, "junk-000-000-0123456789abcdef") {
					t.Error("junk answered 200 is not revoked")
				}
				res, err := sendVia(clientFrom(t, "127.0.0.102"), http.MethodPost, c.URL("/public/revoke"), url.Values{"token": {"junk-late-0123456789abcdef"}})
				if err != nil || res.Status != http.StatusServiceUnavailable || !strings.Contains(res.Body, "anonymous") {
					t.Errorf("anonymous junk after the flood: %v %d %s, want 503 naming the anonymous share", err, res.Status, res.Body)
				}
				m := scrape(t, c)
				if m[`caddy_token_revocation_refused_total{reason="anonymous_share_full"}`] == 0 {
					t.Errorf("refused_total: %v", m)
				}
			})
		}
	}
}

// clientFrom is an HTTP client whose connections come from the loopback
// address local, so that the gateway sees that client address.
func clientFrom(t *testing.T, local string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	tr := &http.Transport{Proxy: nil, DialContext: d.DialContext, MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: httpTimeout, Transport: tr}
}

// TestFloodIntrospection (issue 23, item 8): in forward mode, an anonymous
// revocation of an opaque token is checked with the identity provider's
// introspection endpoint (RFC 7662) before it takes space. Junk the
// endpoint says is not active goes to the upstream (200, as RFC 7009
// has it) and is not stored, so it never fills the denylist, even once
// the anonymous share is full; an active token is stored there and then
// refused; a token the endpoint fails on counts as anonymous (503 once
// the share is full, not forwarded). On Redis and the embedded store.
func TestFloodIntrospection(t *testing.T) {
	const active = "real-active-opaque-0123456789abcdef"
	for _, sv := range storeVariants() {
		t.Run(sv.name, func(t *testing.T) {
			var introspected, revoked atomic.Int64
			idp := startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/introspect":
					introspected.Add(1)
					if id, secret, ok := r.BasicAuth(); !ok || id != "gw" || secret != "gw-secret" {
						w.WriteHeader(http.StatusUnauthorized)
						return
					}
					tok := r.PostFormValue("token")
					if strings.HasPrefix(tok, "broken-") {
						w.WriteHeader(http.StatusInternalServerError)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprintf(w, `{"active":%v}`, tok == active)
				case "/oauth/revoke":
					revoked.Add(1) // RFC 7009: 200 for any token
				}
			}))
			c := startCaddy(t, trustLoopback+`http:// {
	token_revocation {
		%s
		max_entries 100
		introspection http://%s/introspect {
			client_id gw
			client_secret gw-secret
		}
		revoke /public/revoke {
			client_auth off
		}
		revoke /oauth/revoke forward
	}
	reverse_proxy %s
}`, sv.block(t), idp.Addr(), idp.Addr())
			forward := func(tok string) Response {
				return postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {tok}})
			}
			// Junk: forwarded, answered 200, not stored.
			for i := range 200 {
				if res := forward(fmt.Sprintf("junk-%03d-0123456789abcdef", i)); res.Status != http.StatusOK {
					t.Fatalf("junk %d: %d %s, want the upstream's 200", i, res.Status, res.Body)
				}
			}
			if introspected.Load() != 200 || revoked.Load() != 200 {
				t.Fatalf("200 junk revocations: %d introspected, %d forwarded; want 200 each", introspected.Load(), revoked.Load())
			}
			if isRevoked(t, c, "junk-000-0123456789abcdef") || isRevoked(t, c, "junk-199-0123456789abcdef") {
				t.Fatal("junk the introspection endpoint called inactive was stored")
			}
			// The anonymous share (50 of 100) filled through a respond-mode
			// route, which nothing introspects.
			for i := 0; ; i++ {
				res := postForm(t, c.URL("/public/revoke"), url.Values{"token": {fmt.Sprintf("fill-%03d-0123456789abcdef", i)}})
				if res.Status == http.StatusServiceUnavailable {
					break
				}
				if res.Status != http.StatusOK || i > 100 {
					t.Fatalf("filling the anonymous share, call %d: %d %s", i, res.Status, res.Body)
				}
			}
			// Inactive junk still costs nothing: forwarded, 200.
			before := revoked.Load()
			if res := forward("junk-late-0123456789abcdef"); res.Status != http.StatusOK || revoked.Load() != before+1 {
				t.Errorf("inactive junk with the anonymous share full: %d %s (forwarded: %v), want the upstream's 200", res.Status, res.Body, revoked.Load() > before)
			}
			// A token the endpoint fails on is anonymous: 503, not forwarded.
			before = revoked.Load()
			if res := forward("broken-0123456789abcdef"); res.Status != http.StatusServiceUnavailable || revoked.Load() != before {
				t.Errorf("a token the introspection endpoint failed on, the share full: %d %s (forwarded: %v); want 503 before forwarding", res.Status, res.Body, revoked.Load() > before)
			}
			// An active token is trusted: stored past the anonymous share.
			if isRevoked(t, c, active) {
				t.Fatal("the active token is refused before its revocation")
			}
			if res := forward(active); res.Status != http.StatusOK {
				t.Fatalf("the active token's revocation, the share full: %d %s, want 200", res.Status, res.Body)
			}
			if !isRevoked(t, c, active) {
				t.Error("the active token, its revocation answered 200, passes")
			}
			m := scrape(t, c)
			for result, want := range map[string]float64{"active": 1, "inactive": 201, "error": 1} {
				if got := m[`caddy_token_revocation_introspections_total{result="`+result+`"}`]; got != want {
					t.Errorf("introspections_total{result=%q} = %v, want %v", result, got, want)
				}
			}
		})
	}
}
