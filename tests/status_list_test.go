package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/statusissuer"
)

// statusIssuer is statuslist/testdata/issuer/issuer.mjs: Status List
// Tokens made by the OpenWallet Foundation's @sd-jwt/jwt-status-list and
// JWTs pointing at their entries, signed with one ES256 key published at
// /jwks, served by Node on a free loopback port.
type statusIssuer struct {
	t    testing.TB
	base string
}

// startStatusIssuer starts the issuer (internal/statusissuer), or skips
// the test when node or its npm packages are missing, outside CI.
func startStatusIssuer(t testing.TB) *statusIssuer {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return &statusIssuer{t: t, base: statusissuer.Start(t, filepath.Join(root, "statuslist", "testdata", "issuer"))}
}

// call posts (or gets) path at the issuer and decodes its JSON answer.
func (s *statusIssuer) call(method, path string, out any) {
	s.t.Helper()
	res := do(s.t, method, s.base+path, nil)
	if res.Status != http.StatusOK {
		s.t.Fatalf("%s %s: %d %s", method, path, res.Status, res.Body)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(res.Body), out); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *statusIssuer) token(name string, idx int) string {
	var out struct{ Token string }
	s.call("POST", fmt.Sprintf("/admin/token?name=%s&idx=%d", name, idx), &out)
	return out.Token
}

func (s *statusIssuer) fetches(name string) int {
	var out struct{ Fetches int }
	s.call("GET", "/admin/fetches?name="+name, &out)
	return out.Fetches
}

// rejectedFor is the requests_rejected_total sample of reason on c.
func rejectedFor(t testing.TB, c *Caddy, reason string) string {
	t.Helper()
	prefix := `caddy_token_revocation_requests_rejected_total{reason="` + reason + `"} `
	for _, line := range strings.Split(get(t, c.AdminURL("/metrics")).Body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimPrefix(line, prefix)
		}
	}
	return ""
}

// TestStatusList: a jwt block with status_list checks its issuer's
// verified tokens against their Token Status List, issued by
// @sd-jwt/jwt-status-list (issue 25 item 3): a VALID entry passes to the
// upstream; once the issuer revokes one entry and suspends another and
// the gateway has refreshed the list (ttl 1s), their tokens are answered
// 401, counted under reason status_list; with the issuer down, the list
// held (within max_stale) still enforces, and an entry revoked since is
// not known (its token passes, not refused for want of the list); the
// issuer back and Caddy restarted, the list fetched afresh enforces
// that entry too. On
// 5278a12 Caddy refuses the config: status_list is not a jwt option there.
func TestStatusList(t *testing.T) {
	iss := startStatusIssuer(t)
	iss.call("POST", "/admin/list?name=api&bits=2&size=1000&ttl=1&exp=3600", nil)
	up := startUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		store redis {
			address %s
		}
		jwt %s {
			jwks_url %s/jwks
			status_list {
				max_stale 10m
				refresh_min 1s
			}
		}
	}
	reverse_proxy %s
}`, startRedis(t).Addr, iss.base, iss.base, up.Addr())

	valid, revoked, suspended, later := iss.token("api", 0), iss.token("api", 3), iss.token("api", 5), iss.token("api", 7)
	status := func(tok string) int {
		return get(t, c.URL("/api/items"), "Authorization: Bearer "+tok).Status
	}
	for name, tok := range map[string]string{"valid": valid, "to be revoked": revoked, "to be suspended": suspended, "revoked later": later} {
		if st := status(tok); st != http.StatusOK {
			t.Fatalf("%s token before any change: %d, want 200 from the upstream", name, st)
		}
	}
	if f := iss.fetches("api"); f != 1 {
		t.Errorf("%d fetches of the list for 4 tokens' first requests, want 1", f)
	}

	iss.call("POST", "/admin/status?name=api&idx=3&value=1", nil) // INVALID
	iss.call("POST", "/admin/status?name=api&idx=5&value=2", nil) // SUSPENDED
	for name, tok := range map[string]string{"revoked": revoked, "suspended": suspended} {
		pollUntil(t, 30*time.Second, func() string {
			if st := status(tok); st != http.StatusUnauthorized {
				return fmt.Sprintf("%s token after the list changed: %d, want 401", name, st)
			}
			return ""
		})
	}
	res := get(t, c.URL("/api/items"), "Authorization: Bearer "+revoked)
	if !strings.Contains(res.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("revoked token's WWW-Authenticate %q, want invalid_token", res.Header.Get("WWW-Authenticate"))
	}
	if st := status(valid); st != http.StatusOK {
		t.Errorf("valid token after the list changed: %d, want 200", st)
	}
	if n := rejectedFor(t, c, "status_list"); n == "" || n == "0" {
		t.Errorf("requests_rejected_total{reason=\"status_list\"} = %q, want the rejections counted", n)
	}

	// The issuer goes down; entry 7 is revoked meanwhile, which the
	// gateway cannot learn. Once a refresh has failed, the list held
	// still answers: revoked and suspended refused, valid (and 7) pass.
	iss.call("POST", "/admin/down?name=api&down=1", nil)
	iss.call("POST", "/admin/status?name=api&idx=7&value=1", nil)
	pollUntil(t, 30*time.Second, func() string {
		if !strings.Contains(c.Logs(), "status list not fetched") {
			return "no failed refresh of the list logged while the issuer is down"
		}
		return ""
	})
	for _, tc := range []struct {
		name, tok string
		want      int
	}{
		{"revoked", revoked, http.StatusUnauthorized},
		{"suspended", suspended, http.StatusUnauthorized},
		{"valid", valid, http.StatusOK},
		{"revoked while the issuer is down", later, http.StatusOK},
	} {
		if st := status(tc.tok); st != tc.want {
			t.Errorf("issuer down, within max_stale: %s token answered %d, want %d", tc.name, st, tc.want)
		}
	}

	// The issuer back, Caddy restarted: the list is fetched afresh, and
	// the entry revoked while the issuer was down is enforced too.
	iss.call("POST", "/admin/down?name=api&down=0", nil)
	c.Restart()
	for _, tc := range []struct {
		name, tok string
		want      int
	}{
		{"revoked", revoked, http.StatusUnauthorized},
		{"revoked while the issuer was down", later, http.StatusUnauthorized},
		{"valid", valid, http.StatusOK},
	} {
		if st := status(tc.tok); st != tc.want {
			t.Errorf("after a restart: %s token answered %d, want %d", tc.name, st, tc.want)
		}
	}
	if got := up.Count(); got == 0 {
		t.Error("the upstream saw no request")
	}
	for _, tok := range []string{valid, revoked, suspended} {
		if strings.Contains(c.Logs(), tok) {
			t.Error("a raw token is in Caddy's log")
		}
	}
}
