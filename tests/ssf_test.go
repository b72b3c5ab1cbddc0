package tests

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/ssftest"
)

// Shared Signals (issue 25 item 1) through the real binary: the
// transmitter is internal/ssftest's, serving the SSF 1.0 and RFC
// 8935/8936 exchanges and signing the CAEP and RISC specifications'
// example SETs with go-jose (no installable SSF transmitter exists: see
// ssf/doc.go), on a free loopback port of the test process. Every test
// here fails on 5278a12: its Caddy refuses the config, which has no ssf
// block there.

// The users of the specifications' example SETs.
const (
	ssfRISCIssuer  = "https://idp.example.com/"           // RISC account-disabled's iss_sub
	ssfRISCSubject = "7375626A656374"                     // ...its sub
	ssfCAEPIssuer  = "https://idp.example.com/123456789/" // CAEP session-revoked's (opaque: a sid)
	ssfCAEPSession = "dMTlD|1600802906337.16|16008.16"
	ssfCAEPUser    = "jane.smith@example.com" // CAEP session-revoked's iss_sub example
)

// ssfRedisSite is a gateway on the Redis at %s with the ssf blocks %s,
// in front of the upstream at %s.
const ssfRedisSite = `http:// {
	token_revocation {
		store redis {
			address %s
		}
		%s
	}
	reverse_proxy %s
}`

// ssfToken is a JWT of iss and sub (and sid, when not ""), issued a
// minute ago: claims the check reads unverified.
func ssfToken(iss, sub, sid string) string {
	iat := time.Now().Add(-time.Minute)
	claims := map[string]any{"iss": iss, "sub": sub, "iat": iat.Unix(), "exp": iat.Add(time.Hour).Unix()}
	if sid != "" {
		claims["sid"] = sid
	}
	return jwttest.Unsigned(`{"alg":"RS256","typ":"JWT"}`, claims, "c2ln")
}

// ssfBlock is an ssf block for tx, polled, with extra lines.
func ssfBlock(tx *ssftest.Transmitter, extra string) string {
	return fmt.Sprintf(`ssf %s {
			bearer_token %s
			token_issuers %s %s
			%s
		}`, tx.Issuer, tx.Bearer, ssfCAEPIssuer, ssfRISCIssuer, extra)
}

// ssfStream waits for the stream the gateway creates at tx.
func ssfStream(t *testing.T, tx *ssftest.Transmitter) string {
	t.Helper()
	pollUntil(t, 30*time.Second, func() string {
		if len(tx.StreamIDs()) == 0 {
			return "the gateway created no stream at the transmitter"
		}
		return ""
	})
	return tx.StreamIDs()[0]
}

// ssfStatus is the status of a GET through c with tok.
func ssfStatus(t *testing.T, c *Caddy, tok string) int {
	t.Helper()
	return get(t, c.URL("/api/items"), "Authorization: Bearer "+tok).Status
}

// ssfWaitStatus polls until tok gets want through c.
func ssfWaitStatus(t *testing.T, c *Caddy, what, tok string, want int) {
	t.Helper()
	pollUntil(t, 30*time.Second, func() string {
		if st := ssfStatus(t, c, tok); st != want {
			return fmt.Sprintf("%s: %d, want %d", what, st, want)
		}
		return ""
	})
}

// waitAcked polls until stream id has nothing unacknowledged.
func waitAcked(t *testing.T, tx *ssftest.Transmitter, id string) {
	t.Helper()
	pollUntil(t, 30*time.Second, func() string {
		if un := tx.Unacked(id); len(un) > 0 {
			return fmt.Sprintf("unacknowledged at the transmitter: %v", un)
		}
		return ""
	})
}

// ssfApplied counts the times Caddy's log says the SET jti was applied (the
// receiver logs "ssf event" once it has stored and remembered a SET).
func ssfApplied(c *Caddy, jti string) int {
	n := 0
	for _, l := range strings.Split(c.Logs(), "\n") {
		if strings.Contains(l, `"ssf event"`) && strings.Contains(l, `"jti":"`+jti+`"`) {
			n++
		}
	}
	return n
}

