package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Failure behaviour under load (issue 6): Redis down, Redis restarted
// empty, eviction risk, config reloads, crash of the embedded store.

// failModesCaddyfile has two handlers on one Redis store (shared: same
// settings): /open/* fails open, everything else fails closed and holds
// the RFC 7009 route. Arguments: Redis address twice, upstream twice.
const failModesCaddyfile = `http:// {
	handle /open/* {
		token_revocation {
			store redis {
				address %s
				pool_size 4
				dial_timeout 300ms
			}
			fail open
			retry_after 2s
		}
		reverse_proxy %s
	}
	handle {
		token_revocation {
			store redis {
				address %s
				pool_size 4
				dial_timeout 300ms
			}
			revoke /oauth/revoke
			retry_after 2s
		}
		reverse_proxy %s
	}
}`

// leakProbe is a snapshot of what a leak would grow: Caddy's open files and
// goroutines, and Caddy's connections to a Redis server.
type leakProbe struct {
	files, goroutines, redisConns int
	haveFiles                     bool
}

func probeLeaks(t *testing.T, c *Caddy, redisAddr string) leakProbe {
	t.Helper()
	p := leakProbe{goroutines: c.goroutines(t), redisConns: redisClients(t, redisAddr)}
	p.files, p.haveFiles = c.openFiles(t)
	return p
}

// noLeakSince polls until Caddy's resources are back within slack of base
// (connections being closed and goroutines ending take a moment).
func noLeakSince(t *testing.T, c *Caddy, redisAddr string, base leakProbe, slackConns int) {
	t.Helper()
	pollUntil(t, 10*time.Second, func() string {
		now := probeLeaks(t, c, redisAddr)
		switch {
		case now.haveFiles && now.files > base.files+6:
			return fmt.Sprintf("caddy holds %d open files, %d before", now.files, base.files)
		case now.goroutines > base.goroutines+8:
			return fmt.Sprintf("caddy runs %d goroutines, %d before", now.goroutines, base.goroutines)
		case now.redisConns > base.redisConns+slackConns:
			return fmt.Sprintf("caddy holds %d connections to redis, %d before", now.redisConns, base.redisConns)
		}
		t.Logf("resources: %+v, before %+v", now, base)
		return ""
	})
}

