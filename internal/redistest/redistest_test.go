package redistest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartDefaults(t *testing.T) {
	ctx := context.Background()
	s := Start(t, "--maxmemory-policy", "allkeys-lru")
	if s.Port == 0 || s.Addr != "127.0.0.1:"+strconv.Itoa(s.Port) {
		t.Fatalf("Addr %q, Port %d", s.Addr, s.Port)
	}
	c := s.Client()
	cfg, err := c.ConfigGet(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"save": "", "appendonly": "no", "bind": "127.0.0.1",
		"port": strconv.Itoa(s.Port), "dir": s.Dir, "maxmemory-policy": "allkeys-lru",
	} {
		if cfg[k] != want {
			t.Errorf("config %s = %q, want %q", k, cfg[k], want)
		}
	}
}

func TestTwoServersDistinctPorts(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Port == b.Port {
		t.Fatalf("both servers on port %d", a.Port)
	}
	ctx := context.Background()
	if err := a.Client().Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Client().Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("second server sees the first one's key: %v", err)
	}
}

func TestStopAndRestartLosesData(t *testing.T) {
	ctx := context.Background()
	s := Start(t)
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := c.Ping(pctx).Err(); err == nil {
		t.Fatal("PING answered after Stop")
	}
	s.Stop() // idempotent
	port := s.Port
	s.Restart()
	if s.Port != port {
		t.Fatalf("port changed on restart: %d -> %d", port, s.Port)
	}
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("key survived a restart without persistence: %v", err)
	}
}

func TestRestartKeepsDataWithAOF(t *testing.T) {
	ctx := context.Background()
	s := StartConfig(t, "appendonly yes\nappendfsync always\n")
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after restart with AOF: %q, %v", v, err)
	}
}

func TestReplicaAndSentinel(t *testing.T) {
	ctx := context.Background()
	primary := Start(t, "--repl-diskless-sync-delay", "0")
	replica := Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port))
	sentinel := StartConfig(t, "sentinel monitor mymaster 127.0.0.1 "+strconv.Itoa(primary.Port)+" 1\n", "--sentinel")

	if err := primary.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rc := replica.Client()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := rc.Get(ctx, "k").Result()
		if err == nil && v == "v" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica never received the key: %q, %v\n%s", v, err, replica.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}

	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.Addr})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(ctx, "mymaster").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(addr, ":") != primary.Addr {
		t.Fatalf("sentinel reports master %v, want %s", addr, primary.Addr)
	}
}

func TestClusterNode(t *testing.T) {
	ctx := context.Background()
	n := Start(t, "--cluster-enabled", "yes")
	info, err := n.Client().ClusterInfo(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info, "cluster_state:") {
		t.Fatalf("CLUSTER INFO: %q", info)
	}
}
