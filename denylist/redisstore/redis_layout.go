package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Layouts of a Redis denylist (RedisOptions.Layout).
//
// The legacy layout keeps, per partition, a hash from Key.String() (34
// bytes of hex) to "<expires>:<cutoff>", a sorted set of the same fields
// by expiry, and a stream of op/k/v events: about 345 bytes of Redis
// memory per live revocation (make bench-scale).
//
// The compact layout keeps an entry as a 16-byte field (the raw Digest,
// whose first byte is the kind) and an 8-byte value (expires and cut-off,
// two big-endian uint32 Unix seconds, the mirror's own packing) in one of
// a partition's bucket hashes "{tag}:c:<n>", picked by the digest. A
// bucket holds about 64 entries at the sized capacity, few enough for
// Redis to keep it a listpack (hash-max-listpack-entries, 128 by default):
// no per-entry allocation, no dictionary entry. There is no expiry set:
// the purge walks the buckets, a slice of them per run. Events are two
// fields, "a" (field and value, 24 bytes) or "d" (the field). About 75
// bytes per live revocation at 10^6, stream included (make bench-scale).
//
// The bucket count is fixed when a partition is first written in the
// compact layout ("{tag}:c:buckets", from RedisOptions.Capacity), so that
// every instance picks the same bucket for a digest; a deployment that
// outgrows it keeps working (buckets past 128 entries become hash tables,
// ~90 bytes per entry) and is resized by migrating to a new key prefix.
const (
	// LayoutLegacy is the layout of every release before the compact one
	// (0.1 and 0.2).
	LayoutLegacy = "legacy"
	// LayoutUpgrade reads both layouts and writes both, so that instances
	// of an earlier release sharing the Redis keep seeing every
	// revocation: the layout of a rolling upgrade.
	LayoutUpgrade = "upgrade"
	// LayoutCompact reads both layouts and writes the compact one only.
	LayoutCompact = "compact"
)

// DefaultRedisCapacity is the number of live revocations the compact
// layout's buckets are sized for when RedisOptions.Capacity is 0.
const DefaultRedisCapacity = 1_000_000

const (
	// bucketFill is how many entries a bucket holds at capacity.
	bucketFill = 64
	// bucketsPerCall bounds the buckets one load pipeline or purge script
	// reads.
	bucketsPerCall = 256
	// bucketScanCount is the HSCAN COUNT of a bucket: a listpack's
	// entries come in one reply whatever the count.
	bucketScanCount = 1000
	// loadFetchers is how many round trips of a load are on their way at
	// once: Redis serialises one while the last one's reply travels and
	// the caller applies the one before.
	loadFetchers = 3
)

// writesLegacy and writesCompact say which layouts s writes; readsCompact
// whether it reads the compact one (every layout but legacy reads the
// legacy one too, so nothing stored before a switch is un-revoked).
func (s *RedisStore) writesLegacy() bool  { return s.opts.Layout != LayoutCompact }
func (s *RedisStore) writesCompact() bool { return s.opts.Layout != LayoutLegacy }
func (s *RedisStore) readsCompact() bool  { return s.opts.Layout != LayoutLegacy }

// bucketCount returns the number of buckets per partition for capacity
// live revocations over n partitions: a power of two, at least 16.
func bucketCount(capacity, n int) int {
	per := max(capacity/max(n, 1)/bucketFill, 16)
	return 1 << bits.Len(uint(per-1))
}

// bucketsKey holds a partition's bucket count.
func (p *redisPartition) bucketsKey() string { return p.tag + ":c:buckets" }

// countKey counts a partition's compact entries (live or not yet purged).
func (p *redisPartition) countKey() string { return p.tag + ":c:count" }

// bucketKey names bucket b of partition p.
func (p *redisPartition) bucketKey(b int) string { return p.tag + ":c:" + strconv.Itoa(b) }

// bucketOf returns the bucket of digest d among n: bytes 6-9 (the
// partition takes 2-5, the mirror's shard byte 1).
func bucketOf(d *denylist.Digest, n int) int {
	return int(binary.BigEndian.Uint32(d[6:10]) % uint32(n))
}

