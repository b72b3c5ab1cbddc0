package caddymodule

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestBucketSetRefillsAndForgets(t *testing.T) {
	now := time.Unix(1000, 0)
	s := gateway.NewBucketSet(gateway.Rate{Requests: 2, Per: caddy.Duration(time.Second), Burst: 3}, 2)
	s.Now = func() time.Time { return now }
	for i := range 3 {
		if err := s.Take("address", "a"); err != nil {
			t.Fatalf("take %d within the burst: %v", i, err)
		}
	}
	err := s.Take("address", "a")
	var rl *gateway.RateLimited
	if !errors.As(err, &rl) || rl.After != 500*time.Millisecond {
		t.Fatalf("take past the burst: %v, want rate limited for 500ms", err)
	}
	now = now.Add(500 * time.Millisecond) // one token back at 2/s
	if err := s.Take("address", "a"); err != nil {
		t.Fatalf("after refilling: %v", err)
	}
	// Two keys at most: b and c push a out, and a starts over full.
	_ = s.Take("address", "b")
	_ = s.Take("address", "c")
	if len(s.Keys) != 2 || s.Recent.Len() != 2 {
		t.Fatalf("%d keys tracked, want 2", len(s.Keys))
	}
	if _, ok := s.Keys["a"]; ok {
		t.Fatal("the least recently used key was not forgotten")
	}
}

func TestAddressKey(t *testing.T) {
	for remote, want := range map[string]string{
		"203.0.113.7:4711":            "203.0.113.7",
		"[2001:db8:1:2::7]:4711":      "2001:db8:1:2::/64",
		"[::ffff:203.0.113.7]:4711":   "203.0.113.7",
		"127.0.0.1:4711":              "",
		"[::1]:4711":                  "",
		"[2001:db8:1:2:ffff::1]:4711": "2001:db8:1:2::/64",
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.RemoteAddr = remote
		got, ok := gateway.AddressKey(r, defaultExempt(t))
		if got != want || ok != (want != "") {
			t.Errorf("addressKey(%s) = %q, %v; want %q", remote, got, ok, want)
		}
	}
}

func TestBasicCredentialsAreFormURLEncoded(t *testing.T) {
	enc := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tt := range []struct {
		header, id, secret string
		ok, bad            bool
	}{
		{"", "", "", false, false},
		{"Bearer x", "", "", false, false},
		{enc("my+client:p%3Ass+word%25"), "my client", "p:ss word%", true, false},
		{enc("app:%zz"), "", "", false, true},
		{enc("no-colon"), "", "", false, true},
		{"Basic !!!", "", "", false, true},
		{"Basic", "", "", false, true},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		id, secret, ok, err := gateway.BasicCredentials(r)
		if id != tt.id || secret != tt.secret || ok != tt.ok || (err != nil) != tt.bad {
			t.Errorf("%q: %q %q %v %v", tt.header, id, secret, ok, err)
		}
	}
}

func TestClientSetValid(t *testing.T) {
	t.Setenv("TRV_TEST_SECRET", "right")
	clients, err := gateway.NewClientSet([]*gateway.ClientConfig{{ID: "app", Secret: "{env.TRV_TEST_SECRET}"}})
	if err != nil {
		t.Fatal(err)
	}
	if !clients.Valid("app", "right") || clients.Valid("app", "wrong") || clients.Valid("other", "right") {
		t.Fatal("valid() disagrees with the configured secret")
	}
	t.Setenv("TRV_TEST_SECRET", "")
	if _, err := gateway.NewClientSet([]*gateway.ClientConfig{{ID: "app", Secret: "{env.TRV_TEST_SECRET}"}}); err == nil || !strings.Contains(err.Error(), "empty once placeholders are replaced") {
		t.Fatalf("an unset secret: %v", err)
	}
}

func TestGuardCaddyfile(t *testing.T) {
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`token_revocation {
		clients {
			app {env.SECRET}
			other s2
		}
		rate_limit {
			client 10/m 20
			address 5/1s
			max_keys 100
		}
		max_entries 5000
		max_owner_records off
		revoke /r {
			client_auth off
			verified_only
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Clients) != 2 || h.Clients[0].Secret != "{env.SECRET}" || h.MaxEntries != 5000 || h.MaxOwnerRecords != -1 {
		t.Fatalf("parsed %+v", h)
	}
	rl := h.RateLimit
	if rl.Client.Requests != 10 || time.Duration(rl.Client.Per) != time.Minute || rl.Client.Burst != 20 || rl.Address.Requests != 5 || rl.MaxKeys != 100 {
		t.Fatalf("rate_limit parsed as %+v %+v", rl.Client, rl.Address)
	}
	if rt := h.Routes[0]; rt.ClientAuth != "off" || !rt.VerifiedOnly {
		t.Fatalf("route parsed as %+v", rt)
	}
	for _, bad := range []string{
		"rate_limit {\n client 10\n}",
		"rate_limit {\n client 0/s\n}",
		"rate_limit sometimes",
		"max_entries 0",
		"max_entries lots",
		"clients {\n app\n}",
	} {
		if err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser("token_revocation {\n" + bad + "\n}")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestGuardSetupRefuses(t *testing.T) {
	for name, h := range map[string]*Handler{
		"client_auth without clients": {Routes: []*route.Route{{Type: "revoke", Path: "/r", ClientAuth: "required"}}},
		"client_auth in forward mode": {Clients: []*gateway.ClientConfig{{ID: "a", Secret: "s"}}, Routes: []*route.Route{{Type: "revoke", Path: "/r", Mode: "forward", ClientAuth: "required"}}},
		"verified_only without jwt":   {Routes: []*route.Route{{Type: "revoke", Path: "/r", VerifiedOnly: true}}},
		"a client twice":              {Clients: []*gateway.ClientConfig{{ID: "a", Secret: "s"}, {ID: "a", Secret: "t"}}},
	} {
		if err := h.setup(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRevokeNeedsClientWhenClientsAreSet checks the default: with
// clients, a respond-mode revoke route authenticates; without, it does
// not.
func TestRevokeNeedsClientWhenClientsAreSet(t *testing.T) {
	h := newTestHandler(t, &Handler{Clients: []*gateway.ClientConfig{{ID: "app", Secret: "pw"}}, Routes: []*route.Route{{Type: "revoke", Path: "/revoke"}}}, nil)
	res := serve(t, h, nil, formRequest(http.MethodPost, "/revoke", url.Values{"token": {"t1"}}))
	if res.status != http.StatusUnauthorized || !strings.Contains(res.body, "invalid_client") || res.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("unauthenticated: %d %s", res.status, res.body)
	}
	res = serve(t, h, nil, formRequest(http.MethodPost, "/revoke", url.Values{"token": {"t1"}, "client_id": {"app"}, "client_secret": {"pw"}}))
	if res.status != http.StatusOK {
		t.Fatalf("authenticated: %d %s", res.status, res.body)
	}
	open := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/revoke"}}}, nil)
	if res := serve(t, open, nil, formRequest(http.MethodPost, "/revoke", url.Values{"token": {"t1"}})); res.status != http.StatusOK {
		t.Fatalf("without clients: %d %s", res.status, res.body)
	}
}
