package tests

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// freezeRedis stops r's process (SIGSTOP): connections stay open, nothing
// is answered. The returned func resumes it (also at the end of the test).
func freezeRedis(t testing.TB, r *redistest.Server) (resume func()) {
	t.Helper()
	pid := redisPid(t, r)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once atomic.Bool
	resume = func() {
		if once.CompareAndSwap(false, true) {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	return resume
}

// keycloakGateway is the keycloak example on Redis r, in front of idp (the
// IdP and the API).
func keycloakGateway(t *testing.T, r *redistest.Server, idp string) *Caddy {
	t.Helper()
	return startExample(t, "keycloak", "store redis {\n\t\t\taddress "+r.Addr+"\n\t\t}",
		"KEYCLOAK_UPSTREAM="+idp, "API_UPSTREAM="+idp)
}

// kcLogin logs user in at realm acme through c.
func kcLogin(t *testing.T, c *Caddy, user string) kcSession {
	t.Helper()
	res := postForm(t, c.URL("/realms/acme/protocol/openid-connect/token"), url.Values{"grant_type": {"password"}, "client_id": {"app"},
		"client_secret": {"app-secret"}, "username": {user}, "password": {"pw"}})
	m := jsonBody(t, "login", res)
	if res.Status != http.StatusOK {
		t.Fatalf("login: %d %s", res.Status, res.Body)
	}
	return kcSession{m["access_token"].(string), m["refresh_token"].(string)}
}

func kcLogout(t *testing.T, c *Caddy, s kcSession) Response {
	t.Helper()
	return postForm(t, c.URL("/realms/acme/protocol/openid-connect/logout"), url.Values{"client_id": {"app"},
		"client_secret": {"app-secret"}, "refresh_token": {s.refresh}})
}

func kcAPIStatus(t *testing.T, c *Caddy, tok string) int {
	t.Helper()
	return get(t, c.URL("/api/orders"), "Authorization: Bearer "+tok).Status
}

// TestConfirmedLogoutSurvivesStoreFault: the scenario. The IdP
// ends the session, and Redis freezes between its 204 and the gateway's
// write. The gateway keeps the revocation in its local outbox: it answers
// the IdP's 204, rejects the session's access token at once, keeps it
// across a kill -9 and a restart while Redis is still frozen, and writes
// it into Redis once Redis answers, so that the other instance rejects it
// too. (Before: 503, and the client's retry got the IdP's 400 "session
// already gone", so nothing was ever recorded.)
func TestConfirmedLogoutSurvivesStoreFault(t *testing.T) {
	r := startRedis(t)
	kc := startKeycloak(t)
	var freezeOnLogout atomic.Bool
	var resume func()
	idp := startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/logout") && freezeOnLogout.Load() {
			resume = freezeRedis(t, r) // the fault: after the IdP acted, before the gateway writes
		}
		kc.serve(w, req)
	}))
	a := keycloakGateway(t, r, idp.Addr())
	b := keycloakGateway(t, r, idp.Addr())
	s := kcLogin(t, a, "alice")
	for _, c := range []*Caddy{a, b} {
		if st := kcAPIStatus(t, c, s.access); st != http.StatusOK {
			t.Fatalf("before the logout: %d", st)
		}
	}

	freezeOnLogout.Store(true)
	res := kcLogout(t, a, s)
	freezeOnLogout.Store(false)
	if res.Status != http.StatusNoContent {
		t.Fatalf("logout confirmed by the IdP, Redis frozen before the write: %d %s, want the IdP's 204 (the revocation kept in the outbox)", res.Status, res.Body)
	}
	if st := kcAPIStatus(t, a, s.access); st != http.StatusUnauthorized {
		t.Errorf("instance a, Redis still frozen: the session's access token got %d, want 401 (enforced from the outbox)", st)
	}

	a.Kill() // a crash before Redis comes back
	a.Restart()
	if st := kcAPIStatus(t, a, s.access); st != http.StatusUnauthorized {
		t.Errorf("instance a restarted, Redis still frozen: %d, want 401 (the outbox survives)", st)
	}
	if !strings.Contains(a.Logs(), "outbox holds confirmed revocations") {
		t.Error("the restarted instance did not say it found pending revocations in its outbox")
	}

	resume()
	waitStatus(t, 20*time.Second, http.StatusUnauthorized, func() Response {
		return get(t, b.URL("/api/orders"), "Authorization: Bearer "+s.access)
	})
	pollUntil(t, 15*time.Second, func() string {
		if v := metricValue(t, a, "caddy_token_revocation_outbox_pending"); v != 0 {
			return fmt.Sprintf("outbox_pending is %v, want 0 once Redis stored it", v)
		}
		return ""
	})
	// A new instance learns it from Redis.
	c := keycloakGateway(t, r, idp.Addr())
	if st := kcAPIStatus(t, c, s.access); st != http.StatusUnauthorized {
		t.Errorf("a new instance: %d, want 401", st)
	}
}