// parseCompact decodes a compact field and value. A value that is not 8
// bytes under a field that reads is unreadableEntry, with an error that
// says so (see keyRead).
func parseCompact(field, value string) (denylist.Entry, error) {
	if len(field) != denylist.DigestSize {
		return denylist.Entry{}, fmt.Errorf("malformed compact entry: %d-byte field, want %d", len(field), denylist.DigestSize)
	}
	var e denylist.Entry
	copy(e.Digest[:], field)
	e.Kind = e.Digest.Kind()
	if !e.Kind.Valid() {
		return denylist.Entry{}, fmt.Errorf("malformed compact entry: unknown kind %v", e.Kind)
	}
	if len(value) != 8 {
		return unreadableEntry(e.Key), fmt.Errorf("compact entry %s: %d-byte value, want 8: %w", e.Digest.Short(), len(value), ErrUnreadableValue)
	}
	e.Expires = int64(binary.BigEndian.Uint32([]byte(value[:4])))
	e.Cutoff = int64(binary.BigEndian.Uint32([]byte(value[4:])))
	return e, nil
}

// loadBuckets reads the bucket counts of every partition, writing the
// count for Capacity where there is none yet (the first writer wins): a
// read first, so that a full Redis (noeviction) does not stop an instance
// from starting.
func (s *RedisStore) loadBuckets(ctx context.Context) error {
	want := bucketCount(s.opts.Capacity, len(s.parts))
	for i := range s.parts {
		p := &s.parts[i]
		n, err := s.client.Get(ctx, p.bucketsKey()).Int()
		if errors.Is(err, redis.Nil) { // written only when missing: a full redis refuses writes, not reads
			if err = s.client.SetNX(ctx, p.bucketsKey(), want, 0).Err(); err != nil {
				return s.unavailable(fmt.Errorf("writing the bucket count: %w", err))
			}
			n, err = s.client.Get(ctx, p.bucketsKey()).Int()
		}
		if err != nil {
			return s.unavailable(fmt.Errorf("reading the bucket count: %w", err))
		}
		if n <= 0 {
			return fmt.Errorf("redis: %s holds %d buckets: want a positive count", p.bucketsKey(), n)
		}
		p.buckets = n
	}
	return nil
}

// compactRevokeScript merges entries into the compact layout (and, with
// ARGV[2] "u", the legacy one too). KEYS: legacy entries hash, legacy
// expiry set, events stream, compact count, then bucket hashes. ARGV[1]:
// the stream's approximate maximum length; ARGV[2]: "c" (compact) or "u"
// (upgrade: both, and a legacy event, which instances of earlier releases
// read), or "m" (migrate: compact only, no event); then per entry: its
// bucket's position in KEYS, its compact field, expires, cut-off and its
// legacy field. The merged value (Entry.Merge of every stored copy and the
// new one) is written to each layout written. It returns the number of
// entries written.
var compactRevokeScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local mode = ARGV[2]
local n = 0
for i = 3, #ARGV, 5 do
  local b = KEYS[tonumber(ARGV[i])]
  local f = ARGV[i + 1]
  local exp = tonumber(ARGV[i + 2])
  local cut = tonumber(ARGV[i + 3])
  local lf = ARGV[i + 4]
  local old = redis.call('HGET', b, f)
  if old and #old == 8 then
    local oe, oc = struct.unpack('>I4I4', old)
    if oe > exp then exp = oe end
    if oc > cut then cut = oc end
  end
  if not old then redis.call('INCR', KEYS[4]) end
  if mode ~= 'c' then
    local lold = redis.call('HGET', KEYS[1], lf)
    if lold then
      local oe, oc = string.match(lold, '^(%-?%d+):(%-?%d+)$')
      if oe then
        oe = math.min(math.max(tonumber(oe), 0), 4294967295)
        oc = math.min(math.max(tonumber(oc), 0), 4294967295)
        if oe > exp then exp = oe end
        if oc > cut then cut = oc end
      end
    end
  end
  local v = struct.pack('>I4I4', exp, cut)
  redis.call('HSET', b, f, v)
  if mode == 'u' then
    local lv = string.format('%d:%d', exp, cut)
    redis.call('HSET', KEYS[1], lf, lv)
    redis.call('ZADD', KEYS[2], string.format('%d', exp), lf)
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'op', 'add', 'k', lf, 'v', lv)
  elseif mode == 'm' then
    redis.call('HDEL', KEYS[1], lf)
    redis.call('ZREM', KEYS[2], lf)
  else
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'a', f .. v)
  end
  n = n + 1
