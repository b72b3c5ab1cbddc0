package tests

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAdminRevokesClient: the admin API and the CLI revoke every token of
// an OAuth client (azp, or client_id) issued until a cut-off, as a keycloak_admin
// route's client-wide not-before does, on a handler without such a
// route; two instances on one Redis, revoked through A, enforced by B
// (issue 25, item 5).
func TestAdminRevokesClient(t *testing.T) {
	r := startRedis(t)
	up := startUpstream(t)
	a := startCaddy(t, opsCaddyfile, r.Addr, "", up.Addr())
	b := startCaddy(t, opsCaddyfile, r.Addr, "", up.Addr())
	addr := "127.0.0.1:" + strconv.Itoa(a.AdminPort)

	now := time.Now().Unix()
	tok := func(claim, client string, iat int64) string {
		return unsignedJWT(`{"alg":"RS256","typ":"JWT"}`, map[string]any{
			"iss": opsIssuer, "sub": "u-" + randomString(), claim: client, "jti": randomString(), "iat": iat, "exp": now + 3600})
	}
	// The cut-off is compared with iat less the clock skew (5 minutes).
	// An RFC 9068 access token names its client in client_id, not azp.
	before, after, other := tok("azp", "mobile", now-1200), tok("azp", "mobile", now-10), tok("azp", "web", now-1200)
	rfc9068 := tok("client_id", "mobile", now-1200)
	expectStatus(t, b, http.StatusOK, before, after, other, rfc9068)

	// The CLI: the client's tokens issued until the cut-off are refused.
	cutoff := strconv.FormatInt(now-600, 10)
	cliWants(t, 0, "revoked client ", "revoke", "--client", "mobile", "--issuer", opsIssuer, "--cutoff", cutoff, "--address", addr)
	expectStatus(t, b, http.StatusUnauthorized, before, rfc9068)
	expectStatus(t, b, http.StatusOK, after, other)
	if _, errOut, code := cli(t, nil, "", "revoke", "--client", "mobile", "--address", addr); code == 0 || !strings.Contains(errOut, "--client needs --issuer") {
		t.Errorf("revoke --client without --issuer: exit %d %q", code, errOut)
	}
	cliWants(t, 1, "revoked by client ", "check", "--client", "mobile", "--issuer", opsIssuer, "--address", addr)

	// The HTTP API: another client, up to now; check, then unrevoke.
	var rev struct {
		Revoked []opsEntry `json:"revoked"`
	}
	mustAdmin(t, b, "POST", "/token-revocation/revoke", map[string]any{"issuer": opsIssuer, "client": "web"}, &rev)
	if len(rev.Revoked) != 1 || rev.Revoked[0].Kind != "client" || !strings.HasPrefix(rev.Revoked[0].Key, "c:") {
		t.Fatalf("revoke client answered %+v", rev)
	}
	expectStatus(t, a, http.StatusUnauthorized, other, before)
	if e := adminCheck(t, a, map[string]any{"token": other}); e == nil || e.Key != rev.Revoked[0].Key {
		t.Fatalf("check of a token of the revoked client: %+v", e)
	}
	mustAdmin(t, a, "POST", "/token-revocation/unrevoke", map[string]any{"issuer": opsIssuer, "client": "web"}, nil)
	expectStatus(t, b, http.StatusOK, other)
	expectStatus(t, b, http.StatusUnauthorized, before)

	if res := adminJSON(t, a, "POST", "/token-revocation/revoke", map[string]any{"client": "web"}, nil); res.Status != http.StatusBadRequest ||
		!strings.Contains(res.Body, "issuer is required with client") {
		t.Errorf("client without issuer: %d %s", res.Status, res.Body)
	}
}