// metricValue returns the sum of the samples of metric on c's admin
// /metrics.
func metricValue(t testing.TB, c *Caddy, metric string) float64 {
	t.Helper()
	res := get(t, c.AdminURL("/metrics"))
	sum, seen := 0.0, false
	for _, line := range strings.Split(res.Body, "\n") {
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum, seen = sum+v, true
		}
	}
	if !seen {
		t.Fatalf("no %s in /metrics", metric)
	}
	return sum
}

// TestForwardRefusedWhileStoreDown: with Redis frozen, a logout in
// forward mode is answered 503 with Retry-After before it reaches the
// IdP: the IdP is not asked to end a session the gateway cannot record.
// Once Redis answers, the same logout goes through and is recorded.
func TestForwardRefusedWhileStoreDown(t *testing.T) {
	r := startRedis(t)
	kc := startKeycloak(t)
	a := keycloakGateway(t, r, kc.Addr())
	s := kcLogin(t, a, "bob")
	resume := freezeRedis(t, r)
	// The mirror notices within max_staleness (1s).
	waitStatus(t, 10*time.Second, http.StatusServiceUnavailable, func() Response {
		return get(t, a.URL("/api/orders"), "Authorization: Bearer "+s.access)
	})
	before := kc.Count()
	res := kcLogout(t, a, s)
	if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("logout with Redis frozen: %d Retry-After=%q, want 503 with Retry-After", res.Status, res.Header.Get("Retry-After"))
	}
	if n := kc.Count() - before; n != 0 {
		t.Errorf("the IdP received %d logout(s) the gateway could not record", n)
	}
	resume()
	waitStatus(t, 15*time.Second, http.StatusOK, func() Response {
		return get(t, a.AdminURL("/token-revocation/ready"))
	})
	if res := kcLogout(t, a, s); res.Status != http.StatusNoContent {
		t.Fatalf("logout after recovery: %d %s", res.Status, res.Body)
	}
	if st := kcAPIStatus(t, a, s.access); st != http.StatusUnauthorized {
		t.Errorf("after the logout: %d, want 401", st)
	}
}

