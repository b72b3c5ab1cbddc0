package tests

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
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

// TestChaos runs a stream of revocations on every route kind of the
// Keycloak profile (forward logout and revoke, confirmed by a Keycloak
// stand-in) and a respond-mode RFC 7009 route, plus checks, through two
// Caddy instances on Redis — standalone, then Sentinel — while a nemesis
// kills (-9), freezes (SIGSTOP), restarts empty and fails over Redis, and
// reloads, restarts and kills Caddy. Afterwards a checker asserts that
// every revocation answered 2xx, and every one the IdP confirmed to a
// gateway that answered at all, is enforced on every instance.
//
// CHAOS_DURATION (default 90s) is the whole run; CHAOS_MIN_FAULTS fails
// the test when fewer faults were injected (make chaos: 10m, 100).
func TestChaos(t *testing.T) {
	total := 90 * time.Second
	if v := os.Getenv("CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CHAOS_DURATION: %v", err)
		}
		total = d
	}
	minFaults, _ := strconv.Atoi(os.Getenv("CHAOS_MIN_FAULTS"))
	var sum chaosFigures
	for _, topo := range []string{"standalone", "sentinel"} {
		t.Run(topo, func(t *testing.T) {
			f := runChaos(t, topo, total/2)
			t.Logf("chaos %s: %s", topo, &f)
			sum.add(f)
		})
	}
	fmt.Printf("chaos figures (%s): %s\n", total, &sum)
	t.Logf("chaos total (%s): %s", total, &sum)
	if sum.violations > 0 {
		t.Errorf("%d violations", sum.violations)
	}
	if sum.faults < int64(minFaults) {
		t.Errorf("%d faults injected, want at least %d", sum.faults, minFaults)
	}
}

// chaosFigures are what a chaos run reports.
type chaosFigures struct {
	ops, acked, confirmedOnly, unknown, checks, faults, violations, checked, expired int64
	byFault                                                                          map[string]int
}

func (f *chaosFigures) add(o chaosFigures) {
	f.ops += o.ops
	f.acked += o.acked
	f.confirmedOnly += o.confirmedOnly
	f.unknown += o.unknown
	f.checks += o.checks
	f.faults += o.faults
	f.violations += o.violations
	f.checked += o.checked
	f.expired += o.expired
	if f.byFault == nil {
		f.byFault = map[string]int{}
	}
	for k, v := range o.byFault {
		f.byFault[k] += v
	}
}

func (f *chaosFigures) String() string {
	b, _ := json.Marshal(f.byFault)
	return fmt.Sprintf("operations %d (revocations answered 2xx %d, confirmed by the IdP but not answered 2xx %d, no answer %d; checks %d); faults injected %d %s; enforcement verified %d tokens x every instance (%d expired meanwhile); violations %d",
		f.ops, f.acked, f.confirmedOnly, f.unknown, f.checks, f.faults, b, f.checked, f.expired, f.violations)
}

// chaosRequirement is a token that must be rejected on every instance.
type chaosRequirement struct {
	what, token string
	exp         int64 // Unix seconds; 0: opaque (default_ttl)
}

type chaosRun struct {
	t         *testing.T
	instances []*Caddy
	body      string

	mu       sync.Mutex
	required []chaosRequirement
	revoked  []string // tokens to send checks with

	idpConfirmed sync.Map // refresh or access token -> true once the IdP confirmed its logout or revocation

	ops, acked, confirmedOnly, unknown, checks atomic.Int64
	faults                                     atomic.Int64
	byFault                                    sync.Map // name -> *atomic.Int64
	busy                                       []sync.Mutex
}

const chaosCaddyfile = `http:// {
	token_revocation {
		store redis {
			%s
		}
		profile keycloak
		revoke /oauth/revoke
	}
	handle /realms/* {
		reverse_proxy %s
	}
	handle {
		reverse_proxy %s
	}
}`

