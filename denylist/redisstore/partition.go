package redisstore

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// A RedisStore spreads its denylist over RedisOptions.Partitions
// partitions. Each partition is a hash tag of its own, holding its own
// entries hash, expiry set, events stream, epoch and owner sets, so a Redis
// Cluster places the partitions on different primaries and spreads memory
// and writes over them; every script still touches the keys of one
// partition only, so it stays atomic.
//
// An entry's partition is taken from its digest (partitionOf); an owner
// set's from the owner's digest. With one partition (the default) the tag
// is "{prefix}", the layout of every earlier release. With P > 1,
// partition i's tag is "{prefix/i.s}", where s is the smallest number that
// puts the tag in slot range i of P equal ranges of the 16384 cluster slots
// (partitionTag): on a cluster whose primaries hold equal contiguous slot
// ranges (what `redis-cli --cluster create` makes) P partitions, P a
// multiple of the primaries, fall evenly on every primary.
//
// A revocation of several entries is one script per partition it touches,
// run concurrently: each partition's part is stored atomically, and
// Revoke returns nil only when every partition stored its part. When one
// fails, the caller answers 503 and the client retries; the parts already
// stored merge with the retry (Entry.Merge), so nothing is ever shortened
// and a revocation is never answered 2xx half stored.

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
// with the smallest s whose cluster slot lies in [i*16384/n, (i+1)*16384/n).
func partitionTag(prefix string, i, n int) string {
	lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n
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
