package tests

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawGet sends a GET with an Authorization header over a fresh connection
// and returns the answer's bytes as they came, less the Date header (the
// one line that changes from request to request).
func rawGet(t *testing.T, c *Caddy, host, path, token string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.HTTPPort)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(httpTimeout))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + token + "\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Fatal(err)
	}
	return dateLine.ReplaceAllString(string(b), "")
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r\n`)

// revokedAnswer is the answer to a revoked token, byte for byte (less
// Date), as the gateway has always given it: RFC 6750's WWW-Authenticate
// and the OAuth JSON body.
const revokedAnswer = "HTTP/1.1 401 Unauthorized\r\n" +
	"Cache-Control: no-store\r\n" +
	"Content-Length: 61\r\n" +
	"Content-Type: application/json\r\n" +
	"Server: Caddy\r\n" +
	"Www-Authenticate: Bearer error=\"invalid_token\", error_description=\"token revoked\"\r\n" +
	"Connection: close\r\n" +
	"\r\n" +
	`{"error":"invalid_token","error_description":"token revoked"}`

// TestHandleErrorsRestylesRejections: a site whose handle_errors matches
// the 401 of a revoked token answers it its own way (WWW-Authenticate
// kept, the placeholders available); a site without handle_errors, or
// with one that matches other statuses only or only sets a header, gets
// the gateway's own answer byte for byte. Later handlers and the access log see the
// {http.token_revocation.*} placeholders.
func TestHandleErrorsRestylesRejections(t *testing.T) {
	up := startUpstream(t)
	logFile := filepath.Join(t.TempDir(), "access.log")
	c := startCaddy(t, `http://plain.test {
	token_revocation {
		revoke /oauth/revoke
	}
	reverse_proxy %[1]s
}

http://only404.test {
	token_revocation
	reverse_proxy %[1]s
	handle_errors 404 {
		respond "no such page" 404
	}
}

http://headeronly.test {
	token_revocation
	reverse_proxy %[1]s
	handle_errors {
		header X-Error-Seen yes
	}
}

http://styled.test {
	token_revocation
	reverse_proxy %[1]s
	handle_errors 401 {
		header Content-Type text/plain
		respond "custom {err.status_code}: {http.token_revocation.kind} {http.token_revocation.hash} via {http.token_revocation.source}" 401
	}
}

http://later.test {
	log {
		output file %[2]q
		format json
	}
	log_append trv_result {http.token_revocation.result}
	log_append trv_kind {http.token_revocation.kind}
	log_append trv_hash {http.token_revocation.hash}
	route {
		token_revocation {
			namespace {http.request.header.tenant}
		}
		header X-Revocation "{http.token_revocation.result} ns={http.token_revocation.namespace}"
		respond "passed: {http.token_revocation.result}"
	}
}`, up.Addr(), logFile)

	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"gone-1"}}, "Host: plain.test"); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}

	// An error route that only sets a header does not answer: Caddy would
	// send the status alone, so the gateway keeps its own answer.
	for _, host := range []string{"plain.test", "only404.test", "headeronly.test"} {
		if got := rawGet(t, c, host, "/api", "gone-1"); got != revokedAnswer {
			t.Errorf("%s: the revoked token's answer is\n%q\nwant, byte for byte,\n%q", host, got, revokedAnswer)
		}
	}
	if res := get(t, c.URL("/api"), "Host: plain.test", "Authorization: Bearer fine-1"); res.Status != http.StatusOK {
		t.Errorf("plain.test, a live token: %d %s", res.Status, res.Body)
	}

	// handle_errors 401 restyles the answer; the challenge stays.
	res := get(t, c.URL("/api"), "Host: styled.test", "Authorization: Bearer gone-1")
	if res.Status != http.StatusUnauthorized || !regexp.MustCompile(`^custom 401: token [0-9a-f]{12} via header$`).MatchString(res.Body) {
		t.Errorf("styled.test: %d %q, want 401 \"custom 401: token <hash> via header\"", res.Status, res.Body)
	}
	if got := res.Header.Get("Www-Authenticate"); got != `Bearer error="invalid_token", error_description="token revoked"` {
		t.Errorf("styled.test: WWW-Authenticate %q", got)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("styled.test: Content-Type %q, want the error route's text/plain", ct)
	}

	// Later handlers see the placeholders of a passing request.
	res = get(t, c.URL("/api"), "Host: later.test", "Authorization: Bearer fine-2", "Tenant: acme")
	if res.Status != http.StatusOK || res.Body != "passed: pass" || res.Header.Get("X-Revocation") != "pass ns=acme" {
		t.Errorf("later.test with a live token: %d %q, X-Revocation %q", res.Status, res.Body, res.Header.Get("X-Revocation"))
	}
	res = get(t, c.URL("/api"), "Host: later.test")
	if res.Body != "passed: none" {
		t.Errorf("later.test without a token: %q, want passed: none", res.Body)
	}
	if res := get(t, c.URL("/api"), "Host: later.test", "Authorization: Bearer gone-1"); res.Status != http.StatusUnauthorized {
		t.Errorf("later.test with the revoked token: %d", res.Status)
	}

	// The access log holds the placeholders' values.
	want := map[string]bool{"pass": false, "none": false, "revoked": false}
	pollUntil(t, 5*time.Second, func() string {
		b, _ := os.ReadFile(logFile)
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e struct {
				Status int    `json:"status"`
				Result string `json:"trv_result"`
				Kind   string `json:"trv_kind"`
				Hash   string `json:"trv_hash"`
			}
			if json.Unmarshal([]byte(line), &e) != nil {
				continue
			}
			if e.Result == "revoked" && (e.Status != 401 || e.Kind != "token" || len(e.Hash) != 12) {
				return "revoked entry without status 401, kind and hash: " + line
			}
			want[e.Result] = true
		}
		for k, seen := range want {
			if !seen {
				return "no access log line with trv_result " + k + ":\n" + string(b)
			}
		}
		return ""
	})
}

// TestHandleErrorsRestylesStoreDown: a 503 for an unreadable store goes
// through handle_errors too, Retry-After kept; the placeholders say why.
func TestHandleErrorsRestylesStoreDown(t *testing.T) {
	up := startUpstream(t)
	rd := startRedis(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		store redis {
			address %s
			check_mode direct
			dial_timeout 200ms
			read_timeout 200ms
		}
		retry_after 7s
	}
	reverse_proxy %s
	handle_errors 503 {
		respond "down: {http.token_revocation.result} {http.token_revocation.reason}" 503
	}
}`, rd.Addr, up.Addr())
	if res := get(t, c.URL("/api"), "Authorization: Bearer live"); res.Status != http.StatusOK {
		t.Fatalf("with Redis up: %d %s", res.Status, res.Body)
	}
	rd.Stop()
	res := get(t, c.URL("/api"), "Authorization: Bearer live")
	if res.Status != http.StatusServiceUnavailable || res.Body != "down: unavailable unavailable" || res.Header.Get("Retry-After") != "7" {
		t.Fatalf("with Redis down: %d %q, Retry-After %q; want 503 \"down: unavailable unavailable\", Retry-After 7", res.Status, res.Body, res.Header.Get("Retry-After"))
	}
}
