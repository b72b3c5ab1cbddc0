package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The end-to-end tests of the operator surface (issue 6): the admin API,
// the `caddy token-revocation` CLI and the metrics, against the real Caddy
// binary and a real redis-server.

const opsIssuer = "https://idp.test/realms/ops"

// opsCaddyfile is a gateway on Redis with metrics on; %s: the Redis
// address, an extra line for the site, the upstream.
const opsCaddyfile = `{
	metrics
}
http:// {
	token_revocation {
		store redis {
			address %s
		}
		revoke /oauth/revoke
	}
	%s
	reverse_proxy %s
}`

// opsToken is an (unsigned) access token of session sid.
func opsToken(sid string) string {
	now := time.Now().Unix()
	return unsignedJWT(`{"alg":"RS256","typ":"JWT"}`, map[string]any{
		"iss": opsIssuer, "sid": sid, "sub": "user-" + sid, "jti": randomString(), "iat": now - 5, "exp": now + 600})
}

// adminJSON sends body (JSON) to the admin API and decodes the answer into
// out when the status is 200; it returns the response.
func adminJSON(t *testing.T, c *Caddy, method, path string, body, out any) Response {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	var res Response
	if rd != nil {
		res = do(t, method, c.AdminURL(path), rd, "Content-Type: application/json")
	} else {
		res = do(t, method, c.AdminURL(path), nil)
	}
	if res.Status == http.StatusOK && out != nil {
		if err := json.Unmarshal([]byte(res.Body), out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, res.Body, err)
		}
	}
	return res
}

// mustAdmin is adminJSON failing the test unless the answer is 200.
func mustAdmin(t *testing.T, c *Caddy, method, path string, body, out any) {
	t.Helper()
	if res := adminJSON(t, c, method, path, body, out); res.Status != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, res.Status, res.Body)
	}
}

// adminCheck asks the check endpoint about what body names: the entry
// that revokes it, nil when it is not revoked.
func adminCheck(t *testing.T, c *Caddy, body map[string]any) *opsEntry {
	t.Helper()
	var chk struct {
		Revoked bool      `json:"revoked"`
		Entry   *opsEntry `json:"entry"`
	}
	mustAdmin(t, c, "POST", "/token-revocation/check", body, &chk)
	if chk.Revoked != (chk.Entry != nil) {
		t.Fatalf("check answered revoked %v with entry %+v", chk.Revoked, chk.Entry)
	}
	return chk.Entry
}

type opsEntry struct {
	Key  string `json:"key"`
	Kind string `json:"kind"`
	Hash string `json:"hash"`
}

// bearerStatus is the status of an API call carrying tok.
func bearerStatus(t *testing.T, c *Caddy, tok string) Response {
	return get(t, c.URL("/api/items"), "Authorization: Bearer "+tok)
}

// expectStatus polls until every token gets status (a revocation reaches
// the check path through the mirror; a deadline, not a sleep).
func expectStatus(t *testing.T, c *Caddy, status int, toks ...string) {
	t.Helper()
	for _, tok := range toks {
		waitStatus(t, 5*time.Second, status, func() Response { return bearerStatus(t, c, tok) })
	}
}

