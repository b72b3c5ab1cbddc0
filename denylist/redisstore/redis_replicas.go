package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// DefaultRedisReplicaTimeout is how long a revocation waits for
// RedisOptions.MinReplicas replicas to acknowledge it, when none is set.
const DefaultRedisReplicaTimeout = time.Second

// runRevoke runs a revoke script (run) and returns how many entries it
// wrote. With MinReplicas set it then sends WAIT on the same connection
// (WAIT counts the replicas that have acknowledged the writes of its own
// connection) and fails unless at least MinReplicas replicas acknowledged
// the write within ReplicaTimeout. WAIT cannot run inside a script, and in
// a cluster it must reach the primary that owns the denylist's slot, so the
// script and WAIT both run on one connection taken from that primary's
// pool.
//
// A write that the primary applied but too few replicas acknowledged is
// reported as ErrUnavailable: the caller answers 503, the client retries,
// and the retry merges into what is already stored (Entry.Merge).
func (s *RedisStore) runRevoke(ctx context.Context, p *redisPartition, run func(redis.Scripter) (int64, error)) (int64, error) {
	if s.opts.MinReplicas <= 0 {
		return run(s.client)
	}
	node, err := s.primaryFor(ctx, p)
	if err != nil {
		return 0, err
	}
	conn := node.Conn()
	defer conn.Close()
	n, err := run(conn)
	if err != nil {
		s.reloadTopology(err)
		return 0, err
	}
	acked, err := conn.Wait(ctx, s.opts.MinReplicas, s.opts.ReplicaTimeout).Result()
	if err != nil {
		s.reloadTopology(err)
		return 0, fmt.Errorf("written on the primary, but WAIT for %d replica(s) failed: %w", s.opts.MinReplicas, err)
	}
	if acked < int64(s.opts.MinReplicas) {
		return 0, fmt.Errorf("written on the primary, but only %d of the %d replica(s) required (min_replicas) acknowledged it within %s", acked, s.opts.MinReplicas, s.opts.ReplicaTimeout)
	}
	return n, nil
}

// primaryFor returns the client of the primary that holds partition p's
// keys: in a cluster, the owner of their hash slot; else the store's own
// client (standalone, or Sentinel's current master).
func (s *RedisStore) primaryFor(ctx context.Context, p *redisPartition) (*redis.Client, error) {
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		node, err := c.MasterForKey(ctx, p.entriesKey)
		if err != nil {
			c.ReloadState(ctx)
			return nil, err
		}
		return node, nil
	case *redis.Client:
		return c, nil
	}
	return nil, errors.New("min_replicas: unsupported redis client type")
}

// reloadTopology asks a cluster client to reload the slot map after a
// failed write on a node it picked (MOVED after a failover, a dead node):
// the cluster client does that by itself only for commands it routes.
func (s *RedisStore) reloadTopology(error) {
	if c, ok := s.client.(*redis.ClusterClient); ok {
		c.ReloadState(context.Background())
	}
}

// checkReplicas warns, at open, when MinReplicas is set but a primary that
// holds a partition (each of them, in a cluster) has fewer replicas
// connected: every revocation that touches its partitions would then
// answer 503. It does not fail: replicas may be on their way.
func (s *RedisStore) checkReplicas(ctx context.Context) {
	if s.opts.MinReplicas <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.DialTimeout+s.opts.ReadTimeout)
	defer cancel()
	_, cluster := s.client.(*redis.ClusterClient)
	checked := map[*redis.Client]bool{}
	for i := range s.parts {
		node, err := s.primaryFor(ctx, &s.parts[i])
		if err != nil || checked[node] {
			continue
		}
		checked[node] = true
		n := connectedReplicas(ctx, node)
		if n < 0 || n >= s.opts.MinReplicas {
			continue
		}
		fields := []zap.Field{zap.String("redis", s.where), zap.Int("connected_replicas", n), zap.Int("min_replicas", s.opts.MinReplicas)}
		if cluster {
			fields = append(fields, zap.String("primary", node.Options().Addr))
		}
		s.logger.Warn("redis primary has fewer replicas than min_replicas: revocations will be answered 503 until enough replicas connect", fields...)
	}
}

// connectedReplicas returns the connected_slaves of node's INFO
// replication, or -1 when it cannot be read.
func connectedReplicas(ctx context.Context, node *redis.Client) int {
	info, err := node.Info(ctx, "replication").Result()
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return -1
}
