package denylist

import (
	"crypto/tls"
	"time"

	"go.uber.org/zap"
)

// RedisOptions configures a RedisStore. One set of options serves the three
// topologies go-redis's UniversalClient knows: one address is a standalone
// server; MasterName makes the addresses Sentinels; Cluster makes them
// cluster seed nodes.
type RedisOptions struct {
	Addrs            []string
	MasterName       string
	Cluster          bool
	Username         string
	Password         string
	SentinelUsername string
	SentinelPassword string
	DB               int
	TLS              *tls.Config
	DialTimeout      time.Duration
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	PoolSize         int
	// KeyPrefix namespaces every key; all of a partition's keys share one
	// cluster hash slot ("{prefix}:..." with one partition) so a
	// revocation is one atomic script per partition, in Cluster too.
	KeyPrefix string
	// Partitions is how many partitions the denylist is spread over
	// (partition.go), each its own hash slot: on a Redis Cluster, a
	// multiple of the number of primaries spreads memory and writes over
	// all of them. 0 or 1 (default): one partition, the layout of earlier
	// releases. Every instance sharing a key prefix must use the same
	// number.
	Partitions int
	// Layout is how entries are stored (redis_layout.go): LayoutLegacy
	// (default, the layout of earlier releases), LayoutUpgrade (both, for
	// a rolling upgrade from an earlier release) or LayoutCompact (about
	// a fifth of the memory; reads legacy entries too).
	Layout string
	// Capacity is the number of live revocations the compact layout's
	// buckets are sized for, when a key prefix is first written in it.
	// Default: DefaultRedisCapacity.
	Capacity int
	// StreamMaxLen bounds the revocation event stream (approximately).
	StreamMaxLen int64
	// EvictionPolicy says what to do when the server's maxmemory-policy can
	// evict denylist keys: "warn" (default) or "refuse".
	EvictionPolicy string
	// MinReplicas is how many replicas must acknowledge a revocation
	// (Redis WAIT, on the connection that wrote it) before Revoke returns
	// nil. A revocation acknowledged by the primary alone is lost when the
	// primary dies before replicating it and a replica is promoted; with
	// MinReplicas >= 1 a revocation that Revoke reported stored is on at
	// least that many replicas, the candidates for promotion. 0 (default):
	// the primary's answer is enough.
	MinReplicas int
	// ReplicaTimeout bounds the wait for MinReplicas acknowledgements;
	// past it Revoke fails with ErrUnavailable (the write stays on the
	// primary). Default: DefaultRedisReplicaTimeout.
	ReplicaTimeout time.Duration
	// Logger receives warnings (eviction policy) and rate-limited errors.
	Logger *zap.Logger
}
