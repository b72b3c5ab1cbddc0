package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBackchannelLogoutNewKeyWithinMinRefresh: panva's oidc-provider
// rotates its signing key (a restart) within jwks_min_refresh (the
// default, 10s) of the gateway's last JWKS fetch, and logs a session out:
// its back-channel logout token names a kid the gateway does not know
// and may not fetch yet. The OP does not send it again (and gives up
// after 2.5s), so the gateway waits for the floor, fetches once more,
// verifies and records it: the session's access token is refused, on
// both instances sharing Redis (issue 25, item 5).
func TestBackchannelLogoutNewKeyWithinMinRefresh(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	redis := startRedis(t).Addr
	// The OP first, so that the gateways fetch its first key as they
	// start; its back-channel URI is set once they listen.
	op := startOIDCProvider(t, ports[0], "http://127.0.0.1:9/backchannel")
	caddyfile := `http:// {
	token_revocation {
		store redis {
			address %s
		}
		backchannel_logout /backchannel
		jwt http://127.0.0.1:%d {
			audience https://api.test app
		}
	}
	handle /api/* {
		respond "api ok" 200
	}
	respond 404
}`
	a := startCaddy(t, caddyfile, redis, ports[0])
	b := startCaddy(t, caddyfile, redis, ports[0])

	// The key rotation, moments after the gateways fetched the JWKS.
	cfg, _ := json.Marshal(map[string]string{"backchannel_logout_uri": a.URL("/backchannel"), "redirect_uri": "http://127.0.0.1:9/cb"})
	op.cfg = string(cfg)
	op.restart()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("oidc-provider output:\n%s", op.logs.String())
		}
	})
	browser := newBrowser(t)
	ts := op.login(t, browser, "dave", op.url("/token"))
	other := op.login(t, newBrowser(t), "erin", op.url("/token"))
	apiStatus(t, "access token before logout", ts.AccessToken, http.StatusOK, a, b)
	op.rpLogout(t, browser, ts.IDToken)

	// The gateway answers once it has fetched the new key: up to 10s
	// after its first fetch.
	for i, c := range []*Caddy{a, b} {
		pollUntil(t, 30*time.Second, func() string {
			if res := get(t, c.URL("/api/items"), "Authorization: Bearer "+ts.AccessToken); res.Status != http.StatusUnauthorized {
				return fmt.Sprintf("instance %d: the session's access token: %d %s, want 401 (the back-channel logout was lost)", i, res.Status, res.Body)
			}
			return ""
		})
	}
	apiStatus(t, "another session's access token", other.AccessToken, http.StatusOK, a, b)
	if strings.Contains(a.Logs(), ts.AccessToken) {
		t.Error("a raw token is in Caddy's log")
	}
}
