package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestLiveConnectionsCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want LiveConnectionsConfig
		err  bool
	}{
		{in: "live_connections off", want: LiveConnectionsConfig{Off: true}},
		{in: "live_connections {\n\t\tclose_on_expiry\n\t\tframe_wait 250ms\n\t}", want: LiveConnectionsConfig{CloseOnExpiry: true, FrameWait: caddy.Duration(250 * time.Millisecond)}},
		{in: "live_connections", want: LiveConnectionsConfig{}},
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
	h.gw.conns = newLiveConns(h.LiveConnections, h.gw.env, h.gw.namespace, h.gw.store)
	b.Cleanup(h.gw.conns.close)
	r := httptest.NewRequest(http.MethodGet, "/api/items?page=2", nil)
	r.Header.Set("Authorization", "Bearer "+benchJWT)
	benchCheckRequest(b, h, r, benchJWT, false)
	if n := h.gw.conns.reg.Len(); n != 0 {
		b.Fatalf("%d short requests registered", n)
	}
}
