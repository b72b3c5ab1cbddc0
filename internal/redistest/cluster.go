package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of real redis-server processes: Primaries
// primaries holding equal contiguous slot ranges (as `redis-cli --cluster
// create` assigns them), each with Replicas replicas.
type Cluster struct {
	// Primaries are the primaries, in slot order: Primaries[i] holds
	// slots [i*16384/n, (i+1)*16384/n).
	Primaries []*Server
	// Replicas are the replicas, Replicas[i] replicating Primaries[i%n].
	Replicas []*Server
}

// StartCluster starts primaries primaries and, for each, replicas replicas,
// with args passed to every server, creates the cluster (CLUSTER MEET,
// ADDSLOTSRANGE, REPLICATE: no redis-cli needed) and returns once every
// node sees it ok. The servers stop when the test ends.
func StartCluster(t testing.TB, primaries, replicas int, args ...string) *Cluster {
	t.Helper()
	ctx := context.Background()
	cargs := append([]string{"--cluster-enabled", "yes", "--cluster-node-timeout", "2000"}, args...)
	c := &Cluster{}
	for range primaries {
		c.Primaries = append(c.Primaries, Start(t, cargs...))
	}
	for range primaries * replicas {
		c.Replicas = append(c.Replicas, Start(t, cargs...))
	}
	all := c.Nodes()
	first := all[0].Client()
	for _, s := range all[1:] {
		if err := first.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(s.Port)).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER MEET %s: %v", s.Addr, err)
		}
	}
	for i, s := range c.Primaries {
		lo, hi := i*16384/primaries, (i+1)*16384/primaries-1
		if err := s.Client().ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("redistest: CLUSTER ADDSLOTSRANGE %d %d on %s: %v", lo, hi, s.Addr, err)
		}
	}
	ids := make([]string, primaries)
	for i, s := range c.Primaries {
		id, err := s.Client().ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatalf("redistest: CLUSTER MYID on %s: %v", s.Addr, err)
		}
		ids[i] = id
	}
	for i, r := range c.Replicas {
		rc := r.Client()
		id := ids[i%primaries]
		// The replica must know its primary (gossip) before REPLICATE.
		if err := poll(20*time.Second, func() error {
			return rc.Do(ctx, "CLUSTER", "REPLICATE", id).Err()
		}); err != nil {
			t.Fatalf("redistest: CLUSTER REPLICATE on %s: %v", r.Addr, err)
		}
	}
	for _, s := range all {
		sc := s.Client()
		if err := poll(30*time.Second, func() error {
			info, err := sc.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(len(all))) {
				return fmt.Errorf("cluster not ok on %s:\n%s", s.Addr, info)
			}
			return nil
		}); err != nil {
			t.Fatalf("redistest: %v", err)
		}
	}
	return c
}

// Nodes returns every node, primaries first.
func (c *Cluster) Nodes() []*Server {
	return append(append([]*Server(nil), c.Primaries...), c.Replicas...)
}

// Seeds returns the addresses of every node.
func (c *Cluster) Seeds() []string {
	var a []string
	for _, s := range c.Nodes() {
		a = append(a, s.Addr)
	}
	return a
}

// Client returns a cluster client of the cluster, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Seeds()})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// poll calls fn every 20ms until it returns nil or timeout passes, and
// returns its last error.
func poll(timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