end
return n
`)

// compactUnrevokeScript removes entries from both layouts. KEYS as
// compactRevokeScript; ARGV[1], ARGV[2] too ("u": a legacy event, "c": a
// compact one); then per key: its bucket's position in KEYS, its compact
// field and its legacy field. It returns the number of entries present.
var compactUnrevokeScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local n = 0
for i = 3, #ARGV, 3 do
  local f = ARGV[i + 1]
  local lf = ARGV[i + 2]
  local c = redis.call('HDEL', KEYS[tonumber(ARGV[i])], f)
  if c > 0 then redis.call('DECR', KEYS[4]) end
  local l = redis.call('HDEL', KEYS[1], lf)
  redis.call('ZREM', KEYS[2], lf)
  n = n + math.max(c, l)
  if ARGV[2] == 'u' then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'op', 'del', 'k', lf)
  else
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'd', f)
  end
end
return n
`)

// compactPurgeScript removes the entries of buckets KEYS[2..] expired at
// ARGV[1]; a value it cannot read stays (see unreadableEntry). KEYS[1]:
// the compact count. It returns how many it removed.
var compactPurgeScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local n = 0
for i = 2, #KEYS do
  local kv = redis.call('HGETALL', KEYS[i])
  local dead = {}
  for j = 1, #kv, 2 do
    local v = kv[j + 1]
    if #v == 8 and struct.unpack('>I4', v) <= now then dead[#dead + 1] = kv[j] end
  end
  if #dead > 0 then
    redis.call('HDEL', KEYS[i], unpack(dead))
    n = n + #dead
  end