// TestRedisDownUnderLoad: with Redis gone, checks fail closed (503 with
// Retry-After) where so configured and pass where configured to fail open;
// revocations answer 503 with Retry-After, never 2xx. When Redis is back,
// the gateway recovers by itself, and holds no more files, goroutines or
// Redis connections than before.
func TestRedisDownUnderLoad(t *testing.T) {
	// Persistence on, so what was revoked is there after the restart (a
	// Redis restarted empty is TestRedisRestartedEmpty).
	r := startRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	up := startUpstream(t)
	c := startCaddy(t, failModesCaddyfile, r.Addr, up.Addr(), r.Addr, up.Addr())

	const revoked, valid = "down-revoked", "down-valid"
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {revoked}}); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d", res.Status)
	}
	for _, p := range []string{"/api", "/open/api"} {
		waitStatus(t, 5*time.Second, http.StatusUnauthorized, func() Response { return get(t, c.URL(p), "Authorization: Bearer "+revoked) })
		if res := get(t, c.URL(p), "Authorization: Bearer "+valid); res.Status != http.StatusOK {
			t.Fatalf("%s, a valid token: %d", p, res.Status)
		}
	}

	// Clients sending throughout: checks on both handlers, revocations.
	getStep := func(path, tok string) step {
		return func(int, int) (Response, error) {
			res, err := sendVia(loadClient, http.MethodGet, c.URL(path), nil, "Authorization: Bearer "+tok)
			if err == nil && res.Status == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "2" {
				res.Status = 599 // a 503 without the configured Retry-After
			}
			return res, err
		}
	}
	var acked ackedSet
	closedLoad := startLoad(t, 2, time.Minute, getStep("/api", valid))
	openLoad := startLoad(t, 2, time.Minute, getStep("/open/api", valid))
	revokes := startLoad(t, 1, time.Minute, revokeLoad(loadClient, c, "down", &acked))
	pollUntil(t, 5*time.Second, func() string {
		if closedLoad.Count() < 50 || acked.len() < 20 {
			return "load not going"
		}
		return ""
	})
	base := probeLeaks(t, c, r.Addr)

	r.Stop()
	outage := time.Now()
	ackedBefore := acked.len()
	waitStatus(t, 10*time.Second, http.StatusServiceUnavailable, func() Response { return get(t, c.URL("/api"), "Authorization: Bearer "+valid) })
	t.Logf("checks fail closed %s after Redis went down", time.Since(outage).Round(time.Millisecond))
	res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"during-outage"}})
	if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "2" {
		t.Errorf("revocation with Redis down: %d Retry-After=%q, want 503 with Retry-After: 2", res.Status, res.Header.Get("Retry-After"))
	}
	if !strings.Contains(res.Body, "temporarily_unavailable") {
		t.Errorf("revocation with Redis down: body %q", res.Body)
	}
	if res := get(t, c.URL("/open/api"), "Authorization: Bearer "+valid); res.Status != http.StatusOK {
		t.Errorf("fail open with Redis down: %d, want 200", res.Status)
	}
	// Keep the outage going under load for a while: every failing request
	// must clean up after itself.
	failing := closedLoad.Count()
	pollUntil(t, 10*time.Second, func() string {
		if closedLoad.Count() < failing+100 {
			return "too few requests during the outage: " + closedLoad.Summary()
		}
		return ""
	})
	ackedDuring := acked.len() - ackedBefore

	r.Restart()
	back := time.Now()
	waitStatus(t, 15*time.Second, http.StatusOK, func() Response { return get(t, c.URL("/api"), "Authorization: Bearer "+valid) })
	before := acked.len()
	pollUntil(t, 10*time.Second, func() string {
		if acked.len() < before+20 {
			return "revocations do not go on after Redis is back: " + revokes.Summary()
		}
		return ""
	})
	t.Logf("recovered %s after Redis came back", time.Since(back).Round(time.Millisecond))
	closedLoad.Stop()
	openLoad.Stop()
	revokes.Stop()
	t.Logf("closed: %s", closedLoad.Summary())
	t.Logf("open: %s", openLoad.Summary())
	t.Logf("revocations: %s", revokes.Summary())

	for name, l := range map[string]*load{"fail-closed checks": closedLoad, "revocations": revokes} {
		for status := range l.Statuses() {
			if status != http.StatusOK && status != http.StatusServiceUnavailable {
				t.Errorf("%s: answers other than 200 and 503 with Retry-After: %s", name, l.Summary())
			}
		}
	}
	if st := openLoad.Statuses(); len(st) != 1 || st[http.StatusOK] == 0 {
		t.Errorf("fail-open checks: answers other than 200: %s", openLoad.Summary())
	}
	if ackedDuring > 5 {
		// A revocation may have been acknowledged just before the kill
		// landed; many means 2xx answers while Redis was down.
		t.Errorf("%d revocations acknowledged while Redis was down", ackedDuring)
	}
	if lost := allRejected(t, c.URL, acked.list()); len(lost) > 0 {
		t.Errorf("%d revocations answered 200 are not in force, e.g. %s", len(lost), lost[0])
	}
	for _, p := range []string{"/api", "/open/api"} {
		if res := get(t, c.URL(p), "Authorization: Bearer "+revoked); res.Status != http.StatusUnauthorized {
			t.Errorf("%s, the token revoked before the outage: %d, want 401", p, res.Status)
		}
	}
	noLeakSince(t, c, r.Addr, base, 4)
}

