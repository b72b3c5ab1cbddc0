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

// statusListCaddyfile: a gateway checking the issuer's tokens against
// their status lists, metrics on. Arguments: store, issuer (twice: its
// jwt block, its /jwks), upstream address.
const statusListCaddyfile = `{
	metrics
}
http:// {
	token_revocation {
		%s
		jwt %s {
			jwks_url %s/jwks
			status_list {
				max_stale 10m
				refresh_min 1s
			}
		}
	}
	reverse_proxy %s
}`

// TestStatusList: a jwt block with status_list checks its issuer's
// verified tokens against their Token Status List, issued by
// @sd-jwt/jwt-status-list (issue 25 item 3): a VALID entry passes to the
// upstream; once the issuer revokes one entry and suspends another and
// the gateway has refreshed the list (ttl 1s), their tokens are answered
// 401, counted under reason status_list; with the issuer down, the list
// held (within max_stale) still enforces, and an entry revoked since is
// not known (its token passes, not refused for want of the list); the
// issuer back and Caddy restarted, the list fetched afresh enforces
// that entry too. On the embedded store, and on Redis under two
// instances: the list is not in the store, each instance fetches it
// itself (the issuer counts one fetch per instance) and enforces the
// same entries. The status list metrics say what each instance holds. On
// 5278a12 Caddy refuses the config: status_list is not a jwt option there.
func TestStatusList(t *testing.T) {
	for _, tc := range sharedStores {
		t.Run(tc.name, func(t *testing.T) { testStatusList(t, tc.store(t), tc.instances) })
	}
}

// statusCase is a token and the status an API call with it gets.
type statusCase struct {
	name, tok string
	want      int
}

func testStatusList(t *testing.T, store string, instances int) {
	iss := startStatusIssuer(t)
	iss.call("POST", "/admin/list?name=api&bits=2&size=1000&ttl=1&exp=3600", nil)
	up := startUpstream(t)
	var cs []*Caddy
	for range instances {
		cs = append(cs, startCaddy(t, statusListCaddyfile, store, iss.base, iss.base, up.Addr()))
	}
	b := cs[len(cs)-1]

	valid, revoked, suspended, later := iss.token("api", 0), iss.token("api", 3), iss.token("api", 5), iss.token("api", 7)
	status := func(c *Caddy, tok string) int {
		return get(t, c.URL("/api/items"), "Authorization: Bearer "+tok).Status
	}
	expect := func(when string, c *Caddy, cases []statusCase) {
		t.Helper()
		for _, tc := range cases {
			if st := status(c, tc.tok); st != tc.want {
				t.Errorf("%s: %s token answered %d, want %d", when, tc.name, st, tc.want)
			}
		}
	}
	for i, c := range cs {
		for name, tok := range map[string]string{"valid": valid, "to be revoked": revoked, "to be suspended": suspended, "revoked later": later} {
			if st := status(c, tok); st != http.StatusOK {
				t.Fatalf("instance %d: %s token before any change: %d, want 200 from the upstream", i, name, st)
			}
		}
	}
	if f := iss.fetches("api"); f != instances {
		t.Errorf("%d fetches of the list for 4 tokens' first requests at %d instances, want one per instance", f, instances)
	}
	uri := iss.base + "/lists/api"
	for i, c := range cs {
		m := get(t, c.AdminURL("/metrics")).Body
		for _, want := range []string{
			`caddy_token_revocation_status_lists{issuer="` + iss.base + `"} 1`,
			`caddy_token_revocation_status_list_fetch_ok{issuer="` + iss.base + `",uri="` + uri + `"} 1`,
			`caddy_token_revocation_status_list_fetch_age_seconds{issuer="` + iss.base + `",uri="` + uri + `"} `,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("instance %d: no %s in its metrics:\n%s", i, want, grepLines(m, "status_list"))
			}
		}
	}

	iss.call("POST", "/admin/status?name=api&idx=3&value=1", nil) // INVALID
	iss.call("POST", "/admin/status?name=api&idx=5&value=2", nil) // SUSPENDED
	for i, c := range cs {
		for name, tok := range map[string]string{"revoked": revoked, "suspended": suspended} {
			pollUntil(t, 30*time.Second, func() string {
				if st := status(c, tok); st != http.StatusUnauthorized {
					return fmt.Sprintf("instance %d: %s token after the list changed: %d, want 401", i, name, st)
				}
				return ""
			})
		}
		res := get(t, c.URL("/api/items"), "Authorization: Bearer "+revoked)
		if !strings.Contains(res.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("instance %d: revoked token's WWW-Authenticate %q, want invalid_token", i, res.Header.Get("WWW-Authenticate"))
		}
		if st := status(c, valid); st != http.StatusOK {
			t.Errorf("instance %d: valid token after the list changed: %d, want 200", i, st)
		}
		if n := rejectedFor(t, c, "status_list"); n == "" || n == "0" {
			t.Errorf("instance %d: requests_rejected_total{reason=\"status_list\"} = %q, want the rejections counted", i, n)
		}
	}

	// The issuer goes down; entry 7 is revoked meanwhile, which the
	// gateway cannot learn. Once a refresh has failed, the list held
	// still answers: revoked and suspended refused, valid (and 7) pass.
	iss.call("POST", "/admin/down?name=api&down=1", nil)
	iss.call("POST", "/admin/status?name=api&idx=7&value=1", nil)
	for i, c := range cs {
		pollUntil(t, 30*time.Second, func() string {
			if !strings.Contains(c.Logs(), "status list not fetched") {
				return fmt.Sprintf("instance %d: no failed refresh of the list logged while the issuer is down", i)
			}
			return ""
		})
		if m := get(t, c.AdminURL("/metrics")).Body; !strings.Contains(m, `caddy_token_revocation_status_list_fetch_ok{issuer="`+iss.base+`",uri="`+uri+`"} 0`) {
			t.Errorf("instance %d: the failed refresh is not in status_list_fetch_ok:\n%s", i, grepLines(m, "status_list"))
		}
		expect(fmt.Sprintf("instance %d: issuer down, within max_stale", i), c, []statusCase{
			{"revoked", revoked, http.StatusUnauthorized},
			{"suspended", suspended, http.StatusUnauthorized},
			{"valid", valid, http.StatusOK},
			{"revoked while the issuer is down", later, http.StatusOK},
		})
	}

	// The issuer back, Caddy restarted: the list is fetched afresh, and
	// the entry revoked while the issuer was down is enforced too.
	iss.call("POST", "/admin/down?name=api&down=0", nil)
	b.Restart()
	expect("after a restart", b, []statusCase{
		{"revoked", revoked, http.StatusUnauthorized},
		{"revoked while the issuer was down", later, http.StatusUnauthorized},
		{"valid", valid, http.StatusOK},
	})
	if got := up.Count(); got == 0 {
		t.Error("the upstream saw no request")
	}
	for i, c := range cs {
		for _, tok := range []string{valid, revoked, suspended} {
			if strings.Contains(c.Logs(), tok) {
				t.Errorf("instance %d: a raw token is in Caddy's log", i)
			}
		}
	}
}