end
if n > 0 then redis.call('DECRBY', KEYS[1], n) end
return n
`)

// compactBatch builds the KEYS and ARGV of a compact script for items of
// partition p: per item, argsOf appends its arguments after its bucket's
// position in KEYS.
func compactBatch[T any](s *RedisStore, p *redisPartition, mode string, items []T, digest func(*T) *denylist.Digest, argsOf func([]any, *T) []any) (keys []string, args []any) {
	keys = []string{p.entriesKey, p.expiryKey, p.eventsKey, p.countKey()}
	pos := map[int]int{}
	args = []any{s.streamMaxLen(), mode}
	for i := range items {
		b := bucketOf(digest(&items[i]), p.buckets)
		k, ok := pos[b]
		if !ok {
			keys = append(keys, p.bucketKey(b))
			k = len(keys)
			pos[b] = k
		}
		args = argsOf(append(args, k), &items[i])
	}
	return keys, args
}

// compactMode is the mode argument of the compact scripts for s's layout.
func (s *RedisStore) compactMode() string {
	if s.writesLegacy() {
		return "u"
	}
	return "c"
}

// revokeCompact runs compactRevokeScript for a batch of partition p.
func (s *RedisStore) revokeCompact(ctx context.Context, c redis.Scripter, p *redisPartition, mode string, batch []denylist.Entry) (int64, error) {
	keys, args := compactBatch(s, p, mode, batch, func(e *denylist.Entry) *denylist.Digest { return &e.Digest },
		func(a []any, e *denylist.Entry) []any {
			return append(a, string(e.Digest[:]), denylist.ClampU32(e.Expires), denylist.ClampU32(e.Cutoff), e.Key.String())
		})
	return compactRevokeScript.Run(ctx, c, keys, args...).Int64()
}

// unrevokeCompact runs compactUnrevokeScript for a batch of partition p.
func (s *RedisStore) unrevokeCompact(ctx context.Context, p *redisPartition, batch []denylist.Key) error {
	keys, args := compactBatch(s, p, s.compactMode(), batch, func(k *denylist.Key) *denylist.Digest { return &k.Digest },
		func(a []any, k *denylist.Key) []any { return append(a, string(k.Digest[:]), k.String()) })
	return compactUnrevokeScript.Run(ctx, s.client, keys, args...).Err()
}

// getCompact queues, on pipe, an HGET of every key's compact entry.
func (s *RedisStore) getCompact(ctx context.Context, pipe redis.Pipeliner, keys []denylist.Key) []*redis.StringCmd {
	cmds := make([]*redis.StringCmd, len(keys))
	for i := range keys {
		p := s.part(&keys[i].Digest)
		cmds[i] = pipe.HGet(ctx, p.bucketKey(bucketOf(&keys[i].Digest, p.buckets)), string(keys[i].Digest[:]))
	}
	return cmds
}

// lookup returns the stored entry of each key (ok false where none), from
// both layouts when s reads both, merged: one pipelined round trip (a
// cluster client sends each node its share in parallel); whole is false
// when a direct store found a partition's sentinel gone (queueLegacy).
func (s *RedisStore) lookup(ctx context.Context, keys []denylist.Key) (_ []denylist.Entry, _ []bool, whole bool, _ error) {
	fields := make([]string, len(keys))
	for i := range keys {
		fields[i] = keys[i].String()
	}
	pipe := s.client.Pipeline()
	legacyVals := s.queueLegacy(ctx, pipe, keys, fields)
	var compact []*redis.StringCmd
	if s.readsCompact() {
		compact = s.getCompact(ctx, pipe, keys)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, false, err
	}
	legacy, whole := legacyVals()
	out := make([]denylist.Entry, len(keys))
	found := make([]bool, len(keys))
	for i := range keys {
		if v, ok := legacy[i].(string); ok {
			out[i], found[i] = s.readStored(parseValue(keys[i], v))
		}
		if compact != nil {
			if v, err := compact[i].Result(); err == nil {
				if e, ok := s.readStored(parseCompact(string(keys[i].Digest[:]), v)); ok {
					if found[i] {
						e = out[i].Merge(e)
					}
					out[i], found[i] = e, true
					out[i].Key = keys[i]
				}
			}
		}
	}
	return out, found, whole, nil
}

// loadCompact calls fn with every live entry of partition p's buckets,
// reading bucketsPerCall buckets per pipelined round trip; the next
// round trip is on its way while fn runs, as in loadPartition.
func (s *RedisStore) loadCompact(ctx context.Context, p *redisPartition, fn func([]denylist.Entry)) error {
	now := s.now().Unix()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan bucketPage, loadFetchers)
	var fetchers sync.WaitGroup
	for f := range loadFetchers {
		fetchers.Add(1)
		go func() {
			defer fetchers.Done()
			s.fetchBuckets(ctx, p, f, pages)
		}()
	}
	go func() {
		fetchers.Wait()
		close(pages)
	}()
	for pg := range pages {
		if pg.err != nil {
			return s.unavailable(pg.err)
		}
		batch := make([]denylist.Entry, 0, bucketsPerCall*bucketFill)
		for _, c := range pg.cmds {
			kv, cur := c.Val()
			for {
				for j := 0; j+1 < len(kv); j += 2 {
					if e, ok := s.readStored(parseCompact(kv[j], kv[j+1])); ok && e.Live(now) {
						batch = append(batch, e)
					}
				}
				if cur == 0 {
					break
				}
				// A bucket grown past a listpack: scan on.
				var err error
				if kv, cur, err = s.client.HScan(ctx, c.Args()[1].(string), cur, "", bucketScanCount).Result(); err != nil {
					return s.unavailable(err)
				}
			}
		}
		fn(batch)
	}
	if err := ctx.Err(); err != nil {
		return s.unavailable(err)
	}
	return nil
}

// bucketPage is what one pipelined round trip of a load read.
type bucketPage struct {
	cmds []*redis.ScanCmd
	err  error
}

// fetchBuckets reads the buckets of partition p that fetcher f of
// loadFetchers is to read (every loadFetchers-th run of bucketsPerCall)
// and sends them on pages, until done or ctx ends.
func (s *RedisStore) fetchBuckets(ctx context.Context, p *redisPartition, f int, pages chan<- bucketPage) {
	for start := f * bucketsPerCall; start < p.buckets; start += loadFetchers * bucketsPerCall {
		pipe := s.client.Pipeline()
		cmds := make([]*redis.ScanCmd, 0, bucketsPerCall)
		for b := start; b < min(p.buckets, start+bucketsPerCall); b++ {
			// HSCAN rather than HGETALL: a flat reply (no map built
			// per bucket), all of a listpack in one call.
			cmds = append(cmds, pipe.HScan(ctx, p.bucketKey(b), 0, "", bucketScanCount))
		}
		_, err := pipe.Exec(ctx)
		select {
		case pages <- bucketPage{cmds, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// purgeCompact removes the expired entries of a slice of every partition's
// buckets: 1/slices of them per call, the next slice at the next call, so
// that a full pass takes slices purge runs and no run blocks Redis long.
func (s *RedisStore) purgeCompact(ctx context.Context, now int64, slices int) (int, error) {
	total := 0
	for i := range s.parts {
		p := &s.parts[i]
		per := (p.buckets + slices - 1) / slices
		from := int(s.purgeSlice.Load()%uint64(slices)) * per
		for start := from; start < min(p.buckets, from+per); start += bucketsPerCall {
			keys := []string{p.countKey()}
			for b := start; b < min(p.buckets, from+per, start+bucketsPerCall); b++ {
				keys = append(keys, p.bucketKey(b))
			}
			n, err := compactPurgeScript.Run(ctx, s.client, keys, now).Int()
			if err != nil {
				return total, s.unavailable(err)
			}
			total += n
		}
	}
	s.purgeSlice.Add(1)
	return total, nil
}

// MigrateLayout moves every entry of the legacy layout into the compact
// one, merging with what the compact layout holds, one atomic script per
// batch (an entry is in one layout or the other at every moment, never in
// neither), marks the prefix compact (resolveLayout) and returns how many
// it moved. It loops until the legacy hashes are empty, so entries written
// meanwhile by instances in the upgrade layout are moved too; run it once
// no instance of an earlier release is left (they read the legacy layout
// only): instances started after it without a layout option run the
// compact layout. The store must be opened in the upgrade or compact
// layout. Mirrors need no event: what they hold does not change.
func (s *RedisStore) MigrateLayout(ctx context.Context) (int, error) {
	if !s.readsCompact() {
		return 0, errors.New("redis: migrating needs a store opened in the upgrade or compact layout")
	}
	moved := 0
	for i := range s.parts {
		p := &s.parts[i]
		for {
			var cur uint64
			for {
				kv, next, err := s.client.HScan(ctx, p.entriesKey, cur, "", redisRevokeBatch).Result()
				if err != nil {
					return moved, s.unavailable(err)
				}
				batch := make([]denylist.Entry, 0, len(kv)/2)
				for j := 0; j+1 < len(kv); j += 2 {
					if kv[j] == sentinelField {
						continue // stays: it guards the legacy keys still read
					}
					e, err := parseField(kv[j], kv[j+1])
					if err != nil {
						return moved, fmt.Errorf("redis: %s: %w (fix or delete the field, then migrate again)", p.entriesKey, err)
					}
					batch = append(batch, e)
				}
				if len(batch) > 0 {
					n, err := s.revokeCompact(ctx, s.client, p, "m", batch)
					if err != nil {
						return moved, s.unavailable(err)
					}
					moved += int(n)
				}
				if cur = next; cur == 0 {
					break
				}
			}
			left, err := s.client.HLen(ctx, p.entriesKey).Result()
			if err != nil {
				return moved, s.unavailable(err)
			}
			if left > 0 {
				if has, err := s.client.HExists(ctx, p.entriesKey, sentinelField).Result(); err == nil && has {
					left--
				}
			}
			if left == 0 {
				break
			}
		}
		// Every member but the sentinel (scored +inf).
		if err := s.client.ZRemRangeByScore(ctx, p.expiryKey, "-inf", "(+inf").Err(); err != nil {
			return moved, s.unavailable(err)
		}
	}
	return moved, s.markCompact(ctx)
}

// The layout marker. One string key per key prefix, "{prefix}:layout"
// (partition 0's slot with one partition; with more, a slot of its own,
// read once at start), whatever the partition count: it records which
// layout the prefix's data is in, so that every instance of the prefix
// agrees on what it must write.
//
//   - "compact": instances write the compact layout only; an instance
//     given "layout legacy" is refused (it would not see them).
//   - "legacy": the prefix holds the legacy layout, and instances of an
//     earlier release (which read that alone) may share it: an instance
//     without a layout option runs the upgrade layout and warns; one given
//     "layout compact" is refused until MigrateLayout (`caddy
//     token-revocation migrate-layout`) has moved the entries, which marks
//     the prefix compact.
//
// The first instance writes it with SET NX and then reads it back, so
// instances that start together agree; an instance finding it reads it
// and writes nothing (a full Redis never blocks reading). Without a marker
// an explicit layout option writes its own ("upgrade" writes "legacy"); no
// option writes what the data holds (detectLayout).
const (
	markerLegacy  = LayoutLegacy
	markerCompact = LayoutCompact
)