// TestRedisRestartedEmpty: Redis without persistence restarts and comes
// back empty; the instances still hold the revocations in their mirrors
// and write them back, so a token revoked before the restart stays
// rejected on both instances (never let through, before, during or after
// the restart), and a new instance learns it from Redis.
func TestRedisRestartedEmpty(t *testing.T) {
	r := startRedis(t)
	up := startUpstream(t)
	store := "store redis {\n\t\t\taddress " + r.Addr + "\n\t\t}"
	a := startCaddy(t, gatewayCaddyfile, store, "respond", "respond", up.Addr())
	b := startCaddy(t, gatewayCaddyfile, store, "respond", "respond", up.Addr())
	toks := []string{"empty-1", "empty-2", "empty-3"}
	for _, tok := range toks {
		if res := postForm(t, a.URL("/oauth/revoke"), url.Values{"token": {tok}}); res.Status != http.StatusOK {
			t.Fatalf("revoke %s: %d", tok, res.Status)
		}
	}
	for _, c := range []*Caddy{a, b} {
		if lost := allRejected(t, c.URL, toks); len(lost) > 0 {
			t.Fatalf("before the restart: %v", lost)
		}
	}

	// Both instances are asked about the revoked tokens throughout: 401,
	// or 503 while they cannot vouch for their copy; never 200.
	var loads []*load
	for _, c := range []*Caddy{a, b} {
		loads = append(loads, startLoad(t, 1, time.Minute, func(w, i int) (Response, error) {
			return sendVia(loadClient, http.MethodGet, c.URL("/api"), nil, "Authorization: Bearer "+toks[i%len(toks)])
		}))
	}
	r.Restart() // empty: no persistence
	rc := r.Client()
	pollUntil(t, 15*time.Second, func() string {
		if n := redisEntries(t, rc); n < int64(len(toks)) {
			return fmt.Sprintf("Redis holds %d entries after the restart, want the %d revoked before written back", n, len(toks))
		}
		return ""
	})
	for i, c := range []*Caddy{a, b} {
		if lost := allRejected(t, c.URL, toks); len(lost) > 0 {
			t.Errorf("instance %d after Redis restarted empty: %v", i, lost)
		}
		// A valid token passes once the instance has proven the denylist
		// whole again (503 until then: see mirror_proof.go).
		waitStatus(t, 15*time.Second, http.StatusOK, func() Response {
			return get(t, c.URL("/api"), "Authorization: Bearer never-revoked")
		})
	}
	for i, l := range loads {
		l.Stop()
		t.Logf("instance %d: %s", i, l.Summary())
		for status := range l.Statuses() {
			if status != http.StatusUnauthorized && status != http.StatusServiceUnavailable {
				t.Errorf("instance %d let a revoked token through or failed during the restart: %s", i, l.Summary())
			}
		}
	}
	// A third instance that never saw the revocations learns them from
	// Redis.
	fresh := startCaddy(t, gatewayCaddyfile, store, "respond", "respond", up.Addr())
	if lost := allRejected(t, fresh.URL, toks); len(lost) > 0 {
		t.Errorf("a new instance after the write-back: %v", lost)
	}
}

