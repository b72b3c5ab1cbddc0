package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The zitadel/oidc example OpenID provider (Go module
// github.com/zitadel/oidc/v3, pinned in tests/idp/zitadel/go.mod, a module
// of its own so the gateway's module does not depend on it): its opaque
// access tokens and rotating refresh tokens, revoked through the gateway
// in forward mode.

var (
	zitadelOnce sync.Once
	zitadelBin  string
	zitadelErr  error
)

// zitadelOP builds tests/idp/zitadel once per run.
func zitadelOP(t *testing.T) string {
	t.Helper()
	zitadelOnce.Do(func() {
		dir, err := filepath.Abs("idp/zitadel")
		if err != nil {
			zitadelErr = err
			return
		}
		out, err := os.MkdirTemp("", "zitadel-op-")
		if err != nil {
			zitadelErr = err
			return
		}
		tempDirs.add(out) // removed by TestMain
		zitadelBin = filepath.Join(out, "zitadel-op")
		cmd := exec.Command("go", "build", "-buildvcs=false", "-o", zitadelBin, ".")
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			zitadelErr = fmt.Errorf("go build in %s: %v\n%s", dir, err, b)
		}
	})
	if zitadelErr != nil {
		t.Fatal(zitadelErr)
	}
	return zitadelBin
}

// startZitadelOP runs the example OP on port, for a web client with
// redirect URI redirect.
func startZitadelOP(t *testing.T, port int, redirect string) *syncBuffer {
	t.Helper()
	cmd := exec.Command(zitadelOP(t), fmt.Sprint(port), redirect)
	logs := &syncBuffer{}
	startUntilReady(t, "zitadel example OP", cmd, logs)
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return logs
}

const zitadelCaddyfile = `http:// {
	token_revocation {
		store embedded
		revoke /revoke forward
		oauth_token /oauth/token
	}
	handle /api/* {
		respond "api ok" 200
	}
	reverse_proxy 127.0.0.1:%d
}`

func TestZitadelExampleOP(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	const redirect = "http://127.0.0.1:9/cb"
	op := func(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", ports[0], path) }
	logs := startZitadelOP(t, ports[0], redirect)
	c := startCaddy(t, zitadelCaddyfile, ports[0])
	basic := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("web:secret"))
	token := func(form url.Values) tokenSet {
		t.Helper()
		res := postForm(t, c.URL("/oauth/token"), form, basic)
		var ts tokenSet
		_ = json.Unmarshal([]byte(res.Body), &ts)
		if res.Status != http.StatusOK || ts.AccessToken == "" {
			t.Fatalf("token endpoint (%s): %d %s\n%s", form.Get("grant_type"), res.Status, res.Body, logs.String())
		}
		return ts
	}
	revoke := func(tok string) {
		t.Helper()
		if res := postForm(t, c.URL("/revoke"), url.Values{"token": {tok}}, basic); res.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", res.Status, res.Body)
		}
	}

	// The example's login page, as a browser fills it in.
	b := newBrowser(t)
	q := url.Values{"client_id": {"web"}, "response_type": {"code"}, "scope": {"openid offline_access"}, "redirect_uri": {redirect}, "state": {randomString()}}
	status, next, body := browse(t, b, http.MethodGet, op("/auth?"+q.Encode()), nil)
	u, _ := url.Parse(next)
	if status != http.StatusFound || u == nil || u.Query().Get("authRequestID") == "" {
		t.Fatalf("authorize: %d %s %s", status, next, body)
	}
	status, next, body = browse(t, b, http.MethodPost, op("/login/username"), url.Values{"id": {u.Query().Get("authRequestID")}, "username": {"test-user@127.0.0.1"}, "password": {"verysecure"}})
	if status != http.StatusFound {
		t.Fatalf("login: %d %s", status, body)
	}
	status, next, body = browse(t, b, http.MethodGet, next, nil)
	u, _ = url.Parse(next)
	if status != http.StatusFound || u == nil || u.Query().Get("code") == "" {
		t.Fatalf("callback: %d %s %s", status, next, body)
	}
	ts := token(url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {redirect}})
	if ts.RefreshToken == "" {
		t.Fatalf("no refresh token")
	}
	apiStatus(t, "access token", ts.AccessToken, http.StatusOK, c)

	// Refresh (rotating) through the observed token endpoint.
	rotated := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken}})
	if rotated.RefreshToken == ts.RefreshToken {
		t.Errorf("the refresh token was not rotated")
	}
	apiStatus(t, "refreshed access token", rotated.AccessToken, http.StatusOK, c)

	// RFC 7009 through the gateway: the OP revokes (200), the gateway records.
	revoke(ts.AccessToken)
	apiStatus(t, "revoked access token", ts.AccessToken, http.StatusUnauthorized, c)
	apiStatus(t, "the other access token", rotated.AccessToken, http.StatusOK, c)
	revoke(rotated.RefreshToken)
	apiStatus(t, "access token of a revoked refresh token", rotated.AccessToken, http.StatusUnauthorized, c)
	if res := postForm(t, c.URL("/oauth/token"), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated.RefreshToken}}, basic); res.Status != http.StatusBadRequest {
		t.Errorf("refresh with the revoked refresh token: %d %s, want 400", res.Status, res.Body)
	}
	if strings.Contains(c.Logs(), ts.AccessToken) {
		t.Errorf("a raw token is in Caddy's log")
	}
}