// TestStartWithoutRedis: Caddy starts and serves while Redis is down:
// checks get the fail mode, revocations 503 with Retry-After, the
// readiness endpoint says 503 and why, a log line names the address; once
// Redis is up everything works without a restart. caddy validate needs no
// Redis.
func TestStartWithoutRedis(t *testing.T) {
	r := startRedis(t)
	r.Stop() // its port stays reserved for the Restart below
	up := startUpstream(t)
	store := "store redis {\n\t\t\taddress " + r.Addr + "\n\t\t}"
	closed := startCaddy(t, gatewayCaddyfile, store, "respond", "respond", up.Addr())
	open := startCaddy(t, strings.Replace(gatewayCaddyfile, "cookie session", "cookie session\n\t\tfail open", 1), store, "respond", "respond", up.Addr())

	if res := get(t, closed.URL("/api"), "Authorization: Bearer t1"); res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("fail closed, Redis down: %d Retry-After=%q, want 503 with Retry-After", res.Status, res.Header.Get("Retry-After"))
	}
	if res := get(t, open.URL("/api"), "Authorization: Bearer t1"); res.Status != http.StatusOK {
		t.Errorf("fail open, Redis down: %d, want 200", res.Status)
	}
	if res := get(t, closed.URL("/api")); res.Status != http.StatusOK {
		t.Errorf("a request without a token: %d, want 200", res.Status)
	}
	res := postForm(t, closed.URL("/oauth/revoke"), url.Values{"token": {"t1"}})
	if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("revoke, Redis down: %d Retry-After=%q, want 503 with Retry-After", res.Status, res.Header.Get("Retry-After"))
	}
	if res := get(t, closed.AdminURL("/token-revocation/ready")); res.Status != http.StatusServiceUnavailable || !strings.Contains(res.Body, r.Addr) {
		t.Errorf("ready, Redis down: %d %s, want 503 naming %s", res.Status, res.Body, r.Addr)
	}
	if want := r.Addr; !strings.Contains(closed.Logs(), want) || !strings.Contains(closed.Logs(), "does not answer at start") {
		t.Errorf("no log line names the unreachable address %s:\n%s", want, closed.Logs())
	}

	// caddy validate: no Redis needed.
	cmd := exec.Command(caddyBinary(t), "validate", "--config", closed.Caddyfile, "--adapter", "caddyfile")
	cmd.Env = closed.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("caddy validate with Redis down: %v\n%s", err, out)
	}

	r.Restart()
	for _, c := range []*Caddy{closed, open} {
		waitStatus(t, 20*time.Second, http.StatusOK, func() Response {
			return get(t, c.AdminURL("/token-revocation/ready"))
		})
	}
	if res := postForm(t, closed.URL("/oauth/revoke"), url.Values{"token": {"t1"}}); res.Status != http.StatusOK {
		t.Fatalf("revoke after Redis came up: %d %s", res.Status, res.Body)
	}
	for _, c := range []*Caddy{closed, open} {
		waitStatus(t, 5*time.Second, http.StatusUnauthorized, func() Response {
			return get(t, c.URL("/api"), "Authorization: Bearer t1")
		})
	}
}

// TestValidateWithLockedEmbeddedStore: caddy validate of a config whose
// embedded store a running Caddy holds succeeds.
func TestValidateWithLockedEmbeddedStore(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, gatewayCaddyfile, "store embedded", "respond", "respond", up.Addr())
	cmd := exec.Command(caddyBinary(t), "validate", "--config", c.Caddyfile, "--adapter", "caddyfile")
	cmd.Env = c.env
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("caddy validate while Caddy holds the embedded file: %v\n%s", err, out)
	}
	t.Logf("validate took %s", time.Since(start))
}