// markerKey names the key prefix's layout marker.
func (s *RedisStore) markerKey() string { return "{" + s.opts.KeyPrefix + "}:layout" }

// resolveLayout reads (or, on a prefix without one, writes) the layout
// marker and sets s.opts.Layout: the option when given and agreeing with
// the marker, else the layout the marker calls for (upgrade rather than
// compact on a Redis that can evict: see canEvict). It logs a warning when
// it picks the upgrade layout.
func (s *RedisStore) resolveLayout(ctx context.Context) error {
	key := s.markerKey()
	marker, err := s.client.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		want := markerCompact
		switch s.opts.Layout {
		case LayoutLegacy, LayoutUpgrade:
			want = markerLegacy
		case "":
			if want, err = s.detectLayout(ctx); err != nil {
				return s.unavailable(fmt.Errorf("reading the denylist to pick its layout: %w", err))
			}
		}
		if err = s.client.SetNX(ctx, key, want, 0).Err(); err != nil {
			if s.marker = want; s.fullFallback(ctx, err) {
				return nil
			}
			return s.unavailable(fmt.Errorf("writing the layout marker %s: %w", key, err))
		}
		marker, err = s.client.Get(ctx, key).Result()
	}
	if err != nil {
		return s.unavailable(fmt.Errorf("reading the layout marker %s: %w", key, err))
	}
	s.marker = marker
	switch {
	case marker != markerCompact && marker != markerLegacy:
		return fmt.Errorf("redis: %s holds %q, not a layout (%s or %s): set it to the layout of the prefix's data, or delete it to have the next instance detect it", key, marker, markerCompact, markerLegacy)
	case marker == markerCompact && s.opts.Layout == LayoutLegacy:
		return fmt.Errorf("redis: key prefix %q is in the compact layout (%s), which layout %s does not read: remove \"layout %s\" (or give this instance a key_prefix of its own)", s.opts.KeyPrefix, key, LayoutLegacy, LayoutLegacy)
	case marker == markerLegacy && s.opts.Layout == LayoutCompact:
		return fmt.Errorf("redis: key prefix %q holds the legacy layout (%s), which instances of earlier releases read alone: remove \"layout %s\" (this release then serves it in the upgrade layout), or run `caddy token-revocation migrate-layout` once no earlier release is left", s.opts.KeyPrefix, key, LayoutCompact)
	case s.opts.Layout != "":
		return nil
	case marker == markerCompact && s.canEvict():
		// The compact buckets carry no eviction sentinel (redis_guard.go):
		// on a Redis that can evict, write the legacy copies too, which
		// the sentinel guards.
		s.opts.Layout = LayoutUpgrade
		s.logger.Warn("token_revocation: redis can evict keys (maxmemory-policy "+s.Policy()+"), and the compact layout's keys carry no eviction sentinel: serving in the upgrade layout, whose legacy copies are guarded (about 4 times the memory); set maxmemory-policy noeviction to run the compact layout",
			zap.String("key_prefix", s.opts.KeyPrefix))
	case marker == markerCompact:
		s.opts.Layout = LayoutCompact
	default:
		s.opts.Layout = LayoutUpgrade
		s.logger.Warn("token_revocation: the redis key prefix holds the legacy layout of an earlier release: serving it in the upgrade layout (both layouts read and written, so earlier releases sharing it keep seeing every revocation); once every instance runs this release, run `caddy token-revocation migrate-layout` to move it to the compact layout (a third or less of the memory)",
			zap.String("key_prefix", s.opts.KeyPrefix), zap.String("marker", key))
	}
	return nil
}