// TestEvictionPolicy: a Redis that may evict denylist keys gets a loud
// warning in Caddy's log, or, with eviction_policy refuse, a refused
// config, at start and at reload, with a message that says what to do.
func TestEvictionPolicy(t *testing.T) {
	lru := startRedis(t, "--maxmemory-policy", "allkeys-lru")
	up := startUpstream(t)
	store := func(extra string) string {
		return "store redis {\n\t\t\taddress " + lru.Addr + "\n\t\t\t" + extra + "\n\t\t}"
	}

	t.Run("warn", func(t *testing.T) {
		c := startCaddy(t, gatewayCaddyfile, store(""), "respond", "respond", up.Addr())
		logs := c.Logs()
		if !strings.Contains(logs, "REDIS CAN EVICT REVOCATIONS") || !strings.Contains(logs, `"maxmemory_policy":"allkeys-lru"`) || !strings.Contains(logs, `"level":"warn"`) {
			t.Fatalf("no eviction warning in the log:\n%s", logs)
		}
		if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"evictable"}}); res.Status != http.StatusOK {
			t.Fatalf("revoke: %d", res.Status)
		}
	})

	t.Run("refuse at start", func(t *testing.T) {
		out, err := runCaddyOnce(t, fmt.Sprintf(gatewayCaddyfile, store("eviction_policy refuse"), "respond", "respond", up.Addr()))
		if err == nil {
			t.Fatalf("caddy run succeeded on a Redis that evicts:\n%s", out)
		}
		for _, want := range []string{`maxmemory-policy is \"allkeys-lru\"`, "un-revokes tokens", "set maxmemory-policy to noeviction", lru.Addr} {
			if !strings.Contains(out, want) {
				t.Errorf("the error does not say %q:\n%s", want, out)
			}
		}
	})

	t.Run("refuse at reload", func(t *testing.T) {
		safe := startRedis(t) // noeviction
		c := startCaddy(t, gatewayCaddyfile, "store redis {\n\t\t\taddress "+safe.Addr+"\n\t\t}", "respond", "respond", up.Addr())
		if strings.Contains(c.Logs(), "REDIS CAN EVICT") {
			t.Errorf("a warning for a Redis with maxmemory-policy noeviction")
		}
		err := c.TryReload(gatewayCaddyfile, store("eviction_policy refuse"), "respond", "respond", up.Addr())
		if err == nil || !strings.Contains(err.Error(), "allkeys-lru") || !strings.Contains(err.Error(), "noeviction") {
			t.Fatalf("reload onto an evicting Redis with eviction_policy refuse: %v", err)
		}
		// The old config still serves.
		if res := get(t, c.URL("/api"), "Authorization: Bearer x"); res.Status != http.StatusOK {
			t.Errorf("after the refused reload: %d", res.Status)
		}
	})
}

// runCaddyOnce runs `caddy run` on caddyfile (with admin off and loopback
// ports) and returns its output and exit error; it fails the test if Caddy
// keeps running (it is meant for configs that Caddy refuses).
func runCaddyOnce(t *testing.T, caddyfile string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "Caddyfile")
	cfg := fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\thttp_port %d\n\thttps_port %d\n\tdefault_bind 127.0.0.1\n\tstorage file_system %s\n}\n\n%s\n",
		ports[0], ports[1], strconv.Quote(filepath.Join(dir, "storage")), caddyfile)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddyBinary(t), "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	cmd.SysProcAttr = procAttr()
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("caddy run did not exit:\n%s", out.String())
		return "", nil
	}
}

// reloadCaddyfile is the gateway with a response header that tells which
// config served a request. It answers itself rather than proxy: each
// config's reverse_proxy transport keeps its idle upstream connections
// (and their goroutines) for minutes after a reload, which would hide
// what this module leaks or not. Arguments: generation, Redis address,
// pool size.
const reloadCaddyfile = `http:// {
	header X-Generation %d
	token_revocation {
		store redis {
			address %s
			pool_size %d
		}
		revoke /oauth/revoke
		cookie session
	}
	respond "upstream" 200
}`

// retryDropped sends a request, and sends it again (up to twice more) when
// the connection ended without any answer: the server dropped it before
// handling it. HTTP clients retry such requests (RFC 9110 section 9.2.2;
// a revocation is idempotent too). It returns the answer and how many
// times it retried.
func retryDropped(method, target string, form url.Values, headers ...string) (Response, int, error) {
	var res Response
	var err error
	for try := 0; try < 3; try++ {
		res, err = sendVia(httpClient, method, target, form, headers...)
		if err == nil {
			return res, try, nil
		}
	}
	return res, 2, err
}