// TestSSFPollEmbeddedAcrossARestart: on the embedded store, a polled CAEP
// session-revoked and RISC account-disabled make the session's and the
// user's valid tokens 401 (another user's passes) and are acknowledged.
// Then the transmitter loses every acknowledgement (so it delivers the
// two SETs again and again), Caddy stops, a third SET is queued while it
// is down, and Caddy starts again: the third is applied (none lost), the
// two delivered again are acknowledged without being applied again (the
// store remembers them), and the tokens stay refused.
func TestSSFPollEmbeddedAcrossARestart(t *testing.T) {
	tx := ssftest.New(t)
	up := startUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		`+ssfBlock(tx, "")+`
	}
	reverse_proxy %s
}`, up.Addr())
	id := ssfStream(t, tx)
	session, user, other, later := ssfToken(ssfCAEPIssuer, "someone", ssfCAEPSession), ssfToken(ssfRISCIssuer, ssfRISCSubject, ""),
		ssfToken(ssfRISCIssuer, "another user", ""), ssfToken(ssfCAEPIssuer, ssfCAEPUser, "")
	for _, tok := range []string{session, user, other, later} {
		if st := ssfStatus(t, c, tok); st != http.StatusOK {
			t.Fatalf("a token before any event: %d, want 200", st)
		}
	}
	j1 := tx.Send(id, ssftest.Claims(ssftest.CAEPSessionRevokedOpaque))
	j2 := tx.Send(id, ssftest.Claims(ssftest.RISCAccountDisabled))
	ssfWaitStatus(t, c, "the revoked session's token", session, http.StatusUnauthorized)
	ssfWaitStatus(t, c, "the disabled account's token", user, http.StatusUnauthorized)
	waitAcked(t, tx, id)
	if st := ssfStatus(t, c, other); st != http.StatusOK {
		t.Errorf("another user's token: %d, want 200", st)
	}

	// Every acknowledgement lost from now on: both SETs come again.
	tx.Mu.Lock()
	tx.DropAcks = 1 << 30
	tx.Mu.Unlock()
	tx.Unack(id, j1, j2)
	pollUntil(t, 30*time.Second, func() string {
		if tx.Deliveries(id, j1) < 3 || tx.Deliveries(id, j2) < 3 {
			return "the SETs whose acks were lost were not delivered again"
		}
		return ""
	})
	c.Stop()
	j3 := tx.Send(id, ssftest.Claims(ssftest.CAEPSessionRevokedUser))
	tx.Mu.Lock()
	tx.DropAcks = 0
	tx.Mu.Unlock()
	c.Restart()
	ssfWaitStatus(t, c, "the token of the user revoked while Caddy was down", later, http.StatusUnauthorized)
	waitAcked(t, tx, id)
	for _, jti := range []string{j1, j2, j3} {
		if n := ssfApplied(c, jti); n != 1 {
			t.Errorf("SET %s applied %d times across the restart, want once (delivered %d times)", jti, n, tx.Deliveries(id, jti))
		}
	}
	for _, tok := range []string{session, user} {
		if st := ssfStatus(t, c, tok); st != http.StatusUnauthorized {
			t.Errorf("a revoked token after the restart: %d, want 401", st)
		}
	}
	if strings.Contains(c.Logs(), session) || strings.Contains(c.Logs(), tx.Bearer) {
		t.Error("a raw token or the transmitter's bearer token is in Caddy's log")
	}
}

// TestSSFRedisTwoInstances: on Redis, instance A receives two
// transmitters' signals, one polled and one pushed (a reload adds the
// push block, whose push_url names A's port); instance B, which has no
// ssf block, enforces them: a RISC account-disabled polled by A and a
// CAEP session-revoked pushed to A make the tokens 401 at B.
func TestSSFRedisTwoInstances(t *testing.T) {
	polled, pushed := ssftest.New(t), ssftest.New(t)
	rs := startRedis(t)
	up := startUpstream(t)
	a := startCaddy(t, ssfRedisSite, rs.Addr, ssfBlock(polled, ""), up.Addr())
	b := startCaddy(t, ssfRedisSite, rs.Addr, "", up.Addr())
	a.Reload(ssfRedisSite, rs.Addr, ssfBlock(polled, "")+"\n\t\t"+ssfBlock(pushed, fmt.Sprintf(`delivery push
			push_path /ssf/push
			push_url %s
			push_authorization "Bearer push-secret"`, a.URL("/ssf/push"))), up.Addr())
	pollID, pushID := ssfStream(t, polled), ssfStream(t, pushed)

	user, session := ssfToken(ssfRISCIssuer, ssfRISCSubject, ""), ssfToken(ssfCAEPIssuer, "someone", ssfCAEPSession)
	for _, tok := range []string{user, session} {
		if st := ssfStatus(t, b, tok); st != http.StatusOK {
			t.Fatalf("a token at B before any event: %d, want 200", st)
		}
	}
	polled.Send(pollID, ssftest.Claims(ssftest.RISCAccountDisabled))
	ssfWaitStatus(t, b, "at B, the token of the account disabled by a SET A polled", user, http.StatusUnauthorized)
	waitAcked(t, polled, pollID)

	// The push is answered once the transmitter's first try gets a 202
	// (A starts the push receiver in the background: a 503 before that).
	claims := ssftest.Claims(ssftest.CAEPSessionRevokedOpaque)
	claims["jti"] = "push-1"
	_, set := pushed.Sign(claims, nil)
	pollUntil(t, 30*time.Second, func() string {
		if st := pushed.Push(a.URL("/ssf/push"), "Bearer push-secret", set); st != http.StatusAccepted {
			return fmt.Sprintf("push to A answered %d, want 202", st)
		}
		return ""
	})
	ssfWaitStatus(t, b, "at B, the token of the session revoked by a SET pushed to A", session, http.StatusUnauthorized)
	if st := pushed.Push(a.URL("/ssf/push"), "Bearer wrong", set); st != http.StatusUnauthorized {
		t.Errorf("a push with another Authorization: %d, want 401", st)
	}
	_ = pushID
	if m := get(t, a.AdminURL("/metrics")).Body; !strings.Contains(m, `caddy_token_revocation_ssf_events_total{issuer="`+polled.Issuer+`",outcome="applied",type="https://schemas.openid.net/secevent/risc/event-type/account-disabled"} 1`) {
		t.Errorf("A's metrics do not count the applied account-disabled event:\n%s", grepLines(m, "ssf_"))
	}
}

// TestSSFStoreFailureRedelivers: while Redis takes no write (a primary
// with min-replicas-to-write 1 and no replica), a polled SET is not
// acknowledged (the receiver cannot remember it applied), so the
// transmitter delivers it again; once Redis takes writes it is stored,
// acknowledged, and enforced.
func TestSSFStoreFailureRedelivers(t *testing.T) {
	tx := ssftest.New(t)
	rs := startRedis(t)
	up := startUpstream(t)
	c := startCaddy(t, ssfRedisSite, rs.Addr, ssfBlock(tx, "return_immediately"), up.Addr())
	id := ssfStream(t, tx)
	ctx := context.Background()
	if err := rs.Client().ConfigSet(ctx, "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	jti := tx.Send(id, ssftest.Claims(ssftest.RISCAccountDisabled))
	pollUntil(t, 30*time.Second, func() string {
		if !strings.Contains(c.Logs(), "not acknowledged") && !strings.Contains(c.Logs(), "not remembered") {
			return "no SET refused for the store's failure in Caddy's log"
		}
		return ""
	})
	if un := tx.Unacked(id); len(un) != 1 || un[0] != jti {
		t.Fatalf("unacknowledged while Redis takes no write: %v, want [%s]", un, jti)
	}
	if err := rs.Client().ConfigSet(ctx, "min-replicas-to-write", "0").Err(); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, tx, id)
	if n := tx.Deliveries(id, jti); n < 2 {
		t.Errorf("the SET was delivered %d times, want again after the store failed", n)
	}
	ssfWaitStatus(t, c, "the disabled account's token", ssfToken(ssfRISCIssuer, ssfRISCSubject, ""), http.StatusUnauthorized)
}

// TestSSFReloadsLeakNothing: ten reloads of a config with a polling ssf
// block (each with another max_events, so each builds new receivers)
// leave Caddy with no more goroutines, files or Redis connections than
// before (each old receiver's long poll ended, its connections closed),
// reuse the one stream, and the receiver of the last config applies an
// event.
func TestSSFReloadsLeakNothing(t *testing.T) {
	tx := ssftest.New(t)
	rs := startRedis(t)
	up := startUpstream(t)
	c := startCaddy(t, ssfRedisSite, rs.Addr, ssfBlock(tx, "max_events 100"), up.Addr())
	id := ssfStream(t, tx)
	held := func() int {
		tx.Mu.Lock()
		defer tx.Mu.Unlock()
		return len(tx.Polls)
	}
	pollUntil(t, 30*time.Second, func() string {
		if held() == 0 {
			return "no poll held at the transmitter"
		}
		return ""
	})
	base := probeLeaks(t, c, rs.Addr)
	for i := 1; i <= 10; i++ {
		c.Reload(ssfRedisSite, rs.Addr, ssfBlock(tx, fmt.Sprintf("max_events %d", 100+i)), up.Addr())
	}
	noLeakSince(t, c, rs.Addr, base, 4)
	tx.Mu.Lock()
	creates := tx.Creates
	tx.Mu.Unlock()
	if creates != 1 {
		t.Errorf("%d streams created over ten reloads, want the first reused", creates)
	}
	jti := tx.Send(id, ssftest.Claims(ssftest.RISCAccountDisabled))
	ssfWaitStatus(t, c, "the disabled account's token after the reloads", ssfToken(ssfRISCIssuer, ssfRISCSubject, ""), http.StatusUnauthorized)
	waitAcked(t, tx, id)
	if n := ssfApplied(c, jti); n != 1 {
		t.Errorf("the SET was applied %d times, want once", n)
	}
}

// TestSSFLeastPrivilegeRedisACL: with the least-privilege Redis user of
// docs/operations.md, an ssf receiver keeps its state (its keys are in
// the denylist's hash tag, {trv}:signals:...) and applies an event: no
// ACL denial but CONFIG GET's, no NOPERM in the log.
func TestSSFLeastPrivilegeRedisACL(t *testing.T) {
	tx := ssftest.New(t)
	rs := startRedis(t)
	rc := rs.Client()
	ctx := context.Background()
	if err := rc.Do(ctx, append([]any{"ACL", "SETUSER"}, docsRedisACL(t, "trv-pw")...)...).Err(); err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		store redis {
			address %s
			username trv-gateway
			password trv-pw
		}
		%s
	}
	reverse_proxy %s
}`, rs.Addr, ssfBlock(tx, ""), up.Addr())
	id := ssfStream(t, tx)
	tx.Send(id, ssftest.Claims(ssftest.RISCAccountDisabled))
	ssfWaitStatus(t, c, "the disabled account's token", ssfToken(ssfRISCIssuer, ssfRISCSubject, ""), http.StatusUnauthorized)
	waitAcked(t, tx, id)
	noACLDenials(t, rc, map[string]*Caddy{"caddy": c})
}