// TestNewInstanceAfterRedisRestartedEmpty: Redis restarts empty while an
// instance holding many revocations writes them back; an instance started
// meanwhile must never let one of them through: it answers 401 or, while
// it cannot prove the denylist whole, 503 — never 200.
func TestNewInstanceAfterRedisRestartedEmpty(t *testing.T) {
	r := startRedis(t)
	up := startUpstream(t)
	store := "store redis {\n\t\t\taddress " + r.Addr + "\n\t\t}"

	// Many revocations, so the write-back takes a while.
	const bulk = 150000
	rs, err := redisstore.OpenRedis(context.Background(), redisstore.RedisOptions{Addrs: []string{r.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	h := denylist.NewHasher(nil)
	now := time.Now()
	var batch []denylist.Entry
	for i := 0; i < bulk; i++ {
		batch = append(batch, denylist.NewEntry(h.Key(denylist.KindToken, "", []byte("bulk-"+strconv.Itoa(i))), now, now.Add(time.Hour)))
		if len(batch) == 10000 {
			if err := rs.Revoke(context.Background(), batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	rs.Close()
	a := startCaddy(t, gatewayCaddyfile, store, "respond", "respond", up.Addr())
	toks := make([]string, 40)
	for i := range toks {
		toks[i] = fmt.Sprintf("restart-empty-%d", i)
		if res := postForm(t, a.URL("/oauth/revoke"), url.Values{"token": {toks[i]}}); res.Status != http.StatusOK {
			t.Fatalf("revoke: %d", res.Status)
		}
	}

	r.Restart() // empty: a writes back 150k entries
	b := startCaddy(t, gatewayCaddyfile, store, "respond", "respond", up.Addr())
	counts := map[int]int{}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, tok := range toks {
			st := get(t, b.URL("/api"), "Authorization: Bearer "+tok).Status
			counts[st]++
			if st == http.StatusOK {
				t.Fatalf("the new instance let a token revoked before Redis restarted through (answers so far: %v)", counts)
			}
		}
		if counts[http.StatusUnauthorized] >= 10*len(toks) {
			break
		}
	}
	t.Logf("new instance's answers for revoked tokens: %v", counts)
	if counts[http.StatusUnauthorized] == 0 {
		t.Errorf("the new instance never rejected them with 401: %v", counts)
	}
	waitStatus(t, 30*time.Second, http.StatusOK, func() Response {
		return get(t, b.URL("/api"), "Authorization: Bearer never-revoked")
	})
}

// TestForwardStreamsLongAnswer: a forward route in front of a 200 MB
// answer keeps a small prefix, streams the rest (first byte before the
// last), and Caddy's memory stays flat.
func TestForwardStreamsLongAnswer(t *testing.T) {
	const size = 200 << 20
	chunk := []byte(strings.Repeat("x", 64<<10))
	up := startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	c := startCaddy(t, `http:// {
	token_revocation {
		store embedded
		revoke /big forward
	}
	reverse_proxy %s
}`, up.Addr())
	before := caddyRSS(t, c)
	req, _ := http.NewRequest(http.MethodPost, c.URL("/big"), strings.NewReader("token=big-answer"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	start := time.Now()
	res, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatal(err)
	}
	firstByte := time.Since(start)
	var peak int64
	n := int64(1)
	buf := make([]byte, 1<<20)
	for {
		m, err := res.Body.Read(buf)
		n += int64(m)
		if n%(20<<20) < int64(m) {
			peak = max(peak, caddyRSS(t, c))
		}
		if err != nil {
			break
		}
	}
	total := time.Since(start)
	peak = max(peak, caddyRSS(t, c))
	t.Logf("200 MB answer: status %d, %d bytes; first byte after %s, last after %s; Caddy RSS %d MB before, %d MB peak",
		res.StatusCode, n, firstByte.Round(time.Millisecond), total.Round(time.Millisecond), before>>20, peak>>20)
	if res.StatusCode != http.StatusOK || n != size {
		t.Fatalf("got %d, %d bytes", res.StatusCode, n)
	}
	if peak-before > 64<<20 {
		t.Errorf("Caddy's RSS grew by %d MB for a streamed answer", (peak-before)>>20)
	}
	if firstByte > total/2 {
		t.Errorf("first byte after %s of %s: the answer was buffered", firstByte, total)
	}
	// The token was revoked (status decides; the long body is not read).
	if st := get(t, c.URL("/api"), "Authorization: Bearer big-answer").Status; st != http.StatusUnauthorized {
		t.Errorf("the revoked token: %d, want 401", st)
	}
}

// caddyRSS is the resident set size of c's process, in bytes.
func caddyRSS(t testing.TB, c *Caddy) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.pid()), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestSlowRevocationBody: a revocation body that does not arrive within
// body_timeout (default 10s) loses its connection; a prompt one is served.
// (Before: held for as long as the client liked.)
func TestSlowRevocationBody(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, gatewayCaddyfile, "store embedded", "respond", "respond", up.Addr())
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(c.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "token=slow-" + strings.Repeat("a", 1000)
	fmt.Fprintf(conn, "POST /oauth/revoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	reply := make([]byte, 64)
	n, _ := io.ReadAtLeast(conn, reply, 12) // the gateway answers (or closes) once the deadline passes
	reply = reply[:n]
	took := time.Since(start)
	t.Logf("slow body: connection ended after %s: %q", took.Round(time.Millisecond), firstLine(string(reply)))
	if took > 13*time.Second {
		t.Errorf("a body that never arrives was held %s, want about body_timeout (10s)", took)
	}
	if strings.HasPrefix(string(reply), "HTTP/1.1 200") {
		t.Errorf("a body that never arrived was answered 200")
	}
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"prompt"}}); res.Status != http.StatusOK {
		t.Errorf("a prompt revocation: %d", res.Status)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// TestCLIRefusesAdminOff: `caddy token-revocation` with the config of a
// Caddy whose admin endpoint is off says so, and does not call
// localhost:2019.
func TestCLIRefusesAdminOff(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte("{\n\tadmin off\n}\nhttp://127.0.0.1:0 {\n\ttoken_revocation\n\trespond ok\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddyBinary(t), "token-revocation", "status", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "admin endpoint is off") || strings.Contains(string(out), "localhost:2019") {
		t.Fatalf("CLI with admin off: %v\n%s", err, out)
	}
}
