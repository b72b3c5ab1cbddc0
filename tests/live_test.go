package tests

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/wstest"
)

// Live connections (issue 12): a WebSocket and a Server-Sent Events
// stream opened through the gateway with a token end when the token is
// revoked — on the instance that holds them, whichever instance the
// revocation went through — and those of other tokens stay open. The
// upstream is real: the ws package's WebSocket server and a Node http SSE
// stream (tests/live/upstream, installed by scripts/test with npm ci).

// startLiveUpstream runs tests/live/upstream/server.js on a free port and
// returns its address; it skips the test when Node or the upstream's
// node_modules are missing (scripts/test installs both).
func startLiveUpstream(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "tests", "live", "upstream")
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not on PATH (scripts/test installs it)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ws")); err != nil {
		t.Skip("tests/live/upstream/node_modules missing (npm ci; scripts/test runs it)")
	}
	cmd := exec.Command("node", filepath.Join(dir, "server.js"), "0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		var port int
		if _, err := fmt.Sscanf(s, "listening %d", &port); err != nil {
			t.Fatalf("live upstream said %q", s)
		}
		return fmt.Sprintf("127.0.0.1:%d", port)
	case <-time.After(20 * time.Second):
		t.Fatal("live upstream did not start")
	}
	return ""
}

// wsConn is a WebSocket opened through the gateway.
type wsConn struct{ *wstest.Conn }

// openWS opens addr's path as a WebSocket with headers ("Name: value").
func openWS(t testing.TB, addr, path string, headers ...string) *wsConn {
	t.Helper()
	c, err := wstest.Dial(addr, path, headers...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wsConn{c}
}

// delivers checks that the connection still delivers n ticks.
func (ws *wsConn) delivers(t testing.TB, what string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		op, p, err := ws.Next(5 * time.Second)
		if err != nil || op == 8 {
			t.Fatalf("%s: ended (%v, opcode %d %q), want it open", what, err, op, p)
		}
	}
}

// sseStream is a Server-Sent Events stream read line by line.
type sseStream struct {
	body io.ReadCloser
	br   *bufio.Reader
}

func openSSE(t testing.TB, u string, headers ...string) *sseStream {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return openSSERequest(t, req, headers...)
}

// openSSEForm opens a stream with a POST whose form body carries the
// token, as Express's body-parser, PHP or Rack read it.
func openSSEForm(t testing.TB, u string, form url.Values) *sseStream {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	return openSSERequest(t, req, "Content-Type: application/x-www-form-urlencoded")
}

func openSSERequest(t testing.TB, req *http.Request, headers ...string) *sseStream {
	t.Helper()
	return openSSEWith(t, &http.Transport{DisableKeepAlives: true}, req, headers...)
}

// openSSEWith is openSSERequest through rt (one with a TLS client
// certificate).
func openSSEWith(t testing.TB, rt http.RoundTripper, req *http.Request, headers ...string) *sseStream {
	t.Helper()
	u := req.URL.String()
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 {
		t.Fatalf("SSE %s: status %d", u, res.StatusCode)
	}
	s := &sseStream{body: res.Body, br: bufio.NewReader(res.Body)}
	if _, err := s.br.ReadString('\n'); err != nil { // ": open"
		t.Fatal(err)
	}
	return s
}

// ended reads until the stream ends and returns the read error: not EOF
// (a complete response) but an aborted one.
func (s *sseStream) ended(within time.Duration) error {
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := s.br.ReadString('\n'); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err == io.EOF {
			return errors.New("the stream ended as if complete (EOF), not aborted")
		}
		return nil
	case <-time.After(within):
		s.body.Close()
		return fmt.Errorf("still open after %v", within)
	}
}