// TestSSFPushEmbeddedAcrossARestart: on the embedded store, a CAEP
// session-revoked pushed to push_path is answered 202 and makes the
// session's token 401; after a restart the stream is reused (one
// created), the same SET pushed again is refused as received before
// (400 invalid_request: the store remembers it), the token stays
// refused, and a new RISC account-disabled pushed is applied.
func TestSSFPushEmbeddedAcrossARestart(t *testing.T) {
	tx := ssftest.New(t)
	up := startUpstream(t)
	site := `http:// {
	token_revocation {
		%s
	}
	reverse_proxy %s
}`
	c := startCaddy(t, site, "", up.Addr())
	push := c.URL("/ssf/push")
	c.Reload(site, ssfBlock(tx, "delivery push\n\t\t\tpush_path /ssf/push\n\t\t\tpush_url "+push+"\n\t\t\tpush_authorization \"Bearer push-secret\""), up.Addr())
	ssfStream(t, tx)
	pushed := func(set string, want int) {
		t.Helper()
		pollUntil(t, 30*time.Second, func() string {
			if st := tx.Push(push, "Bearer push-secret", set); st != want {
				return fmt.Sprintf("push answered %d, want %d", st, want)
			}
			return ""
		})
	}
	session, user := ssfToken(ssfCAEPIssuer, "someone", ssfCAEPSession), ssfToken(ssfRISCIssuer, ssfRISCSubject, "")
	_, first := tx.Sign(ssftest.Claims(ssftest.CAEPSessionRevokedOpaque), nil)
	pushed(first, http.StatusAccepted)
	if st := ssfStatus(t, c, session); st != http.StatusUnauthorized {
		t.Fatalf("the revoked session's token: %d, want 401", st)
	}

	c.Restart()
	// The receiver starts in the background: a 503 until then. A push
	// with another Content-Type gets its 400 once it has started.
	pollUntil(t, 30*time.Second, func() string {
		if res := do(t, http.MethodPost, push, strings.NewReader(first), "Content-Type: text/plain", "Authorization: Bearer push-secret"); res.Status != http.StatusBadRequest {
			return fmt.Sprintf("the push receiver answered %d after the restart, want it started (400 for a text/plain push)", res.Status)
		}
		return ""
	})
	if res := do(t, http.MethodPost, push, strings.NewReader(first), "Content-Type: application/secevent+jwt", "Authorization: Bearer push-secret"); res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "received before") {
		t.Errorf("the SET pushed again after the restart: %d %s, want 400 received before", res.Status, res.Body)
	}
	if st := ssfStatus(t, c, session); st != http.StatusUnauthorized {
		t.Errorf("the revoked session's token after the restart: %d, want 401", st)
	}
	_, second := tx.Sign(ssftest.Claims(ssftest.RISCAccountDisabled), nil)
	pushed(second, http.StatusAccepted)
	if st := ssfStatus(t, c, user); st != http.StatusUnauthorized {
		t.Errorf("the account disabled after the restart: %d, want 401", st)
	}
	tx.Mu.Lock()
	creates := tx.Creates
	tx.Mu.Unlock()
	if creates != 1 {
		t.Errorf("%d streams created across the restart, want 1", creates)
	}
}

