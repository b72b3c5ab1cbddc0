package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// A RedisStore spreads its denylist over partitions. Each partition is a
// hash tag of its own, holding its own entries hash, expiry set, events
// stream, epoch and owner sets, so a Redis Cluster places the partitions on
// different primaries and spreads memory and writes over them; every script
// still touches the keys of one partition only, so it stays atomic.
//
// An entry's partition is taken from its digest (partitionOf); an owner
// set's from the owner's digest. With one partition the tag is "{prefix}",
// the layout of every earlier release. With P > 1, partition i's tag is
// "{prefix/i.s}", where s is the smallest number that puts the tag in the
// middle half of slot range i of P equal ranges of the 16384 cluster slots
// (partitionTag): on a cluster whose primaries hold equal contiguous slot
// ranges (what `redis-cli --cluster create` makes) P partitions, P a
// multiple of the primaries, fall evenly on every primary, and a primary
// that takes half of another's range (`redis-cli --cluster rebalance` moves
// a source's lowest slots) takes half of its partitions, none split at an
// edge.
//
// How many partitions a key prefix has is recorded in Redis, in
// "{prefix}:partitions" (resolvePartitions), so that every instance of the
// prefix uses the same count whatever its options say. A new prefix on a
// Cluster gets DefaultClusterPartitions; elsewhere (one server holds
// everything anyway), and on a Cluster prefix an earlier release wrote
// with its one partition, 1.
//
// A revocation of several entries is one script per partition it touches,
// run concurrently: each partition's part is stored atomically, and
// Revoke returns nil only when every partition stored its part. When one
// fails, the caller answers 503 and the client retries; the parts already
// stored merge with the retry (Entry.Merge), so nothing is ever shortened
// and a revocation is never answered 2xx half stored.

// DefaultClusterPartitions is the partition count of a new key prefix on a
// Redis Cluster when RedisOptions.Partitions is 0. A Cluster moves whole
// hash slots between primaries, so a partition is the unit the denylist
// spreads by: 24 gives every primary an even share on 1, 2, 3, 4, 6, 8, 12
// or 24 primaries (24 is a multiple of each) holding equal slot ranges,
// and within one partition of even on any other count up to 24, so a Cluster grown with `redis-cli
// --cluster add-node` and `rebalance` (or shrunk with `reshard` and
// `del-node`) uses every primary without a new count: the keys move with
// their slots, online. What grows with the count is per partition and per
// instance: a mirror tails one events stream per partition on a Cluster
// (one blocking XREAD and one connection each, every Poll when idle), a
// start loads the partitions four at a time, and a revocation of k entries
// is up to k scripts. A Cluster of more than 24 primaries sets `partitions`
// (a multiple of the primaries) on a new key prefix.
const DefaultClusterPartitions = 24

// MaxRedisPartitions bounds RedisOptions.Partitions: a mirror reads every
// partition's stream, and in a cluster holds a connection per partition.
const MaxRedisPartitions = 256

// redisPartition names the keys of one partition.
type redisPartition struct {
	tag                              string // "{...}"
	entriesKey, expiryKey, eventsKey string
	keys                             []string     // entries, expiry, events
	buckets                          *bucketState // compact layout's bucket count, as last read (redis_layout.go)
}

func newRedisPartition(tag string) redisPartition {
	p := redisPartition{
		tag:        tag,
		entriesKey: tag + ":entries",
		expiryKey:  tag + ":expiry",
		eventsKey:  tag + ":events",
		buckets:    new(bucketState),
	}
	p.keys = []string{p.entriesKey, p.expiryKey, p.eventsKey}
	return p
}

// epochKey holds the partition's epoch (see MirrorStore).
func (p *redisPartition) epochKey() string { return p.tag + ":epoch" }

// redisPartitions returns the partitions of a key prefix.
func redisPartitions(prefix string, n int) []redisPartition {
	if n <= 1 {
		return []redisPartition{newRedisPartition("{" + prefix + "}")}
	}
	ps := make([]redisPartition, n)
	for i := range ps {
		ps[i] = newRedisPartition(partitionTag(prefix, i, n))
	}
	return ps
}

// streamMaxLen is the approximate bound of each partition's events
// stream: RedisOptions.StreamMaxLen shared by the partitions (at least
// 10000 each, or StreamMaxLen when less), so that the streams of 24
// partitions keep about as many events as one stream, not 24 times as
// many (a mirror that falls further behind a stream reloads).
func (s *RedisStore) streamMaxLen() int64 {
	return max(s.opts.StreamMaxLen/int64(len(s.parts)), min(s.opts.StreamMaxLen, 10_000))
}