// TestReloadUnderLoad reloads the config several times, with `caddy
// reload` and with the admin API's /load, while clients send requests:
// every request gets the right answer (never a 5xx, never a revoked token
// let through or a valid one refused), revocations made between reloads
// hold, and Caddy holds no more files, goroutines or Redis connections
// than before (the store is shared across reloads, or closed when its
// settings change).
//
// Caddy itself drops a few connections per reload, without this module
// too: Go's http.Server.Shutdown closes a connection whose request it read
// after shutdown began, without answering; and on its own ports Caddy
// opens a new SO_REUSEPORT socket per config, and Linux resets what is
// still queued on the old one when it closes (unless
// net.ipv4.tcp_migrate_req is 1). The client retries those (at most
// twice), as HTTP clients do; the test counts them and fails on any other
// connection error. Each request opens a new connection: a reload also
// closes idle keep-alive connections.
func TestReloadUnderLoad(t *testing.T) {
	r := startRedis(t)
	c := startCaddy(t, reloadCaddyfile, 0, r.Addr, 4)
	const revoked, valid = "reload-revoked", "reload-valid"
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {revoked}}); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d", res.Status)
	}
	waitStatus(t, 5*time.Second, http.StatusUnauthorized, func() Response { return get(t, c.URL("/api"), "Authorization: Bearer "+revoked) })

	var retried atomic.Int64
	expect := func(tok string, want int) step {
		return func(w, i int) (Response, error) {
			h := "Authorization: Bearer " + tok
			if i%2 == 1 {
				h = "Cookie: session=" + tok
			}
			res, n, err := retryDropped(http.MethodGet, c.URL("/api"), nil, h)
			retried.Add(int64(n))
			if err == nil && res.Status != want {
				res.Status = 599 // the wrong answer, whatever it was
			}
			return res, err
		}
	}
	var acked ackedSet
	revoke := func(w, i int) (Response, error) {
		tok := fmt.Sprintf("reload-%d-%d", w, i)
		res, n, err := retryDropped(http.MethodPost, c.URL("/oauth/revoke"), url.Values{"token": {tok}})
		retried.Add(int64(n))
		// A revocation in flight on the old config while a reload that
		// changes the store closes it gets 503 + Retry-After (never a
		// false 200); an RFC 7009 client sends it again.
		for try := 0; err == nil && res.Status == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "" && try < 3; try++ {
			retried.Add(1)
			time.Sleep(100 * time.Millisecond)
			res, n, err = retryDropped(http.MethodPost, c.URL("/oauth/revoke"), url.Values{"token": {tok}})
			retried.Add(int64(n))
		}
		if err == nil && res.Status == http.StatusOK {
			acked.add(tok)
		}
		return res, err
	}
	valids := startLoad(t, 2, time.Minute, expect(valid, http.StatusOK))
	revokeds := startLoad(t, 2, time.Minute, expect(revoked, http.StatusUnauthorized))
	revokes := startLoad(t, 1, time.Minute, revoke)
	pollUntil(t, 5*time.Second, func() string {
		if valids.Count() < 50 || acked.len() < 10 {
			return "load not going"
		}
		return ""
	})
	base := probeLeaks(t, c, r.Addr)

	const reloads = 6
	for gen := 1; gen <= reloads; gen++ {
		pool := 4
		if gen == 4 {
			pool = 5 // other store settings: a new store, the old one closed
		}
		if gen%2 == 1 {
			c.Reload(reloadCaddyfile, gen, r.Addr, pool)
		} else {
			adminLoad(t, c, fmt.Sprintf(reloadCaddyfile, gen, r.Addr, pool))
		}
		pollUntil(t, 10*time.Second, func() string {
			// A connection reset by the reload itself is retried (see the
			// README's Reloads paragraph); the load above counts those.
			res, err := tryDo(http.MethodGet, c.URL("/api"), nil, "Authorization: Bearer "+valid)
			if err != nil {
				return err.Error()
			}
			if res.Header.Get("X-Generation") != strconv.Itoa(gen) {
				return fmt.Sprintf("generation %q still serves, want %d", res.Header.Get("X-Generation"), gen)
			}
			return ""
		})
		n := valids.Count()
		pollUntil(t, 5*time.Second, func() string {
			if valids.Count() < n+20 {
				return "load stalled after reload " + strconv.Itoa(gen)
			}
			return ""
		})
	}
	valids.Stop()
	revokeds.Stop()
	revokes.Stop()
	t.Logf("valid: %s", valids.Summary())
	t.Logf("revoked: %s", revokeds.Summary())
	t.Logf("revocations: %s", revokes.Summary())
	t.Logf("%d requests dropped by Caddy's reloads and sent again", retried.Load())
	for name, l := range map[string]*load{"valid token": valids, "revoked token": revokeds} {
		if st := l.Statuses(); len(st) != 1 {
			t.Errorf("%s: requests failed or got the wrong answer across reloads: %s", name, l.Summary())
		}
	}
	if st := revokes.Statuses(); len(st) != 1 || st[http.StatusOK] == 0 {
		t.Errorf("revocations failed across reloads: %s", revokes.Summary())
	}
	if lost := allRejected(t, c.URL, acked.list()); len(lost) > 0 {
		t.Errorf("%d revocations answered 200 during the reloads are not in force, e.g. %s", len(lost), lost[0])
	}
	noLeakSince(t, c, r.Addr, base, 1)
}

