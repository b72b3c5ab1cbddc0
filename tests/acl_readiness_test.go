package tests

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReadinessFallsWhenScriptCommandDenied (issue 23, item 7): a Redis
// ACL user that may EVALSHA but not run a command the revocation script
// calls (XADD) lets every check through and fails every revocation with
// NOPERM; readiness must say so (503, the reason naming NOPERM, the
// store_ready gauge 0) rather than 200, and come back once the ACL grants
// the command and a revocation is stored. (Before: 200 throughout.)
func TestReadinessFallsWhenScriptCommandDenied(t *testing.T) {
	r := startRedis(t)
	rc := r.Client()
	ctx := context.Background()
	acl := slices.DeleteFunc(docsRedisACL(t, "trv-pw"), func(a any) bool { return a == "+xadd" })
	if err := rc.Do(ctx, append([]any{"ACL", "SETUSER"}, acl...)...).Err(); err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t)
	auth := "\n\t\t\tusername trv-gateway\n\t\t\tpassword trv-pw"
	c := startCaddy(t, gatewayCaddyfile, "store redis {\n\t\t\taddress "+r.Addr+auth+"\n\t\t}", "respond", "respond", up.Addr())
	waitStatus(t, 30*time.Second, http.StatusOK, func() Response { return get(t, c.AdminURL("/token-revocation/ready")) })

	res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"acl-denied"}})
	if res.Status != http.StatusServiceUnavailable {
		t.Fatalf("a revocation the ACL denies: %d %s, want 503", res.Status, res.Body)
	}
	ready := get(t, c.AdminURL("/token-revocation/ready"))
	t.Logf("readiness after the revocation failed: %d %s", ready.Status, ready.Body)
	if ready.Status != http.StatusServiceUnavailable || !strings.Contains(ready.Body, "NOPERM") || !strings.Contains(ready.Body, "ACL") {
		t.Errorf("readiness while every revocation fails with NOPERM: %d %s, want 503 naming NOPERM", ready.Status, ready.Body)
	}
	if v := metricValue(t, c, "caddy_token_revocation_store_ready"); v != 0 {
		t.Errorf("caddy_token_revocation_store_ready while every revocation fails with NOPERM: %v, want 0", v)
	}

	if err := rc.Do(ctx, "ACL", "SETUSER", "trv-gateway", "+xadd").Err(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, 30*time.Second, http.StatusOK, func() Response {
		return postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {"acl-granted"}})
	})
	if ready := get(t, c.AdminURL("/token-revocation/ready")); ready.Status != http.StatusOK {
		t.Errorf("readiness once revocations are stored again: %d %s", ready.Status, ready.Body)
	}
	if v := metricValue(t, c, "caddy_token_revocation_store_ready"); v != 1 {
		t.Errorf("caddy_token_revocation_store_ready once revocations are stored again: %v, want 1", v)
	}
	if res := get(t, c.URL("/api"), "Authorization: Bearer acl-granted"); res.Status != http.StatusUnauthorized {
		t.Errorf("the token revoked once the ACL allows it: %d", res.Status)
	}
}
