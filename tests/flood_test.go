package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// floodCaddyfile is a gateway on Redis with the shipped rate limits (50
// calls a second, bursts of 100, per client and per address) and small
// ceilings, so that the flood reaches them; %s: Redis, the upstream.
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
// addresses stops at max_entries. FLOOD_SECONDS sets each phase's length
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
	// Room for the four phases that store entries, and 1000 more for the
	// distributed flood to fill.
	floodMaxEntries := 4*bucketAllows(phase) + 1000
	c := startCaddy(t, floodCaddyfile, r.Addr, floodMaxEntries, floodMaxOwnerRecords, idp.Addr())
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
	// together: max_entries stops them.
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
			return "the distributed flood never met max_entries: " + l.Summary()
		}
		return ""
	})
	time.Sleep(phase / 3) // keep pushing past the ceiling
	l.Stop()
	d := time.Since(start)
	after := redisFigures(t, r)
	rows = append(rows, row{"revoke (client_auth off)", "many addresses", l.Statuses()[http.StatusOK],
		float64(after.entries-before.entries) / d.Seconds(), float64(after.memory-before.memory) / d.Seconds() * 3600 / 1e6, false,
		fmt.Sprintf("max_entries %d", floodMaxEntries), l.Summary()})
	// Bytes per entry and per owner record, from the whole run (a phase's
	// own used_memory delta is noisy: a few hundred entries against
	// Redis's buffers).
	final := redisFigures(t, r)
	perEntry := float64(final.memory-initial.memory) / float64(max(final.entries+final.owners, 1))
	report := []string{
		fmt.Sprintf("caps: rate limit %d/s burst %d per client and per address; max_entries %d; max_owner_records %d; phases of %s, %d workers",
			floodRate, floodBurst, floodMaxEntries, floodMaxOwnerRecords, phase, floodWorkers),
		fmt.Sprintf("Redis grew %d bytes for %d entries and %d owner records: %.0f B each", final.memory-initial.memory, final.entries, final.owners, perEntry),
		fmt.Sprintf("%-26s %-16s %7s %9s %11s %11s %17s  %s", "route", "caller", "2xx", "stored/s", "MB/h delta", "MB/h est.", "cap", "answers"),
	}
	for _, w := range rows {
		report = append(report, fmt.Sprintf("%-26s %-16s %7d %9.1f %11.1f %11.1f %17s  %s", w.kind, w.caller, w.ok, w.perSec, w.mbPerHour, w.perSec*perEntry*3600/1e6, w.capText, w.summary))
	}
	if after.entries > int64(floodMaxEntries+floodWorkers) {
		t.Errorf("the store holds %d entries; max_entries is %d (+%d calls in flight)", after.entries, floodMaxEntries, floodWorkers)
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

// redisFigures reads the entries hash's size, the owner record count and
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
