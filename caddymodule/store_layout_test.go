package caddymodule

import (
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/storage"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
)

// TestCaddyfileRedisLayout: partitions, layout and capacity reach the
// Redis options, and wrong values are refused when the options are
// resolved (as at provision).
func TestCaddyfileRedisLayout(t *testing.T) {
	parse := func(body string) (*redisstore.RedisOptions, error) {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("token_revocation {\n store redis {\n address 127.0.0.1:7000\n cluster\n " + body + "\n }\n}"))
		return h.Store.Redis, err
	}
	rc, err := parse("partitions 3\n layout compact\n capacity 10000000")
	if err != nil {
		t.Fatal(err)
	}
	o, err := storage.ResolveRedis(rc, caddy.NewReplacer())
	if err != nil || o.Partitions != 3 || o.Layout != redisstore.LayoutCompact || o.Capacity != 10_000_000 {
		t.Fatalf("options %+v, %v", o, err)
	}
	for _, bad := range []string{"partitions", "partitions x", "layout", "capacity x"} {
		if _, err := parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, bad := range []string{"partitions -1", "partitions 100000", "layout tiny", "capacity -5"} {
		rc, err := parse(bad)
		if err == nil {
			_, err = storage.ResolveRedis(rc, caddy.NewReplacer())
		}
		if err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
