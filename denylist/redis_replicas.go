package denylist

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisReplicaTimeout is how long a revocation waits for
// RedisOptions.MinReplicas replicas to acknowledge it, when none is set.
const DefaultRedisReplicaTimeout = time.Second

// runRevoke runs the revoke script with args and returns how many entries
// it wrote. With MinReplicas set it then sends WAIT on the same connection
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
func (s *RedisStore) runRevoke(ctx context.Context, args []any) (int64, error) {
	if s.opts.MinReplicas <= 0 {
		return revokeScript.Run(ctx, s.client, s.keys, args...).Int64()
	}
	node, err := s.primaryFor(ctx)
	if err != nil {
		return 0, err
	}
	conn := node.Conn()
	defer conn.Close()
	n, err := revokeScript.Run(ctx, conn, s.keys, args...).Int64()
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

// primaryFor returns the client of the primary that holds the denylist's
// keys: in a cluster, the owner of their hash slot; else the store's own
// client (standalone, or Sentinel's current master).
func (s *RedisStore) primaryFor(ctx context.Context) (*redis.Client, error) {
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		node, err := c.MasterForKey(ctx, s.entriesKey)
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