func TestAdminAPI(t *testing.T) {
	r := startRedis(t)
	up := startUpstream(t)
	c := startCaddy(t, opsCaddyfile, r.Addr, "", up.Addr())

	s1a, s1b, s2 := opsToken("sess-1"), opsToken("sess-1"), opsToken("sess-2")
	expectStatus(t, c, http.StatusOK, s1a, s1b, s2)

	// Revoke a session: its tokens get 401, another session's do not.
	var rev struct {
		Revoked []opsEntry `json:"revoked"`
	}
	mustAdmin(t, c, "POST", "/token-revocation/revoke", map[string]any{"issuer": opsIssuer, "session": "sess-1"}, &rev)
	if len(rev.Revoked) != 1 || rev.Revoked[0].Kind != "session" {
		t.Fatalf("revoke session answered %+v", rev)
	}
	expectStatus(t, c, http.StatusUnauthorized, s1a, s1b)
	expectStatus(t, c, http.StatusOK, s2)

	// Look-up: the token is in the body, never in the URL.
	if e := adminCheck(t, c, map[string]any{"token": s1a}); e == nil || e.Key != rev.Revoked[0].Key {
		t.Fatalf("check of a token of the revoked session: %+v", e)
	}
	if e := adminCheck(t, c, map[string]any{"token": s2}); e != nil {
		t.Fatalf("check of a token of another session: %+v", e)
	}

	// Un-revoke: the tokens pass again.
	var un struct {
		Removed []opsEntry `json:"removed"`
	}
	mustAdmin(t, c, "POST", "/token-revocation/unrevoke", map[string]any{"issuer": opsIssuer, "session": "sess-1"}, &un)
	if len(un.Removed) != 1 || un.Removed[0].Key != rev.Revoked[0].Key {
		t.Fatalf("unrevoke answered %+v", un)
	}
	expectStatus(t, c, http.StatusOK, s1a, s1b)

	// Errors are Caddy API errors that say what to fix.
	for _, tt := range []struct {
		method, path string
		body         any
		status       int
		want         string
	}{
		{"GET", "/token-revocation/revoke", nil, 405, "use POST"},
		{"POST", "/token-revocation/revoke", map[string]any{"session": "s"}, 400, "issuer is required"},
		{"POST", "/token-revocation/revoke", map[string]any{"sesion": "s"}, 400, "unknown field"},
		{"GET", "/token-revocation/entries?limit=0", nil, 400, "from 1 to"},
		{"GET", "/token-revocation/nope", nil, 404, "the endpoints are"},
	} {
		res := adminJSON(t, c, tt.method, tt.path, tt.body, nil)
		var ae struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal([]byte(res.Body), &ae)
		if res.Status != tt.status || !strings.HasPrefix(ae.Error, "token_revocation: ") || !strings.Contains(ae.Error, tt.want) {
			t.Errorf("%s %s: %d %s, want %d with %q", tt.method, tt.path, res.Status, res.Body, tt.status, tt.want)
		}
	}

	// List, paged: every entry once the cursors run out.
	want := map[string]bool{}
	for i := range 7 {
		mustAdmin(t, c, "POST", "/token-revocation/revoke", map[string]any{"issuer": opsIssuer, "user": fmt.Sprint("u", i)}, &rev)
		want[rev.Revoked[0].Key] = true
	}
	got := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("list paging does not end")
		}
		var page struct {
			Entries    []opsEntry `json:"entries"`
			NextCursor string     `json:"next_cursor"`
		}
		q := url.Values{"limit": {"3"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		mustAdmin(t, c, "GET", "/token-revocation/entries?"+q.Encode(), nil, &page)
		for _, e := range page.Entries {
			got[e.Key] = true
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("entry %s was not listed", k)
		}
	}

	// Status: the Redis store, healthy, with the entries.
	var st struct {
		Handlers []struct {
			Routes []string `json:"routes"`
			Store  struct {
				Backend string `json:"backend"`
				Healthy bool   `json:"healthy"`
				Entries int    `json:"entries"`
			} `json:"store"`
		} `json:"handlers"`
	}
	mustAdmin(t, c, "GET", "/token-revocation/status", nil, &st)
	if len(st.Handlers) != 1 || st.Handlers[0].Store.Backend != "redis" || !st.Handlers[0].Store.Healthy ||
		st.Handlers[0].Store.Entries < len(want) || strings.Join(st.Handlers[0].Routes, ",") != "revoke /oauth/revoke" {
		t.Fatalf("status: %+v", st)
	}

	// The admin revocations are logged, by hash, never with the token.
	logs := c.Logs()
	if !strings.Contains(logs, `"msg":"revoked","route":"admin /token-revocation/revoke","kind":"session"`) ||
		!strings.Contains(logs, `"msg":"unrevoked","route":"admin /token-revocation/unrevoke","kind":"session"`) {
		t.Errorf("no admin revocation and unrevocation log lines:\n%s", logs)
	}
	for _, tok := range []string{s1a, s1b, s2} {
		for _, part := range strings.Split(tok, ".")[:2] {
			if strings.Contains(logs, part) {
				t.Fatalf("the logs hold a token part %q", part)
			}
		}
	}
}

