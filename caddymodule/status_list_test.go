package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap/zaptest"
)

// TestStatusListCaddyfile: every status_list option is read into
// JWTConfig.StatusList, and a wrong one is refused saying what to write.
func TestStatusListCaddyfile(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`token_revocation {
		jwt https://idp.test {
			jwks_url https://idp.test/jwks
			status_list {
				allow_hosts idp.test *.lists.test
				max_stale 20m
				first_fetch_wait 2s
				fetch_timeout 3s
				max_size 1MiB
				refresh_min 5s
				refresh_max 30m
				max_lists 10
			}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &gateway.StatusListConfig{
		AllowHosts: []string{"idp.test", "*.lists.test"}, MaxStale: caddy.Duration(20 * time.Minute),
		FirstFetchWait: caddy.Duration(2 * time.Second), FetchTimeout: caddy.Duration(3 * time.Second),
		MaxSize: 1 << 20, RefreshMin: caddy.Duration(5 * time.Second), RefreshMax: caddy.Duration(30 * time.Minute), MaxLists: 10,
	}
	got, _ := json.Marshal(h.JWT[0].StatusList)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("status_list:\n got %s\nwant %s", got, exp)
	}
	for input, want := range map[string]string{
		"token_revocation {\n jwt i {\n status_list x\n }\n }":                         "status_list takes no argument",
		"token_revocation {\n jwt i {\n status_list {\n max_stal 1m\n }\n }\n }":       "did you mean max_stale?",
		"token_revocation {\n jwt i {\n status_list {\n max_stale soon\n }\n }\n }":    "want a duration",
		"token_revocation {\n jwt i {\n status_list {\n max_lists many\n }\n }\n }":    "want a whole number",
		"token_revocation {\n jwt i {\n status_list {\n max_size huge\n }\n }\n }":     "want a size",
		"token_revocation {\n jwt i {\n status_list {\n allow_hosts\n }\n }\n }":       "allow_hosts",
		"token_revocation {\n jwt i {\n status_lists {\n allow_hosts x\n }\n }\n }":    "did you mean status_list?",
		"token_revocation {\n jwt i {\n status_list {\n refresh_min 1s 2s\n }\n }\n }": "refresh_min",
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "token_revocation: ") {
			t.Errorf("%q: %v, want a token_revocation: error saying %q", input, err, want)
		}
	}
}

// TestStatusListProvisionErrors: a status_list the Checker refuses stops
// the config, saying which jwt block and what to fix.
func TestStatusListProvisionErrors(t *testing.T) {
	for name, c := range map[string]struct {
		sc   gateway.StatusListConfig
		want string
	}{
		"refresh":     {gateway.StatusListConfig{RefreshMin: caddy.Duration(time.Hour), RefreshMax: caddy.Duration(time.Minute)}, "refresh_min 1h0m0s is above refresh_max 1m0s"},
		"allow_hosts": {gateway.StatusListConfig{AllowHosts: []string{"https://idp.test/lists"}}, "allow_hosts"},
	} {
		sc := c.sc
		h := &Handler{JWT: []*gateway.JWTConfig{{Issuer: testIssuer, JWKSURL: "http://127.0.0.1:9/jwks", StatusList: &sc}}}
		h.logger = zaptest.NewLogger(t)
		err := h.setup()
		if err == nil || !strings.HasPrefix(err.Error(), `token_revocation: jwt "`+testIssuer+`": status_list: `) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want the jwt block, status_list and %q", name, err, c.want)
		}
		if h.gw.Verifier != nil {
			t.Errorf("%s: the verifiers are kept after the error", name)
		}
	}
}

// TestStatusListUnknownIsFailMode: a verified token whose list cannot be
// fetched is answered as fail_mode says (closed 503, open 200); a token
// without a status claim, and a forged one (another key) naming a list,
// pass without a fetch; the lists are closed with the handler.
func TestStatusListUnknownIsFailMode(t *testing.T) {
	p := newIdP(t)
	var mu sync.Mutex
	fetched := map[string]int{}
	lists := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched[r.URL.Path]++
		mu.Unlock()
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(lists.Close)
	host := strings.TrimPrefix(lists.URL, "http://")
	withStatus := func(path string) map[string]any {
		return map[string]any{"status": map[string]any{"status_list": map[string]any{"idx": 1, "uri": lists.URL + path}}}
	}
	fetches := func(path string) int {
		mu.Lock()
		defer mu.Unlock()
		return fetched[path]
	}
	for _, mode := range []string{FailClosed, FailOpen} {
		t.Run(mode, func(t *testing.T) {
			h := newTestHandler(t, &Handler{FailMode: mode, JWT: []*gateway.JWTConfig{{Issuer: testIssuer, JWKSURL: p.jwks.URL, Audiences: []string{"gw"},
				StatusList: &gateway.StatusListConfig{AllowHosts: []string{host}, FirstFetchWait: caddy.Duration(200 * time.Millisecond)}}}}, nil)
			t.Cleanup(func() { h.gw.Status.Close() })
			want := http.StatusServiceUnavailable
			if mode == FailOpen {
				want = http.StatusOK
			}
			tok := sign(t, p.key, "JWT", withStatus("/lists/"+mode))
			for i := range 2 {
				if got := status(t, h, tok); got != want {
					t.Errorf("request %d of a token whose list is down: %d, want %d", i+1, got, want)
				}
			}
			if fetches("/lists/"+mode) == 0 {
				t.Error("the list was never fetched")
			}
			if got := status(t, h, sign(t, p.key, "JWT", nil)); got != http.StatusOK {
				t.Errorf("a token without status claim: %d, want 200", got)
			}
			otherAud := withStatus("/lists/" + mode)
			otherAud["aud"] = "another-api"
			if got := status(t, h, sign(t, p.key, "JWT", otherAud)); got != want {
				t.Errorf("a token of the issuer for another audience, its list down: %d, want %d (checked too)", got, want)
			}
			forged := sign(t, otherKey, "JWT", withStatus("/lists/forged-"+mode))
			if got := status(t, h, forged); got != http.StatusOK {
				t.Errorf("a forged token naming a list: %d, want 200 (the upstream refuses it)", got)
			}
			if n := fetches("/lists/forged-" + mode); n != 0 {
				t.Errorf("a forged token's list was fetched %d times, want never", n)
			}
		})
	}
}