// fullFallback is called when Redis refused a write needed to start
// (werr: the layout marker, or the bucket counts of the upgrade layout)
// for an instance without a layout option on a prefix of the legacy
// layout: so that a full Redis still starts it, it serves the prefix in
// the legacy layout, which needs no write to start, when no partition has
// compact buckets yet (nothing to read there). It reports whether it did.
func (s *RedisStore) fullFallback(ctx context.Context, werr error) bool {
	if !s.autoLayout || s.marker != markerLegacy || !strings.HasPrefix(werr.Error(), "OOM ") && !strings.Contains(werr.Error(), ": OOM ") {
		return false
	}
	for i := range s.parts {
		if n, err := s.client.Exists(ctx, s.parts[i].bucketsKey()).Result(); err != nil || n > 0 {
			return false
		}
	}
	s.opts.Layout = LayoutLegacy
	s.logger.Warn("token_revocation: redis is full (it refuses writes): serving the legacy layout of an earlier release as it is, without the layout marker or the compact layout; once Redis has room, restart the instance, then run `caddy token-revocation migrate-layout`",
		zap.String("key_prefix", s.opts.KeyPrefix), zap.Error(werr))
	return true
}

// detectLayout returns the layout of a prefix without a marker: legacy when
// a partition's entries hash holds an entry (a field other than its
// sentinel) or its event stream's last event is a legacy one ("op": an
// earlier release may be running on a denylist that is empty for now),
// compact otherwise (nothing there, or what the compact layout wrote).
func (s *RedisStore) detectLayout(ctx context.Context) (string, error) {
	pipe := s.client.Pipeline()
	lens := make([]*redis.IntCmd, len(s.parts))
	sentinels := make([]*redis.BoolCmd, len(s.parts))
	last := make([]*redis.XMessageSliceCmd, len(s.parts))
	for i := range s.parts {
		p := &s.parts[i]
		lens[i] = pipe.HLen(ctx, p.entriesKey)
		sentinels[i] = pipe.HExists(ctx, p.entriesKey, sentinelField)
		last[i] = pipe.XRevRangeN(ctx, p.eventsKey, "+", "-", 1)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", err
	}
	for i := range s.parts {
		n := lens[i].Val()
		if sentinels[i].Val() {
			n--
		}
		if n > 0 {
			return markerLegacy, nil
		}
		for _, m := range last[i].Val() {
			if _, ok := m.Values["op"]; ok {
				return markerLegacy, nil
			}
		}
	}
	return markerCompact, nil
}

// canEvict reports whether Redis's maxmemory-policy, as read at open, may
// evict denylist keys (allkeys-*, or unknown).
func (s *RedisStore) canEvict() bool {
	st := s.eviction.Load()
	return st != nil && st.risk
}

// markCompact records that the prefix is in the compact layout, once
// MigrateLayout has moved every legacy entry.
func (s *RedisStore) markCompact(ctx context.Context) error {
	if err := s.client.Set(ctx, s.markerKey(), markerCompact, 0).Err(); err != nil {
		return s.unavailable(fmt.Errorf("writing the layout marker %s: %w", s.markerKey(), err))
	}
	return nil
}

// Layout returns the layout s runs: the option, or the one the key
// prefix's marker called for (see resolveLayout).
func (s *RedisStore) Layout() string { return s.opts.Layout }