// cli runs `caddy token-revocation args...` with stdin and extra
// environment; it returns stdout, stderr and the exit code.
func cli(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(caddyBinary(t), append([]string{"token-revocation"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return o.String(), e.String(), ee.ExitCode()
		}
		t.Fatalf("running the CLI: %v", err)
	}
	return o.String(), e.String(), 0
}

// cliWants runs the CLI with args and fails the test unless it exits
// with code and its stdout starts with prefix.
func cliWants(t *testing.T, code int, prefix string, args ...string) {
	t.Helper()
	if out, errOut, got := cli(t, nil, "", args...); got != code || !strings.HasPrefix(out, prefix) {
		t.Fatalf("%s: exit %d %q %q, want %d and %q", strings.Join(args, " "), got, out, errOut, code, prefix)
	}
}

func TestCLI(t *testing.T) {
	r := startRedis(t)
	up := startUpstream(t)
	c := startCaddy(t, opsCaddyfile, r.Addr, "", up.Addr())
	addr := "127.0.0.1:" + strconv.Itoa(c.AdminPort)
	ok := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, code := cli(t, nil, stdin, append(args, "--address", addr)...)
		if code != 0 {
			t.Fatalf("token-revocation %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}

	s1, s2 := opsToken("cli-1"), opsToken("cli-2")
	expectStatus(t, c, http.StatusOK, s1, s2)

	out := ok("", "revoke", "--session", "cli-1", "--issuer", opsIssuer)
	if !strings.HasPrefix(out, "revoked session ") {
		t.Fatalf("revoke --session: %q", out)
	}
	expectStatus(t, c, http.StatusUnauthorized, s1)
	expectStatus(t, c, http.StatusOK, s2)
	// check: exit 1 revoked, 0 not revoked, 2 could not tell.
	if out, errOut, code := cli(t, nil, s1+"\n", "check", "--token", "-", "--address", addr); code != 1 || !strings.HasPrefix(out, "revoked by session ") || errOut != "" {
		t.Fatalf("check --token - of a revoked token: exit %d, %q %q; want exit 1", code, out, errOut)
	}
	if out, _, code := cli(t, nil, s2+"\n", "check", "--token", "-", "--address", addr); code != 0 || !strings.HasPrefix(out, "not revoked") {
		t.Fatalf("check of a live token: exit %d, %q; want 0", code, out)
	}
	for _, args := range [][]string{{"check", "--token", "x", "--address", "127.0.0.1:1"}, {"check", "--address", addr}, {"check", "--no-such-flag"}} {
		if _, errOut, code := cli(t, nil, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}

	// A token read from stdin: revoked, rejected, un-revoked.
	out = ok(s2+"\n", "revoke", "--token", "-")
	if !strings.HasPrefix(out, "revoked token ") {
		t.Fatalf("revoke --token -: %q", out)
	}
	expectStatus(t, c, http.StatusUnauthorized, s2)
	ok(s2, "unrevoke", "--token", "-")
	expectStatus(t, c, http.StatusOK, s2)

	// list and status; CADDY_ADMIN stands in for --address.
	if out := ok("", "list", "--all"); !strings.Contains(out, "session ") || !strings.Contains(out, "\n1 entry\n") {
		t.Fatalf("list --all: %q", out)
	}
	out, errOut, code := cli(t, []string{"CADDY_ADMIN=" + addr}, "", "status")
	if code != 0 || !strings.Contains(out, "redis, healthy") {
		t.Fatalf("status with CADDY_ADMIN: exit %d\n%s%s", code, out, errOut)
	}

	ok("", "unrevoke", "--session", "cli-1", "--issuer", opsIssuer)
	expectStatus(t, c, http.StatusOK, s1)

	// Errors: non-zero exit and a message that says what to fix.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"revoke", "--session", "x"}, "needs --issuer"},
		{[]string{"revoke", "--user", "u", "--issuer", "i", "--cutoff", "4000000000"}, "HTTP 400: token_revocation: cutoff"},
		{[]string{"revoke"}, "name what to act on"},
		{[]string{"frobnicate"}, "unknown command"},
	} {
		out, errOut, code := cli(t, nil, "", append(tt.args, "--address", addr)...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want non-zero and %q (stdout %q)", tt.args, code, errOut, tt.want, out)
		}
	}
	if _, errOut, code := cli(t, nil, "", "status", "--address", "127.0.0.1:1"); code == 0 || !strings.Contains(errOut, "is Caddy running there?") {
		t.Errorf("status against nothing: exit %d, %q", code, errOut)
	}
	if strings.Contains(c.Logs(), strings.Split(s2, ".")[1]) {
		t.Fatal("the logs hold the token given on stdin")
	}
}

// scrape returns the admin endpoint's /metrics as name{labels} -> value.
func scrape(t *testing.T, c *Caddy) map[string]float64 {
	t.Helper()
	res := get(t, c.AdminURL("/metrics"))
	if res.Status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", res.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(res.Body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "caddy_token_revocation_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetrics(t *testing.T) {
	r := startRedis(t)
	up := startUpstream(t)
	c := startCaddy(t, opsCaddyfile, r.Addr, "", up.Addr())
	const (
		checked  = `caddy_token_revocation_requests_checked_total`
		rejected = `caddy_token_revocation_requests_rejected_total{reason="session"}`
		viaAdmin = `caddy_token_revocation_revocations_total{kind="session",route="admin"}`
		viaRoute = `caddy_token_revocation_revocations_total{kind="token",route="revoke"}`
		entries  = `caddy_token_revocation_store_entries{store="redis:%s/trv"}`
		healthy  = `caddy_token_revocation_store_healthy{store="redis:%s/trv"}`
		latency  = `caddy_token_revocation_check_duration_seconds_count`
	)
	tok := opsToken("m-1")
	expectStatus(t, c, http.StatusOK, tok)
	mustAdmin(t, c, "POST", "/token-revocation/revoke", map[string]any{"issuer": opsIssuer, "session": "m-1"}, nil)
	expectStatus(t, c, http.StatusUnauthorized, tok)
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"opaque-metrics-token"}}); res.Status != http.StatusOK {
		t.Fatalf("revoke route: %d", res.Status)
	}

	m := scrape(t, c)
	for _, name := range []string{checked, rejected, viaAdmin, viaRoute, latency, fmt.Sprintf(entries, r.Addr), fmt.Sprintf(healthy, r.Addr)} {
		if m[name] < 1 {
			t.Errorf("%s = %v, want >= 1", name, m[name])
		}
	}
	if m[viaAdmin] != 1 || m[viaRoute] != 1 {
		t.Errorf("revocations: admin %v, route %v, want 1 and 1", m[viaAdmin], m[viaRoute])
	}
	if m[checked] != m[latency] {
		t.Errorf("requests checked %v, latency observations %v: want one observation per checked request", m[checked], m[latency])
	}
	// A mirrored store reports its mirror: fresh, and a lag within the
	// staleness bound (1s by default).
	var st struct {
		Handlers []struct {
			Store struct {
				Details map[string]any `json:"details"`
			} `json:"store"`
		} `json:"handlers"`
	}
	mustAdmin(t, c, "GET", "/token-revocation/status", nil, &st)
	fresh := fmt.Sprintf(`caddy_token_revocation_mirror_fresh{store="redis:%s/trv"}`, r.Addr)
	lag := fmt.Sprintf(`caddy_token_revocation_mirror_lag_seconds{store="redis:%s/trv"}`, r.Addr)
	if len(st.Handlers) == 1 && st.Handlers[0].Store.Details["mode"] == "mirror" {
		if v, ok := m[fresh]; !ok || v != 1 {
			t.Errorf("%s = %v (present %v), want 1", fresh, v, ok)
		}
		if v, ok := m[lag]; !ok || v > 1 {
			t.Errorf("%s = %v (present %v), want at most 1", lag, v, ok)
		}
	} else if _, ok := m[fresh]; ok {
		t.Errorf("%s reported for a store without a mirror", fresh)
	}
	if t.Failed() {
		t.Logf("scrape: %v", m)
	}

	// The counters survive a reload and go on counting.
	c.Reload(opsCaddyfile, r.Addr, "header X-Reloaded yes", up.Addr())
	if res := bearerStatus(t, c, opsToken("m-2")); res.Header.Get("X-Reloaded") != "yes" {
		t.Fatal("the reload did not take")
	}
	after := scrape(t, c)
	for _, name := range []string{rejected, viaAdmin, viaRoute} {
		if after[name] != m[name] {
			t.Errorf("after the reload %s = %v, want %v", name, after[name], m[name])
		}
	}
	if after[checked] < m[checked]+1 {
		t.Errorf("after the reload requests checked = %v, want > %v", after[checked], m[checked])
	}
	expectStatus(t, c, http.StatusUnauthorized, tok)
	if got := scrape(t, c)[rejected]; got < m[rejected]+1 {
		t.Errorf("rejections after the reload: %v, want > %v", got, m[rejected])
	}
}

func TestAdminModuleRegistered(t *testing.T) {
	out, err := exec.Command(caddyBinary(t), "list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("caddy list-modules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "admin.api.token_revocation") {
		t.Fatalf("admin.api.token_revocation is not in the binary:\n%s", out)
	}
}
