package caddymodule

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/storage"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

func TestCaddyfileCheckMode(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`token_revocation {
	store redis {
		address 127.0.0.1:6379
		check_mode mirror
		max_staleness 250ms
	}
}`))
	if err != nil {
		t.Fatal(err)
	}
	if rc := h.Store.Redis; rc.CheckMode != redisstore.CheckModeMirror || rc.MaxStaleness != 250*time.Millisecond {
		t.Fatalf("parsed %+v", rc)
	}
	for _, bad := range []string{"check_mode", "check_mode sometimes", "check_mode mirror direct", "max_staleness", "max_staleness soon", "max_staleness -1s"} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("token_revocation {\n store redis {\n " + bad + "\n }\n}")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := storage.ResolveRedis(&redisstore.RedisOptions{CheckMode: redisstore.CheckModeDirect, MaxStaleness: time.Second}, caddy.NewReplacer()); err == nil {
		t.Error("max_staleness accepted with check_mode direct")
	}
}

func TestOpenStoreRedisModes(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	logger := zaptest.NewLogger(t)

	open := func(cfg *redisstore.RedisOptions) (denylist.Store, string) {
		t.Helper()
		s, key, err := storage.Open(ctx, &storage.StoreConfig{Redis: cfg}, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = gateway.Stores.Delete(key) })
		return s, key
	}
	// The Redis stores are opened resilient (Caddy starts without Redis);
	// a Redis that answers is open at once.
	current := func(s denylist.Store) denylist.Store {
		t.Helper()
		r, ok := s.(*denylist.Resilient)
		if !ok || r.Current() == nil {
			t.Fatalf("openStore gave %T, want an open *denylist.Resilient", s)
		}
		return r.Current()
	}
	mirror, _ := open(&redisstore.RedisOptions{Addrs: []string{srv.Addr}})
	m, ok := current(mirror).(*redisstore.MirrorStore)
	if !ok {
		t.Fatalf("default check mode gave a %T, want *redisstore.MirrorStore", mirror)
	}
	if denylist.OwnersOf(m) == nil {
		t.Error("the mirror hides the Redis store's owner index")
	}
	again, _ := open(&redisstore.RedisOptions{Addrs: []string{srv.Addr}})
	if again != mirror {
		t.Error("a second config with the same settings did not share the mirror (config reloads would reload it)")
	}
	other := redistest.Start(t)
	if s, _ := open(&redisstore.RedisOptions{Addrs: []string{other.Addr}}); s == mirror {
		t.Error("two different Redis servers share one store")
	}
	direct, _ := open(&redisstore.RedisOptions{Addrs: []string{srv.Addr}, CheckMode: redisstore.CheckModeDirect})
	if _, ok := current(direct).(*redisstore.RedisStore); !ok {
		t.Fatalf("check_mode direct gave a %T, want *redisstore.RedisStore", direct)
	}

	// Either mode sees the other's revocations: they share the data.
	e := denylist.NewEntry(denylist.NewHasher(nil).Key(denylist.KindToken, "", []byte("t")), time.Now(), time.Now().Add(time.Hour))
	if err := direct.Revoke(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	q := &denylist.Query{}
	q.Add(e.Key)
	deadline := time.Now().Add(2 * time.Second)
	for {
		match, err := mirror.Check(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if match.Revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mirror never saw a revocation written in direct mode")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