// TestSSFVerify: with verify, the gateway asks the transmitter for a
// verification event once its stream is ready, polls it, acknowledges it
// and counts it as received (and ignored: it revokes nothing); without
// verify (every other test here) it asks none. Fails before the option
// existed: Caddy refuses the unknown ssf option.
func TestSSFVerify(t *testing.T) {
	tx := ssftest.New(t)
	up := startUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		`+ssfBlock(tx, "verify\n\t\t\treturn_immediately")+`
	}
	reverse_proxy %s
}`, up.Addr())
	id := ssfStream(t, tx)
	want := `caddy_token_revocation_ssf_events_total{issuer="` + tx.Issuer + `",outcome="received",type="https://schemas.openid.net/secevent/ssf/event-type/verification"} 1`
	pollUntil(t, 30*time.Second, func() string {
		if m := get(t, c.AdminURL("/metrics")).Body; !strings.Contains(m, want) {
			return "no verification event received in the metrics"
		}
		return ""
	})
	waitAcked(t, tx, id)
	tx.Mu.Lock()
	asked := tx.VerificationsAsked
	tx.Mu.Unlock()
	if asked != 1 {
		t.Errorf("the gateway asked for %d verification events, want 1", asked)
	}
	if !strings.Contains(c.Logs(), "ssf verification event requested") {
		t.Error("Caddy's log does not say it asked for a verification event")
	}
}
