package caddymodule

import (
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"net/http"
	"net/url"
	"testing"
)

// TestScanSparesWhatACallRevokes: a forward-mode revocation of a token
// already revoked reaches the upstream (RFC 7009 §2.2: its answer), where
// the whole-request scan would have refused it; the same token in a
// header is still refused. A token endpoint call carrying a revoked
// token is answered 400 invalid_grant.
func TestScanSparesWhatACallRevokes(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r-revoked"
	h := newTestHandler(t, &Handler{Routes: []*route.Route{
		{Type: "revoke", Path: "/oauth/revoke"},
		{Type: "revoke", Path: "/idp/revoke", Mode: route.ModeForward},
	}}, nil)
	up := &upstream{}
	if res := serve(t, h, up, formRequest("POST", "/oauth/revoke", url.Values{"token": {tok}})); res.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}
	before := up.reached()
	if res := serve(t, h, up, formRequest("POST", "/idp/revoke", url.Values{"token": {tok}})); res.status != http.StatusOK || up.reached() != before+1 {
		t.Errorf("a forward revocation of a revoked token: %d %s (upstream reached %d times), want the upstream's answer", res.status, res.body, up.reached()-before)
	}
	r := formRequest("POST", "/idp/revoke", url.Values{"token": {tok}})
	r.Header.Set("X-Api-Key", tok)
	mustReject(t, h, up, "the revoked token as a header of a forward revocation", r)
	res := serve(t, h, up, formRequest("POST", "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}))
	if res.status != http.StatusBadRequest || res.body != `{"error":"invalid_grant","error_description":"token revoked"}` {
		t.Errorf("a token endpoint call with a revoked refresh token: %d %s, want 400 invalid_grant", res.status, res.body)
	}
	mustReject(t, h, up, "the revoked token in a custom header", get("/api", "X-Whatever", "k="+tok))
}