// partitionsKey names the key prefix's partition count marker: in the
// slot of "{prefix}", beside the layout marker.
func (s *RedisStore) partitionsKey() string { return "{" + s.opts.KeyPrefix + "}:partitions" }

// setPartitions spreads s over n partitions (the option is left as
// given: resolvePartitions compares it with the marker).
func (s *RedisStore) setPartitions(n int) {
	s.parts = redisPartitions(s.opts.KeyPrefix, n)
	s.partOf = make(map[string]int, len(s.parts))
	for i := range s.parts {
		s.partOf[s.parts[i].eventsKey] = i
	}
	s.direct.epochs = make([]atomic.Pointer[string], len(s.parts))
	// Partitions on several cluster nodes: one silent node must not fail
	// the checks the others answer.
	s.breaker.off = s.opts.Cluster && len(s.parts) > 1
}

// resolvePartitions reads the key prefix's partition count marker (or, on
// a prefix without one, writes it: SET NX, then read back, so instances
// starting together agree) and spreads s over that many partitions. A
// Partitions option that disagrees with the marker is refused: an instance
// with another count would read and write other keys, un-revoking what
// the others store. A Redis too full to take the marker's write starts
// the instance on the count it would have written, with a warning.
func (s *RedisStore) resolvePartitions(ctx context.Context) error {
	key := s.partitionsKey()
	v, err := s.client.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		var want int
		if want, err = s.defaultPartitions(ctx); err != nil {
			return s.unavailable(fmt.Errorf("reading the denylist to pick its partition count: %w", err))
		}
		if err = s.client.SetNX(ctx, key, want, 0).Err(); err != nil {
			if !strings.HasPrefix(err.Error(), "OOM ") && !strings.Contains(err.Error(), ": OOM ") {
				return s.unavailable(fmt.Errorf("writing the partition count %s: %w", key, err))
			}
			s.logger.Warn("token_revocation: redis is full (it refuses writes): serving the key prefix over "+strconv.Itoa(want)+" partitions without writing the partition count marker; once Redis has room, restart the instance so that it writes it",
				zap.String("key_prefix", s.opts.KeyPrefix), zap.String("marker", key), zap.Error(err))
			s.setPartitions(want)
			return nil
		}
		v, err = s.client.Get(ctx, key).Result()
	}
	if err != nil {
		return s.unavailable(fmt.Errorf("reading the partition count %s: %w", key, err))
	}
	n, perr := strconv.Atoi(v)
	switch {
	case perr != nil || n < 1 || n > MaxRedisPartitions:
		return fmt.Errorf("redis: %s holds %q, not a partition count (1 to %d): set it to the count the prefix's data was written with, or delete it on a prefix without data", key, v, MaxRedisPartitions)
	case s.opts.Partitions != 0 && s.opts.Partitions != n:
		return fmt.Errorf("redis partitions %d: key prefix %q is spread over %d partitions (%s), which every instance of it uses: remove \"partitions %d\" (an instance without it follows the prefix), or give this instance a key_prefix of its own", s.opts.Partitions, s.opts.KeyPrefix, n, key, s.opts.Partitions)
	}
	s.setPartitions(n)
	if n == 1 && s.opts.Cluster && s.opts.Partitions == 0 {
		s.logger.Warn("token_revocation: the redis key prefix is on one partition (written by an earlier release): one primary of the cluster holds the whole denylist; a new key_prefix is spread over "+strconv.Itoa(DefaultClusterPartitions)+" partitions, every primary's share",
			zap.String("key_prefix", s.opts.KeyPrefix), zap.String("marker", key))
	}
	return nil
}

// defaultPartitions is the partition count a key prefix without a marker
// gets: the Partitions option when given; else, on a Cluster,
// DefaultClusterPartitions, unless an earlier release (one partition, no
// marker) left data under "{prefix}"; else 1.
func (s *RedisStore) defaultPartitions(ctx context.Context) (int, error) {
	if s.opts.Partitions > 0 {
		return s.opts.Partitions, nil
	}
	if !s.opts.Cluster {
		return 1, nil
	}
	one := newRedisPartition("{" + s.opts.KeyPrefix + "}")
	n, err := s.client.Exists(ctx, one.entriesKey, one.eventsKey, one.bucketsKey(), s.markerKey()).Result()
	if err != nil {
		return 0, err
	}
	if n > 0 {
		return 1, nil
	}
	return DefaultClusterPartitions, nil
}

