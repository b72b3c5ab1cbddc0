package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// waitReplicaSynced polls until the replica acknowledges a write (WAIT on
// the connection that made it). After a full sync the primary streams
// nothing to a replica until the replica's first REPLCONF ACK, sent once a
// second, so "link up" alone is not enough.
func waitReplicaSynced(t *testing.T, primary, replica *redistest.Server) {
	t.Helper()
	ctx := context.Background()
	conn := primary.Client().Conn()
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := conn.Set(ctx, "replica-probe", "x", 0).Err(); err == nil {
			if n, err := conn.Wait(ctx, 1, 100*time.Millisecond).Result(); err == nil && n >= 1 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s never acknowledged a write on %s", replica.Addr, primary.Addr)
		}
	}
}

// TestRedisMinReplicas: with MinReplicas, a revocation Revoke reports stored
// is already on the replica when Revoke returns (no polling), and one that
// no replica acknowledges fails with ErrUnavailable after ReplicaTimeout.
func TestRedisMinReplicas(t *testing.T) {
	ctx := context.Background()
	// No 5s wait for more replicas before a full sync.
	primary := redistest.Start(t, "--repl-diskless-sync-delay", "0")
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.Port))
	waitReplicaSynced(t, primary, replica)

	// The legacy layout, whose entries hash the replica is read for.
	s, err := openRedis(ctx, RedisOptions{Addrs: []string{primary.Addr}, MinReplicas: 1, ReplicaTimeout: 300 * time.Millisecond, Layout: LayoutLegacy}, storetest.NewClock().Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Status(ctx); st.Details["min_replicas"] != 1 {
		t.Errorf("Status details: %+v", st.Details)
	}
	rc := replica.Client()
	for i := range 20 {
		k := storetest.TokenKey("tok" + strconv.Itoa(i))
		if err := s.Revoke(ctx, denylist.Entry{Key: k, Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100}); err != nil {
			t.Fatalf("revocation %d: %v", i, err)
		}
		if ok, err := rc.HExists(ctx, "{trv}:entries", k.String()).Result(); err != nil || !ok {
			t.Fatalf("revocation %d acknowledged but not on the replica: %v %v", i, ok, err)
		}
	}

	// Asking for more replicas than exist: the write reaches the primary
	// but is reported unavailable, after about ReplicaTimeout.
	s2, err := openRedis(ctx, RedisOptions{Addrs: []string{primary.Addr}, MinReplicas: 2, ReplicaTimeout: 200 * time.Millisecond}, storetest.NewClock().Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	start := time.Now()
	err = s2.Revoke(ctx, denylist.Entry{Key: storetest.TokenKey("two"), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100})
	if !errors.Is(err, denylist.ErrUnavailable) || !strings.Contains(err.Error(), "only 1 of the 2 replica(s)") {
		t.Fatalf("Revoke with too few replicas: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("Revoke waited %s, want about the 200ms replica timeout", d)
	}

	// The replica gone: Revoke fails instead of answering for a write only
	// the primary holds; with it back, Revoke succeeds again.
	replica.Stop()
	err = s.Revoke(ctx, denylist.Entry{Key: storetest.TokenKey("alone"), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100})
	if !errors.Is(err, denylist.ErrUnavailable) {
		t.Fatalf("Revoke with the replica down: %v, want ErrUnavailable", err)
	}
	replica.Restart()
	waitReplicaSynced(t, primary, replica)
	storetest.MustRevoke(t, s, denylist.Entry{Key: storetest.TokenKey("alone"), Cutoff: denylist.CutoffAlways, Expires: storetest.T0 + 100})
	if ok, _ := replica.Client().HExists(ctx, "{trv}:entries", storetest.TokenKey("alone").String()).Result(); !ok {
		t.Fatal("retried revocation not on the replica")
	}
}

// TestRedisMinReplicasWarnsWithoutReplicas: a primary with fewer replicas
// than MinReplicas opens with a warning that says revocations will fail.
func TestRedisMinReplicasWarnsWithoutReplicas(t *testing.T) {
	srv := redistest.Start(t)
	core, logs := observer.New(zap.WarnLevel)
	s, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, MinReplicas: 1, Logger: zap.New(core)}, storetest.NewClock().Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	found := logs.FilterMessageSnippet("fewer replicas than min_replicas").All()
	if len(found) != 1 || found[0].ContextMap()["connected_replicas"] != int64(0) {
		t.Fatalf("warnings: %+v", logs.All())
	}
}

func TestRedisMinReplicasInvalid(t *testing.T) {
	_, err := OpenRedis(context.Background(), RedisOptions{Addrs: []string{"127.0.0.1:1"}, MinReplicas: -1})
	if err == nil || errors.Is(err, denylist.ErrUnavailable) || !strings.Contains(err.Error(), "min_replicas") {
		t.Fatalf("MinReplicas -1: %v", err)
	}
}

// TestRedisMinReplicasWarnsForEveryPrimary: on a cluster, the warning
// names each primary that holds a partition and lacks replicas, not only
// the first partition's (before, a cluster whose second primary had lost
// its replica opened without a word, and half the revocations answered
// 503).
func TestRedisMinReplicasWarnsForEveryPrimary(t *testing.T) {
	cl := redistest.StartCluster(t, 2, 1)
	ctx := context.Background()
	// Replicas[1] replicates Primaries[1], which holds partition 1.
	cl.Replicas[1].Stop()
	p1 := cl.Primaries[1].Client()
	eventually(t, 5*time.Second, "the second primary never saw its replica leave", func() bool {
		return connectedReplicas(ctx, p1) == 0
	})
	core, logs := observer.New(zap.WarnLevel)
	s, err := openRedis(ctx, RedisOptions{Addrs: cl.Seeds(), Cluster: true, Partitions: 2, MinReplicas: 1, Logger: zap.New(core)}, storetest.NewClock().Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	found := logs.FilterMessageSnippet("fewer replicas than min_replicas").All()
	if len(found) != 1 || found[0].ContextMap()["primary"] != cl.Primaries[1].Addr || found[0].ContextMap()["connected_replicas"] != int64(0) {
		t.Fatalf("warnings: %+v", logs.All())
	}
}
