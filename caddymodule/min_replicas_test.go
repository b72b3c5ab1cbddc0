package caddymodule

import (
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/storage"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestCaddyfileMinReplicas(t *testing.T) {
	var h Handler
	d := caddyfile.NewTestDispenser(`token_revocation {
	store redis {
		address 127.0.0.1:26379 127.0.0.1:26380
		master_name m
		min_replicas 1
		replica_timeout 250ms
	}
}`)
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	rc := h.Store.Redis
	if rc.MinReplicas != 1 || rc.ReplicaTimeout != 250*time.Millisecond {
		t.Fatalf("parsed %+v", rc)
	}
	o, err := storage.ResolveRedis(rc, caddy.NewReplacer())
	if err != nil || o.MinReplicas != 1 || o.ReplicaTimeout != 250*time.Millisecond {
		t.Fatalf("options %+v, %v", o, err)
	}
	for _, bad := range []string{"min_replicas", "min_replicas -1", "min_replicas x", "replica_timeout soon"} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("token_revocation {\n store redis {\n " + bad + "\n }\n}"))
		if err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