func (s *sseStream) delivers(t testing.TB, what string, n int) {
	t.Helper()
	got := make(chan error, 1)
	go func() {
		for i := 0; i < n; {
			line, err := s.br.ReadString('\n')
			if err != nil {
				got <- err
				return
			}
			if strings.HasPrefix(line, "data: tick") {
				i++
			}
		}
		got <- nil
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("%s: ended (%v), want it open", what, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no tick for 5s", what)
	}
}

// liveGateway is one or two Caddy instances sharing a store, in front of
// the live upstream, with JWT verification for session and user cut-offs.
type liveGateway struct {
	idp       *testIdP
	hold, via *Caddy // the instance holding the connections; the one revocations go through
	holdAddr  string
	upstream  string
}

// startLiveGateway starts the gateway on the embedded store, or on the
// Redis at redisAddr with the store redis block's settings (one per line).
func startLiveGateway(t *testing.T, redisAddr string, settings ...string) *liveGateway {
	g := &liveGateway{idp: startIdP(t), upstream: startLiveUpstream(t)}
	g.idp.publish(t, "k1")
	store := "store embedded"
	if redisAddr != "" {
		store = "store redis {\n\t\t\taddress " + redisAddr + "\n\t\t\t" + strings.Join(settings, "\n\t\t\t") + "\n\t\t}"
	}
	caddyfile := `http:// {
	token_revocation {
		%s
		jwt %s {
			jwks_url %s
			audience %s
		}
		revoke /revoke
		logout /logout
		logout_all /logout-all
		backchannel_logout /backchannel-logout
	}
	reverse_proxy %s
}`
	g.hold = startCaddy(t, caddyfile, store, claimsIssuer, g.idp.URL, claimsAudience, g.upstream)
	g.via = g.hold
	if redisAddr != "" {
		g.via = startCaddy(t, caddyfile, store, claimsIssuer, g.idp.URL, claimsAudience, g.upstream)
	}
	u, _ := url.Parse(g.hold.URL("/"))
	g.holdAddr = u.Host
	return g
}

func (g *liveGateway) access(t *testing.T, sub, sid string, iat int64) string {
	return g.idp.sign(t, "k1", "JWT", map[string]any{"sub": sub, "sid": sid, "typ": "Bearer", "iat": iat})
}

// open opens a WebSocket and an SSE stream with tok through the holding
// instance.
func (g *liveGateway) open(t *testing.T, tok string) (*wsConn, *sseStream) {
	t.Helper()
	ws := openWS(t, g.holdAddr, "/ws?every=50", "Authorization: Bearer "+tok)
	ws.delivers(t, "new WebSocket", 1)
	sse := openSSE(t, g.hold.URL("/sse?every=50"), "Authorization: Bearer "+tok)
	sse.delivers(t, "new SSE stream", 1)
	return ws, sse
}

// ends checks that the WebSocket gets a 1008 close frame and the SSE stream
// is aborted, within 5s of the revocation's answer.
func ends(t *testing.T, what string, answered time.Time, ws *wsConn, sse *sseStream) {
	t.Helper()
	code, reason, err := ws.Closed(5 * time.Second)
	took := time.Since(answered)
	if err != nil || code != 1008 || reason != "token revoked" {
		t.Errorf("%s: WebSocket: close %d %q, %v; want 1008 \"token revoked\" then the end of the connection", what, code, reason, err)
	} else {
		t.Logf("%s: WebSocket closed %v after the revocation's answer", what, took.Round(time.Millisecond))
	}
	if err := sse.ended(5 * time.Second); err != nil {
		t.Errorf("%s: SSE stream: %v", what, err)
	}
}

func TestLiveConnections(t *testing.T) {
	for _, store := range []string{"embedded", "redis, two instances", "redis direct, two instances", "redis direct, 3 compact partitions, two instances"} {
		t.Run(store, func(t *testing.T) {
			redisAddr, settings := "", []string{"check_mode mirror"}
			if store != "embedded" {
				redisAddr = startRedis(t).Addr
			}
			if strings.HasPrefix(store, "redis direct") {
				settings = []string{"check_mode direct"}
			}
			if strings.Contains(store, "partitions") {
				settings = append(settings, "partitions 3", "layout compact")
			}
			g := startLiveGateway(t, redisAddr, settings...)
			now := time.Now().Unix()

			t.Run("token revoked", func(t *testing.T) {
				tok, other := "opaque-"+randomString(), "opaque-"+randomString()
				ws, sse := g.open(t, tok)
				ows, osse := g.open(t, other)
				if res := postForm(t, g.via.URL("/revoke"), url.Values{"token": {tok}}); res.Status != 200 {
					t.Fatalf("revoke: %d %s", res.Status, res.Body)
				}
				ends(t, "revoked token", time.Now(), ws, sse)
				ows.delivers(t, "WebSocket of a token not revoked", 3)
				osse.delivers(t, "SSE stream of a token not revoked", 3)
				if _, err := wstest.Dial(g.holdAddr, "/ws", "Authorization: Bearer "+tok); err == nil || !strings.Contains(err.Error(), "401") {
					t.Errorf("a new WebSocket with the revoked token: %v, want 401", err)
				}
			})

			t.Run("session cut-off", func(t *testing.T) {
				s1 := g.access(t, "alice", "S1", now-30)
				s2 := g.access(t, "alice", "S2", now-30)
				ws, sse := g.open(t, s1)
				ows, osse := g.open(t, s2)
				refresh := g.idp.sign(t, "k1", "JWT", map[string]any{"sub": "alice", "sid": "S1", "typ": "Refresh", "iat": now - 40, "exp": now + 1800})
				if res := postForm(t, g.via.URL("/logout"), url.Values{"refresh_token": {refresh}, "client_id": {"app"}}); res.Status != 204 {
					t.Fatalf("logout: %d %s", res.Status, res.Body)
				}
				ends(t, "session S1 logged out", time.Now(), ws, sse)
				ows.delivers(t, "WebSocket of alice's other session", 3)
				osse.delivers(t, "SSE stream of alice's other session", 3)
			})

			t.Run("session revoked through the admin API", func(t *testing.T) {
				s9 := g.access(t, "frank", "S9", now-30)
				other := g.access(t, "frank", "S10", now-30)
				ws, sse := g.open(t, s9)
				ows, _ := g.open(t, other)
				var out any
				mustAdmin(t, g.via, "POST", "/token-revocation/revoke", map[string]any{"issuer": claimsIssuer, "session": "S9"}, &out)
				ends(t, "session S9 revoked through the admin API", time.Now(), ws, sse)
				ows.delivers(t, "WebSocket of frank's other session", 3)
			})

			t.Run("back-channel logout", func(t *testing.T) {
				d1 := g.access(t, "dave", "D1", now-30)
				ws, sse := g.open(t, d1)
				lt := g.idp.sign(t, "k1", "logout+jwt", map[string]any{"sub": "dave", "sid": "D1", "events": map[string]any{bclEvent: map[string]any{}}})
				if res := postForm(t, g.via.URL("/backchannel-logout"), url.Values{"logout_token": {lt}}); res.Status != 200 {
					t.Fatalf("back-channel logout: %d %s", res.Status, res.Body)
				}
				ends(t, "session D1 ended by a back-channel logout", time.Now(), ws, sse)
			})

			t.Run("user cut-off", func(t *testing.T) {
				b1 := g.access(t, "bob", "B1", now-600)
				b2 := g.access(t, "bob", "B2", now-1)
				later := g.access(t, "bob", "B3", time.Now().Unix()+6*60) // after the cut-off and the clock skew
				carol := g.access(t, "carol", "C1", now-600)
				ws1, sse1 := g.open(t, b1)
				ws2, sse2 := g.open(t, b2)
				wsl, ssel := g.open(t, later)
				wsc, ssec := g.open(t, carol)
				if res := do(t, "POST", g.via.URL("/logout-all"), nil, "Authorization: Bearer "+b1); res.Status != 204 {
					t.Fatalf("logout_all: %d %s", res.Status, res.Body)
				}
				answered := time.Now()
				ends(t, "bob's session B1", answered, ws1, sse1)
				ends(t, "bob's session B2", answered, ws2, sse2)
				wsl.delivers(t, "WebSocket of bob's token issued after the cut-off", 3)
				ssel.delivers(t, "SSE stream of bob's token issued after the cut-off", 3)
				wsc.delivers(t, "carol's WebSocket", 3)
				ssec.delivers(t, "carol's SSE stream", 3)
			})
		})
	}
}

// TestLiveConnectionsOff: with live_connections off, a revocation leaves
// the open WebSocket alone (the next request is still refused).
// A stream opened with the token in a form body (access_token, which
// body-parser, PHP and Rack read as well as the gateway's check does) is
// ended when the token is revoked, like one opened with the header.
func TestLiveConnectionsBodyToken(t *testing.T) {
	g := startLiveGateway(t, "")
	tok, other := "opaque-"+randomString(), "opaque-"+randomString()
	sse := openSSEForm(t, g.hold.URL("/sse?every=50"), url.Values{"access_token": {tok}})
	sse.delivers(t, "SSE stream opened with a body token", 1)
	osse := openSSEForm(t, g.hold.URL("/sse?every=50"), url.Values{"access_token": {other}})
	osse.delivers(t, "SSE stream of another body token", 1)
	if res := postForm(t, g.via.URL("/revoke"), url.Values{"token": {tok}}); res.Status != 200 {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	if err := sse.ended(5 * time.Second); err != nil {
		t.Errorf("SSE stream whose body token was revoked: %v", err)
	}
	osse.delivers(t, "SSE stream of a body token not revoked", 3)
}

func TestLiveConnectionsOff(t *testing.T) {
	up := startLiveUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		revoke /revoke
		live_connections off
	}
	reverse_proxy %s
}`, up)
	u, _ := url.Parse(c.URL("/"))
	tok := "opaque-" + randomString()
	ws := openWS(t, u.Host, "/ws?every=50", "Authorization: Bearer "+tok)
	ws.delivers(t, "new WebSocket", 1)
	if res := postForm(t, c.URL("/revoke"), url.Values{"token": {tok}}); res.Status != 200 {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	if s := get(t, c.URL("/api"), "Authorization: Bearer "+tok).Status; s != 401 {
		t.Fatalf("a request with the revoked token: %d, want 401", s)
	}
	ws.delivers(t, "WebSocket with live_connections off", 5)
}

// TestLiveConnectionsHTTP2AndExpiry: an SSE stream over HTTP/2 (h2c) is
// reset when its token is revoked, and with close_on_expiry a WebSocket
// gets 1008 "token expired" when its JWT's exp passes.
func TestLiveConnectionsHTTP2AndExpiry(t *testing.T) {
	idp := startIdP(t)
	idp.publish(t, "k1")
	up := startLiveUpstream(t)
	c := startCaddy(t, `{
	servers {
		protocols h1 h2c
	}
}
http:// {
	token_revocation {
		jwt %s {
			jwks_url %s
			audience %s
		}
		revoke /revoke
		live_connections {
			close_on_expiry
		}
	}
	reverse_proxy %s
}`, claimsIssuer, idp.URL, claimsAudience, up)

	t.Run("HTTP/2 stream reset", func(t *testing.T) {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		t.Cleanup(tr.CloseIdleConnections)
		open := func(tok string) (*bufio.Reader, *http.Response) {
			req, _ := http.NewRequest("GET", c.URL("/sse?every=50"), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { res.Body.Close() })
			if res.ProtoMajor != 2 || res.StatusCode != 200 {
				t.Fatalf("%s %d, want HTTP/2 200", res.Proto, res.StatusCode)
			}
			br := bufio.NewReader(res.Body)
			if _, err := br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			return br, res
		}
		tok, other := "opaque-"+randomString(), "opaque-"+randomString()
		victim, _ := open(tok)
		bystander, _ := open(other) // the same HTTP/2 connection
		if res := postForm(t, c.URL("/revoke"), url.Values{"token": {tok}}); res.Status != 200 {
			t.Fatalf("revoke: %d %s", res.Status, res.Body)
		}
		s := &sseStream{body: io.NopCloser(victim), br: victim}
		if err := s.ended(5 * time.Second); err != nil {
			t.Errorf("HTTP/2 SSE stream: %v", err)
		}
		(&sseStream{br: bystander}).delivers(t, "the other stream on the same HTTP/2 connection", 3)
	})

	t.Run("close_on_expiry", func(t *testing.T) {
		exp := time.Now().Add(2 * time.Second).Unix()
		tok := idp.sign(t, "k1", "JWT", map[string]any{"sub": "dave", "exp": exp})
		long := idp.sign(t, "k1", "JWT", map[string]any{"sub": "erin"})
		u, _ := url.Parse(c.URL("/"))
		ws := openWS(t, u.Host, "/ws?every=50", "Authorization: Bearer "+tok)
		other := openWS(t, u.Host, "/ws?every=50", "Authorization: Bearer "+long)
		code, reason, err := ws.Closed(10 * time.Second)
		if err != nil || code != 1008 || reason != "token expired" {
			t.Fatalf("close %d %q, %v; want 1008 \"token expired\"", code, reason, err)
		}
		if late := time.Since(time.Unix(exp, 0)); late < -time.Second || late > 3*time.Second {
			t.Errorf("closed %v after exp", late)
		}
		other.delivers(t, "a WebSocket whose token has not expired", 3)
	})
}

// TestLiveConnectionsSurviveReload: a WebSocket opened before a config
// reload that keeps it open (stream_close_delay; without it Caddy closes
// upgraded connections at a reload, 1001) is still ended by a revocation
// after it.
func TestLiveConnectionsSurviveReload(t *testing.T) {
	up := startLiveUpstream(t)
	site := `http:// {
	token_revocation {
		revoke /revoke
	}
	header X-Config %s
	reverse_proxy %s {
		stream_close_delay 1m
	}
}`
	c := startCaddy(t, site, "one", up)
	u, _ := url.Parse(c.URL("/"))
	tok := "opaque-" + randomString()
	ws := openWS(t, u.Host, "/ws?every=50", "Authorization: Bearer "+tok)
	ws.delivers(t, "new WebSocket", 1)
	c.Reload(site, "two", up)
	if got := get(t, c.URL("/"), "Authorization: Bearer other").Header.Get("X-Config"); got != "two" {
		t.Fatalf("reload not applied: X-Config %q", got)
	}
	ws.delivers(t, "WebSocket across the reload", 2)
	if res := postForm(t, c.URL("/revoke"), url.Values{"token": {tok}}); res.Status != 200 {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	code, reason, err := ws.Closed(5 * time.Second)
	if err != nil || code != 1008 || reason != "token revoked" {
		t.Fatalf("WebSocket opened before the reload: close %d %q, %v; want 1008 \"token revoked\"", code, reason, err)
	}
}
