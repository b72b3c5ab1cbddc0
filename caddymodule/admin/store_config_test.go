package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap/zaptest"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/storage"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// The Redis settings read durations as caddy.Duration does, without
// importing Caddy into denylist.
func TestRedisDurationsAsCaddy(t *testing.T) {
	for _, in := range []string{"2s", "1d", "1.5d", "1d12h", "2h1d", "-1d", "250ms", "1h30m", "", "d", "soon", "1x", "0.5d30m"} {
		want, wantErr := caddy.ParseDuration(in)
		got, err := redisstore.ParseDuration(in)
		if got != want || (err == nil) != (wantErr == nil) {
			t.Errorf("%q: denylist %s, %v; caddy %s, %v", in, got, err, want, wantErr)
		}
		var cd caddy.Duration
		var sc storage.StoreConfig
		b, _ := json.Marshal(in)
		cerr := json.Unmarshal(b, &cd)
		derr := caddy.StrictUnmarshalJSON([]byte(`{"redis":{"dial_timeout":`+string(b)+`}}`), &sc)
		if (cerr == nil) != (derr == nil) || (derr == nil && sc.Redis.DialTimeout != time.Duration(cd)) {
			t.Errorf("JSON %s: store config %v, %v; caddy.Duration %s, %v", b, sc.Redis, derr, time.Duration(cd), cerr)
		}
	}
	var sc storage.StoreConfig
	if err := caddy.StrictUnmarshalJSON([]byte(`{"redis":{"read_timeout":1500000000}}`), &sc); err != nil || sc.Redis.ReadTimeout != 1500*time.Millisecond {
		t.Errorf("integer nanoseconds: %+v, %v", sc.Redis, err)
	}
	if err := caddy.StrictUnmarshalJSON([]byte(`{"redis":{"adresses":["a:1"]}}`), &sc); err == nil {
		t.Error("unknown redis field accepted")
	}
}

func TestResolveRedis(t *testing.T) {
	t.Setenv("TRV_TEST_REDIS_ADDR", "10.0.0.1:6380")
	t.Setenv("TRV_TEST_REDIS_PREFIX", "tenant")
	repl := caddy.NewReplacer()
	in := &redisstore.RedisOptions{Addrs: []string{"{env.TRV_TEST_REDIS_ADDR}"}, KeyPrefix: "{env.TRV_TEST_REDIS_PREFIX}", Password: "{env.TRV_TEST_REDIS_ADDR}"}
	r, err := storage.ResolveRedis(in, repl)
	if err != nil {
		t.Fatal(err)
	}
	if r.Addrs[0] != "10.0.0.1:6380" || r.KeyPrefix != "tenant" || r.Password != "10.0.0.1:6380" {
		t.Fatalf("resolved %+v", r)
	}
	if in.Addrs[0] != "{env.TRV_TEST_REDIS_ADDR}" {
		t.Error("resolveRedis changed the config it was given")
	}
	if got := r.Label(); got != "redis:10.0.0.1:6380/tenant" {
		t.Errorf("label %q", got)
	}
	if d, err := storage.ResolveRedis(&redisstore.RedisOptions{}, repl); err != nil || len(d.Addrs) != 1 || d.Addrs[0] != redisstore.DefaultRedisAddress || d.KeyPrefix != "" {
		t.Errorf("no address: %+v, %v (want the default address, the prefix left for the outbox name)", d, err)
	}
	for _, bad := range []*redisstore.RedisOptions{
		{EvictionPolicy: "ignore"},
		{Cluster: true, MasterName: "m"},
		{CheckMode: "sometimes"},
		{TLS: &redisstore.RedisTLS{CAFile: "/nonexistent/ca.pem"}},
	} {
		if _, err := storage.ResolveRedis(bad, repl); err == nil || !strings.HasPrefix(err.Error(), "token_revocation: redis") {
			t.Errorf("resolveRedis(%+v): %v", bad, err)
		}
	}
}

// TestRedisErrorsPrefixedOnce: what the module says of a Redis it cannot
// use starts "token_revocation: " once, whether the load fails (an
// evicting Redis under eviction_policy refuse) or the config serves while
// the store opens in the background (readiness says why). Before the fix
// the module prefixed OpenRedis's errors where the store kept them too, and
// readiness read "token_revocation: not ready: ...: token_revocation: ...".
func TestRedisErrorsPrefixedOnce(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir()) // the outbox's directory
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	logger := zaptest.NewLogger(t)
	once := func(what, msg string) {
		t.Helper()
		if !strings.HasPrefix(msg, "token_revocation: ") || strings.Count(msg, "token_revocation:") != 1 {
			t.Errorf("%s: %q, want it to start with exactly one \"token_revocation: \"", what, msg)
		}
	}
	srv := redistest.Start(t, "--maxmemory-policy", "allkeys-lru")
	opts := func(prefix string) *storage.StoreConfig {
		return &storage.StoreConfig{Redis: &redisstore.RedisOptions{Addrs: []string{srv.Addr}, KeyPrefix: prefix, EvictionPolicy: redisstore.EvictionPolicyRefuse}}
	}
	if _, _, err := storage.Open(ctx, opts("refused"), logger); err == nil {
		t.Fatal("an evicting Redis under eviction_policy refuse was opened")
	} else {
		once("the load's error", err.Error())
	}

	srv.Stop()
	s, key, err := storage.Open(ctx, opts("later"), logger)
	if err != nil {
		t.Fatalf("an unreachable Redis failed the load: %v", err)
	}
	t.Cleanup(func() { _, _ = gateway.Stores.Delete(key) })
	why := func() string {
		ok, reason := storage.StoreReady(s)
		if ok {
			t.Fatal("ready without Redis")
		}
		return apiError(http.StatusServiceUnavailable, "not ready: %s", "redis: "+reason).Error()
	}
	waitUntil(t, func() bool { return strings.Contains(why(), "connection refused") })
	once("readiness, Redis unreachable", why())
	srv.Restart() // answers now, but evicts: refused in the background
	waitUntil(t, func() bool { return strings.Contains(why(), "maxmemory-policy") })
	once("readiness, Redis refused", why())
}

// waitUntil polls cond until it holds, failing t after 15s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
