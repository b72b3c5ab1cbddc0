package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRevokeOwnTokensOnly: with client authentication on, a client
// revokes only its own tokens (RFC 7009 section 2.1). panva's
// oidc-provider issues a JWT access token (RFC 9068, client_id claim) to
// its client "worker"; client "app", authenticated at the gateway's
// respond-mode revoke route, is refused with 400 unauthorized_client (RFC
// 6749 section 5.2) and the token stays valid; "worker" revokes it
// (issue 25, item 5).
func TestRevokeOwnTokensOnly(t *testing.T) {
	const workerSecret = "worker-secret-worker-secret-worker"
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	c := startCaddy(t, `http:// {
	token_revocation {
		store embedded
		revoke /oauth/revoke
		clients {
			app %s
			worker %s
		}
		jwt http://127.0.0.1:%d {
			audience https://api.test
		}
	}
	handle /api/* {
		respond "api ok" 200
	}
	respond 404
}`, opSecret, workerSecret, ports[0])
	op := startOIDCProvider(t, ports[0], c.URL("/backchannel"))

	basic := func(id, secret string) string {
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	res := postForm(t, op.url("/token"), url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}, "resource": {opResource}}, basic("worker", workerSecret))
	var ts tokenSet
	if err := json.Unmarshal([]byte(res.Body), &ts); err != nil || res.Status != http.StatusOK || strings.Count(ts.AccessToken, ".") != 2 {
		t.Fatalf("worker's client_credentials: %d %s", res.Status, res.Body)
	}
	workerAT := ts.AccessToken
	apiStatus(t, "worker's access token", workerAT, http.StatusOK, c)

	// app revokes worker's token: refused, nothing stored. A 503 means the
	// OP's keys were not fetched yet: a client tries again, and so does
	// this test.
	pollUntil(t, opReadyAfter, func() string {
		res = postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {workerAT}}, basic("app", opSecret))
		if res.Status == http.StatusServiceUnavailable {
			return fmt.Sprintf("revoke: %d %s", res.Status, res.Body)
		}
		return ""
	})
	var oe struct {
		Error string `json:"error"`
	}
	if res.Status != http.StatusBadRequest || json.Unmarshal([]byte(res.Body), &oe) != nil || oe.Error != "unauthorized_client" {
		t.Fatalf("app revoking worker's token: %d %s, want 400 unauthorized_client", res.Status, res.Body)
	}
	apiStatus(t, "worker's token after app's refused revocation", workerAT, http.StatusOK, c)

	// client_secret_post, same answer.
	res = postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {workerAT}, "client_id": {"app"}, "client_secret": {opSecret}})
	if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "unauthorized_client") {
		t.Fatalf("app revoking worker's token (client_secret_post): %d %s", res.Status, res.Body)
	}

	// app's own token (client_id app) is app's to revoke.
	appAT := op.clientCredentials(t, opResource)
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {appAT}}, basic("app", opSecret)); res.Status != http.StatusOK {
		t.Fatalf("app revoking its own token: %d %s", res.Status, res.Body)
	}
	apiStatus(t, "app's revoked token", appAT, http.StatusUnauthorized, c)

	// worker revokes its own.
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {workerAT}}, basic("worker", workerSecret)); res.Status != http.StatusOK {
		t.Fatalf("worker revoking its own token: %d %s", res.Status, res.Body)
	}
	apiStatus(t, "worker's revoked token", workerAT, http.StatusUnauthorized, c)
	m := get(t, c.AdminURL("/metrics")).Body
	if !strings.Contains(m, `caddy_token_revocation_refused_total{reason="unauthorized_client"} 2`) {
		t.Errorf("metrics: no refused_total{reason=\"unauthorized_client\"} 2")
	}
}