// tailGroups are the partitions read together by one tail loop (one XREAD
// of their event streams): each alone on a Cluster, which refuses a command
// on keys of several hash slots; all together otherwise.
func (s *RedisStore) tailGroups() [][]int {
	if s.opts.Cluster {
		groups := make([][]int, len(s.parts))
		for i := range groups {
			groups[i] = []int{i}
		}
		return groups
	}
	all := make([]int, len(s.parts))
	for i := range all {
		all[i] = i
	}
	return [][]int{all}
}

// partitionTag returns the hash tag of partition i of n: "{prefix/i.s}"
// with the smallest s whose cluster slot lies in the middle half of
// [i*16384/n, (i+1)*16384/n), away from the range's edges, where a
// primary's slots end (the rounding of `redis-cli --cluster create`, the
// halves `rebalance` cuts).
func partitionTag(prefix string, i, n int) string {
	lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n
	if w := hi - lo; w >= 4 {
		lo, hi = lo+w/4, hi-w/4
	}
	base := prefix + "/" + strconv.Itoa(i) + "."
	for s := 0; ; s++ {
		t := base + strconv.Itoa(s)
		if slot := int(crc16(t) % clusterSlots); slot >= lo && slot < hi {
			return "{" + t + "}"
		}
	}
}

// partitionOf returns the partition (of n) of digest d. Byte 0 is the kind
// and byte 1 picks the mirror's index shard; bytes 2-5 are as uniform and
// independent of both.
func partitionOf(d *denylist.Digest, n int) int {
	if n <= 1 {
		return 0
	}
	return int(binary.BigEndian.Uint32(d[2:6]) % uint32(n))
}

// part returns the partition of digest d.
func (s *RedisStore) part(d *denylist.Digest) *redisPartition {
	return &s.parts[partitionOf(d, len(s.parts))]
}

// Partitions returns the number of partitions of the store.
func (s *RedisStore) Partitions() int { return len(s.parts) }

// PartitionKeys returns the names of partition i's entries hash, expiry
// sorted set and events stream.
func (s *RedisStore) PartitionKeys(i int) (entries, expiry, events string) {
	p := &s.parts[i]
	return p.entriesKey, p.expiryKey, p.eventsKey
}

// PartitionKeysOf returns the names of the entries hash, expiry sorted set
// and events stream of partition i of n of a key prefix.
func PartitionKeysOf(prefix string, n, i int) (entries, expiry, events string) {
	p := redisPartitions(prefix, n)[i]
	return p.entriesKey, p.expiryKey, p.eventsKey
}

// groupByPartition splits entries by partition, keeping their order.
func groupByPartition[T any](n int, items []T, digest func(*T) *denylist.Digest) [][]T {
	out := make([][]T, n)
	if n == 1 {
		out[0] = items
		return out
	}
	for i := range items {
		p := partitionOf(digest(&items[i]), n)
		out[p] = append(out[p], items[i])
	}
	return out
}

// listCursor is where List goes on: partition p's legacy hash at HSCAN
// cursor cur, or, with bucket set, its compact bucket hashes from bucket
// cur on.
type listCursor struct {
	p      int
	bucket bool
	cur    uint64
}

// formatListCursor encodes c: "<partition>.<HSCAN cursor>" or
// "<partition>.b<bucket>"; with one partition in the legacy layout,
// HSCAN's cursor alone, as earlier releases wrote it.
func (s *RedisStore) formatListCursor(c listCursor) string {
	if len(s.parts) == 1 && !s.readsCompact() {
		return strconv.FormatUint(c.cur, 10)
	}
	b := ""
	if c.bucket {
		b = "b"
	}
	return strconv.Itoa(c.p) + "." + b + strconv.FormatUint(c.cur, 10)
}

func (s *RedisStore) parseListCursor(str string) (c listCursor, err error) {
	if str == "" {
		return c, nil
	}
	ps, cs := "0", str
	if len(s.parts) > 1 || s.readsCompact() {
		var ok bool
		if ps, cs, ok = strings.Cut(str, "."); !ok {
			return c, fmt.Errorf("cursor: malformed %q", str)
		}
		cs, c.bucket = strings.CutPrefix(cs, "b")
	}
	p, err1 := strconv.Atoi(ps)
	cur, err2 := strconv.ParseUint(cs, 10, 64)
	if err1 != nil || err2 != nil || p < 0 || p >= len(s.parts) || (c.bucket && !validClassCursor(cur)) {
		return c, fmt.Errorf("cursor: malformed %q", str)
	}
	c.p, c.cur = p, cur
	return c, nil
}

// clusterSlots is the number of Redis Cluster hash slots.
const clusterSlots = 16384

// crc16 is Redis Cluster's key hash (CRC-16/XMODEM) of a hash tag's
// content.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
