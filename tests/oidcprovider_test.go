package tests

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// panva's oidc-provider (npm, certified OpenID provider), as it is: a real
// OP process behind a real Caddy. Its JWT access tokens (RFC 9068, for a
// resource server) cannot be revoked at its revocation endpoint, which
// answers RFC 7009's 400 unsupported_token_type: the gateway revokes them
// itself (issue 11). Pinned in tests/idp/oidc-provider/package-lock.json,
// installed with npm ci (scripts/test; the test runs it when missing).

const (
	opDir        = "idp/oidc-provider"
	opClient     = "app"
	opSecret     = "app-secret-app-secret-app-secret"
	opResource   = "https://api.test"
	opReadyAfter = 90 * time.Second // a bound on start-up, not a figure: Node starts slowly on a loaded CI machine
)

// oidcProviderCaddyfile: the OP behind the gateway, revocation forwarded,
// the token endpoint observed, the back-channel logout received; the API is
// /api/*. The OP's keys are found by OpenID discovery (no jwks_url).
// Arguments: store, OP port (issuer), OP address.
const oidcProviderCaddyfile = `http:// {
	token_revocation {
		%s
		revoke /token/revocation forward
		oauth_token /token
		backchannel_logout /backchannel
		browser_logout /signout {
			redirect /signed-out
		}
		cookie access_token
		jwt http://127.0.0.1:%d {
			audience https://api.test app
			# The test rotates the OP's key and logs out within a second;
			# the default floor (10s) would hold back the refetch.
			jwks_min_refresh 10ms
		}
	}
	handle /api/* {
		respond "api ok" 200
	}
	reverse_proxy %s
}`

var npmOnce sync.Once

// opInstall runs npm ci in tests/idp/oidc-provider when its node_modules
// is missing (scripts/test runs it beforehand).
func opInstall(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(opDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node not found: install Node.js 20 or later (scripts/test does)")
	}
	var installErr error
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			installErr = fmt.Errorf("npm ci in %s: %v\n%s", dir, err, out)
		}
	})
	if installErr != nil {
		t.Fatal(installErr)
	}
	return dir
}

// oidcProvider is one running oidc-provider process.
type oidcProvider struct {
	t    *testing.T
	dir  string
	port int
	cfg  string
	cmd  *exec.Cmd
	logs syncBuffer
}

// startOIDCProvider runs the OP on port; backchannel is the client's
// back-channel logout URI.
func startOIDCProvider(t *testing.T, port int, backchannel string) *oidcProvider {
	t.Helper()
	cfg, _ := json.Marshal(map[string]string{"backchannel_logout_uri": backchannel, "redirect_uri": "http://127.0.0.1:9/cb"})
	op := &oidcProvider{t: t, dir: opInstall(t), port: port, cfg: string(cfg)}
	op.start()
	t.Cleanup(op.stop)
	return op
}

func (op *oidcProvider) start() {
	op.t.Helper()
	op.cmd = exec.Command("node", "op.mjs", fmt.Sprint(op.port), op.cfg)
	op.cmd.Dir = op.dir
	startUntilReady(op.t, "oidc-provider", op.cmd, &op.logs)
}

// startUntilReady starts cmd, a helper server that prints "ready" on its
// standard output once it listens, and waits for that line. Its output
// goes to logs; the test fails (the process killed) if it exits first or
// takes longer than opReadyAfter.
func startUntilReady(t *testing.T, name string, cmd *exec.Cmd, logs *syncBuffer) {
	t.Helper()
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
			}
			logs.Write([]byte(sc.Text() + "\n"))
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("%s exited before it was ready:\n%s", name, logs.String())
		}
	case <-time.After(opReadyAfter):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("%s not ready after %s:\n%s", name, opReadyAfter, logs.String())
	}
}

func (op *oidcProvider) stop() {
	if op.cmd == nil || op.cmd.Process == nil {
		return
	}
	_ = op.cmd.Process.Kill()
	_ = op.cmd.Wait()
	op.cmd = nil
}

// restart starts the OP again on its port: with a new signing key (a key
// rotation) and none of its tokens or sessions.
func (op *oidcProvider) restart() {
	op.stop()
	op.start()
}

func (op *oidcProvider) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", op.port, path)
}

// tokenSet is a token endpoint's answer.
type tokenSet struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Error        string `json:"error"`
}

