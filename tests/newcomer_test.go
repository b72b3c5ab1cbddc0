package tests

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// What a newcomer meets first (issue 26): the CLI's output, the example's
// listeners.

// TestCLIIsQuiet: a normal CLI call that reads the admin endpoint from a
// Caddyfile prints its answer and nothing on stderr. On 5278a12 every
// such call printed two JSON log lines there ("using config from file",
// "adapted config to JSON").
func TestCLIIsQuiet(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		revoke /oauth/revoke
	}
	reverse_proxy %s
}`, up.Addr())
	for _, call := range []struct {
		stdin string
		args  []string
		out   string
	}{
		{"quiet-1\n", []string{"revoke", "--token", "-"}, "revoked token "},
		{"quiet-1\n", []string{"check", "--token", "-"}, "revoked by token "},
		{"", []string{"status"}, "embedded"},
	} {
		out, errOut, code := cli(t, nil, call.stdin, append(call.args, "--config", c.Caddyfile)...)
		if !strings.HasPrefix(out, call.out) && !strings.Contains(out, call.out) {
			t.Errorf("%v: stdout %q, want %q", call.args, out, call.out)
		}
		if errOut != "" {
			t.Errorf("%v (exit %d): stderr %q, want nothing", call.args, code, errOut)
		}
	}
	if res := get(t, c.URL("/api"), "Authorization: Bearer quiet-1"); res.Status != http.StatusUnauthorized {
		t.Errorf("the token revoked through the CLI: %d, want 401", res.Status)
	}
}

// TestAdminFormBodyAnswersJSON: `curl -d token=...` to the real admin
// endpoint is answered with a JSON error saying JSON is expected. On
// 5278a12: "invalid character 'o' in literal true".
func TestAdminFormBodyAnswersJSON(t *testing.T) {
	c := startCaddy(t, `http:// {
	token_revocation {
		revoke /oauth/revoke
	}
	respond 200
}`)
	res := postForm(t, c.AdminURL("/token-revocation/revoke"), url.Values{"token": {"form-1"}})
	var ae struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(res.Body), &ae); err != nil {
		t.Fatalf("%d %q is not a JSON error: %v", res.Status, res.Body, err)
	}
	want := "token_revocation: the body is not JSON (it was sent as application/x-www-form-urlencoded): the admin API reads JSON only; send a JSON object"
	if res.Status != http.StatusBadRequest || !strings.HasPrefix(ae.Error, want) {
		t.Errorf("%d %q, want 400 starting with %q", res.Status, ae.Error, want)
	}
}

// TestExampleListensOnLoopback: Caddyfile.example, what `make run` and the
// README's first command start, listens on loopback only (its demo
// gateway trusts any token and its revoke route takes anyone's calls).
// On 5278a12 the gateway listened on :8080, every interface.
func TestExampleListensOnLoopback(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := caddyCmd(t, "", "adapt", "--config", filepath.Join(root, "Caddyfile.example"), "--adapter", "caddyfile")
	if err != nil {
		t.Fatalf("caddy adapt: %v\n%s", err, errOut)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Apps.HTTP.Servers) == 0 {
		t.Fatalf("no servers in:\n%s", out)
	}
	for name, srv := range cfg.Apps.HTTP.Servers {
		for _, l := range srv.Listen {
			host, _, err := net.SplitHostPort(strings.TrimPrefix(l, "tcp/"))
			if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
				t.Errorf("server %s listens on %q: bind it to 127.0.0.1", name, l)
			}
		}
	}
}