// adminLoad adapts caddyfile (with the harness's global options) and
// POSTs it to the admin API's /load.
func adminLoad(t *testing.T, c *Caddy, caddyfile string) {
	t.Helper()
	c.writeCaddyfile(caddyfile)
	cmd := exec.Command(c.bin, "adapt", "--config", c.Caddyfile, "--adapter", "caddyfile")
	cmd.Env = c.env
	cfg, err := cmd.Output()
	if err != nil {
		t.Fatalf("caddy adapt: %v", err)
	}
	if !json.Valid(cfg) {
		t.Fatalf("caddy adapt: not JSON:\n%s", cfg)
	}
	if err := postLoad(c, cfg); err != nil {
		t.Fatal(err)
	}
}

// postLoad POSTs a JSON config to the admin API's /load. Caddy replaces
// its admin server at every load (caddyserver/caddy#4184): a request that
// reaches the old listener as it closes gets no answer (EOF), so a load
// that got none is sent again, once, after a moment. A Caddy that died
// refuses the second connection too.
func postLoad(c *Caddy, cfg []byte) error {
	var err error
	for try := range 2 {
		if try > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		req, _ := http.NewRequest(http.MethodPost, c.AdminURL("/load"), bytes.NewReader(cfg))
		req.Header.Set("Content-Type", "application/json")
		var res *http.Response
		if res, err = httpClient.Do(req); err != nil {
			continue
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("POST /load: %d %s", res.StatusCode, body)
		}
		return nil
	}
	return fmt.Errorf("POST /load: %w", err)
}

// TestEmbeddedCrashSafety kills Caddy (SIGKILL) in the middle of a stream
// of revocations on the embedded store: after a restart, every revocation
// that was answered 200 is in force.
func TestEmbeddedCrashSafety(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, gatewayCaddyfile, "store embedded", "respond", "respond", up.Addr())
	for round := range 2 {
		var acked ackedSet
		l := startLoad(t, 4, time.Minute, revokeLoad(loadClient, c, fmt.Sprintf("crash%d", round), &acked))
		pollUntil(t, 10*time.Second, func() string {
			if acked.len() < 100 {
				return fmt.Sprintf("only %d revocations acknowledged: %s", acked.len(), l.Summary())
			}
			return ""
		})
		c.Kill() // requests in flight: some answered, some cut off
		l.Stop()
		t.Logf("round %d: %s", round, l.Summary())
		if st := l.Statuses(); st[599] > 0 || st[http.StatusServiceUnavailable] > 0 {
			t.Errorf("unexpected answers before the crash: %s", l.Summary())
		}
		c.Restart()
		toks := acked.list()
		if lost := allRejected(t, c.URL, toks); len(lost) > 0 {
			t.Fatalf("round %d: %d of %d revocations answered 200 were lost in the crash, e.g. %s", round, len(lost), len(toks), lost[0])
		}
		if res := get(t, c.URL("/api"), "Authorization: Bearer never-revoked"); res.Status != http.StatusOK {
			t.Fatalf("round %d: a valid token after the crash: %d", round, res.Status)
		}
	}
}