// tokenCall posts form to a token endpoint with the client's credentials
// (client_secret_basic) and decodes the answer.
func tokenCall(t *testing.T, endpoint string, form url.Values) (Response, tokenSet) {
	t.Helper()
	res := postForm(t, endpoint, form, "Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte(opClient+":"+opSecret)))
	var ts tokenSet
	_ = json.Unmarshal([]byte(res.Body), &ts)
	return res, ts
}

// clientCredentials gets an access token: a JWT for the API when resource
// is set, else opaque.
func (op *oidcProvider) clientCredentials(t *testing.T, resource string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
	if resource != "" {
		form.Set("resource", resource)
	}
	res, ts := tokenCall(t, op.url("/token"), form)
	if res.Status != http.StatusOK || ts.AccessToken == "" {
		t.Fatalf("client_credentials: %d %s", res.Status, res.Body)
	}
	return ts.AccessToken
}

// browser is a user agent with a cookie jar that follows no redirects.
func newBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: httpTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
}

// browse sends a request, returning status, Location and body.
func browse(t *testing.T, b *http.Client, method, target string, form url.Values) (int, string, string) {
	t.Helper()
	var req *http.Request
	var err error
	if form != nil {
		req, err = http.NewRequest(method, target, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(method, target, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var sb strings.Builder
	_, _ = bufio.NewReader(res.Body).WriteTo(&sb)
	loc := res.Header.Get("Location")
	if loc != "" {
		u, err := req.URL.Parse(loc)
		if err == nil {
			loc = u.String()
		}
	}
	return res.StatusCode, loc, sb.String()
}

// login runs the authorization code flow as a user (the OP's development
// login and consent pages) and redeems the code at tokenEndpoint: an
// access token for the API (JWT), a refresh token and an ID token.
func (op *oidcProvider) login(t *testing.T, b *http.Client, user, tokenEndpoint string) tokenSet {
	t.Helper()
	q := url.Values{"client_id": {opClient}, "response_type": {"code"}, "scope": {"openid api"}, "resource": {opResource},
		"redirect_uri": {"http://127.0.0.1:9/cb"}, "state": {randomString()}, "nonce": {randomString()}}
	next := op.url("/auth?" + q.Encode())
	var code string
	for step := 0; code == "" && step < 10; step++ {
		var status int
		var body string
		if m := regexp.MustCompile(`/interaction/[^/?]+$`).FindString(next); m != "" {
			_, _, page := browse(t, b, http.MethodGet, next, nil)
			prompt := url.Values{"prompt": {"consent"}}
			if strings.Contains(page, `name="prompt" value="login"`) {
				prompt = url.Values{"prompt": {"login"}, "login": {user}, "password": {"x"}}
			}
			status, next, body = browse(t, b, http.MethodPost, op.url(m), prompt)
		} else {
			status, next, body = browse(t, b, http.MethodGet, next, nil)
		}
		if status != http.StatusSeeOther && status != http.StatusFound {
			t.Fatalf("authorization flow, step %d: %d %s", step, status, body)
		}
		if u, _ := url.Parse(next); u != nil && u.Path == "/cb" {
			if code = u.Query().Get("code"); code == "" {
				t.Fatalf("authorization flow ended without a code: %s", next)
			}
		}
	}
	res, ts := tokenCall(t, tokenEndpoint, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:9/cb"}, "resource": {opResource}})
	if res.Status != http.StatusOK || ts.RefreshToken == "" || ts.IDToken == "" || strings.Count(ts.AccessToken, ".") != 2 {
		t.Fatalf("code redemption: %d %s", res.Status, res.Body)
	}
	return ts
}

// rpLogout ends the user's session at the OP (RP-initiated logout, its
// confirmation form), which pushes back-channel logout tokens.
func (op *oidcProvider) rpLogout(t *testing.T, b *http.Client, idToken string) {
	t.Helper()
	status, _, body := browse(t, b, http.MethodGet, op.url("/session/end?"+url.Values{"id_token_hint": {idToken}}.Encode()), nil)
	m := regexp.MustCompile(`name="xsrf" value="([^"]+)"`).FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("end_session: %d %s", status, body)
	}
	status, _, body = browse(t, b, http.MethodPost, op.url("/session/end/confirm"), url.Values{"xsrf": {m[1]}, "logout": {"yes"}})
	if status != http.StatusSeeOther && status != http.StatusFound && status != http.StatusOK {
		t.Fatalf("end_session confirm: %d %s", status, body)
	}
}

// apiStatus polls until tok gets want at every instance's API.
func apiStatus(t *testing.T, what, tok string, want int, cs ...*Caddy) {
	t.Helper()
	for i, c := range cs {
		pollUntil(t, 5*time.Second, func() string {
			if res := get(t, c.URL("/api/items"), "Authorization: Bearer "+tok); res.Status != want {
				return fmt.Sprintf("%s: instance %d: %d %s, want %d", what, i, res.Status, res.Body, want)
			}
			return ""
		})
	}
}

// oidcProviderFlows runs the OP's flows through gateway a (and checks on
// every instance in cs).
func oidcProviderFlows(t *testing.T, op *oidcProvider, a *Caddy, cs ...*Caddy) {
	revoke := func(tok string) Response {
		res, _ := tokenCall(t, a.URL("/token/revocation"), url.Values{"token": {tok}})
		return res
	}

	// A JWT access token (client_credentials, resource indicator): the OP
	// refuses to revoke it, the gateway does.
	jwtAT := op.clientCredentials(t, opResource)
	apiStatus(t, "JWT access token before revocation", jwtAT, http.StatusOK, cs...)
	if direct, _ := tokenCall(t, op.url("/token/revocation"), url.Values{"token": {jwtAT}}); direct.Status != http.StatusBadRequest || !strings.Contains(direct.Body, "unsupported_token_type") {
		t.Fatalf("the OP itself: %d %s, want 400 unsupported_token_type (what this test is about)", direct.Status, direct.Body)
	}
	if res := revoke(jwtAT); res.Status != http.StatusOK || res.Body != "" {
		t.Fatalf("revoking a JWT access token through the gateway: %d %q, want an empty 200", res.Status, res.Body)
	}
	apiStatus(t, "revoked JWT access token", jwtAT, http.StatusUnauthorized, cs...)

	// An opaque access token: the OP revokes it (200), the gateway records it.
	opaque := op.clientCredentials(t, "")
	apiStatus(t, "opaque access token before revocation", opaque, http.StatusOK, cs...)
	if res := revoke(opaque); res.Status != http.StatusOK {
		t.Fatalf("revoking an opaque access token: %d %s", res.Status, res.Body)
	}
	apiStatus(t, "revoked opaque access token", opaque, http.StatusUnauthorized, cs...)

	// Authorization code, refresh rotation through the observed token
	// endpoint, then revoking the rotated refresh token: the access token
	// it was granted goes with it.
	b := newBrowser(t)
	ts := op.login(t, b, "alice", a.URL("/token"))
	apiStatus(t, "code flow access token", ts.AccessToken, http.StatusOK, cs...)
	res, rotated := tokenCall(t, a.URL("/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}, "resource": {opResource}})
	if res.Status != http.StatusOK || rotated.RefreshToken == "" || rotated.RefreshToken == ts.RefreshToken {
		t.Fatalf("refresh: %d %s, want a new (rotated) refresh token", res.Status, res.Body)
	}
	if res, _ := tokenCall(t, a.URL("/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}}); res.Status != http.StatusBadRequest {
		t.Errorf("the rotated-out refresh token: %d %s, want 400", res.Status, res.Body)
	}
	apiStatus(t, "refreshed access token", rotated.AccessToken, http.StatusOK, cs...)
	if res := revoke(rotated.RefreshToken); res.Status != http.StatusOK {
		t.Fatalf("revoking the refresh token: %d %s", res.Status, res.Body)
	}
	apiStatus(t, "access token of a revoked refresh token", rotated.AccessToken, http.StatusUnauthorized, cs...)

	// Browser sign-out with the access token in a cookie: a same-origin
	// GET revokes it, and (verified) its session: the session's other
	// access tokens go too; the cookie is expired.
	ts = op.login(t, newBrowser(t), "carol", op.url("/token"))
	res, sameSession := tokenCall(t, op.url("/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}, "resource": {opResource}})
	if res.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", res.Status, res.Body)
	}
	if res := get(t, a.URL("/signout"), "Cookie: access_token="+ts.AccessToken); res.Status != http.StatusForbidden {
		t.Errorf("sign-out GET without same-site evidence: %d, want 403", res.Status)
	}
	// A 503 (Retry-After) means the OP's keys were not fetched yet (the
	// gateway started before the OP): a client tries again, and so does
	// this test.
	pollUntil(t, 10*time.Second, func() string {
		res = get(t, a.URL("/signout"), "Cookie: access_token="+ts.AccessToken, "Sec-Fetch-Site: same-origin")
		if res.Status == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "" {
			return "sign-out: 503, keys not fetched yet"
		}
		return ""
	})
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/signed-out" || !strings.Contains(res.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign-out: %d Location %q Set-Cookie %q", res.Status, res.Header.Get("Location"), res.Header.Get("Set-Cookie"))
	}
	apiStatus(t, "signed-out access token", ts.AccessToken, http.StatusUnauthorized, cs...)
	apiStatus(t, "another access token of the signed-out session", sameSession.AccessToken, http.StatusUnauthorized, cs...)

	// Key rotation: the OP starts again with a new signing key. A new
	// session, logged out at the OP (RP-initiated), pushes a back-channel
	// logout token signed with the new key to the gateway: the session's
	// access tokens (sid, added by extraTokenClaims) are refused.
	op.restart()
	b = newBrowser(t)
	ts = op.login(t, b, "bob", op.url("/token"))
	other := op.login(t, newBrowser(t), "bob", op.url("/token"))
	apiStatus(t, "access token after key rotation", ts.AccessToken, http.StatusOK, cs...)
	op.rpLogout(t, b, ts.IDToken)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("oidc-provider output:\n%s", op.logs.String())
		}
	})
	apiStatus(t, "access token of a session ended by back-channel logout", ts.AccessToken, http.StatusUnauthorized, cs...)
	apiStatus(t, "access token of another session", other.AccessToken, http.StatusOK, cs...)
	if !strings.Contains(op.logs.String(), "backchannel.success") {
		t.Errorf("the OP logged no successful back-channel logout:\n%s", op.logs.String())
	}
}

// sharedStores are the stores a test runs its gateways on: the embedded
// store under one instance, Redis under two (revoked through the first,
// enforced by the last); store returns the Caddyfile's store line.
var sharedStores = []struct {
	name      string
	instances int
	store     func(t *testing.T) string
}{
	{"embedded", 1, func(*testing.T) string { return "store embedded" }},
	{"redis, two instances", 2, func(t *testing.T) string { return "store redis {\n\t\t\taddress " + startRedis(t).Addr + "\n\t\t}" }},
}

// startOPGateways reserves a port for the OP and starts instances
// gateways with caddyfile, whose arguments args gives for that port.
func startOPGateways(t *testing.T, instances int, caddyfile string, args func(port int) []any) (int, []*Caddy) {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	var cs []*Caddy
	for range instances {
		cs = append(cs, startCaddy(t, caddyfile, args(ports[0])...))
	}
	return ports[0], cs
}

// TestOIDCProvider runs the flows with the embedded store, and with Redis
// under two gateways (revoked through the first, refused by both); and
// once with the gateway answering revocation itself (respond mode).
func TestOIDCProvider(t *testing.T) {
	for _, tc := range sharedStores {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.store(t)
			port, cs := startOPGateways(t, tc.instances, oidcProviderCaddyfile, func(port int) []any {
				return []any{store, port, fmt.Sprintf("127.0.0.1:%d", port)}
			})
			op := startOIDCProvider(t, port, cs[0].URL("/backchannel"))
			oidcProviderFlows(t, op, cs[0], cs...)
			if !strings.Contains(cs[0].Logs(), "the upstream does not revoke this token; the gateway revokes it itself") {
				t.Errorf("no log line for the refused revocation:\n%s", cs[0].Logs())
			}
		})
	}
	t.Run("respond mode", func(t *testing.T) {
		ports, err := freePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		c := startCaddy(t, strings.Replace(oidcProviderCaddyfile, "revoke /token/revocation forward", "revoke /token/revocation", 1), "store embedded", ports[0], fmt.Sprintf("127.0.0.1:%d", ports[0]))
		op := startOIDCProvider(t, ports[0], c.URL("/backchannel"))
		at := op.clientCredentials(t, opResource)
		if res, _ := tokenCall(t, c.URL("/token/revocation"), url.Values{"token": {at}}); res.Status != http.StatusOK {
			t.Fatalf("respond-mode revocation: %d %s", res.Status, res.Body)
		}
		apiStatus(t, "JWT access token revoked in respond mode", at, http.StatusUnauthorized, c)
		if strings.Contains(op.logs.String(), "revocation") {
			t.Errorf("the OP saw the revocation in respond mode")
		}
	})
}
