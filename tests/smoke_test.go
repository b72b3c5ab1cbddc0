package tests

import (
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
)

// TestSmoke proves the harness with standard directives only: requests go
// through Caddy's reverse_proxy to the echo upstream unchanged, and the
// instance survives Reload, Restart and Kill on the same ports.
func TestSmoke(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, `http:// {
	reverse_proxy %s
}`, up.Addr())

	tests := []struct {
		name     string
		send     func() Response
		wantEcho Echo
	}{
		{
			name: "GET with two Authorization headers and a query",
			send: func() Response {
				return get(t, c.URL("/api/items?access_token=q1&x=1"),
					"Authorization: Bearer one", "Authorization: Bearer two")
			},
			wantEcho: Echo{Method: "GET", Path: "/api/items", RawQuery: "access_token=q1&x=1",
				Authorization: []string{"Bearer one", "Bearer two"}},
		},
		{
			name: "POST form",
			send: func() Response {
				return postForm(t, c.URL("/revoke"), url.Values{"token": {"abc"}, "token_type_hint": {"access_token"}})
			},
			wantEcho: Echo{Method: "POST", Path: "/revoke", Body: "token=abc&token_type_hint=access_token"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.Count()
			res := tt.send()
			if res.Status != http.StatusOK {
				t.Fatalf("status %d, want 200; body:\n%s", res.Status, res.Body)
			}
			if up.Count() != before+1 {
				t.Fatalf("upstream saw %d requests, want 1", up.Count()-before)
			}
			got := up.Last(t)
			if e := res.Echo(t); e.Path != got.Path || e.Body != got.Body {
				t.Errorf("response echo %+v differs from the recorded request %+v", e, got)
			}
			want := tt.wantEcho
			if got.Method != want.Method || got.Path != want.Path || got.RawQuery != want.RawQuery || got.Body != want.Body ||
				strings.Join(got.Authorization, "|") != strings.Join(want.Authorization, "|") {
				t.Errorf("upstream saw\n%+v\nwant\n%+v", got, want)
			}
		})
	}

	// Reload: a new header shows the new config is live on the same port.
	c.Reload(`http:// {
	header X-Smoke reloaded
	reverse_proxy %s
}`, up.Addr())
	if res := get(t, c.URL("/after-reload")); res.Header.Get("X-Smoke") != "reloaded" || res.Status != http.StatusOK {
		t.Fatalf("after reload: status %d, X-Smoke %q", res.Status, res.Header.Get("X-Smoke"))
	}
	if err := c.TryReload(`http:// {
	no_such_directive
}`); err == nil {
		t.Error("reload of an invalid Caddyfile succeeded")
	}
	if res := get(t, c.URL("/after-bad-reload")); res.Header.Get("X-Smoke") != "reloaded" {
		t.Fatalf("a rejected reload changed the running config: X-Smoke %q", res.Header.Get("X-Smoke"))
	}

	// Restart and Kill keep the ports; the admin endpoint answers again.
	c.Reload(`http:// {
	reverse_proxy %s
}`, up.Addr())
	c.Restart()
	if res := get(t, c.URL("/after-restart"), "Authorization: Bearer r"); res.Status != http.StatusOK || up.Last(t).Path != "/after-restart" {
		t.Fatalf("after restart: status %d, upstream last saw %q", res.Status, up.Last(t).Path)
	}
	c.Kill()
	if c.Running() {
		t.Fatal("caddy still running after Kill")
	}
	if _, err := tryDo("GET", c.URL("/"), nil); err == nil {
		t.Fatal("request succeeded while caddy was killed")
	}
	c.Restart()
	if res := get(t, c.AdminURL("/config/")); res.Status != http.StatusOK || !strings.Contains(res.Body, "reverse_proxy") {
		t.Fatalf("admin /config/ after kill and restart: status %d\n%s", res.Status, res.Body)
	}
	if !strings.Contains(c.Logs(), "caddy start #3") {
		t.Errorf("logs do not record three starts:\n%s", c.Logs())
	}
}

// TestBinaryHasModule checks that the binary under test registers the
// product's handler, so a binary built without it fails with a clear
// message rather than as a Caddyfile parse error in every e2e test.
func TestBinaryHasModule(t *testing.T) {
	out, err := exec.Command(caddyBinary(t), "list-modules", "--packages").CombinedOutput()
	if err != nil {
		t.Fatalf("caddy list-modules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "http.handlers.token_revocation") {
		t.Fatalf("the caddy binary does not register http.handlers.token_revocation; modules:\n%s", out)
	}
}
