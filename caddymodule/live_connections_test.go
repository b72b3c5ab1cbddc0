package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestLiveConnectionsCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want gateway.LiveConnectionsConfig
		err  bool
	}{
		{in: "live_connections off", want: gateway.LiveConnectionsConfig{Off: true}},
		{in: "live_connections {\n\t\tclose_on_expiry\n\t\tframe_wait 250ms\n\t}", want: gateway.LiveConnectionsConfig{CloseOnExpiry: true, FrameWait: caddy.Duration(250 * time.Millisecond)}},
		{in: "live_connections", want: gateway.LiveConnectionsConfig{}},
		{in: "live_connections on", err: true},
		{in: "live_connections {\n\t\tclose_on_revoke\n\t}", err: true},
	} {
		h := new(Handler)
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("token_revocation {\n\t" + tc.in + "\n}"))
		if tc.err {
			if err == nil {
				t.Errorf("%q: accepted", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if h.LiveConnections == nil || *h.LiveConnections != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.in, h.LiveConnections, tc.want)
		}
	}
}

// BenchmarkCheckJWTLiveConnections is BenchmarkCheckJWT with live
// connections on (the default once provisioned): what a short request
// that passed the check pays for them — the placeholder read and the
// pooled live.Exchange, no registration.
func BenchmarkCheckJWTLiveConnections(b *testing.B) {
	h := newBenchHandler(b, "")
	h.gw.Conns = gateway.NewLiveConns(h.LiveConnections, h.gw.Env, h.gw.Namespace, h.gw.Store)
	b.Cleanup(h.gw.Conns.Close)
	r := httptest.NewRequest(http.MethodGet, "/api/items?page=2", nil)
	r.Header.Set("Authorization", "Bearer "+benchJWT)
	benchCheckRequest(b, h, r, benchJWT, false)
	if n := h.gw.Conns.Reg.Len(); n != 0 {
		b.Fatalf("%d short requests registered", n)
	}
}