// chaosClient gives up quickly: an instance being killed must not stall
// the workers.
var chaosClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func runChaos(t *testing.T, topo string, dur time.Duration) chaosFigures {
	kc := startKeycloak(t)
	cr := &chaosRun{t: t}
	idp := startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		kc.serve(rec, r)
		switch {
		case strings.HasSuffix(r.URL.Path, "/logout") && rec.status == http.StatusNoContent:
			cr.idpConfirmed.Store(r.PostForm.Get("refresh_token"), true)
		case strings.HasSuffix(r.URL.Path, "/revoke") && rec.status == http.StatusOK && rec.n == 0:
			cr.idpConfirmed.Store(r.PostForm.Get("token"), true)
		}
	}))

	var (
		store   string
		nemesis []chaosFault
	)
	switch topo {
	case "standalone":
		r := startRedis(t)
		store = "address " + r.Addr
		nemesis = []chaosFault{
			{"redis kill -9, restart empty", func() { r.Restart() }},
			{"redis SIGSTOP", func() { cr.freeze(r) }},
		}
	case "sentinel":
		g := startSentinelGroup(t)
		// min_replicas 1, as the README says for Sentinel: without it a
		// failover loses the revocations of its last moments, by design.
		store = "address " + g.addresses() + "\n\t\t\tmaster_name " + sentinelMaster + "\n\t\t\tmin_replicas 1"
		nodes := []*redistest.Server{g.primary, g.replica}
		primary := func() *redistest.Server {
			m := g.master(t)
			for _, n := range nodes {
				if n.Addr == m {
					return n
				}
			}
			return nil
		}
		nemesis = []chaosFault{
			{"redis failover (primary kill -9)", func() {
				p := primary()
				if p == nil {
					return
				}
				p.Stop()
				pollUntil(t, 30*time.Second, func() string {
					if m := g.master(t); m == p.Addr || m == "" {
						return "no failover yet"
					}
					return ""
				})
				p.Restart() // comes back empty; the Sentinels make it a replica
			}},
			{"redis SIGSTOP primary", func() {
				if p := primary(); p != nil {
					cr.freeze(p)
				}
			}},
		}
	}
	cr.body = fmt.Sprintf(chaosCaddyfile, store, idp.Addr(), idp.Addr())
	for range 2 {
		cr.instances = append(cr.instances, startCaddy(t, cr.body))
	}
	cr.busy = make([]sync.Mutex, len(cr.instances))
	nemesis = append(nemesis,
		chaosFault{"caddy kill -9 and restart", func() { cr.onInstance(func(c *Caddy) { c.Kill(); c.Restart() }) }},
		chaosFault{"caddy reload", func() { cr.onInstance(func(c *Caddy) { _ = c.TryReload(cr.body) }) }},
		chaosFault{"caddy graceful restart", func() { cr.onInstance(func(c *Caddy) { c.Restart() }) }},
	)
	cr.waitReady(60 * time.Second)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				cr.operate(rng, fmt.Sprintf("%s-w%d-%d", topo, w, n))
			}
		}()
	}
	deadline := time.Now().Add(dur)
	rng := rand.New(rand.NewPCG(99, uint64(time.Now().UnixNano())))
	for time.Now().Before(deadline) {
		f := nemesis[rng.IntN(len(nemesis))]
		f.inject()
		time.Sleep(1500 * time.Millisecond) // longer than max_staleness: the instances notice before /ready is asked
		cr.faults.Add(1)
		v, _ := cr.byFault.LoadOrStore(f.name, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		cr.waitReady(60 * time.Second)
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	cr.waitReady(60 * time.Second)
	for _, c := range cr.instances {
		pollUntil(t, 60*time.Second, func() string {
			if v := metricValue(t, c, "caddy_token_revocation_outbox_pending"); v != 0 {
				return fmt.Sprintf("outbox_pending %v", v)
			}
			return ""
		})
	}
	return cr.check()
}

type chaosFault struct {
	name   string
	inject func()
}

// freeze stops r for 1 to 3 seconds.
func (cr *chaosRun) freeze(r *redistest.Server) {
	resume := freezeRedis(cr.t, r)
	time.Sleep(time.Duration(1000+rand.IntN(2000)) * time.Millisecond)
	resume()
}

// onInstance runs fault on a random instance (never while a request of
// the checker needs it).
func (cr *chaosRun) onInstance(fault func(*Caddy)) {
	i := rand.IntN(len(cr.instances))
	cr.busy[i].Lock()
	defer cr.busy[i].Unlock()
	fault(cr.instances[i])
}

// waitReady waits until every instance says it is ready.
func (cr *chaosRun) waitReady(within time.Duration) {
	for _, c := range cr.instances {
		pollUntil(cr.t, within, func() string {
			res, err := sendVia(chaosClient, http.MethodGet, c.AdminURL("/token-revocation/ready"), nil)
			if err != nil || res.Status != http.StatusOK {
				return fmt.Sprintf("instance not ready: %v %d %s", err, res.Status, res.Body)
			}
			return ""
		})
	}
}

// operate runs one operation through a random instance.
func (cr *chaosRun) operate(rng *rand.Rand, id string) {
	c := cr.instances[rng.IntN(len(cr.instances))]
	oidc := func(ep string) string { return c.URL("/realms/acme/protocol/openid-connect/" + ep) }
	cr.ops.Add(1)
	switch p := rng.IntN(100); {
	case p < 35: // respond mode: RFC 7009
		tok := "chaos-" + id
		res, err := sendVia(chaosClient, http.MethodPost, c.URL("/oauth/revoke"), url.Values{"token": {tok}})
		cr.outcome(err, res.Status, false, chaosRequirement{what: "revoke (respond) " + tok, token: tok})
	case p < 75: // forward: login, then logout or revoke at the IdP
		res, err := sendVia(chaosClient, http.MethodPost, oidc("token"), url.Values{"grant_type": {"password"}, "client_id": {"app"},
			"client_secret": {"app-secret"}, "username": {"u-" + id}, "password": {"pw"}})
		if err != nil || res.Status != http.StatusOK {
			cr.unknown.Add(1)
			return
		}
		var m map[string]any
		if json.Unmarshal([]byte(res.Body), &m) != nil {
			return
		}
		access, _ := m["access_token"].(string)
		refresh, _ := m["refresh_token"].(string)
		exp := time.Now().Unix() + 300
		if p < 60 {
			res, err = sendVia(chaosClient, http.MethodPost, oidc("logout"), url.Values{"client_id": {"app"}, "client_secret": {"app-secret"}, "refresh_token": {refresh}})
			_, confirmed := cr.idpConfirmed.Load(refresh)
			cr.outcome(err, res.Status, confirmed, chaosRequirement{what: "keycloak_logout (forward) " + id, token: access, exp: exp})
		} else {
			res, err = sendVia(chaosClient, http.MethodPost, oidc("revoke"), url.Values{"client_id": {"app"}, "client_secret": {"app-secret"}, "token": {access}})
			_, confirmed := cr.idpConfirmed.Load(access)
			cr.outcome(err, res.Status, confirmed, chaosRequirement{what: "keycloak_revoke (forward) " + id, token: access, exp: exp})
		}
	default: // checks
		cr.checks.Add(1)
		cr.mu.Lock()
		tok := "never-revoked-" + id
		if len(cr.revoked) > 0 && rng.IntN(2) == 0 {
			tok = cr.revoked[rng.IntN(len(cr.revoked))]
		}
		cr.mu.Unlock()
		_, _ = sendVia(chaosClient, http.MethodGet, c.URL("/api/orders"), nil, "Authorization: Bearer "+tok)
	}
}

// outcome records what a revocation must have left behind: enforcement
// when the gateway answered 2xx, or when the IdP confirmed and the
// gateway answered at all (a gateway killed in the middle gave no answer:
// unknown).
func (cr *chaosRun) outcome(err error, status int, idpConfirmed bool, req chaosRequirement) {
	ok := err == nil && status >= 200 && status < 300
	switch {
	case ok:
		cr.acked.Add(1)
	case err == nil && idpConfirmed:
		cr.confirmedOnly.Add(1)
	default:
		if err != nil {
			cr.unknown.Add(1)
		}
		return
	}
	cr.mu.Lock()
	cr.required = append(cr.required, req)
	cr.revoked = append(cr.revoked, req.token)
	cr.mu.Unlock()
}

// check asserts every requirement on every instance.
func (cr *chaosRun) check() chaosFigures {
	f := chaosFigures{ops: cr.ops.Load(), acked: cr.acked.Load(), confirmedOnly: cr.confirmedOnly.Load(), unknown: cr.unknown.Load(),
		checks: cr.checks.Load(), faults: cr.faults.Load(), byFault: map[string]int{}}
	cr.byFault.Range(func(k, v any) bool {
		f.byFault[k.(string)] = int(v.(*atomic.Int64).Load())
		return true
	})
	now := time.Now().Unix()
	for _, req := range cr.required {
		if req.exp != 0 && req.exp <= now {
			f.expired++
			continue
		}
		f.checked++
		for i, c := range cr.instances {
			res := get(cr.t, c.URL("/api/orders"), "Authorization: Bearer "+req.token)
			if res.Status != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), "token revoked") {
				f.violations++
				if f.violations <= 20 {
					cr.t.Errorf("violation: %s not enforced on instance %d: %d %s", req.what, i, res.Status, res.Body)
				}
			}
		}
	}
	return f
}

// statusRecorder notes the status and body size a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status, n int
}

func (r *statusRecorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
	r.ResponseWriter.WriteHeader(s)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.n += len(p)
	return r.ResponseWriter.Write(p)
}
